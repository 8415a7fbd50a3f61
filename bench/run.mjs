#!/usr/bin/env node
// npm run bench [-- --write] — kinema's benchmarks, measured side by side in one run; prints ratios.
// --write also replaces BENCHMARKS.md with this run's output. Times are this machine's, and noisy:
// read the ratios, not the milliseconds, and never gate a test on them.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { coldStart, loadParts, serveColdStartPage, visits } from './cold-start.mjs';
import { graphLevels } from './graph-levels.mjs';
import { ortNodeRuns } from './ort-node.mjs';

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
// No file watching and no HMR: an edit elsewhere in the repository must not reload the page mid-run.
const server = await createServer({ root, configFile: resolve(root, 'vite.config.ts'), mode: 'bench', logLevel: 'error', server: { hmr: false, watch: null } });
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
const nativeRounds = [];
for (let r = 0; r < ROUNDS; r++) {
  wasmRounds.push(await run('wasmOverhead', STEPS, 2));
  if (want('b')) torchRounds.push(existsSync(torchScript) ? torchRun() : { error: 'bench/torch_sampling.py is missing' });
  // The same session.run sequence on onnxruntime-node, on as many threads as (a)'s wasm side.
  if (want('b')) nativeRounds.push(await ortNodeRuns({ root, steps: STEPS, count: 3, threads: wasmRounds[0].threads }).catch((error) => ({ error: error.message })));
}
// Issue 14's cold start: bench/cold-start.html built as an app ships it, every visit a fresh page.
const needCold = want('b') || want('cold') || want('revisit');
const coldPage = needCold ? await serveColdStartPage(root) : undefined;
const cold = want('b') || want('cold') ? await coldStart({ browser, url: coldPage.url, rounds: ROUNDS, steps: STEPS, threads: wasmRounds[0].threads }) : undefined;
const laterMedian = (runs) => median(runs.slice(1));
const e2e = median(wasmRounds.flatMap((r) => r.e2e));
const bare = median(wasmRounds.flatMap((r) => r.bare));
say(`## (a) End-to-end generation through the public API and its worker ÷ bare session.run in the page (wasm, ${wasmRounds[0].threads} thread${wasmRounds[0].threads > 1 ? 's' : ''})`);
say(`- generate (frames out): ${ms(e2e)}; the same ${STEPS + 2} session.run calls alone: ${ms(bare)}`);
say(`- **ratio ${(e2e / bare).toFixed(3)}** (target ≤ 1.10)`);
traceA(wasmRounds, e2e, bare);
say();
if (want('b')) {
say(`## (b) kinema in Chromium (wasm) ÷ PyTorch on the CPU, ÷ onnxruntime-node, and ÷ onnxruntime-web's bare plain-wasm session; same model and steps`);
const torchOk = torchRounds.filter((r) => !r.error);
if (torchOk.length > 0) {
  const torch = median(torchOk.map((r) => r.ms));
  say(`- kinema: ${ms(e2e)}; PyTorch ${torchOk[0].torch} (${torchOk[0].threads} thread, same ${STEPS}-step CFG sampling): ${ms(torch)}`);
  say(`- **ratio ${(e2e / torch).toFixed(3)}** (target ≤ 1.5)`);
} else {
  say(`- not measured: ${torchRounds[0]?.error}`);
}
const nativeOk = nativeRounds.filter((r) => !r.error);
if (nativeOk.length > 0) {
  const native = median(nativeOk.flatMap((r) => r.runs.slice(1)));
  say(`- onnxruntime-node ${nativeOk[0].version} (native CPU, ${nativeOk[0].threads} thread, the same fp32 graphs and ${STEPS + 2} session.run calls, kinema's session options): ${ms(native)}; **kinema ÷ onnxruntime-node ${(e2e / native).toFixed(3)}**, and the bare wasm calls of (a) ÷ onnxruntime-node ${(bare / native).toFixed(3)} (wasm's SIMD128 against native AVX2: the runtime's own floor, which kinema cannot go under)`);
} else {
  say(`- onnxruntime-node: not measured: ${nativeRounds[0]?.error}`);
}
const kinemaFirst = median(cold.visits.map((v) => v.generations[0].ms));
const bareFirst = median(cold.bares.map((b) => b.runs[0]));
const warmBareFirst = median(cold.warmBares.map((b) => b.runs[0]));
const kinemaLater = median(cold.visits.map((v) => laterMedian(v.generations.map((g) => g.ms))));
const bareLater = median(cold.bares.map((b) => laterMedian(b.runs)));
// Round by round (the two fresh pages of a round run back to back), as the cold-start ratio is per visit.
const paired = cold.visits.map((v, r) => v.generations[0].ms / cold.warmBares[r].runs[0]);
say(`- from the first generation, each in a fresh page (new context, new worker, new runtime): kinema's first generation ${ms(kinemaFirst)} (its load ended with a ${ms(median(cold.visits.map((v) => v.warmUpMs)))} warm-up); onnxruntime-web's bare plain-wasm session in a worker of its own, its first run of the same calls after the same one-step warm-up ${ms(warmBareFirst)}: **kinema ÷ bare plain wasm ${median(paired).toFixed(3)}** (target ≤ 1.1; the median of the ${paired.length} rounds' ratios, ${Math.min(...paired).toFixed(2)} to ${Math.max(...paired).toFixed(2)}); without a warm-up the bare session's first run takes ${ms(bareFirst)} (kinema's warmed first ÷ that ${(kinemaFirst / bareFirst).toFixed(3)}); later ones ${ms(kinemaLater)} ÷ ${ms(bareLater)} = ${(kinemaLater / bareLater).toFixed(3)}`);
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
say(`- a warm load still creates the three onnxruntime sessions and ends with the warm-up generation (${ms(median([...loads.warmUpMs, ...slow.warmUpMs]))} here, where this page's runtime has run the model before); that, not reading the cache, is most of it`);
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
say();
}

const longest = (xs) => Math.max(0, ...xs);
if (want('cold')) {
  const firstOverLater = cold.visits.map((v) => v.generations[0].ms / laterMedian(v.generations.map((g) => g.ms)));
  say(`## Cold start: a page's first generation ÷ a later one on the same page (wasm, ${wasmRounds[0].threads} thread, public API and its worker, fresh page each time)`);
  say(`- in a new browser context (empty HTTP cache, Cache API and V8 code cache), ${ROUNDS} visits: first generation ${ms(median(cold.visits.map((v) => v.generations[0].ms)))}, generations 2–${cold.visits[0].generations.length} ${ms(median(cold.visits.map((v) => laterMedian(v.generations.map((g) => g.ms)))))}: **first ÷ later ${median(firstOverLater).toFixed(3)}** (target ≤ 1.3; visit by visit ${Math.min(...firstOverLater).toFixed(2)} to ${Math.max(...firstOverLater).toFixed(2)})`);
  say(`- the page's main thread during the first generation: longest long task ${ms(longest(cold.visits.flatMap((v) => v.generations[0].longTasks)))} over the ${ROUNDS} visits (during the loads before them: ${ms(longest(cold.visits.flatMap((v) => v.loadTasks)))}); longest gap of a 20 ms timer, median over the visits, first generation ${ms(median(cold.visits.map((v) => v.generations[0].timerGapMs)))}, later ones ${ms(median(cold.visits.flatMap((v) => v.generations.slice(1).map((g) => g.timerGapMs))))} (wall time: on a loaded machine other processes stretch it too)`);
  const unwarmedRatio = cold.unwarmed.map((v) => v.generations[0].ms / laterMedian(v.generations.map((g) => g.ms)));
  say(`- the same visits with \`warmUp: false\`: first generation ${ms(median(cold.unwarmed.map((v) => v.generations[0].ms)))}, later ${ms(median(cold.unwarmed.map((v) => laterMedian(v.generations.map((g) => g.ms)))))}: first ÷ later ${median(unwarmedRatio).toFixed(3)}`);
  const untilFirst = (v) => v.loadMs + v.generations[0].ms;
  say(`- load + first generation (the wait for a page's first clip): ${ms(median(cold.visits.map(untilFirst)))} with the warm-up (load ${ms(median(cold.visits.map((v) => v.loadMs)))}, of which the warm-up ${ms(median(cold.visits.map((v) => v.warmUpMs)))}), ${ms(median(cold.unwarmed.map(untilFirst)))} without (load ${ms(median(cold.unwarmed.map((v) => v.loadMs)))}): **${(median(cold.visits.map(untilFirst)) / median(cold.unwarmed.map(untilFirst))).toFixed(3)}** (memory store, localhost; the compile moves into the load, the warm-up's own step is added)`);
  const bareRatio = cold.bares.map((b) => b.runs[0] / laterMedian(b.runs));
  const warmBareRatio = cold.warmBares.map((b) => b.runs[0] / laterMedian(b.runs));
  say(`- onnxruntime-web's bare plain-wasm session, fresh page each time: first run ÷ later ones ${median(bareRatio).toFixed(3)} without a warm-up (V8 compiles each wasm function when it first runs), ${median(warmBareRatio).toFixed(3)} after one one-step sequence; its runtime started in ${ms(median(cold.bares.map((b) => b.runtimeMs)))} (import, wasm fetch, compile, start)`);
}
if (want('cold') || want('revisit')) {
  const profiles = quick ? 1 : 3;
  const rows = await visits({ chromium, launchOptions: { executablePath: findChromium(), args: [...CHROMIUM_ARGS] }, url: coldPage.url, profiles, steps: STEPS, threads: wasmRounds[0].threads });
  const ratioOf = (key, of) => median(rows.map((r) => r[key][of] / r.first[of]));
  if (want('cold')) {
    const second = rows.map((r) => r.revisit.generations[0].ms / laterMedian(r.revisit.generations.map((g) => g.ms)));
    const first = rows.map((r) => r.first.generations[0].ms / laterMedian(r.first.generations.map((g) => g.ms)));
    say(`- with a persistent profile (${profiles} fresh user-data folder${profiles > 1 ? "s" : ""}; the browser closed and launched again between visits): the first visit's first generation ÷ its later ones ${median(first).toFixed(3)}, **the second visit's ${median(second).toFixed(3)}** (${ms(median(rows.map((r) => r.revisit.generations[0].ms)))} then ${ms(median(rows.map((r) => laterMedian(r.revisit.generations.map((g) => g.ms)))))}); its longest long task during the first generation ${ms(longest(rows.flatMap((r) => r.revisit.generations[0].longTasks)))}`);
    say();
  }
  if (want('revisit')) {
    say(`## Revisit: a new page's load with the model in the Cache API ÷ the first visit's load (wasm, over an emulated 100 Mbit/s, 20 ms link, bench/cold-start.html built and served by vite preview, its hashed assets \`immutable\` as a site serves them, ${profiles} fresh persistent profile${profiles > 1 ? "s" : ""})`);
    say(`- first visit: load ${ms(median(rows.map((r) => r.first.loadMs)))} (${(rows[0].first.downloadedBytes / 1e6).toFixed(1)} MB downloaded), the whole visit (navigation to loaded) ${ms(median(rows.map((r) => r.first.visitMs)))}`);
    say(`- after the browser is closed and launched again: load ${ms(median(rows.map((r) => r.revisit.loadMs)))} (${(median(rows.map((r) => r.revisit.downloadedBytes)) / 1e6).toFixed(1)} MB downloaded): **revisit ÷ first visit ${ratioOf('revisit', 'loadMs').toFixed(3)}** (target ≤ 0.2); the whole visit ${ratioOf('revisit', 'visitMs').toFixed(3)}`);
    say(`- a new page in the same browser right after the first visit: load ${ms(median(rows.map((r) => r.samePage.loadMs)))}, ÷ first visit ${ratioOf('samePage', 'loadMs').toFixed(3)}`);
    for (const [name, key] of [['first visit', 'first'], ['new page, same browser', 'samePage'], ['revisit after a relaunch', 'revisit']]) {
      const parts = rows.map((r) => loadParts(r[key]));
      const m = (pick) => ms(median(parts.map(pick)));
      const sessions = parts[0].sessions.map(([component], i) => `${component} ${m((p) => p.sessions[i][1])}`).join(', ');
      say(`  - where the ${name}'s load goes (medians, from its progress events): the worker's start and the manifest ${m((p) => p.beforeFirstEvent)} (of which before the worker's own load began ${m((p) => p.workerStartMs)}); the model's files ${m((p) => p.files)} (downloaded and verified, or found in the Cache API; the engine reads each graph's bytes just before its session, so that read counts in session creation); waiting for onnxruntime to start after that ${m((p) => p.waitForRuntime)}; session creation ${sessions}; the warm-up generation ${m((p) => p.warmUp)} (to the load's end)`);
    }
    const levels = await graphLevels({ root });
    const levelLine = levels.map((row) => `${row.component} ${['all', 'extended', 'basic', 'disabled'].map((l) => `${l} ${ms(median(row.createMs[l]))}`).join(' / ')}`).join('; ');
    const same = (level) => levels.every((row) => row.differ[level].count === 0);
    const worst = (level) => Math.max(...levels.map((row) => row.differ[level].max));
    say(`- graph optimisation at session creation, per level (onnxruntime-web wasm in Node, warm runtime): ${levelLine}. Outputs against 'all': 'extended' ${same('extended') ? 'identical bit for bit' : `differ by up to ${worst('extended').toExponential(1)}`}, 'basic' ${same('basic') ? 'identical' : `differ by up to ${worst('basic').toExponential(1)}`}, 'disabled' ${same('disabled') ? 'identical' : `differ by up to ${worst('disabled').toExponential(1)}`}; kinema keeps 'all'`);
    say();
  }
}

// The cold-start runs' raw times, for tracing a figure after the run (not committed: .cache is ignored).
if (cold) writeFileSync(resolve(root, '.cache/bench-cold-start.json'), JSON.stringify(cold, null, 1));
await coldPage?.close();
await browser.close();
await server.close();
if (write) {
  // Sections other benchmarks write (npm run bench:wan's "## Wan2.1-T2V-1.3B at full size ...") are kept as they are.
  const file = resolve(root, 'BENCHMARKS.md');
  const kept = existsSync(file) ? readFileSync(file, 'utf8').split(/^(?=## )/m).filter((section) => /^## Wan2\.1\S* at full size/.test(section)) : [];
  writeFileSync(file, `${lines.join('\n')}\n${kept.map((section) => `\n${section.trimEnd()}\n`).join('')}`);
  console.log('\nwrote BENCHMARKS.md');
}
