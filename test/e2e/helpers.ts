// Shared steps of the end-to-end tests: open a page, drive a generation through the UI, check the clip.
import { existsSync } from 'node:fs';
import { expect, type Page, type TestInfo } from '@playwright/test';

/**
 * The model the tests generate with: kinema-micro once the training job has shipped it into public/, else
 * the engine's dev-smoke model (same shapes, untrained), so the UI is tested meanwhile. KINEMA_E2E_MODEL
 * overrides (an id, or a manifest path such as /models/dev-smoke/manifest.json).
 */
export const E2E_MODEL = process.env.KINEMA_E2E_MODEL
  ?? (existsSync(new URL('../../public/models/kinema-micro/manifest.json', import.meta.url)) ? 'kinema-micro' : '/models/dev-smoke/manifest.json');

/** Records which model a test used, visibly in the report. */
export function noteModel(testInfo: TestInfo): void {
  testInfo.annotations.push({ type: 'model', description: E2E_MODEL });
}

/** Fails the test on any uncaught page error; call before page.goto. */
export function watchPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (error) => errors.push(error.message));
  return errors;
}

/** Opens the demo and waits until it is ready and the model's manifest (examples) is read. */
export async function openDemo(page: Page): Promise<void> {
  await page.goto(`/?model=${encodeURIComponent(E2E_MODEL)}`);
  await expect(page.getByTestId('status')).toHaveAttribute('data-state', 'ready');
  await expect(page.locator('#examples-en button').first(), 'examples come from the model manifest').toBeVisible();
}

export interface UiGeneration {
  backend?: 'auto' | 'webgpu' | 'wasm';
  seed?: number;
  steps?: number;
  prompt?: string;
}

export async function fillAndGenerate(page: Page, options: UiGeneration = {}): Promise<void> {
  if (options.prompt !== undefined) await page.getByTestId('prompt').fill(options.prompt);
  if (options.backend) await page.getByTestId('backend').selectOption(options.backend);
  if (options.seed !== undefined) {
    await page.getByTestId('seed-random').uncheck();
    await page.getByTestId('seed').fill(String(options.seed));
  }
  await page.locator('#steps').fill(options.steps === undefined ? '' : String(options.steps));
  await page.getByTestId('generate').click();
}

/** The clip length the page was asked for: numFrames/fps from the fields or, when empty, the model defaults. */
export async function expectedDuration(page: Page): Promise<{ numFrames: number; fps: number; seconds: number }> {
  const read = async (id: string) => {
    const field = page.locator(id);
    return Number((await field.inputValue()) || (await field.getAttribute('placeholder')));
  };
  const numFrames = await read('#frames');
  const fps = await read('#fps');
  expect(numFrames).toBeGreaterThan(0);
  expect(fps).toBeGreaterThan(0);
  return { numFrames, fps, seconds: numFrames / fps };
}

/** Waits for `loadedmetadata` on the video and returns its duration in seconds. */
export async function videoDuration(page: Page, testId = 'result-video', timeout = 150_000): Promise<number> {
  const video = page.getByTestId(testId);
  await expect(video).toHaveAttribute('src', /^blob:/, { timeout });
  return video.evaluate((v: HTMLVideoElement) => new Promise<number>((resolve, reject) => {
    const done = () => resolve(v.duration);
    if (v.readyState >= HTMLMediaElement.HAVE_METADATA) return done();
    v.addEventListener('loadedmetadata', done, { once: true });
    v.addEventListener('error', () => reject(new Error(`video error ${v.error?.code}: ${v.error?.message}`)), { once: true });
  }));
}

/** Duration within half a frame of numFrames/fps. */
export function expectDuration(actual: number, expected: { seconds: number; fps: number }): void {
  expect(Math.abs(actual - expected.seconds), `duration ${actual}s, expected ${expected.seconds}s`).toBeLessThanOrEqual(0.5 / expected.fps + 1e-3);
}

/** A full-page screenshot kept under test-results/ and attached to the report. */
export async function saveScreenshot(page: Page, testInfo: TestInfo, name: string): Promise<string> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage: true });
  await testInfo.attach(name, { path, contentType: 'image/png' });
  return path;
}

/** One task the page's main thread ran, from a Chromium trace: wall time and the thread's own CPU time. */
export interface MainThreadTask {
  wallMs: number;
  cpuMs: number;
  /** Where the task was posted from (e.g. a frame update, a message port), when the trace says. */
  source: string;
}

interface TraceEvent { ph?: string; name?: string; pid?: number; tid?: number; ts?: number; dur?: number; tdur?: number; args?: Record<string, unknown> }

/**
 * The top-level tasks of the renderer main thread in a trace taken with `browser.startTracing` and the
 * `toplevel` category. CPU time (`tdur`) is what tells work on the main thread from a main thread that
 * was ready to run but waited for a core: on two cores busy with inference and V8's background wasm
 * compiler, a task with 5 ms of CPU can take 350 ms of wall time (measured here).
 */
export function mainThreadTasks(trace: Buffer): MainThreadTask[] {
  const parsed = JSON.parse(trace.toString('utf8')) as { traceEvents?: TraceEvent[] } | TraceEvent[];
  const events = Array.isArray(parsed) ? parsed : parsed.traceEvents ?? [];
  const mains = events.filter((e) => e.ph === 'M' && e.name === 'thread_name' && (e.args as { name?: string } | undefined)?.name === 'CrRendererMain');
  const tasksOf = (m: TraceEvent) => {
    const runs = events
      .filter((e) => e.ph === 'X' && e.name === 'ThreadControllerImpl::RunTask' && e.pid === m.pid && e.tid === m.tid)
      .sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
    // Only outermost tasks: a nested run loop's tasks are already inside their parent's time.
    let end = -Infinity;
    return runs.filter((e) => {
      if ((e.ts ?? 0) < end) return false;
      end = (e.ts ?? 0) + (e.dur ?? 0);
      return true;
    });
  };
  // A spare renderer may be traced too: the page's main thread is the busy one.
  const busiest = mains.map(tasksOf).sort((a, b) => b.length - a.length)[0] ?? [];
  return busiest.map((e) => {
    const args = (e.args ?? {}) as { src_file?: string; src_func?: string };
    return { wallMs: (e.dur ?? 0) / 1000, cpuMs: (e.tdur ?? 0) / 1000, source: [args.src_file, args.src_func].filter(Boolean).join(' ') };
  });
}
