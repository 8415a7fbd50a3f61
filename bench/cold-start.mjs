// Issue 14's cold-start and revisit benchmarks, run by bench/run.mjs: bench/cold-start.html is built once
// (Vite, into .cache/bench-build, as an app would ship it) and served by `vite preview`, so a visit costs
// what a site's visit costs (bundled modules, HTTP caching of the runtime) and not the dev server's
// module-by-module transforms. Every visit is a new page (a new worker, a new runtime); "fresh" visits
// get a new browser context too (empty HTTP cache, Cache API and V8 code cache).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { build, preview } from 'vite';

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/**
 * The build's content-hashed files (assets/: the worker, the runtime's module and its wasm) served as a
 * site serves them, cacheable for good (`immutable`); `vite preview` alone marks every file `no-cache`,
 * which makes a revisit ask the server again for each of them. The page and the model's files keep
 * their headers.
 */
const immutableAssets = {
  name: 'kinema-bench-immutable-assets',
  configurePreviewServer(server) {
    server.middlewares.use((req, res, next) => {
      if (req.url?.startsWith('/assets/')) {
        const setHeader = res.setHeader.bind(res);
        res.setHeader = (name, value) => setHeader(name, String(name).toLowerCase() === 'cache-control' ? 'public, max-age=31536000, immutable' : value);
      }
      next();
    });
  },
};

/** Builds the page and starts its server; returns its URL and a close(). */
export async function serveColdStartPage(root) {
  const outDir = resolve(root, '.cache/bench-build');
  const overrides = { root, configFile: resolve(root, 'vite.config.ts'), mode: 'bench', logLevel: 'error' };
  await build({ ...overrides, build: { outDir, emptyOutDir: true, target: 'es2022', assetsInlineLimit: 0, rolldownOptions: { input: { cold: resolve(root, 'bench/cold-start.html') } } } });
  const server = await preview({ ...overrides, plugins: [immutableAssets], build: { outDir }, preview: { host: '127.0.0.1', port: 0 } });
  const base = server.resolvedUrls.local[0];
  return { url: new URL('bench/cold-start.html', base).href, close: () => new Promise((done) => server.httpServer.close(done)) };
}

/** 100 Mbit/s both ways and 20 ms of latency (Chromium's emulation; the worker's fetches are throttled too). */
const LINK = { offline: false, latency: 20, downloadThroughput: 12.5e6, uploadThroughput: 12.5e6 };

async function openPage(context, url, { throttle = false } = {}) {
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  if (throttle) await (await context.newCDPSession(page)).send('Network.emulateNetworkConditions', LINK);
  await page.goto(url);
  await page.waitForFunction(() => window.coldReady === true, null, { timeout: 120_000 });
  return page;
}
const call = (page, name, options) => page.evaluate(([n, o]) => window.cold[n](o), [name, options]);

/**
 * Cold start: in a fresh context, a visit's first generation ÷ the later ones on the same page, and the
 * bare plain-wasm runtime's first sequence in a fresh context; each without and with the warm-up kinema's
 * load ends with (interleaved round by round).
 */
export async function coldStart({ browser, url, rounds, steps, threads, generations = 4 }) {
  const visits = [];
  const bares = [];
  const warmBares = [];
  const unwarmed = [];
  for (let r = 0; r < rounds; r++) {
    for (const kind of ['kinema', 'unwarmed', 'bare', 'warmBare']) {
      const context = await browser.newContext();
      try {
        const page = await openPage(context, url);
        if (kind === 'kinema' || kind === 'unwarmed') {
          (kind === 'kinema' ? visits : unwarmed).push(await call(page, 'visit', { generations, steps, threads, cache: 'memory', ...(kind === 'unwarmed' ? { warmUp: false } : {}) }));
        }
        else (kind === 'bare' ? bares : warmBares).push(await call(page, 'bare', { count: generations, steps, threads, warmUp: kind === 'warmBare' }));
      } finally {
        await context.close();
      }
    }
  }
  return { visits, unwarmed, bares, warmBares };
}

/**
 * Visits with a persistent profile (a fresh user-data folder each), all over the emulated link: the first
 * visit (load, then generations), a new page right after in the same browser (load only), and, after the
 * browser is closed and launched again on the same folder, the revisit (load, then generations). The
 * Cache API holds the model from the first visit on; V8's code cache for the runtime's wasm lives with the
 * HTTP cache in the profile.
 */
export async function visits({ chromium, launchOptions, url, profiles, steps, threads, generations = 3 }) {
  const out = [];
  for (let p = 0; p < profiles; p++) {
    const dir = mkdtempSync(join(tmpdir(), 'kinema-profile-'));
    try {
      const row = {};
      for (const launch of ['first', 'relaunched']) {
        const context = await chromium.launchPersistentContext(dir, { ...launchOptions, headless: true });
        try {
          const pages = launch === 'first' ? [['first', generations], ['samePage', 0]] : [['revisit', generations]];
          for (const [name, count] of pages) {
            const page = await openPage(context, url, { throttle: true });
            // The page's own start too: performance.now() counts from its navigation.
            const pageReadyMs = await page.evaluate(() => performance.now());
            row[name] = { ...(await call(page, 'visit', { generations: count, steps, threads, cache: 'cache-api' })), pageReadyMs };
            await page.close();
          }
        } finally {
          await context.close();
        }
      }
      out.push(row);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return out;
}

/** Where a load's time went, from its progress events' times (page side) and the worker's own loadMs. */
export function loadParts(v) {
  const first = v.timeline[0]?.t ?? 0;
  const downloads = v.timeline.filter((e) => e.type === 'download');
  const compiles = v.timeline.filter((e) => e.type === 'compile');
  const lastDownload = downloads.at(-1)?.t ?? first;
  const firstCompile = compiles[0]?.t ?? lastDownload;
  // The warm-up runs after the last session (it sends no event): take it out of that session's share.
  const sessions = compiles.map((e, i) => [e.component, (compiles[i + 1]?.t ?? v.loadMs - v.warmUpMs) - e.t]);
  return {
    beforeFirstEvent: first, // the worker's start, its modules, the call's first message, the manifest
    files: lastDownload - first, // the model's files (network or the Cache API; verified on download only)
    waitForRuntime: firstCompile - lastDownload, // onnxruntime still starting after the files were in
    sessions, // each component's session creation (to the next compile event; the last to the warm-up)
    warmUp: v.warmUpMs, // the load's warm-up generation (the engine's own timing)
    workerStartMs: v.loadMs - v.workerLoadMs, // the page's load time the worker's own account does not cover
  };
}

export { median };
