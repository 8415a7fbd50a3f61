// The demo's model field and panel: before a load, the page reads the manifest the field names and shows
// what a cold load downloads; a manifest that is missing or invalid is refused with its code, and nothing
// is downloaded.
import { expect, test, type Page } from '@playwright/test';
import { E2E_MODEL, noteModel, watchPageErrors } from './helpers';

test.beforeEach(({}, testInfo) => noteModel(testInfo));

/** Every request the page and its worker make for model files (the manifest excepted). */
function watchModelFiles(page: Page): string[] {
  const files: string[] = [];
  page.on('request', (request) => {
    const url = request.url();
    if (/\/models\//.test(url) && !url.endsWith('manifest.json')) files.push(url);
  });
  return files;
}

test('the model panel shows the download a cold load makes before anything is downloaded', async ({ page }) => {
  const errors = watchPageErrors(page);
  const files = watchModelFiles(page);
  await page.goto(`/?model=${encodeURIComponent(E2E_MODEL)}&backend=wasm`);
  const facts = page.locator('#model-facts');
  await expect(facts).toHaveAttribute('data-state', 'ready');

  // The expected figure from the manifest itself: on wasm every variant computes in fp32 and the engine
  // takes the smallest per component, plus the tokenizer's files.
  const manifestUrl = E2E_MODEL.endsWith('.json') ? E2E_MODEL : `/models/${E2E_MODEL}/manifest.json`;
  const manifest = await (await page.request.get(manifestUrl)).json() as {
    tokenizer: { files: { bytes: number }[] };
    components: Record<string, { variants: { compute: string; files?: { bytes: number }[]; graphs?: { files: { bytes: number }[] }[] }[] }>;
  };
  const variantBytes = (v: { files?: { bytes: number }[]; graphs?: { files: { bytes: number }[] }[] }) =>
    [...(v.files ?? []), ...(v.graphs ?? []).flatMap((g) => g.files)].reduce((a, f) => a + f.bytes, 0);
  const expected = manifest.tokenizer.files.reduce((a, f) => a + f.bytes, 0)
    + Object.values(manifest.components).reduce((a, c) => a + Math.min(...c.variants.filter((v) => v.compute === 'fp32').map(variantBytes)), 0);
  await expect(facts).toHaveAttribute('data-download-bytes', String(expected));
  await expect(facts).toContainText('Download');
  await expect(facts).toContainText('Denoiser');
  await expect(facts).toContainText('wasm');
  // The memory plan (planMemory): each stage's need and the residency, from the manifest alone.
  await expect(facts).toContainText('Denoiser memory');
  await expect(facts).toContainText(/Memory plan\s*download [\d.]+ MB, needs [\d.]+ MB of memory at most/);
  expect(files, 'the panel downloaded no model file').toEqual([]);
  expect(errors).toEqual([]);
});

test('a model URL with no manifest, or an invalid one, is refused with its code and downloads nothing', async ({ page }) => {
  const errors = watchPageErrors(page);
  const files = watchModelFiles(page);
  // (vite preview answers unknown paths with the demo's index.html, so the 404 a static host gives is set up here.)
  await page.route('**/models/not-here/manifest.json', (route) => route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' }));
  await page.goto(`/?model=${encodeURIComponent('/models/not-here/manifest.json')}&backend=wasm`);
  const facts = page.locator('#model-facts');
  await expect(facts).toHaveAttribute('data-state', 'error');
  await expect(facts).toHaveAttribute('data-code', 'MODEL_NOT_FOUND');
  await expect(page.locator('#examples-status')).toContainText('MODEL_NOT_FOUND');
  await page.getByTestId('prompt').fill('a red circle moving right on a black background');
  await page.getByTestId('generate').click();
  const error = page.getByTestId('error');
  await expect(error).toBeVisible();
  await expect(error).toHaveAttribute('data-code', 'MODEL_NOT_FOUND');
  await expect(error).toContainText('/models/not-here/manifest.json');
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'ready');

  // A manifest that is JSON but breaks the format's rules.
  await page.route('**/models/broken/manifest.json', (route) => route.fulfill({ contentType: 'application/json', body: JSON.stringify({ format: 'kinema-model/2', id: 'broken' }) }));
  await page.getByTestId('model').fill('/models/broken/manifest.json');
  await page.getByTestId('model').dispatchEvent('change');
  await expect(facts).toHaveAttribute('data-code', 'INVALID_MANIFEST');
  await page.getByTestId('generate').click();
  await expect(error).toHaveAttribute('data-code', 'INVALID_MANIFEST');
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'ready');

  // An id that is neither built in nor a URL: refused as the field is read.
  await page.getByTestId('model').fill('wan-huge');
  await page.getByTestId('model').dispatchEvent('change');
  await expect(facts).toHaveAttribute('data-code', 'MODEL_NOT_FOUND');
  await page.getByTestId('generate').click();
  await expect(error).toHaveAttribute('data-code', 'MODEL_NOT_FOUND');
  await expect(error).toContainText('wan-huge');

  // (The cache panel's isCached() may read a manifest in the worker; no weights or tokenizer file is fetched.)
  expect(files, 'no model file was requested').toEqual([]);
  expect(errors).toEqual([]);
});

test('a lowered wasm memory ceiling shows the refusal the engine would give, naming the stage, before any download', async ({ page }) => {
  const errors = watchPageErrors(page);
  const files = watchModelFiles(page);
  // 100 kB: less than any stage of the model needs.
  await page.goto(`/?model=${encodeURIComponent(E2E_MODEL)}&backend=wasm&wasmHeapBytes=100000`);
  const facts = page.locator('#model-facts');
  await expect(facts).toHaveAttribute('data-state', 'ready');
  await expect(facts).toContainText(/Memory plan\s*refused before any download \(DEVICE_LIMITS\): .*the (text encoder|denoiser|VAE decoder) stage needs/);
  await page.getByTestId('generate').click();
  const error = page.getByTestId('error');
  await expect(error).toHaveAttribute('data-code', 'DEVICE_LIMITS', { timeout: 60_000 });
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'ready');
  expect(files, 'the engine refused before downloading a model file').toEqual([]);
  expect(errors).toEqual([]);
});
