/**
 * Benchmarks that run in the browser, driven by bench/run.mjs. Each returns raw timings; run.mjs pairs
 * them side by side and prints ratios. Nothing here asserts a time.
 */
import * as ort from 'onnxruntime-web';
import { createEngine } from '../src/engine/engine';
import type { EngineGenerateSpec, EngineLoadSpec } from '../src/contract';
import { loadOrt } from '../src/runtime/ort';
import { createVideoGenerator } from '../src/index';

declare global {
  interface Window {
    bench: typeof bench;
    benchReady: boolean;
  }
}

const median = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2; };
const manifestUrl = new URL('/models/kinema-micro/manifest.json', location.href).href;
const load = (backend: 'wasm' | 'webgpu', cache: 'memory' | 'cache-api' = 'memory'): EngineLoadSpec => ({ manifestUrl, backend, allowWasm: false, weights: 'fp32', cache });
const spec = (steps: number, extra: Partial<EngineGenerateSpec> = {}): EngineGenerateSpec => ({
  prompt: 'a red circle moving right on a black background', negativePrompt: '', seed: 1, steps, guidanceScale: 4, numFrames: 8, fps: 8,
  width: 32, height: 32, format: 'frames', outputScale: 1, outputFilter: 'nearest', previewEvery: 0, returnFrames: false, watermark: false, ...extra,
});

async function manifestFiles(): Promise<{ json: { tokenizer: { maxLength: number }; components: Record<string, { variants: { dtype: string; files: { path: string }[] }[] }>; latent: { channels: number } }; bytes: Map<string, Uint8Array> }> {
  const json = await (await fetch(manifestUrl)).json();
  const bytes = new Map<string, Uint8Array>();
  for (const component of Object.values(json.components) as { variants: { dtype: string; files: { path: string }[] }[] }[]) {
    const fp32 = component.variants.find((v) => v.dtype === 'fp32')!;
    for (const file of fp32.files) bytes.set(file.path, new Uint8Array(await (await fetch(new URL(file.path, manifestUrl))).arrayBuffer()));
  }
  return { json, bytes };
}

/** One yieldToEventLoop and one setTimeout(0) inside a fresh worker after `workMs` of busy work, each averaged over `count` calls. */
async function yieldCost(count: number, workMs: number): Promise<{ yieldMs: number; timeoutMs: number; count: number; workMs: number }> {
  const worker = new Worker(new URL('./yield-probe.worker.ts', import.meta.url), { type: 'module' });
  try {
    const reply = new Promise<{ yieldMs: number; timeoutMs: number }>((resolve) => { worker.onmessage = (event) => resolve(event.data); });
    worker.postMessage({ count, workMs });
    return { ...(await reply), count, workMs };
  } finally {
    worker.terminate();
  }
}

const bench = {
  /** What the header of BENCHMARKS.md says about this run, read from the page rather than written down. */
  async describe() {
    const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
    const adapter = gpu ? await gpu.requestAdapter() : null;
    const info = adapter?.info;
    const { json } = await manifestFiles();
    const fp32Bytes = Object.values(json.components).reduce((sum, component) => {
      const files = component.variants.find((v) => v.dtype === 'fp32')!.files as { bytes?: number }[];
      return sum + files.reduce((s, f) => s + (f.bytes ?? 0), 0);
    }, 0);
    const defaults = (json as unknown as { defaults: { width: number; height: number; numFrames: number } }).defaults;
    return {
      adapter: info ? `${info.architecture || info.vendor || 'unknown'}${adapter!.info.isFallbackAdapter ? ', a fallback (software) adapter' : ''}` : 'none',
      fallbackAdapter: Boolean(info?.isFallbackAdapter),
      model: `${(json as unknown as { id: string }).id} ${(json as unknown as { version: string }).version}`,
      fp32Bytes,
      width: defaults.width,
      height: defaults.height,
      numFrames: defaults.numFrames,
    };
  },

  /**
   * (a) and (b): end-to-end generations through the public API and its worker (frames out) and bare
   * session.run sequences on wasm in this page, interleaved, with the same thread count on both sides.
   */
  async wasmOverhead(steps: number, rounds: number) {
    // The bare sessions run on the same runtime build as the engine's wasm backend (onnxruntime-web/wasm).
    const ort = await loadOrt('wasm');
    const threads = ort.env.wasm.numThreads || 1;
    const generator = createVideoGenerator({ model: manifestUrl, backend: 'wasm', cache: 'memory', weights: 'fp32', wasmThreads: threads });
    await generator.load();
    const request = (seed: number) => ({ prompt: 'a red circle moving right on a black background', seed, steps, guidanceScale: 4, numFrames: 8, format: 'frames' as const });
    const { json, bytes } = await manifestFiles();
    const graph = (name: string) => json.components[name]!.variants.find((v) => v.dtype === 'fp32')!.files[0]!.path;
    const sessions = {
      text: await ort.InferenceSession.create(bytes.get(graph('textEncoder'))!, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }),
      denoiser: await ort.InferenceSession.create(bytes.get(graph('denoiser'))!, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }),
      vae: await ort.InferenceSession.create(bytes.get(graph('vaeDecoder'))!, { executionProviders: ['wasm'], graphOptimizationLevel: 'all' }),
    };
    const L = json.tokenizer.maxLength;
    const C = json.latent.channels;
    const ids = new ort.Tensor('int64', new BigInt64Array(2 * L).fill(1n), [2, L]);
    const mask = new ort.Tensor('int64', new BigInt64Array(2 * L).fill(1n), [2, L]);
    async function bare(): Promise<number> {
      let total = 0;
      const time = async (run: () => Promise<unknown>) => { const t = performance.now(); await run(); total += performance.now() - t; };
      let states!: ort.Tensor;
      await time(async () => { states = (await sessions.text.run({ input_ids: ids, attention_mask: mask })).last_hidden_state!; });
      const latent = new ort.Tensor('float32', new Float32Array(2 * C * 8 * 8 * 8).fill(0.1), [2, C, 8, 8, 8]);
      for (let i = 0; i < steps; i++) {
        const t = new ort.Tensor('float32', new Float32Array([1000 - i * 100, 1000 - i * 100]), [2]);
        await time(() => sessions.denoiser.run({ hidden_states: latent, timestep: t, encoder_hidden_states: states, encoder_attention_mask: mask }));
      }
      await time(() => sessions.vae.run({ latent_sample: new ort.Tensor('float32', new Float32Array(C * 8 * 8 * 8).fill(0.1), [1, C, 8, 8, 8]) }));
      return total;
    }
    // The same public API with the engine in this page: what the worker itself costs, apart from the engine.
    const inPage = createVideoGenerator({ model: manifestUrl, backend: 'wasm', cache: 'memory', weights: 'fp32', engine: createEngine() });
    await inPage.load();
    await bare();
    await generator.generate(request(0));
    await inPage.generate(request(0));
    const e2e: number[] = [];
    const bareRuns: number[] = [];
    const inPageRuns: number[] = [];
    // The engine's own account of each generation (in the worker, and in this page), to trace where the
    // time beyond session.run goes.
    type Account = { totalMs: number; sessionRunMs: number; encodeTextMs: number; denoiseMs: number; decodeMs: number };
    const account = ({ totalMs, sessionRunMs = NaN, encodeTextMs, denoiseMs, decodeMs }: Account): Account => ({ totalMs, sessionRunMs, encodeTextMs, denoiseMs, decodeMs });
    const worker: Account[] = [];
    const inPageAccounts: Account[] = [];
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      const result = await generator.generate(request(r + 1));
      e2e.push(performance.now() - t);
      worker.push(account(result.timings as Account));
      bareRuns.push(await bare());
      const u = performance.now();
      const own = await inPage.generate(request(r + 1));
      inPageRuns.push(performance.now() - u);
      inPageAccounts.push(account(own.timings as Account));
    }
    await generator.dispose();
    await inPage.dispose();
    return { e2e, bare: bareRuns, inPage: inPageRuns, worker, inPageAccounts, threads, yields: await yieldCost(steps + 1, median(bareRuns) / (steps + 2)) };
  },

  /** (c): time per denoising step on each backend (few steps on WebGPU: SwiftShader is slow). */
  async stepTimes(steps: number) {
    const out: Record<string, number[]> = {};
    for (const backend of ['wasm', 'webgpu'] as const) {
      const engine = createEngine();
      await engine.load(load(backend));
      await engine.generate(spec(1)); // compile shaders / warm up
      out[backend] = [];
      for (let r = 0; r < 2; r++) {
        const result = await engine.generate(spec(steps, { seed: r }));
        out[backend]!.push(result.timings.denoiseMs / steps);
      }
      await engine.dispose();
    }
    return out;
  },

  /** (d): a load with an empty cache, then a load of the same model from the Cache API. */
  async coldWarmLoad(rounds: number) {
    const cold: number[] = [];
    const warm: number[] = [];
    const warmUpMs: number[] = [];
    for (let r = 0; r < rounds; r++) {
      const a = createEngine();
      await a.clearCache(load('wasm', 'cache-api'));
      let t = performance.now();
      warmUpMs.push((await a.load(load('wasm', 'cache-api'))).warmUpMs ?? 0);
      cold.push(performance.now() - t);
      await a.dispose();
      const b = createEngine();
      t = performance.now();
      warmUpMs.push((await b.load(load('wasm', 'cache-api'))).warmUpMs ?? 0);
      warm.push(performance.now() - t);
      await b.dispose();
    }
    return { cold, warm, warmUpMs };
  },

  /** Issue 5: encode share of a generation (MP4, upscaled ×8), and time to the first preview. */
  async encodeAndPreview(steps: number, rounds: number) {
    const generator = createVideoGenerator({ model: manifestUrl, backend: 'wasm', cache: 'memory' });
    await generator.load();
    await generator.generate({ prompt: 'a red circle moving right on a black background', steps, outputScale: 8 });
    const rows: { totalMs: number; encodeMs: number; firstPreviewMs: number; previewEvery: number; codec: string | null; width: number; height: number }[] = [];
    for (let r = 0; r < rounds; r++) {
      const result = await generator.generate({ prompt: 'a red circle moving right on a black background', seed: r, steps, outputScale: 8, previewEvery: 2 });
      rows.push({ totalMs: result.timings.totalMs, encodeMs: result.timings.encodeMs, firstPreviewMs: result.timings.firstPreviewMs ?? NaN, previewEvery: 2, codec: result.codec, width: result.width, height: result.height });
    }
    await generator.dispose();
    return rows;
  },

  /**
   * (e): the wasm thread count, through the public API (each generator has its own worker, so each its own
   * runtime): time per generation and how long the page's main thread was kept waiting meanwhile, with
   * generations of each count interleaved. The first generation of each is a warm-up and not counted.
   */
  async wasmThreads(counts: number[], steps: number, rounds: number) {
    const request = (seed: number) => ({ prompt: 'a red circle moving right on a black background', seed, steps, format: 'frames' as const });
    const generators = counts.map((wasmThreads) => createVideoGenerator({ model: manifestUrl, backend: 'wasm', cache: 'memory', wasmThreads }));
    for (const generator of generators) await generator.generate(request(0));
    const rows = counts.map((threads) => ({ threads, ms: [] as number[], longestTaskMs: 0, longestTimerGapMs: 0 }));
    for (let r = 0; r < rounds; r++) {
      for (const [i, generator] of generators.entries()) {
        const row = rows[i]!;
        const longTasks: number[] = [];
        const observer = new PerformanceObserver((list) => { for (const entry of list.getEntries()) longTasks.push(entry.duration); });
        observer.observe({ type: 'longtask' });
        let last = performance.now();
        const timer = setInterval(() => { const now = performance.now(); row.longestTimerGapMs = Math.max(row.longestTimerGapMs, now - last); last = now; }, 20);
        const t = performance.now();
        await generator.generate(request(r + 1));
        row.ms.push(performance.now() - t);
        clearInterval(timer);
        observer.disconnect();
        row.longestTaskMs = Math.max(row.longestTaskMs, ...longTasks, 0);
      }
    }
    for (const generator of generators) await generator.dispose();
    return rows;
  },
};

window.bench = bench;
window.benchReady = true;
