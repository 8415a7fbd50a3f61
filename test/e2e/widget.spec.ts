// The <kinema-generator> example page: one script, one tag.
import { expect, test } from '@playwright/test';
import { E2E_MODEL, expectDuration, noteModel, videoDuration, watchPageErrors } from './helpers';

interface Recorded {
  progress: { type: string; overall: number }[];
  done: { blobType: string; blobSize: number; numFrames: number; fps: number; seed: number }[];
  errors: { code: string; message: string }[];
}

async function openWidget(page: import('@playwright/test').Page) {
  await page.goto('/widget.html');
  await page.waitForFunction(() => customElements.get('kinema-generator') !== undefined);
  await page.evaluate(() => {
    const rec: Recorded = { progress: [], done: [], errors: [] };
    (window as unknown as { rec: Recorded }).rec = rec;
    const on = (type: string, record: (detail: any) => void) => document.addEventListener(type, (e) => record((e as CustomEvent).detail));
    on('kinema-progress', (d) => rec.progress.push({ type: d.type, overall: d.overall }));
    on('kinema-done', (d) => rec.done.push({
      blobType: d.blob?.type ?? '', blobSize: d.blob?.size ?? 0, numFrames: d.result.numFrames, fps: d.result.fps, seed: d.result.seed,
    }));
    on('kinema-error', (d) => rec.errors.push({ code: d.code, message: d.message }));
  });
}

const recorded = (page: import('@playwright/test').Page) => page.evaluate(() => (window as unknown as { rec: Recorded }).rec);

test('the widget generates a clip and fires its events', async ({ page }, testInfo) => {
  noteModel(testInfo);
  const errors = watchPageErrors(page);
  await openWidget(page);
  const widget = page.locator('kinema-generator');
  await widget.evaluate((el, model) => { el.setAttribute('backend', 'wasm'); el.setAttribute('model', model); }, E2E_MODEL);
  await page.getByTestId('seed').fill('9');
  await page.locator('kinema-generator').locator('#steps').fill('2');
  await page.getByTestId('generate').click();

  await expect.poll(async () => (await recorded(page)).done.length, { timeout: 150_000 }).toBe(1);
  const rec = await recorded(page);
  const [done] = rec.done;
  expect(done!.blobType).toMatch(/^video\/mp4/);
  expect(done!.blobSize).toBeGreaterThan(1000);
  expect(done!.seed).toBe(9);
  const types = new Set(rec.progress.map((p) => p.type));
  for (const type of ['denoise', 'preview', 'decode', 'encode', 'done']) expect(types, `a ${type} event`).toContain(type);
  const overall = rec.progress.map((p) => p.overall);
  expect(overall.every((v, i) => i === 0 || v >= overall[i - 1]!), 'overall never goes back').toBe(true);
  expect(overall.at(-1)).toBe(1);
  expect(rec.errors).toEqual([]);

  expectDuration(await videoDuration(page), { seconds: done!.numFrames / done!.fps, fps: done!.fps });
  // The scale select's default, auto: the model's frames upscaled to about 256 px (kinema-micro's 32 px: 8×).
  const manifestUrl = E2E_MODEL.endsWith('.json') ? E2E_MODEL : `/models/${E2E_MODEL}/manifest.json`;
  const { defaults } = await (await page.request.get(manifestUrl)).json() as { defaults: { width: number; height: number } };
  const scale = [16, 8, 4, 2, 1].find((s) => Math.max(defaults.width, defaults.height) * s <= 256) ?? 1;
  expect(await page.getByTestId('result-video').evaluate((v: HTMLVideoElement) => [v.videoWidth, v.videoHeight]))
    .toEqual([defaults.width * scale, defaults.height * scale]);
  await expect(page.getByTestId('download')).toHaveAttribute('download', 'a-red-circle-moving-right-on-a-black-background-seed-9.mp4');
  expect(errors).toEqual([]);
});

test('a bad attribute value surfaces as a kinema-error event with a code', async ({ page }) => {
  const errors = watchPageErrors(page);
  await openWidget(page);
  await page.locator('#widget').evaluate((el) => el.setAttribute('backend', 'gpu'));
  await expect.poll(async () => (await recorded(page)).errors).toEqual([expect.objectContaining({ code: 'INVALID_REQUEST', message: expect.stringContaining('backend') })]);
  await expect(page.getByTestId('error')).toContainText('INVALID_REQUEST');

  // generate() does not throw either: it resolves to null and reports again.
  const result = await page.locator('#widget').evaluate((el) => (el as HTMLElement & { generate(): Promise<unknown> }).generate());
  expect(result).toBeNull();
  expect((await recorded(page)).errors).toHaveLength(2);

  // A new element written with a bad value reports it too, after the tag is on the page.
  await page.evaluate(() => {
    const el = document.createElement('kinema-generator');
    el.setAttribute('backend', 'cloud'); // cloud needs proxy-url
    document.body.append(el);
  });
  await expect.poll(async () => (await recorded(page)).errors.length).toBe(3);
  expect((await recorded(page)).errors[2]).toMatchObject({ code: 'INVALID_REQUEST' });
  expect(errors).toEqual([]);
});

test('changing the model attribute after a load releases it and loads the new model at once', async ({ page, context }) => {
  const errors = watchPageErrors(page);
  // A static host's 404 (vite preview answers unknown paths with index.html); context.route covers the worker too.
  await context.route('**/models/not-here/manifest.json', (route) => route.fulfill({ status: 404, contentType: 'text/plain', body: 'not found' }));
  await openWidget(page);
  const widget = page.locator('#widget');

  // A bad id is reported as soon as it is set, with the field named.
  await widget.evaluate((el) => el.setAttribute('model', 'wan-huge'));
  await expect.poll(async () => (await recorded(page)).errors).toEqual([expect.objectContaining({ code: 'MODEL_NOT_FOUND', message: expect.stringMatching(/^model: Unknown model "wan-huge"/) })]);

  // A first generate() on a manifest that is not there fails in the engine; the element now holds a generator.
  await widget.evaluate((el) => { el.setAttribute('backend', 'wasm'); el.setAttribute('model', '/models/not-here/manifest.json'); });
  const result = await widget.evaluate((el) => (el as HTMLElement & { generate(): Promise<unknown> }).generate());
  expect(result).toBeNull();
  expect((await recorded(page)).errors.at(-1)).toMatchObject({ code: 'MODEL_NOT_FOUND' });

  // Changing the attribute loads the new model without a generate() call: its files download and compile.
  await page.evaluate(() => { (window as unknown as { rec: Recorded }).rec.progress.length = 0; });
  await widget.evaluate((el, model) => el.setAttribute('model', model), E2E_MODEL);
  await expect.poll(async () => (await recorded(page)).progress.map((p) => p.type), { timeout: 120_000 }).toContain('compile');
  await expect.poll(async () => (await recorded(page)).progress.at(-1)?.overall, { timeout: 120_000 }).toBe(1);
  const rec = await recorded(page);
  expect(rec.progress.map((p) => p.type), 'a load, not a generation').not.toContain('denoise');
  expect(rec.done).toEqual([]);
  expect(rec.errors).toHaveLength(2);
  expect(errors).toEqual([]);
});
