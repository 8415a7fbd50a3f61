// Issue 14: a warm load (the model from the Cache API, a new worker and a new runtime) gives the same
// frames as a cold one, bit for bit; the load's warm-up changes no generation; and the wasm backend
// never loads onnxruntime-web's WebGPU build.
import { describe, expect, it } from 'vitest';
import { createVideoGenerator, type GenerateRequest, type VideoGenerator } from '../../src/index';
import { createEngine } from '../../src/engine/engine';
import { concatFrames, generateSpec, manifestUrl } from './support/model';

const request: GenerateRequest = { prompt: 'a red circle moving right on a black background', seed: 7, steps: 4, guidanceScale: 4, numFrames: 8, format: 'frames' };

async function framesOf(generator: VideoGenerator) {
  try {
    const loaded = await generator.load();
    const result = await generator.generate(request);
    if (result.format !== 'frames') throw new Error(`asked for frames, got ${result.format}`);
    return { loaded, frames: concatFrames(result.frames) };
  } finally {
    await generator.dispose();
  }
}

describe('warm and cold loads', () => {
  it("a warm load's frames equal a cold load's, bit for bit (each in its own worker, through the public API)", async () => {
    const options = { model: manifestUrl, backend: 'wasm' as const, cache: 'cache-api' as const, weights: 'fp32' as const };
    const clearing = createVideoGenerator(options);
    await clearing.clearCache();
    await clearing.dispose();

    const cold = await framesOf(createVideoGenerator(options));
    expect(cold.loaded.totalBytes).toBeGreaterThan(0);
    expect(cold.loaded.downloadedBytes, 'the cold load downloaded every file').toBe(cold.loaded.totalBytes);
    const warm = await framesOf(createVideoGenerator(options));
    expect(warm.loaded.downloadedBytes, 'the warm load read every file from the Cache API').toBe(0);

    expect(warm.frames.length).toBe(cold.frames.length);
    expect(cold.frames.length).toBe(8 * 32 * 32 * 4);
    // Not a blank clip, so the equality below says something.
    expect(new Set(cold.frames).size).toBeGreaterThan(16);
    let differing = 0;
    for (let i = 0; i < cold.frames.length; i++) if (warm.frames[i] !== cold.frames[i]) differing++;
    expect(differing, 'bytes that differ between the warm and the cold clip').toBe(0);
  });

  it("the wasm backend fetches onnxruntime-web's plain wasm build, never its WebGPU (JSEP) build", async () => {
    // The engine in this page (not a worker), so this document's resource timings see what the runtime
    // fetched; an observer, because the test runner's own modules fill the timing buffer.
    const fetched: string[] = [];
    const observer = new PerformanceObserver((list) => { for (const entry of list.getEntries()) fetched.push(new URL(entry.name).pathname.replace(/^.*\//, '')); });
    observer.observe({ type: 'resource' });
    const engine = createEngine();
    try {
      await engine.load({ manifestUrl, backend: 'wasm', allowWasm: false, weights: 'fp32', cache: 'memory' });
      const result = await engine.generate(generateSpec({ prompt: request.prompt, steps: 1 }));
      expect(result.format).toBe('frames');
    } finally {
      await engine.dispose();
    }
    await new Promise((resolve) => setTimeout(resolve, 0)); // the observer's last batch
    observer.disconnect();
    expect(fetched.some((name) => name === 'manifest.json'), `the observer saw the load's requests: ${JSON.stringify(fetched.slice(0, 20))}`).toBe(true);
    const runtime = fetched.filter((name) => /^ort[.-]/.test(name));
    // The plain build: its module (onnxruntime-web/wasm) and its wasm (fetched once as the dev server's
    // `?url` module, once by the runtime), and nothing else of the runtime's.
    expect(new Set(runtime), JSON.stringify(runtime)).toEqual(new Set(['ort.wasm.bundle.min.mjs', 'ort-wasm-simd-threaded.wasm']));
    expect(runtime.filter((name) => /jsep|webgpu|^ort\.bundle|^ort\.all|^ort\.min/i.test(name)), JSON.stringify(runtime)).toEqual([]);
  });

  // After the test above: these start the page's runtime, whose fetches that test must see first.
  it("a load's warm-up generation runs by default on wasm and changes nothing a later generation makes", async () => {
    const spec = generateSpec({ prompt: request.prompt, seed: 3, steps: 2 });
    const framesAfter = async (warmUp: boolean | undefined) => {
      const engine = createEngine();
      try {
        const info = await engine.load({ manifestUrl, backend: 'wasm', allowWasm: false, weights: 'fp32', cache: 'memory', ...(warmUp !== undefined ? { warmUp } : {}) });
        const result = await engine.generate(spec);
        return { info, frames: concatFrames(result.frames!) };
      } finally {
        await engine.dispose();
      }
    };
    const warmed = await framesAfter(undefined);
    const unwarmed = await framesAfter(false);
    const forced = await framesAfter(true);
    expect(warmed.info.warmUpMs, 'kinema-micro on wasm is warmed up by default').toBeGreaterThan(0);
    expect(warmed.info.warmUpMs!).toBeLessThan(warmed.info.loadMs);
    expect(forced.info.warmUpMs).toBeGreaterThan(0);
    expect(unwarmed.info.warmUpMs, 'warmUp: false skips it').toBeUndefined();
    expect(new Set(unwarmed.frames).size, 'not a blank clip').toBeGreaterThan(16);
    expect(warmed.frames.length).toBe(unwarmed.frames.length);
    let differing = 0;
    for (let i = 0; i < warmed.frames.length; i++) if (warmed.frames[i] !== unwarmed.frames[i]) differing++;
    expect(differing, 'bytes that differ between the clip after a warm-up and the one without').toBe(0);
  });

  it("an abort at the end of a load (the last session or the warm-up) rejects with ABORTED and leaves the engine usable", async () => {
    const engine = createEngine();
    try {
      const controller = new AbortController();
      // After the last session's compile event come its creation and the warm-up (which sends no event
      // of its own), so the abort lands in one of the two; both must end the load the same way.
      const load = engine.load({ manifestUrl, backend: 'wasm', allowWasm: false, weights: 'fp32', cache: 'memory', warmUp: true }, (event) => {
        if (event.type === 'compile' && event.index === event.total - 1) setTimeout(() => controller.abort(), 0);
      }, controller.signal);
      const error = await load.then(() => undefined, (e: unknown) => e);
      expect((error as { code?: string })?.code, String(error)).toBe('ABORTED');
      const info = await engine.load({ manifestUrl, backend: 'wasm', allowWasm: false, weights: 'fp32', cache: 'memory' });
      expect(info.warmUpMs).toBeGreaterThan(0);
      const result = await engine.generate(generateSpec({ prompt: request.prompt, steps: 1 }));
      expect(result.frames!.length).toBe(8);
    } finally {
      await engine.dispose();
    }
  });
});
