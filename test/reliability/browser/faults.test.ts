/**
 * Faults that need a browser: the worker dying mid-generation, and the GPU device lost mid-loop
 * (SwiftShader here, so 1-step generations). Bounds are hang guards only; each case is judged by what
 * happened and in which order.
 */
import { describe, expect, it } from 'vitest';
import { createVideoGenerator } from '../../../src/api/generator';
import { connectWorkerEngine, defaultWorker } from '../../../src/api/worker-client';
import { createEngine } from '../../../src/engine/engine';
import { KinemaError } from '../../../src/errors';
import { loadOrt } from '../../../src/runtime/ort';
import { ortGpuDevice } from '../../../src/runtime/sessions';
import { generateSpec, loadSpec, manifestUrl } from '../../browser/support/model';

const HANG_MS = 60_000;
const prompt = 'a red circle moving right on a black background';

function bounded<T>(promise: Promise<T>, what: string, hangMs = HANG_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`HANG: ${what}`)), hangMs); });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}

describe('faults in the browser', () => {
  it('the worker terminated mid-generation: the call rejects with WORKER_CRASHED, nothing arrives after, a new engine works', async () => {
    const engine = connectWorkerEngine(defaultWorker());
    await engine.load(loadSpec('wasm'));
    const log: string[] = [];
    let terminatedAt = 0;
    const running = engine.generate(generateSpec({ prompt, steps: 20 }), (e) => {
      log.push(e.type);
      if (e.type === 'denoise' && e.step === 1 && terminatedAt === 0) {
        terminatedAt = performance.now();
        log.push('terminate');
        engine.terminate();
      }
    });
    const error = await bounded(running.then(() => null, (e: unknown) => e), 'generate after terminate');
    const rejectedAfterMs = performance.now() - terminatedAt;
    log.push('rejected');
    await new Promise((resolve) => setTimeout(resolve, 200));
    console.log(`worker terminated mid-run: rejected ${rejectedAfterMs.toFixed(0)} ms after terminate()`);
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('WORKER_CRASHED');
    // Event order: terminated during the loop, rejected, and no progress from the dead worker afterwards.
    expect(log.slice(log.indexOf('terminate'))).toEqual(['terminate', 'rejected']);

    const fresh = connectWorkerEngine(defaultWorker());
    try {
      await fresh.load(loadSpec('wasm'));
      const result = await bounded(fresh.generate(generateSpec({ prompt, steps: 1 })), 'next generation');
      expect(result.frames).toHaveLength(8);
    } finally {
      await fresh.dispose();
    }
  });

  // With the engine in this page (an engine the caller supplied), the generator cannot replace it:
  // onnxruntime keeps the destroyed device, so only the code is checked here; recovery is the next test.
  it('the GPU device lost mid-loop rejects with DEVICE_LOST', async () => {
    const generator = createVideoGenerator({ model: manifestUrl, backend: 'webgpu', weights: 'fp32', cache: 'memory', engine: createEngine() });
    try {
      expect((await generator.load()).backend).toBe('webgpu');
      const device = await ortGpuDevice(await loadOrt('webgpu'));
      const steps: number[] = [];
      const error = await bounded(generator.generate({ prompt, steps: 3, format: 'frames' }, {
        onProgress: (e) => {
          if (e.type !== 'denoise') return;
          steps.push(e.step);
          if (e.step === 1) device.destroy();
        },
      }).then(() => null, (e: unknown) => e), 'generate after device.destroy()');
      expect(error).toBeInstanceOf(KinemaError);
      expect((error as KinemaError).code, (error as Error).message).toBe('DEVICE_LOST');
      expect(steps[0], 'the device was destroyed during the loop').toBe(1);
    } finally {
      await generator.dispose();
    }
  });

  it('the GPU device lost mid-loop in the worker: DEVICE_LOST, then the next generate() on the same generator succeeds in a fresh worker, from the cache', async () => {
    const names: string[] = [];
    const worker = () => {
      const name = names.length === 0 ? 'destroy-device-at-step-1' : 'plain';
      names.push(name);
      return new Worker(new URL('./fixtures/device-lost.worker.ts', import.meta.url), { type: 'module', name });
    };
    const generator = createVideoGenerator({ model: manifestUrl, backend: 'webgpu', weights: 'fp32', cache: 'cache-api', worker });
    try {
      expect((await bounded(generator.load(), 'first load')).backend).toBe('webgpu');
      const steps: number[] = [];
      const error = await bounded(generator.generate({ prompt, steps: 3, format: 'frames' }, {
        onProgress: (e) => { if (e.type === 'denoise') steps.push(e.step); },
      }).then(() => null, (e: unknown) => e), 'generate after device.destroy()', 3 * HANG_MS);
      expect(error).toBeInstanceOf(KinemaError);
      expect((error as KinemaError).code, (error as Error).message).toBe('DEVICE_LOST');
      expect(steps[0], 'the device was destroyed during the loop').toBe(1);
      expect(generator.state).toBe('idle');

      const events: string[] = [];
      const fromCache: boolean[] = [];
      const result = await bounded(generator.generate({ prompt, steps: 1, format: 'frames' }, {
        onProgress: (e) => {
          events.push(e.type);
          if (e.type === 'download') fromCache.push(e.fromCache);
        },
      }), 'the next generation', 3 * HANG_MS).catch((e: Error) => { throw new Error(`${e.message}; events: ${events.join(' ')}`); }); // a new load: shaders compile again on SwiftShader
      expect(result.backend).toBe('webgpu');
      expect(result.frames).toHaveLength(8);
      expect(names, 'a second worker was started for it').toEqual(['destroy-device-at-step-1', 'plain']);
      expect(fromCache.length, 'the model was loaded again').toBeGreaterThan(0);
      expect(fromCache.every(Boolean), 'from the cache').toBe(true);
      expect(events.at(-1)).toBe('done');
      expect(generator.state).toBe('ready');
      await generator.clearCache();
    } finally {
      await generator.dispose();
    }
  }, 8 * HANG_MS);
});
