// Issue 7 end to end: a page with no WebGPU, wasm not allowed, a proxy configured → the demo generates
// through the real kinema proxy and a fake DashScope, the video plays, and no key ever reaches the page.
import { expect, test } from '@playwright/test';
import { FAKE_DASHSCOPE_KEY, FAKE_PROXY_TOKEN, startProxyHarness } from '../support/fakes';
import { openDemo, videoDuration, watchPageErrors } from './helpers';

let harness: Awaited<ReturnType<typeof startProxyHarness>>;
test.beforeAll(async () => { harness = await startProxyHarness(); });
test.afterAll(async () => { await harness?.close(); });

test('no WebGPU and no wasm allowed: the demo generates in the cloud through the proxy', async ({ page, baseURL }) => {
  const errors = watchPageErrors(page);
  await page.addInitScript(() => {
    delete (Navigator.prototype as { gpu?: unknown }).gpu;
  });
  const seen: string[] = [];
  const origins = new Set<string>();
  page.on('request', (request) => origins.add(new URL(request.url()).origin));
  page.on('response', async (response) => {
    seen.push(JSON.stringify(await response.allHeaders()));
    const type = response.headers()['content-type'] ?? '';
    if (/json|text/.test(type)) seen.push(await response.text().catch(() => ''));
  });

  await openDemo(page);
  await expect(page.getByTestId('backend')).toHaveValue('auto');
  await page.getByTestId('allow-wasm').uncheck();
  await page.getByTestId('proxy-url').fill(harness.proxyUrl);
  await page.getByTestId('proxy-token').fill(FAKE_PROXY_TOKEN);
  await page.getByTestId('prompt').fill('a lantern floating over a lake at night');
  await page.getByTestId('generate').click();

  expect(await videoDuration(page)).toBeCloseTo(1, 1); // the fake serves a real 8-frame, 8 fps MP4
  await expect(page.getByTestId('result-video')).toHaveAttribute('data-backend', 'cloud');
  await expect(page.locator('#fallback')).toContainText('cloud');
  expect(errors).toEqual([]);

  // The provider got its key from the proxy; the page only ever talked to its own origin and the proxy.
  expect(harness.dashscope.requests.some((r) => r.headers.authorization === `Bearer ${FAKE_DASHSCOPE_KEY}`)).toBe(true);
  expect([...origins].sort()).toEqual([new URL(baseURL!).origin, new URL(harness.proxyUrl).origin].sort());
  expect(seen.join('\n')).not.toContain(FAKE_DASHSCOPE_KEY);
});
