/**
 * Soak: back-to-back generations through the public API in one page. On wasm (in kinema's worker), 50
 * generations of kinema-micro's smallest request, with the JS heap measured after generation 10 and 50;
 * on WebGPU (SwiftShader here, so only 3), the live GPU buffers counted after each generation.
 * The figures are printed; the bounds are leaks, not speed.
 */
import { describe, expect, it } from 'vitest';
import { createVideoGenerator } from '../../../src/api/generator';
import { createEngine } from '../../../src/engine/engine';
import { manifestUrl } from '../../browser/support/model';

const request = { prompt: 'a red circle moving right on a black background', steps: 1, format: 'frames' as const };

/** Page heap after a full GC when the browser exposes one (vitest.config.ts launches with --expose-gc). */
async function pageHeap(): Promise<number | undefined> {
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 3; i++) {
    gc?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return (performance as Performance & { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize;
}

/** All of this page's memory, its workers included, where the browser offers it (cross-origin isolated). */
async function uaMemory(): Promise<number | undefined> {
  const measure = (performance as Performance & { measureUserAgentSpecificMemory?: () => Promise<{ bytes: number }> }).measureUserAgentSpecificMemory;
  if (!measure || !crossOriginIsolated) return undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const gave = await Promise.race([measure.call(performance), new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), 60_000); })]);
  clearTimeout(timer);
  return gave?.bytes;
}

describe('soak', () => {
  it('50 wasm generations: the JS heap grows less than 5 % from generation 10 to 50', async () => {
    const generator = createVideoGenerator({ model: manifestUrl, backend: 'wasm', cache: 'memory' });
    const heap: Record<number, number | undefined> = {};
    const ua: Record<number, number | undefined> = {};
    try {
      for (let i = 1; i <= 50; i++) {
        const result = await generator.generate({ ...request, seed: i });
        expect(result.numFrames).toBe(8);
        if (i === 10 || i === 50) {
          heap[i] = await pageHeap();
          ua[i] = await uaMemory();
        }
      }
    } finally {
      await generator.dispose();
    }
    const growth = (a?: number, b?: number) => (a && b ? (b - a) / a : undefined);
    const pct = (g?: number) => (g === undefined ? 'unavailable' : `${(g * 100).toFixed(2)} %`);
    console.log(`soak (wasm, 50 generations): page heap ${heap[10]} → ${heap[50]} bytes (${pct(growth(heap[10], heap[50]))}); `
      + `measureUserAgentSpecificMemory ${ua[10] ?? 'unavailable'} → ${ua[50] ?? 'unavailable'} bytes (${pct(growth(ua[10], ua[50]))}; `
      + `crossOriginIsolated ${String(crossOriginIsolated)}, API ${'measureUserAgentSpecificMemory' in performance ? 'present' : 'absent'})`);
    expect(heap[10], 'performance.memory is available in Chromium').toBeGreaterThan(0);
    expect(growth(heap[10], heap[50])!).toBeLessThan(0.05);
    const uaGrowth = growth(ua[10], ua[50]);
    if (uaGrowth !== undefined) expect(uaGrowth).toBeLessThan(0.05);
  });

  it('WebGPU: after a warm-up generation, live GPU buffers return to the same count after each generation', async () => {
    let live = 0;
    const create = GPUDevice.prototype.createBuffer;
    const destroy = GPUBuffer.prototype.destroy;
    const destroyed = new WeakSet<GPUBuffer>();
    GPUDevice.prototype.createBuffer = function (this: GPUDevice, ...args: Parameters<GPUDevice['createBuffer']>) {
      live++;
      return create.apply(this, args);
    };
    GPUBuffer.prototype.destroy = function (this: GPUBuffer) {
      if (!destroyed.has(this)) {
        destroyed.add(this);
        live--;
      }
      return destroy.call(this);
    };
    const generator = createVideoGenerator({ model: manifestUrl, backend: 'webgpu', weights: 'fp32', cache: 'memory', engine: createEngine() });
    const after: number[] = [];
    try {
      await generator.load();
      for (let i = 1; i <= 3; i++) { // 1 warm-up, then 2 compared
        await generator.generate({ ...request, seed: i });
        after.push(live);
      }
    } finally {
      await generator.dispose();
      GPUDevice.prototype.createBuffer = create;
      GPUBuffer.prototype.destroy = destroy;
    }
    console.log(`soak (webgpu, 3 generations): live GPU buffers after each generation ${after.join(', ')}`);
    // The first generation warms caches (onnxruntime's buffer cache and our pool took 12 more buffers
    // in the second one when measured); from then on every generation must end where the last one did.
    expect(after[2], 'live GPU buffers after generation 3 vs 2').toBe(after[1]);
  });
});
