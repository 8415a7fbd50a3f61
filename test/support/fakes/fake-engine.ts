/**
 * A fake `Engine` whose every call is a promise the test settles by hand, for driving the generator's
 * state machine in Node. Like the real engine, load() and generate() reject with ABORTED when their
 * signal fires (unless `ignoreSignals`); every call is recorded with its arguments, in order.
 */
import type { Capabilities, Engine, EngineLoadInfo } from '../../../src/contract';
import { abortError } from '../../../src/errors';
import type { GenerateResult } from '../../../src/api/types';
import type { ProgressListener } from '../../../src/progress/events';

export type FakeEngineMethod = keyof Engine;

export interface FakeEngineCall {
  method: FakeEngineMethod;
  args: unknown[];
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  resolve(value?: unknown): void;
  reject(error: unknown): void;
  /** Whether the test or the signal has settled it. */
  settled: boolean;
}

export interface FakeEngine {
  engine: Engine;
  calls: FakeEngineCall[];
  /** Resolves with the next call of `method` not yet handed out (waiting for it if it has not come). */
  next(method: FakeEngineMethod): Promise<FakeEngineCall>;
  count(method: FakeEngineMethod): number;
}

export const fakeLoadInfo = (overrides: Partial<EngineLoadInfo> = {}): EngineLoadInfo =>
  ({ backend: 'wasm', model: 'fake-model', modelVersion: '1', downloadedBytes: 10, totalBytes: 10, loadMs: 5, warnings: [], ...overrides }) as EngineLoadInfo;

export const fakeResult = (overrides: Partial<GenerateResult> = {}): GenerateResult =>
  ({
    video: null, frames: new Uint8ClampedArray(4), format: 'frames', mimeType: null, codec: null, width: 1, height: 1, numFrames: 1, fps: 8,
    seed: 1, backend: 'wasm', model: 'fake-model', warnings: [],
    timings: { loadMs: 0, encodeTextMs: 1, denoiseMs: 1, decodeMs: 1, encodeMs: 0, totalMs: 3 },
    ...overrides,
  }) as unknown as GenerateResult;

/** `ignoreSignals`: an engine that never stops early, so only the caller's own checks can end a call. */
export function createFakeEngine(options: { ignoreSignals?: boolean } = {}): FakeEngine {
  const calls: FakeEngineCall[] = [];
  const handedOut = new Set<FakeEngineCall>();
  const waiters: { method: FakeEngineMethod; resolve(call: FakeEngineCall): void }[] = [];

  function record(method: FakeEngineMethod, args: unknown[], signal?: AbortSignal, onProgress?: ProgressListener): Promise<never> {
    return new Promise((resolve, reject) => {
      const call: FakeEngineCall = {
        method, args, settled: false,
        ...(signal ? { signal } : {}),
        ...(onProgress ? { onProgress } : {}),
        resolve: (value) => { call.settled = true; resolve(value as never); },
        reject: (error) => { call.settled = true; reject(error); },
      };
      if (signal && !options.ignoreSignals) {
        if (signal.aborted) return call.reject(abortError(signal));
        signal.addEventListener('abort', () => call.reject(abortError(signal)), { once: true });
      }
      calls.push(call);
      const waiter = waiters.findIndex((w) => w.method === method);
      if (waiter >= 0) {
        handedOut.add(call);
        waiters.splice(waiter, 1)[0]!.resolve(call);
      }
    });
  }

  const engine: Engine = {
    capabilities: () => record('capabilities', []) as Promise<Capabilities>,
    load: (spec, onProgress, signal) => record('load', [spec], signal, onProgress),
    generate: (spec, onProgress, signal) => record('generate', [spec], signal, onProgress),
    isCached: (spec) => record('isCached', [spec]),
    clearCache: (spec) => record('clearCache', [spec]),
    cachedModels: (cache) => record('cachedModels', [cache]),
    dispose: () => record('dispose', []),
  };

  return {
    engine,
    calls,
    count: (method) => calls.filter((c) => c.method === method).length,
    next: (method) => {
      const ready = calls.find((c) => c.method === method && !handedOut.has(c));
      if (ready) {
        handedOut.add(ready);
        return Promise.resolve(ready);
      }
      return new Promise((resolve) => waiters.push({ method, resolve }));
    },
  };
}
