/**
 * `kinema generate "<prompt>" …`: serves the built library's page on loopback, drives headless Chromium
 * through the public API (the same path a site takes), and writes the clip. User errors print one line
 * and exit non-zero; stack traces only for bugs.
 */
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, findChromium } from './chromium';
import { GENERATE_USAGE, UsageError, parseGenerateArgs, type GenerateArgs } from './args';
import { serveStatic } from './static-server';
import { createProgressBar } from './progress-bar';

const here = dirname(fileURLToPath(import.meta.url));

class CliError extends Error {}

const CLI_PAGE = 'dist/demo/cli.html';
/** Where a converted model on disk (`--model <folder>`) appears on the loopback server. */
const LOCAL_MODEL_PREFIX = 'local-model/';

/** playwright-core is an optional peer dependency: only this command needs it, so say how to get it. */
export async function loadPlaywright(load: () => Promise<typeof import('playwright-core')> = () => import('playwright-core')): Promise<typeof import('playwright-core')> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new CliError('the generate command needs playwright-core, an optional dependency of kinema: install it with `npm install playwright-core`');
  }
}

interface PageOutcome {
  ok: boolean;
  result?: Record<string, unknown> & { seed: number; codec: string | null; numFrames: number; fps: number; backend: string; width: number; height: number; format: string; warnings: string[]; timings: Record<string, number> };
  video?: string | null;
  error?: { name: string; code: string | null; message: string; details: unknown };
}

export async function runGenerate(args: GenerateArgs, io = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  // The package root is served: the page (built with the library into dist/demo/, sharing its worker and
  // runtime files) and the model in public/models, each shipped once. KINEMA_PAGE_ROOT serves another copy.
  const packageRoot = process.env.KINEMA_PAGE_ROOT ?? resolve(here, '../..');
  if (!existsSync(resolve(packageRoot, CLI_PAGE))) throw new CliError(`the built page is missing (${packageRoot}/${CLI_PAGE}); run npm run build first`);
  let executablePath: string;
  try {
    executablePath = findChromium();
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  const { chromium } = await loadPlaywright();
  const server = await serveStatic(packageRoot, args.localModel ? { mounts: { [LOCAL_MODEL_PREFIX]: args.localModel.folder } } : {});
  const options = args.localModel
    ? { ...args.options, model: new URL(`${LOCAL_MODEL_PREFIX}${encodeURIComponent(args.localModel.manifest)}`, server.url).href }
    : args.options;
  const browser = await chromium.launch({ executablePath, args: [...CHROMIUM_ARGS], headless: true }).catch((error: Error) => {
    throw new CliError(`could not start the browser at ${executablePath}: ${error.message.split('\n')[0]}`);
  });
  const bar = createProgressBar(io.stderr, { quiet: false });
  try {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.exposeFunction('kinemaProgress', (event: { type: string }) => bar.update(event as never));
    await page.goto(new URL(CLI_PAGE, server.url).href);
    await page.waitForFunction(() => window.kinemaReady === true, null, { timeout: 30_000 }).catch(() => {
      throw new CliError(`the kinema page did not start${pageErrors.length ? `: ${pageErrors[0]}` : ''}`);
    });
    const outcome = (await page.evaluate(([options, request]) => window.kinemaRun(options, request), [{ modelBaseUrl: new URL('public/models/', server.url).href, ...options }, args.request] as const)) as PageOutcome;
    bar.finish();
    if (!outcome.ok || !outcome.result) {
      const e = outcome.error!;
      throw new CliError(`${e.code ? `${e.code}: ` : ''}${e.message}`);
    }
    const out = resolve(args.out);
    if (outcome.video) await writeFile(out, Buffer.from(outcome.video, 'base64'));
    const r = outcome.result;
    for (const warning of r.warnings) io.stderr.write(`warning: ${warning}\n`);
    if (args.json) {
      io.stdout.write(`${JSON.stringify({
        path: out, format: r.format, codec: r.codec, width: r.width, height: r.height, frames: r.numFrames, fps: r.fps,
        seed: r.seed, steps: r.steps, guidanceScale: r.guidanceScale, backend: r.backend, model: r.model, provider: r.provider ?? null,
        timings: r.timings, warnings: r.warnings,
      })}\n`);
    } else {
      io.stdout.write(`wrote ${out} (${r.format}, ${r.codec}, ${r.width}×${r.height}, ${r.numFrames} frames at ${r.fps} fps) — seed ${r.seed}, ${r.backend}, ${((r.timings.totalMs ?? 0) / 1000).toFixed(1)} s\n`);
    }
    return 0;
  } finally {
    bar.finish();
    await browser.close().catch(() => undefined);
    await server.close();
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`kinema: text to video on your own machine.\n\nCommands:\n  generate   make a clip from a prompt\n\n${GENERATE_USAGE}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command !== 'generate') {
    process.stderr.write(`kinema: unknown command "${command}" (try: kinema generate "<prompt>")\n`);
    return 2;
  }
  let args: GenerateArgs | null;
  try {
    args = parseGenerateArgs(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`kinema: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (args === null) {
    process.stdout.write(`${GENERATE_USAGE}\n`);
    return 0;
  }
  try {
    return await runGenerate(args);
  } catch (error) {
    if (error instanceof CliError) {
      process.stderr.write(`kinema: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
