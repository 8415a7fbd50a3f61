// The package as a consumer gets it: `npm pack`, installed offline into a fresh Vite app in a temp folder,
// built with Vite, served with COOP/COEP, and a clip generated on wasm in Chromium through `kinema`'s
// public API. Records the packed, unpacked and consumer node_modules sizes in test-results/packaging.json.
// Needs `npm run build` first (npm test runs it).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM_ARGS, findChromium } from '../../src/node/chromium';
import { serveStatic } from '../../src/node/static-server';
import { consumerLockfile, type Lockfile } from './lockfile';

const repo = resolve(import.meta.dirname, '../..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string> };
const work = mkdtempSync(join(tmpdir(), 'kinema-pack-'));
const app = join(work, 'app');

function run(command: string, args: string[], cwd: string): string {
  return execFileSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'], timeout: 300_000 });
}

function du(path: string): number {
  const info = statSync(path);
  if (!info.isDirectory()) return info.size;
  return readdirSync(path).reduce((sum, name) => sum + du(join(path, name)), 0);
}

function files(path: string, base = path): string[] {
  return readdirSync(path, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? files(join(path, entry.name), base) : [join(path, entry.name).slice(base.length + 1)]);
}

interface Packed { filename: string; size: number; unpackedSize: number; files: { path: string; size: number }[] }
let packed: Packed;

beforeAll(() => {
  if (!existsSync(join(repo, 'dist/kinema.js')) || !existsSync(join(repo, 'dist/demo/cli.html'))) {
    throw new Error('dist/ is missing or stale: run `npm run build` before this test');
  }
  packed = (JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], repo)) as Packed[])[0]!;
});

// KINEMA_PACK_KEEP=1 keeps the temp app for a look after a failure.
afterAll(() => { if (!process.env.KINEMA_PACK_KEEP) rmSync(work, { recursive: true, force: true }); else console.log(`kept ${work}`); });

describe('the npm package', () => {
  it('ships the model once without test vectors, each runtime wasm once, and no demo build', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths.filter((p) => p.endsWith('manifest.json') && p.includes('kinema-micro'))).toEqual(['public/models/kinema-micro/manifest.json']);
    expect(paths.filter((p) => p.includes('/reference/'))).toEqual([]);
    expect(paths.filter((p) => p.startsWith('dist-demo/'))).toEqual([]);
    const wasm = paths.filter((p) => p.endsWith('.wasm')).map((p) => p.replace(/^.*\//, '').replace(/-[\w-]{8}\.wasm$/, '.wasm'));
    expect(wasm.length).toBeGreaterThan(0);
    expect(new Set(wasm).size).toBe(wasm.length);
    expect(paths).toContain('dist/demo/cli.html'); // the `generate` command's page, built with the library
  });

  it('installs offline into a fresh Vite app, builds, and generates a clip on wasm in Chromium', async () => {
    const tarball = join(work, packed.filename);
    mkdirSync(join(app, 'src'), { recursive: true });
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    const repoLock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as Lockfile;
    const lock = consumerLockfile(repoLock, { name: pkg.name, version: pkg.version, dependencies: pkg.dependencies, tarball: `../${packed.filename}`, integrity });
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies: { kinema: `file:../${packed.filename}` } }, null, 2));
    writeFileSync(join(app, 'package-lock.json'), JSON.stringify(lock, null, 2));
    // `npm ci` from a lockfile rather than `npm install`: offline, npm can only resolve versions it has
    // packuments for, and a clone's `npm ci` caches tarballs (by integrity), not packuments.
    run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], app);
    expect(existsSync(join(app, 'node_modules/onnxruntime-node'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/@huggingface/transformers'))).toBe(false);
    expect(existsSync(join(app, 'node_modules/playwright-core'))).toBe(false);

    // The documented set-up: the model folder next to the page (Vite copies public/ into the build).
    cpSync(join(app, 'node_modules/kinema/public/models'), join(app, 'public/models'), { recursive: true });
    writeFileSync(join(app, 'index.html'), '<!doctype html><html><body><script type="module" src="./src/main.js"></script></body></html>\n');
    writeFileSync(join(app, 'src/main.js'), `import { createVideoGenerator } from 'kinema';
window.outcome = (async () => {
  const generator = createVideoGenerator({ backend: 'wasm' });
  try {
    const result = await generator.generate({ prompt: 'a red circle moving right on a black background', seed: 3, steps: 2, format: 'mp4' });
    return { ok: true, backend: result.backend, numFrames: result.numFrames, videoType: result.video?.type ?? null, videoBytes: result.video?.size ?? 0 };
  } catch (error) {
    return { ok: false, code: error.code ?? null, message: String(error.message ?? error) };
  } finally {
    await generator.dispose();
  }
})();
`);
    // Vite itself comes from this repository (installing it offline needs its packument too).
    run(process.execPath, [join(repo, 'node_modules/vite/bin/vite.js'), 'build', '--logLevel', 'warn'], app);
    const built = files(join(app, 'dist'));
    expect(built).toContain('index.html');

    const server = await serveStatic(join(app, 'dist'));
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({ executablePath: findChromium(), args: [...CHROMIUM_ARGS], headless: true });
    let outcome: Record<string, unknown>;
    const requested: string[] = [];
    try {
      const page = await browser.newPage();
      // The context sees the worker's requests too (the runtime's wasm is fetched by the worker).
      page.context().on('request', (request) => requested.push(new URL(request.url()).pathname));
      await page.goto(server.url);
      outcome = await page.evaluate(() => (window as unknown as { outcome: Promise<Record<string, unknown>> }).outcome);
    } finally {
      await browser.close();
      await server.close();
    }
    expect(outcome, JSON.stringify(outcome)).toMatchObject({ ok: true, backend: 'wasm', videoType: 'video/mp4' });
    expect(outcome.videoBytes as number).toBeGreaterThan(1000);
    expect(requested.some((p) => p.endsWith('/models/kinema-micro/manifest.json'))).toBe(true);
    // The wasm backend loads onnxruntime-web's plain wasm build, never the WebGPU (JSEP) one (issue 14).
    const runtimeFiles = requested.filter((p) => /ort|\.wasm$/.test(p.replace(/^.*\//, '')));
    expect(runtimeFiles.filter((p) => /ort-wasm-simd-threaded(?!\.jsep)[-\w]*\.wasm$/.test(p)), JSON.stringify(runtimeFiles)).toHaveLength(1);
    expect(runtimeFiles.filter((p) => /jsep|webgpu/i.test(p)), JSON.stringify(runtimeFiles)).toEqual([]);

    const sizes = {
      packedBytes: packed.size,
      unpackedBytes: packed.unpackedSize,
      packageFiles: packed.files.length,
      consumerNodeModulesBytes: du(join(app, 'node_modules')),
      consumerPackages: Object.keys(lock.packages).filter((key) => key.startsWith('node_modules/')).length,
      consumerDistBytes: du(join(app, 'dist')),
    };
    mkdirSync(join(repo, 'test-results'), { recursive: true });
    writeFileSync(join(repo, 'test-results/packaging.json'), `${JSON.stringify(sizes, null, 2)}\n`);
    console.log(`packaging: ${JSON.stringify(sizes)}`);
  });
});
