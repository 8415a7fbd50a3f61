/**
 * The cold-start and revisit benchmarks' page (issue 14), built once by bench/run.mjs and opened fresh for
 * every visit, so each measurement starts with a new page, a new worker and a new runtime: the page a
 * site would have. It imports only the public API (the engine runs in the generator's worker) and the
 * bare-runtime worker. Nothing here asserts a time.
 */
import { createVideoGenerator, type ProgressEvent } from '../src/index';

declare global {
  interface Window {
    cold: typeof cold;
    coldReady: boolean;
  }
}

const manifestUrl = new URL('../models/kinema-micro/manifest.json', location.href).href;

/**
 * Long tasks on this page's main thread while `run` runs (the longtask observer: tasks of 50 ms or more),
 * and the longest gap between ticks of a 20 ms timer (how long the page waited for a core, whoever held it).
 */
async function watchingLongTasks<T>(run: () => Promise<T>): Promise<[T, number[], number]> {
  const tasks: number[] = [];
  const observer = new PerformanceObserver((list) => { for (const entry of list.getEntries()) tasks.push(entry.duration); });
  observer.observe({ type: 'longtask' });
  let last = performance.now();
  let longestGap = 0;
  const timer = setInterval(() => { const now = performance.now(); longestGap = Math.max(longestGap, now - last); last = now; }, 20);
  try {
    const result = await run();
    return [result, tasks, Math.max(longestGap, performance.now() - last)];
  } finally {
    clearInterval(timer);
    observer.disconnect();
  }
}

const cold = {
  /**
   * A visit: load kinema-micro through the public API, then `generations` generations of the same request
   * (8 steps with CFG, 8 frames, frames out, new seeds), each timed from the page. The load's progress
   * events are kept with their times, so run.mjs can say where a load's time goes.
   */
  async visit(options: { generations: number; steps: number; threads: number; cache: 'cache-api' | 'memory'; warmUp?: boolean }) {
    const started = performance.now();
    const generator = createVideoGenerator({ model: manifestUrl, backend: 'wasm', cache: options.cache, weights: 'fp32', wasmThreads: options.threads, ...(options.warmUp !== undefined ? { warmUp: options.warmUp } : {}) });
    const timeline: { type: string; t: number; component?: string; fromCache?: boolean; file?: string }[] = [];
    const onProgress = (event: ProgressEvent) => {
      const t = performance.now() - started;
      if (event.type === 'download') timeline.push({ type: 'download', t, file: event.file, fromCache: event.fromCache });
      else if (event.type === 'compile') timeline.push({ type: 'compile', t, component: event.component });
      else if (event.type !== 'preview') timeline.push({ type: event.type, t });
    };
    const [info, loadTasks] = await watchingLongTasks(() => generator.load({ onProgress }));
    const loadMs = performance.now() - started;
    const visitMs = performance.now(); // since this page's navigation started
    const request = (seed: number) => ({ prompt: 'a red circle moving right on a black background', seed, steps: options.steps, guidanceScale: 4, numFrames: 8, format: 'frames' as const });
    const generations: { ms: number; sessionRunMs: number; longTasks: number[]; timerGapMs: number }[] = [];
    for (let i = 0; i < options.generations; i++) {
      const t = performance.now();
      const [result, longTasks, timerGapMs] = await watchingLongTasks(() => generator.generate(request(i + 1)));
      generations.push({ ms: performance.now() - t, sessionRunMs: result.timings.sessionRunMs ?? NaN, longTasks, timerGapMs });
    }
    await generator.dispose();
    return { loadMs, workerLoadMs: info.loadMs, warmUpMs: info.warmUpMs ?? 0, downloadedBytes: info.downloadedBytes, totalBytes: info.totalBytes, visitMs, loadTasks, timeline, generations };
  },

  /** onnxruntime-web's plain wasm build alone, in a worker of its own (bench/bare.worker.ts). */
  async bare(options: { count: number; steps: number; threads: number; level?: 'all' | 'disabled'; warmUp?: boolean }) {
    const worker = new Worker(new URL('./bare.worker.ts', import.meta.url), { type: 'module' });
    try {
      const reply = new Promise<Record<string, unknown>>((resolve) => { worker.onmessage = (event) => resolve(event.data); });
      worker.postMessage({ manifestUrl, steps: options.steps, count: options.count, numThreads: options.threads, ...(options.level ? { level: options.level } : {}), warmUp: options.warmUp === true });
      const result = await reply;
      if (!result.ok) throw new Error(String(result.error));
      return result as { runtimeMs: number; createMs: number[]; warmUpMs?: number; runs: number[]; threads: number; checks: number[] };
    } finally {
      worker.terminate();
    }
  },
};

window.cold = cold;
window.coldReady = true;
