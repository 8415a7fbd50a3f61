#!/usr/bin/env node
// npm run bench:wan -- DIR [--write] [--frames=5] [--size=64x64] [--threads=N] [--convert-time=FILE] [--no-native] [--no-warm]
//
// A converted Wan2.1 model folder (DIR/manifest.json, e.g. from `npm run convert -- wan --random-init
// wan2.1-t2v-1.3b --out DIR`) served on localhost, loaded and run in headless Chromium through the public
// API on wasm (bench/wan/page.ts), one clip at the smallest latent size. Recorded:
//   - files and bytes of the model, and what each load fetched;
//   - the memory pre-check: a load with memoryLimits.wasmHeapBytes below the largest stage's need must
//     refuse with DEVICE_LIMITS before any model file is requested (the server counts the requests);
//   - cold load (fresh profile) and warm load (a fresh browser on the same profile, Cache API filled);
//   - per stage (load, text encoder, denoiser, decoder): the renderer's peak RSS (sampled from /proc every
//     100 ms), the engine worker's JS heap (Chrome DevTools Protocol on the worker target:
//     Runtime.getHeapUsage, whenever the worker answers between session runs), and its wasm memory (a
//     hook put into the worker through the debugger before its first line remembers every
//     WebAssembly.Memory; read after each stage — a wasm heap never shrinks, so a reading is the
//     high-water mark so far);
//   - seconds per text-encoder run, per denoiser forward, per decoded frame (the result's timings and the
//     progress events' times);
//   - bench/wan/native.mjs: the same graphs on onnxruntime-node with the same shapes and threads, and
//     browser ÷ native per component.
// Prints a markdown block; --write puts it into BENCHMARKS.md's "Wan2.1-T2V-1.3B at full size (random
// weights)" section (only that section is replaced). Times are this machine's and noisy; never gate on them.
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const flag = (name, fallback) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const dirArg = argv.find((a) => !a.startsWith('--'));
if (!dirArg) {
  console.error('usage: npm run bench:wan -- DIR [--write] [--frames=5] [--size=64x64] [--threads=N] [--convert-time=FILE] [--no-native] [--no-warm]\n  DIR: a converted Wan2.1 model folder with manifest.json (npm run convert -- wan ... --out DIR)');
  process.exit(2);
}
const modelDir = resolve(dirArg);
if (!existsSync(join(modelDir, 'manifest.json'))) {
  console.error(`bench:wan: ${modelDir}/manifest.json does not exist; convert a model first (npm run convert -- wan --random-init wan2.1-t2v-1.3b --out ${dirArg})`);
  process.exit(2);
}
const write = argv.includes('--write');
// the engine's own default (half the cores, at most 4), passed explicitly so the native twin uses the same
const threads = Number(flag('threads', String(Math.min(4, Math.max(1, Math.floor(cpus().length / 2))))));
const numFrames = Number(flag('frames', '5'));
const [width, height] = flag('size', '64x64').split('x').map(Number);
if (!Number.isInteger(numFrames) || numFrames < 1 || (numFrames - 1) % 4 !== 0) throw new RangeError(`--frames must be 4k+1 (1, 5, 9, …); got ${flag('frames')}`);
if (!(width > 0 && height > 0 && width % 16 === 0 && height % 16 === 0)) throw new RangeError(`--size must be WxH, multiples of 16; got ${flag('size')}`);

const manifest = JSON.parse(readFileSync(join(modelDir, 'manifest.json'), 'utf8'));
// The smallest latent size is a bench choice, not one of the model's advertised sizes: the page loads a
// copy of the manifest with this size added to limits.sizes (served as manifest.bench.json beside it, so
// every file path resolves the same). The converted folder is not changed.
const benchManifest = structuredClone(manifest);
benchManifest.limits ??= {};
benchManifest.limits.sizes = [...(benchManifest.limits.sizes ?? []), { width, height }].filter((s, i, all) => all.findIndex((t) => t.width === s.width && t.height === s.height) === i);
if (benchManifest.limits.numFrames) benchManifest.limits.numFrames.min = Math.min(benchManifest.limits.numFrames.min ?? 1, numFrames);
const benchManifestText = JSON.stringify(benchManifest);

// ------------------------------------------------------------------------------------------ model files
const variantFiles = (variant) => [...variant.graphs.flatMap((g) => g.files), ...(variant.data ?? [])];
const components = Object.entries(manifest.components);
const fileList = [
  ...components.flatMap(([, c]) => c.variants.flatMap(variantFiles)),
  ...(manifest.tokenizer?.files ?? []),
];
const totalBytes = fileList.reduce((n, f) => n + f.bytes, 0);
const stageNeed = components.map(([name, c]) => {
  const v = c.variants[0];
  const weights = v.memory?.weightsBytes ?? variantFiles(v).reduce((n, f) => n + f.bytes, 0);
  return { name, dtype: v.dtype, weights, activations: v.memory?.activationBytes ?? 0, need: weights + (v.memory?.activationBytes ?? 0) };
});

// ------------------------------------------------------------------------------------------ server
const requests = []; // { path, bytes, at }
const TYPES = { '.json': 'application/json', '.onnx': 'application/octet-stream', '.data': 'application/octet-stream', '.bin': 'application/octet-stream' };
function serveModel(req, res) {
  let path;
  try { path = decodeURIComponent(new URL(req.url, 'http://x').pathname); } catch { res.statusCode = 400; res.end(); return; }
  requests.push({ path, range: req.headers.range ?? null, at: performance.now() });
  if (path === '/manifest.bench.json') {
    res.setHeader('content-type', 'application/json');
    res.setHeader('cache-control', 'no-cache');
    res.end(benchManifestText);
    return;
  }
  const file = normalize(join(modelDir, path));
  if (!file.startsWith(modelDir + sep)) { res.statusCode = 403; res.end(); return; }
  let size;
  try { const s = statSync(file); if (!s.isFile()) throw new Error(); size = s.size; } catch { res.statusCode = 404; res.end('not found'); return; }
  res.setHeader('content-type', TYPES[file.slice(file.lastIndexOf('.'))] ?? 'application/octet-stream');
  res.setHeader('accept-ranges', 'bytes');
  res.setHeader('cache-control', 'no-cache');
  const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
  let start = 0;
  let end = size - 1;
  if (range) {
    start = Number(range[1]);
    end = range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
    if (start > end) { res.statusCode = 416; res.setHeader('content-range', `bytes */${size}`); res.end(); return; }
    res.statusCode = 206;
    res.setHeader('content-range', `bytes ${start}-${end}/${size}`);
  }
  res.setHeader('content-length', end - start + 1);
  if (req.method === 'HEAD') { res.end(); return; }
  createReadStream(file, { start, end }).pipe(res);
}
const modelFilesRequested = (since) => requests.filter((r) => r.at >= since && !r.path.endsWith('manifest.bench.json') && !r.path.endsWith('manifest.json'));

process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING = 'true';
const server = await createServer({
  root, configFile: resolve(root, 'vite.config.ts'), mode: 'bench', logLevel: 'error',
  // no watcher and no HMR: an edit anywhere in the checkout during a long run must not reload the page
  server: { hmr: false, watch: null },
  plugins: [{ name: 'bench-wan-model', configureServer(s) { s.middlewares.use('/wan-model', serveModel); } }],
});
await server.listen();
const base = server.resolvedUrls.local[0];
const manifestUrl = new URL('wan-model/manifest.bench.json', base).href;
const { findChromium, CHROMIUM_ARGS } = await server.ssrLoadModule('/src/node/chromium.ts');
const { chromium } = await import('playwright-core');

// ------------------------------------------------------------------------------------------ memory probes
function processTable() {
  const rows = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      rows.push({ pid: Number(name), ppid });
    } catch { /* gone */ }
  }
  return rows;
}
/** The renderer processes under this Node process (the page and its workers live in one). */
function renderers() {
  const rows = processTable();
  const mine = new Set([process.pid]);
  for (let grew = true; grew;) {
    grew = false;
    for (const r of rows) if (!mine.has(r.pid) && mine.has(r.ppid)) { mine.add(r.pid); grew = true; }
  }
  const out = [];
  for (const pid of mine) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('--type=renderer')) out.push(pid);
    } catch { /* gone */ }
  }
  return out;
}
const rssBytes = (pid) => {
  try { return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024; } catch { return 0; }
};

/** Everything one browser session records, with the stage each sample falls in. */
function createRecorder() {
  const t0 = performance.now();
  const rec = { events: [], rss: [], worker: [], stage: 'start', marks: [] };
  rec.mark = (stage) => { rec.stage = stage; rec.marks.push({ stage, at: performance.now() - t0 }); };
  rec.now = () => performance.now() - t0;
  const timer = setInterval(() => {
    const bytes = Math.max(0, ...renderers().map(rssBytes));
    rec.rss.push({ at: rec.now(), stage: rec.stage, bytes });
  }, 100);
  rec.stop = () => clearInterval(timer);
  return rec;
}

// The bench's own probe, put into each worker through the debugger before the worker's first line runs:
// it remembers every WebAssembly.Memory (created in JS, as onnxruntime-web's threaded build does, or
// exported by an instance), so the size of the runtime's heap can be read later with one evaluate.
// (Runtime.queryObjects did the same without a hook but never answered in the engine's worker here.)
const WASM_HOOK = `(() => {
  const seen = (self.__benchWasmMemories = []);
  const W = WebAssembly;
  const Memory = W.Memory;
  W.Memory = new Proxy(Memory, { construct(target, args, nt) { const m = Reflect.construct(target, args, nt); seen.push(m); return m; } });
  const keep = (r) => { const i = r && (r.instance ?? r); const e = i && i.exports; if (e) for (const v of Object.values(e)) if (v instanceof Memory && !seen.includes(v)) seen.push(v); return r; };
  for (const k of ['instantiate', 'instantiateStreaming']) { const f = W[k]; if (f) W[k] = function (...a) { return f.apply(this, a).then(keep); }; }
  const I = W.Instance;
  W.Instance = new Proxy(I, { construct(target, args, nt) { return keep(Reflect.construct(target, args, nt)); } });
})()`;
const WASM_READ = 'Math.max(0, ...(self.__benchWasmMemories ?? []).map((m) => m.buffer.byteLength))';

/** CDP sessions to the page's workers (non-flattened, so Playwright's own attachments are untouched). */
async function attachWorkerProbe(page, rec) {
  const cdp = await page.context().newCDPSession(page);
  const sessions = new Map(); // sessionId -> { url }
  const pending = new Map();
  let id = 0;
  // a reply that does not come within 20 s (the worker busy in one long run) counts as no reading
  const send = (sessionId, method, params = {}) => new Promise((resolveReply) => {
    const n = ++id;
    const timer = setTimeout(() => { pending.delete(`${sessionId}:${n}`); if (process.env.BENCH_WAN_DEBUG) console.error(`probe: ${method} timed out`); resolveReply({ error: 'timeout' }); }, 20_000);
    pending.set(`${sessionId}:${n}`, (m) => { clearTimeout(timer); if (process.env.BENCH_WAN_DEBUG) console.error(`probe: ${method} ${JSON.stringify(m).slice(0, 200)}`); resolveReply(m); });
    cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: n, method, params }) }).catch(() => resolveReply({ error: 'gone' }));
  });
  cdp.on('Target.attachedToTarget', (e) => {
    // Every worker starts paused (waitForDebuggerOnStart): the memory hook goes in before its first line.
    if (e.targetInfo.type === 'worker') {
      sessions.set(e.sessionId, { url: e.targetInfo.url });
      send(e.sessionId, 'Runtime.evaluate', { expression: WASM_HOOK }).finally(() => send(e.sessionId, 'Runtime.runIfWaitingForDebugger'));
    } else {
      cdp.send('Target.sendMessageToTarget', { sessionId: e.sessionId, message: JSON.stringify({ id: ++id, method: 'Runtime.runIfWaitingForDebugger' }) }).catch(() => undefined);
    }
  });
  cdp.on('Target.detachedFromTarget', (e) => sessions.delete(e.sessionId));
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message);
    const done = pending.get(`${e.sessionId}:${m.id}`);
    if (done) { pending.delete(`${e.sessionId}:${m.id}`); done(m); }
  });
  await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: true, flatten: false });
  let busy = false;
  const read = async (withWasm = true, label = null) => {
    const engine = [...sessions].find(([, s]) => s.url.includes('engine'));
    if (!engine || (busy && !label)) return;
    busy = true;
    const asked = rec.now();
    try {
      const [sid] = engine;
      const heap = await send(sid, 'Runtime.getHeapUsage');
      let wasm = null;
      if (withWasm) {
        const got = await send(sid, 'Runtime.evaluate', { expression: WASM_READ, returnByValue: true });
        wasm = got.result?.result?.value ?? null;
      }
      if (heap.error) return;
      rec.worker.push({ asked, at: rec.now(), stage: rec.stage, jsHeap: heap.result?.usedSize ?? 0, backing: heap.result?.backingStorageSize ?? 0, wasm, label });
    } finally {
      busy = false;
    }
  };
  const timer = process.env.BENCH_WAN_NO_PROBE ? null : setInterval(() => { read(false).catch(() => undefined); }, 500);
  return { read: process.env.BENCH_WAN_NO_PROBE ? async () => undefined : read, stop: () => clearInterval(timer), detach: () => cdp.detach().catch(() => undefined) };
}

async function openBrowser(profile, rec) {
  const context = await chromium.launchPersistentContext(profile, { executablePath: findChromium(), args: [...CHROMIUM_ARGS], headless: true });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (e) => console.error('page error:', e.message));
  let probe = null;
  await page.exposeFunction('wanProgress', (event) => {
    rec.events.push({ ...event, at: rec.now(), stage: rec.stage });
    // The engine emits encode-text / denoise / decode events as each piece finishes; the wasm reading
    // asked for here is answered when the worker is next between runs (so: at least that stage's peak).
    if (event.type === 'encode-text') { rec.mark('denoise'); probe?.read(true, 'after the text encoder').catch(() => undefined); }
    else if (event.type === 'denoise' && event.step === event.total) { rec.mark('decode'); probe?.read(true, 'after the denoiser').catch(() => undefined); }
  });
  probe = await attachWorkerProbe(page, rec);
  await page.goto(new URL('bench/wan/page.html', base).href);
  await page.waitForFunction(() => window.wanReady === true, null, { timeout: 120_000 });
  const call = (name, ...args) => page.evaluate(([n, a]) => window.wan[n](...a), [name, args]);
  return { context, page, probe, call };
}

// ------------------------------------------------------------------------------------------ the run
const GiB = 1024 ** 3;
const MB = 1e6;
const gb = (b) => `${(b / 1e9).toFixed(2)} GB`;
const mb = (b) => `${(b / MB).toFixed(0)} MB`;
const s = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
const median = (xs) => { const v = [...xs].sort((a, b) => a - b); const m = v.length >> 1; return v.length ? (v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2) : NaN; };
const lines = [];
const say = (line = '') => { lines.push(line); console.log(line); };
const log = (line) => console.error(`bench:wan: ${line}`);

const request = { prompt: 'a red panda eating bamboo in a forest', seed: 7, width, height, numFrames, format: 'mp4' };
const options = (extra = {}) => ({ model: manifestUrl, backend: 'wasm', wasmThreads: threads, ...extra });
const profile = mkdtempSync(join(tmpdir(), 'kinema-bench-wan-'));
const load1 = loadavg()[0];
const started = new Date();
let browserVersion = '';
let isolatedPage = false;
const out = { refusal: null, cold: null, warm: null, generate: null };
let rec;
try {
  rec = createRecorder();
  let b = await openBrowser(profile, rec);
  browserVersion = b.context.browser()?.version() ?? (await b.page.evaluate(() => navigator.userAgent)).match(/Chrome\/([\d.]+)/)?.[1] ?? '';
  isolatedPage = await b.call('isolated');

  // 1. The pre-check: a ceiling below the largest stage's need, in a fresh profile.
  const largest = stageNeed.reduce((a, c) => (c.need > a.need ? c : a));
  const ceiling = Math.max(1, Math.floor(largest.need / 2));
  rec.mark('refusal');
  const since = performance.now();
  const refused = await b.call('load', options({ memoryLimits: { wasmHeapBytes: ceiling } }));
  out.refusal = { ceiling, largest, result: refused, modelRequests: modelFilesRequested(since).length };
  log(`pre-check with wasmHeapBytes ${ceiling}: ${refused.ok ? 'NOT refused' : `${refused.error.code}: ${refused.error.message}`}`);
  if (refused.ok || out.refusal.modelRequests > 0) {
    // the cache may now hold files: start the cold load from an empty profile again
    await b.call('dispose');
    await b.probe.detach();
    await b.context.close();
    rmSync(profile, { recursive: true, force: true });
    b = await openBrowser(profile, rec);
  }

  // 2. Cold load, then one generation.
  rec.mark('load');
  const coldSince = performance.now();
  out.cold = await b.call('load', options());
  out.cold.requests = modelFilesRequested(coldSince).length;
  if (!out.cold.ok) throw new Error(`cold load failed: ${out.cold.error.code}: ${out.cold.error.message}`);
  log(`cold load ${s(out.cold.loadMs)}`);
  await b.probe.read(true, 'after the load');
  rec.mark('encode-text');
  const genStart = rec.now();
  out.generate = await b.call('generate', request);
  out.generate.start = genStart;
  out.generate.end = rec.now();
  await b.probe.read(true, 'after the generation');
  if (!out.generate.ok) throw new Error(`generate failed: ${out.generate.error.code}: ${out.generate.error.message}`);
  log(`generated in ${s(out.generate.result.timings.totalMs)}`);
  rec.mark('idle');
  await b.call('dispose');
  b.probe.stop();
  await b.probe.detach();
  await b.context.close();

  // 3. Warm load: a fresh browser on the same profile (the Cache API holds the files).
  if (!argv.includes('--no-warm')) {
    const warmRec = createRecorder();
    const w = await openBrowser(profile, warmRec);
    warmRec.mark('load');
    const warmSince = performance.now();
    out.warm = await w.call('load', options());
    out.warm.requests = modelFilesRequested(warmSince).length;
    await w.probe.read(true, 'after the warm load');
    warmRec.stop();
    out.warm.peakRss = Math.max(0, ...warmRec.rss.map((r) => r.bytes));
    out.warm.worker = warmRec.worker.at(-1) ?? null;
    log(`warm load ${out.warm.ok ? s(out.warm.loadMs) : out.warm.error.message}`);
    await w.call('dispose');
    w.probe.stop();
    await w.probe.detach();
    await w.context.close();
  }
} finally {
  rec?.stop();
  rmSync(profile, { recursive: true, force: true });
  await server.close();
}

// ------------------------------------------------------------------------------------------ native twin
let native = null;
if (!argv.includes('--no-native')) {
  const r = out.generate.result;
  const args = [resolve(root, 'bench/wan/native.mjs'), modelDir, `--threads=${threads}`, `--steps=${r.steps}`,
    `--batch=${r.guidanceScale > 1 && manifest.guidance?.cfg ? 2 : 1}`, `--size=${width}x${height}`, `--frames=${numFrames}`, '--json'];
  log(`native twin: node bench/wan/native.mjs ${args.slice(2).join(' ')}`);
  native = await new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    child.stdout.on('data', (d) => { text += d; });
    child.on('close', (code) => {
      try { done(code === 0 ? JSON.parse(text.trim().split('\n').at(-1)) : { error: `exit ${code}` }); } catch (e) { done({ error: e.message }); }
    });
  });
}

// ------------------------------------------------------------------------------------------ report
const r = out.generate.result;
const t = r.timings;
const ev = rec.events;
const denoiseEvents = ev.filter((e) => e.type === 'denoise');
const textEvent = ev.find((e) => e.type === 'encode-text');
const stepTimes = denoiseEvents.map((e, i) => e.pageMs - (i === 0 ? textEvent?.pageMs ?? e.pageMs : denoiseEvents[i - 1].pageMs));
const decodeEvents = ev.filter((e) => e.type === 'decode');
const perForward = r.guidanceScale > 1 && manifest.guidance?.cfg ? 'one batch-2 forward (CFG)' : 'one forward';
const latentFrames = (numFrames - 1) / 4 + 1;
const stagePeak = (stage, key, list) => Math.max(0, ...list.filter((x) => x.stage === stage).map((x) => x[key]));
const stages = [['load', 'cold load (download, verify, cache, sessions)'], ['encode-text', 'text encoder'], ['denoise', 'denoiser'], ['decode', 'decoder (+ MP4)']];

say('## Wan2.1-T2V-1.3B at full size (random weights)');
say();
say(`Command: \`npm run bench:wan -- ${dirArg}\` · ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC · ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'} (load average ${load1.toFixed(2)} at the start, ${loadavg()[0].toFixed(2)} at the end) · Chromium ${browserVersion} headless, wasm, ${threads} thread(s)${isolatedPage ? '' : ' (page NOT cross-origin isolated)'} · the public API (createVideoGenerator → load → generate) in bench/wan/page.ts · model \`${manifest.id}\` from ${dirArg}.`);
say();
// --convert-time=FILE: the /usr/bin/time -v output of the conversion that wrote DIR (optional)
const convertTime = flag('convert-time', null);
if (convertTime && existsSync(convertTime)) {
  const text = readFileSync(convertTime, 'utf8');
  const command = /Command being timed: "(.*)"/.exec(text)?.[1];
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)/.exec(text)?.[1];
  const rss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(text)?.[1] ?? 0) * 1024;
  const cpu = /Percent of CPU this job got: (\S+)/.exec(text)?.[1];
  say(`- conversion (\`/usr/bin/time -v ${command ?? '?'}\`): wall ${wall ?? '?'}, peak RSS ${gb(rss)}, CPU ${cpu ?? '?'}`);
}
say('- weights: random (convert/kinema_convert/random_init.py) with the real configs and tensor names; the tokenizer is a synthetic 63-piece umT5-style one (ids far below 256,384): speed and memory do not depend on the values');
say(`- model: ${fileList.length} files, ${gb(totalBytes)} (${stageNeed.map((c) => `${c.name} ${c.dtype} ${gb(c.weights)}`).join(', ')}; tokenizer ${mb((manifest.tokenizer?.files ?? []).reduce((n, f) => n + f.bytes, 0))})`);
say(`- manifest memory per stage (weights + activations): ${stageNeed.map((c) => `${c.name} ${gb(c.weights)} + ${gb(c.activations)}`).join('; ')}`);
say(`- clip: ${r.width}×${r.height}, ${r.numFrames} frames (${latentFrames} latent frame(s) of ${width / 8}×${height / 8}), ${r.steps} steps, guidance ${r.guidanceScale}; ${width}×${height} added to limits.sizes in a served copy of the manifest (the converted folder is unchanged)`);
const rf = out.refusal;
if (rf.result.ok) say(`- pre-check with \`memoryLimits: { wasmHeapBytes: ${rf.ceiling} }\` (half the ${rf.largest.name}'s need): **not refused** — the load went through (${rf.modelRequests} model-file requests)`);
else say(`- pre-check with \`memoryLimits: { wasmHeapBytes: ${rf.ceiling} }\` (half the ${rf.largest.name}'s need): **${rf.result.error.code}** after ${s(rf.result.ms)}, **${rf.modelRequests} model-file requests** (only the manifest was fetched): “${rf.result.error.message}”${rf.result.error.details ? ` details ${JSON.stringify(rf.result.error.details)}` : ''}`);
say(`- cold load (fresh profile): **${s(out.cold.loadMs)}**, ${out.cold.requests} model-file requests${out.warm ? `; warm load (a fresh browser on the same profile, from the Cache API): **${out.warm.ok ? s(out.warm.loadMs) : `failed: ${out.warm.error.code}`}**, ${out.warm.requests} model-file requests; warm ÷ cold ${out.warm.ok ? (out.warm.loadMs / out.cold.loadMs).toFixed(3) : '–'}` : ''}`);
say(`- generate: ${s(t.totalMs)} in all — text encoder ${s(t.encodeTextMs)}, denoising ${s(t.denoiseMs)}, decoding ${s(t.decodeMs)}, MP4 ${s(t.encodeMs)}${t.sessionRunMs ? `; session.run ${s(t.sessionRunMs)} of it` : ''}`);
say(`- per text-encoder run: **${s(t.encodeTextMs)}** (tokenize, gather, ${stageNeed.find((c) => c.name === 'textEncoder') ? manifest.components.textEncoder.variants[0].graphs.length : '?'} graph(s); includes re-creating its sessions when the memory plan stages it)`);
say(`- per denoiser forward (${perForward}, ${manifest.components.denoiser.variants[0].graphs.length} graphs with the context graph): **${s(median(stepTimes.slice(1)))}** median of steps 2–${stepTimes.length}; step 1 ${s(stepTimes[0] ?? NaN)} (adds the per-prompt context graph, and session creation when staged); progress-event times ${stepTimes.slice(0, 8).map((x) => s(x)).join(', ')}${stepTimes.length > 8 ? ', …' : ''}`);
say(`- per decoded frame: **${s(t.decodeMs / r.numFrames)}** (${r.numFrames} frames from ${latentFrames} decoder step(s); decode events at ${decodeEvents.map((e) => s(e.pageMs - (denoiseEvents.at(-1)?.pageMs ?? 0))).join(', ')} after the last step)`);
say(`- memory per stage: the renderer's peak RSS (sampled from /proc every 100 ms; the page and its workers share that process) · the engine worker's peak JS heap and ArrayBuffer backing stores (CDP on the worker target, Runtime.getHeapUsage every 500 ms when the worker is between runs):`);
for (const [stage, label] of stages) {
  const ws = rec.worker.filter((x) => x.stage === stage);
  say(`  - ${label}: RSS **${gb(stagePeak(stage, 'bytes', rec.rss))}**; worker JS heap ${ws.length ? `${mb(stagePeak(stage, 'jsHeap', ws))}, ArrayBuffers ${mb(stagePeak(stage, 'backing', ws))}` : 'no reading (the worker was inside a run)'}`);
}
if (out.warm?.ok) say(`  - warm load: RSS **${gb(out.warm.peakRss)}**${out.warm.worker ? `; worker JS heap ${mb(out.warm.worker.jsHeap)}, ArrayBuffers ${mb(out.warm.worker.backing)}` : ''}`);
const wasmReadings = [...rec.worker, ...(out.warm?.worker ? [out.warm.worker] : [])].filter((x) => x.label && x.wasm !== null);
say(`- wasm memory of the engine worker (the largest WebAssembly.Memory, remembered by a hook the bench puts into the worker through the debugger before its first line; a wasm heap only grows, so each reading is the high-water mark so far): ${wasmReadings.map((x) => `${x.label} ${gb(x.wasm)}`).join(', ') || 'no reading'}`);
if (native && !native.error) {
  const ratio = (a, b) => (b > 0 ? (a / b).toFixed(2) : '–');
  const browserStep = median(stepTimes.slice(1));
  say(`- native twin (\`node bench/wan/native.mjs\`: onnxruntime-node ${native.version}, ${native.threads} thread(s), the same graphs and input shapes, random values): sessions ${s(native.createMs)}, peak RSS ${gb(native.peakRss)}`);
  say(`  - text encoder: native ${s(native.textEncoderMs)}, **browser ÷ native ${ratio(t.encodeTextMs, native.textEncoderMs)}**`);
  say(`  - denoiser forward: native ${s(native.denoiserForwardMs)} (median of ${native.steps}; context graph ${s(native.contextMs)}), **browser ÷ native ${ratio(browserStep, native.denoiserForwardMs)}**`);
  say(`  - decoded frame: native ${s(native.decoderFrameMs)}, **browser ÷ native ${ratio(t.decodeMs / r.numFrames, native.decoderFrameMs)}**`);
} else if (native) {
  say(`- native twin: failed (${native.error})`);
}
say();

if (write) {
  const path = resolve(root, 'BENCHMARKS.md');
  const text = existsSync(path) ? readFileSync(path, 'utf8') : '';
  const heading = '## Wan2.1-T2V-1.3B at full size (random weights)';
  const block = `${lines.join('\n').trimEnd()}\n`;
  const at = text.indexOf(heading);
  let next;
  if (at < 0) next = `${text.trimEnd()}\n\n${block}`;
  else {
    const after = text.indexOf('\n## ', at + heading.length);
    next = `${text.slice(0, at)}${block}${after < 0 ? '' : `\n${text.slice(after + 1)}`}`;
  }
  writeFileSync(path, next);
  log(`wrote the section into ${path}`);
}
process.exit(0);
