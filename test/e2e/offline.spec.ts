// A fully cached model loads and generates with the model server unreachable, in a new page (hence a
// new worker), and isCached() says so. The page's own files still load (as they would from an app's
// service worker or the HTTP cache): only requests for the model folder fail, as on a dead network.
import { expect, test, type Page } from '@playwright/test';
import { E2E_MODEL, noteModel, watchPageErrors } from './helpers';

interface RunReply {
  ok: boolean;
  result?: { seed: number; numFrames: number; backend: string; timings: { loadMs: number } };
  video?: string | null;
  error?: { code: string | null; message: string };
  trace?: string;
}

async function run(page: Page): Promise<RunReply> {
  await page.goto('/cli.html');
  await page.waitForFunction(() => window.kinemaReady === true);
  // The generator's cache is the Cache API (its default); steps kept small, the check is where bytes come from.
  return page.evaluate(async ({ model }) => {
    // A trace of the load, for the report: ms since the call for the last download event and each compile start.
    const started = performance.now();
    const marks: string[] = [];
    let lastDownload = 0;
    window.kinemaProgress = (progress) => {
      const event = progress as { type: string; component?: string }; // Omit<> of the union loses its narrowing
      const at = Math.round(performance.now() - started);
      if (event.type === 'download') lastDownload = at;
      else if (event.type === 'compile') marks.push(`compile ${event.component} @${at}`);
      else if (event.type === 'encode-text' && !marks.some((m) => m.startsWith('generate'))) marks.push(`generate @${at}`);
    };
    const reply = await window.kinemaRun({ model, backend: 'wasm' }, { prompt: 'a red circle moving right', seed: 7, steps: 2 });
    return { ...(reply as RunReply), trace: [`files in hand @${lastDownload}`, ...marks].join(', ') };
  }, { model: E2E_MODEL }) as Promise<RunReply>;
}

test('offline: a cached model loads and generates in a reloaded page, and isCached() is true', async ({ page, context }, testInfo) => {
  noteModel(testInfo);
  const errors = watchPageErrors(page);
  const modelRequests: string[] = [];
  page.on('request', (request) => { if (request.url().includes('/models/')) modelRequests.push(request.url()); });

  const online = await run(page);
  expect(online.error, 'first, online generation').toBeUndefined();
  expect(online.ok).toBe(true);
  expect(modelRequests.some((url) => url.endsWith('.onnx')), 'the first visit downloaded the model').toBe(true);

  // The network is cut for everything the model needs; context.route also covers the worker's fetches.
  const refused: string[] = [];
  await context.route('**/models/**', async (route) => {
    refused.push(route.request().url());
    await route.abort('internetdisconnected');
  });

  const offline = await run(page); // page.goto: a new document and a new worker
  expect(offline.error, 'offline generation from the cache').toBeUndefined();
  expect(offline.ok).toBe(true);
  expect(offline.result).toMatchObject({ seed: 7, numFrames: online.result!.numFrames, backend: 'wasm' });
  expect(offline.video?.length ?? 0).toBeGreaterThan(0);
  // It did try the network (so the route was in force) and asked for nothing but the manifest.
  expect(refused.length, 'the manifest was requested and refused').toBeGreaterThan(0);
  expect(refused.every((url) => url.endsWith('manifest.json')), `only the manifest was asked for: ${refused.join(', ')}`).toBe(true);

  // Reported, not judged (a loaded CI machine): the engine's load time, first visit vs the offline revisit.
  testInfo.annotations.push({ type: 'loadMs', description: `online first visit ${Math.round(online.result!.timings.loadMs)} ms, offline revisit ${Math.round(offline.result!.timings.loadMs)} ms` });
  console.log(`offline.spec loadMs: online ${online.result!.timings.loadMs.toFixed(0)} (${online.trace}); offline ${offline.result!.timings.loadMs.toFixed(0)} (${offline.trace})`);

  // The demo's cache panel asks isCached() (main thread and worker both offline).
  await page.goto(`/?model=${encodeURIComponent(E2E_MODEL)}`);
  await expect(page.locator('#cache-facts')).toHaveAttribute('data-cached', 'true', { timeout: 60_000 });
  expect(errors).toEqual([]);
});
