#!/usr/bin/env node
// npm run bench [-- --write] — kinema's benchmarks, measured side by side in one run; prints ratios.
// --write also replaces BENCHMARKS.md with this run's output. Times are this machine's, and noisy:
// read the ratios, not the milliseconds, and never gate a test on them.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const write = process.argv.includes('--write');
const quick = process.argv.includes('--quick');
// --only=a,c runs just those sections (for tracing one of them); --write needs every section.
const only = process.argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',');
if (only && write) throw new Error('--write regenerates the whole of BENCHMARKS.md; drop --only');
const want = (section) => !only || only.includes(section);
const ROUNDS = Number(process.argv.find((arg) => arg.startsWith('--rounds='))?.slice('--rounds='.length) ?? (quick ? 2 : 5));
const STEPS = 8;

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const ms = (x) => `${x.toFixed(x < 10 ? 2 : 0)} ms`;
const lines = [];
const signed = (x) => `${x >= 0 ? '+' : '−'}${ms(Math.abs(x))}`;
// (a)'s gap, split with the worker's own timings: session.run inside the worker against the same calls
// bare in the page, the engine's work between those calls, and the page side with the worker boundary.
function traceA(rounds, e2e, bare) {
  const worker = rounds.flatMap((r) => r.worker);
  const workerTotal = median(worker.map((w) => w.totalMs));
  const workerRun = median(worker.map((w) => w.sessionRunMs));
  const inPage = median(rounds.flatMap((r) => r.inPage));
  const parts = [
    ['session.run inside the worker, over the same calls bare in the page', workerRun - bare],
    ["the engine's work between those calls (tokenizer, noise, CFG and scheduler steps, a yield to the event loop per step and before the frames, RGBA frames)", workerTotal - workerRun],
    ["the page's side and the worker boundary (the generator's checks, the call's messages and relays, the result's transfer)", e2e - workerTotal],
  ];
  say(`- where the ${signed(e2e - bare)} beyond bare session.run goes (medians of the worker's own timings, so the parts add up only roughly):`);
  for (const [what, value] of parts) say(`  - ${what}: ${signed(value)}`);
  const largest = parts.reduce((a, b) => (b[1] > a[1] ? b : a));
  say(`  - the largest part in this run: ${largest[0].split(' (')[0]}`);
  const own = rounds.flatMap((r) => r.inPageAccounts);
  const ownAround = median(own.map((w) => w.totalMs)) - median(own.map((w) => w.sessionRunMs));
  say(`- the same public API with the engine in the page (no worker): ${ms(inPage)}, ratio ${(inPage / bare).toFixed(3)}; its work between session.run calls ${ms(ownAround)}`);
  const yields = rounds.map((r) => r.yields);
  const yieldMs = median(yields.map((y) => y.yieldMs));
  say(`- one yield to the event loop in a worker (a MessageChannel round trip) right after ${ms(yields[0].workMs)} of work (one session.run's worth): ${ms(yieldMs)}, so ${ms(yieldMs * yields[0].count)} for a generation's ${yields[0].count} (one per step, one before the first frame; later frames yield only after 16 ms); a setTimeout(0) instead: ${ms(median(yields.map((y) => y.timeoutMs)))} each`);
  const ratios = rounds.flatMap((r) => r.e2e.map((x, i) => x / r.bare[i]));
  say(`- the ratio round by round (each generation ÷ the bare calls right after it): ${Math.min(...ratios).toFixed(3)} to ${Math.max(...ratios).toFixed(3)} over ${ratios.length}; the machine's load average went from ${load1.toFixed(2)} to ${loadavg()[0].toFixed(2)} during (a)`);
}

const say = (line = '') => { lines.push(line); console.log(line); };

process.env.VITE_CONFIG_NATIVE_IGNORE_WARNING = 'true';
const server = await createServer({ root, configFile: resolve(root, 'vite.config.ts'), mode: 'bench', logLevel: 'error' });
await server.listen();
const base = server.resolvedUrls.local[0];
const { findChromium, CHROMIUM_ARGS } = await server.ssrLoadModule('/src/node/chromium.ts');
const { chromium } = await import('playwright-core');
const browser = await chromium.launch({ executablePath: findChromium(), args: [...CHROMIUM_ARGS] });
const page = await browser.newPage();
page.on('pageerror', (e) => console.error('page error:', e.message));
await page.goto(new URL('bench/page.html', base).href);
await page.waitForFunction(() => window.benchReady === true, null, { timeout: 120_000 });
const run = (name, ...args) => page.evaluate(([n, a]) => window.bench[n](...a), [name, args]);

say(`# kinema benchmarks`);
say();
const about = await run('describe');
const load1 = loadavg()[0];
say(`Command: \`npm run bench${quick ? ' -- --quick' : ''}\` · ${new Date().toISOString().slice(0, 10)} · ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'} (load average ${load1.toFixed(2)} at the start) · Chromium ${browser.version()} headless, WebGPU adapter: ${about.adapter} · ${about.model} fp32, ${STEPS} steps with CFG, ${about.numFrames} frames at ${about.width}×${about.height} · medians of ${ROUNDS} interleaved rounds.`);
say();

// (a) engine overhead over bare session.run, and (b) against PyTorch, interleaved round by round.
const torchScript = resolve(root, 'bench/torch_sampling.py');
const torchRun = () => {
  const out = spawnSync('/usr/bin/python3', [torchScript, '--steps', String(STEPS), '--rounds', '1', '--threads', '1'], { cwd: root, encoding: 'utf8' });
  if (out.status !== 0) return { error: (out.stderr || out.stdout).trim().split('\n').at(-1) };
  return JSON.parse(out.stdout.trim().split('\n').at(-1));
};
const wasmRounds = [];
const torchRounds = [];
for (let r = 0; r < ROUNDS; r++) {
  wasmRounds.push(await run('wasmOverhead', STEPS, 2));
  if (want('b')) torchRounds.push(existsSync(torchScript) ? torchRun() : { error: 'bench/torch_sampling.py is missing' });
}
const e2e = median(wasmRounds.flatMap((r) => r.e2e));
const bare = median(wasmRounds.flatMap((r) => r.bare));
say(`## (a) End-to-end generation through the public API and its worker ÷ bare session.run in the page (wasm, ${wasmRounds[0].threads} thread${wasmRounds[0].threads > 1 ? 's' : ''})`);
say(`- generate (frames out): ${ms(e2e)}; the same ${STEPS + 2} session.run calls alone: ${ms(bare)}`);
say(`- **ratio ${(e2e / bare).toFixed(3)}** (target ≤ 1.10)`);
traceA(wasmRounds, e2e, bare);
say();
if (want('b')) {
say(`## (b) kinema in Chromium (wasm) ÷ PyTorch on the CPU, same model and steps`);
const torchOk = torchRounds.filter((r) => !r.error);
if (torchOk.length > 0) {
  const torch = median(torchOk.map((r) => r.ms));
  say(`- kinema: ${ms(e2e)}; PyTorch ${torchOk[0].torch} (${torchOk[0].threads} thread, same ${STEPS}-step CFG sampling): ${ms(torch)}`);
  say(`- **ratio ${(e2e / torch).toFixed(3)}** (target ≤ 1.5)`);
} else {
  say(`- not measured: ${torchRounds[0]?.error}`);
}
say();
}

if (want('c')) {
const steps = await run('stepTimes', 2);
const perStep = { wasm: median(steps.wasm), webgpu: median(steps.webgpu) };
say(`## (c) WebGPU vs wasm, time per denoising step`);
say(`- wasm ${ms(perStep.wasm)}, WebGPU (${about.adapter}) ${ms(perStep.webgpu)}: **WebGPU ÷ wasm ${(perStep.webgpu / perStep.wasm).toFixed(1)}**${about.fallbackAdapter ? " (reported; a fallback adapter is emulated on the CPU, so 'auto' picks wasm)" : ' (reported)'}`);
say();
}

if (want('d')) {
const loads = await run('coldWarmLoad', ROUNDS);
const cold = median(loads.cold);
const warm = median(loads.warm);
// The same loads over an emulated 100 Mbit/s, 20 ms link (Chromium's network emulation), since a
// download from localhost costs almost nothing and leaves only session creation to compare.
const cdp = await page.context().newCDPSession(page);
await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 20, downloadThroughput: 12.5e6, uploadThroughput: 12.5e6 });
const slow = await run('coldWarmLoad', ROUNDS);
await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
say(`## (d) Warm (Cache API) load ÷ cold load, wasm (fp32 files, ${(about.fp32Bytes / 1e6).toFixed(1)} MB)`);
say(`- model served from localhost: cold ${ms(cold)}, warm ${ms(warm)}: **ratio ${(warm / cold).toFixed(3)}** (target ≤ 0.2)`);
say(`- over an emulated 100 Mbit/s, 20 ms link: cold ${ms(median(slow.cold))}, warm ${ms(median(slow.warm))}: **ratio ${(median(slow.warm) / median(slow.cold)).toFixed(3)}**`);
say(`- a warm load still creates the three onnxruntime sessions; that, not reading the cache, is most of it`);
say();
}

if (want('encode')) {
const enc = await run('encodeAndPreview', STEPS, ROUNDS);
const encodeShare = median(enc.map((r) => r.encodeMs / r.totalMs));
const previewShare = median(enc.map((r) => r.firstPreviewMs / r.totalMs));
say(`## Encoding and previews (through the public API and its worker, MP4 ${enc[0].codec} at ${enc[0].width}×${enc[0].height})`);
say(`- encode + mux: ${ms(median(enc.map((r) => r.encodeMs)))} of ${ms(median(enc.map((r) => r.totalMs)))}: **${(encodeShare * 100).toFixed(1)} %** of total (target ≤ 5 %)`);
say(`- first preview (every 2 steps) after ${ms(median(enc.map((r) => r.firstPreviewMs)))}: **${(previewShare * 100).toFixed(1)} %** of total (target ≤ 25 %)`);

say();
}

if (want('e')) {
// (e) wasm threads: kinema's default (half the cores) against all of them, interleaved.
const allCores = cpus().length;
const { defaultWasmThreads } = await server.ssrLoadModule('/src/runtime/capabilities.ts');
const defaultThreads = defaultWasmThreads(allCores, true); // the bench page is cross-origin isolated
const counts = [...new Set([defaultThreads, Math.min(4, allCores)])];
const threadRows = await run('wasmThreads', counts, STEPS, ROUNDS * 2);
say(`## (e) wasm threads: time per generation, and the page's main thread meanwhile (public API, worker, frames out)`);
for (const row of threadRows) {
  say(`- ${row.threads} thread${row.threads > 1 ? 's' : ''}${row.threads === defaultThreads ? ' (the default here)' : ''}: ${ms(median(row.ms))} per generation; longest long task ${ms(row.longestTaskMs)}, longest gap of a 20 ms timer ${ms(row.longestTimerGapMs)}`);
}
if (threadRows.length > 1) {
  const [a, b] = threadRows;
  say(`- **${b.threads} threads ÷ ${a.threads}: ${(median(b.ms) / median(a.ms)).toFixed(3)}** in time per generation (reported; the default leaves the page a core)`);
}
}

await browser.close();
await server.close();
if (write) {
  writeFileSync(resolve(root, 'BENCHMARKS.md'), `${lines.join('\n')}\n`);
  console.log('\nwrote BENCHMARKS.md');
}
