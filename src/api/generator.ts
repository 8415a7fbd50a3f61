/**
 * createVideoGenerator: the public entry point. Runs on the page's main thread and never imports the
 * runtime or kernels: local work goes to the engine (in a worker by default), cloud work to the proxy.
 */
import { KinemaError, abortError, isKinemaError } from '../errors';
import type { Engine, EngineLoadSpec } from '../contract';
import { fetchManifest, type ModelManifest } from '../models';
import type { ProgressEvent, ProgressListener } from '../progress/events';
import { connectWorkerEngine, defaultWorker } from './worker-client';
import type { CallOptions, GenerateRequest, GenerateResult, GeneratorOptions, GeneratorState, LoadResult, VideoGenerator, Logger } from './types';
import { checkRequestShape, resolveOptions, resolveRequest } from './validate';

const NEVER_FALL_BACK = new Set(['INVALID_REQUEST', 'ABORTED', 'INVALID_MANIFEST', 'MODEL_NOT_FOUND']);

function pageUrl(): string {
  const location = (globalThis as { location?: Location }).location;
  return location?.href ?? 'http://localhost/';
}

function checkCallOptions(options: CallOptions | undefined): CallOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new TypeError('the second argument must be { signal?, onProgress? }');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError('signal must be an AbortSignal');
  if (options.onProgress !== undefined && typeof options.onProgress !== 'function') throw new TypeError('onProgress must be a function');
  return options;
}

/** Progress from several phases (local attempt, then cloud) as one stream whose `overall` never goes back. */
function monotonic(listener: ProgressListener | undefined): ProgressListener | undefined {
  if (!listener) return undefined;
  let high = 0;
  return (event: ProgressEvent) => {
    high = Math.max(high, event.overall);
    try {
      listener({ ...event, overall: high } as ProgressEvent);
    } catch {
      // A throwing progress callback must not break generation.
    }
  };
}

/**
 * One phase of a longer call: its own 0→1 progress mapped onto [from, to] of the caller's, and its own
 * `done` swallowed (only the whole call ends with done).
 */
function phase(listener: ProgressListener | undefined, from: number, to: number): ProgressListener | undefined {
  if (!listener) return undefined;
  return (event: ProgressEvent) => {
    if (event.type === 'done') return;
    listener({ ...event, overall: from + (to - from) * event.overall } as ProgressEvent);
  };
}

/** When generate() must load the model first, the load takes this share of the progress bar. */
const LOAD_SHARE = 0.4;

export function createVideoGenerator(options?: GeneratorOptions): VideoGenerator {
  const resolved = resolveOptions(options, pageUrl());
  const cloud = options?.cloud;
  const logger: Logger | undefined = options?.logger || undefined;
  if (options?.worker !== undefined && typeof options.worker !== 'function' && !(typeof Worker !== 'undefined' && options.worker instanceof Worker)) {
    throw new TypeError('worker must be a Worker or a function returning one');
  }
  if (options?.engine !== undefined && (typeof options.engine !== 'object' || options.engine === null || typeof options.engine.generate !== 'function')) {
    throw new TypeError("engine must be an Engine, e.g. createEngine() from 'kinema/worker'");
  }
  let state: GeneratorState = 'idle';
  let engine: Promise<Engine> | undefined;
  let manifest: Promise<ModelManifest> | undefined;
  let loadedLocal: LoadResult | undefined;
  let localUnavailable: KinemaError | undefined;

  // A page without navigator.gpu (no WebGPU, or disabled for it) gets no WebGPU from its worker either.
  const pageHasWebGpu = () => typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu !== undefined;
  function getManifest(signal?: AbortSignal): Promise<ModelManifest> {
    manifest ??= fetchManifest(resolved.model, { fetch: globalThis.fetch.bind(globalThis), baseUrl: resolved.modelBaseUrl, ...(signal ? { signal } : {}) });
    manifest.catch(() => { manifest = undefined; });
    return manifest;
  }

  function getEngine(): Promise<Engine> {
    engine ??= (async () => {
      if (options?.engine) return options.engine;
      const choice = options?.worker;
      const worker = typeof choice === 'function' ? choice() : choice ?? defaultWorker();
      return connectWorkerEngine(worker);
    })();
    return engine;
  }

  async function specWithUrl(signal?: AbortSignal): Promise<EngineLoadSpec> {
    return {
      manifestUrl: (await getManifest(signal)).manifestUrl,
      backend: resolved.backend === 'webgpu' || resolved.backend === 'wasm' ? resolved.backend : pageHasWebGpu() ? 'auto' : 'wasm',
      allowWasm: resolved.backend === 'wasm' || resolved.allowWasm,
      weights: resolved.weights,
      cache: resolved.cache,
      ...(resolved.wasmThreads !== undefined ? { wasmThreads: resolved.wasmThreads } : {}),
    };
  }

  function assertUsable() {
    if (state === 'disposed') throw new KinemaError('INVALID_REQUEST', 'this generator was disposed; create a new one');
  }

  async function loadLocal(call: CallOptions): Promise<LoadResult> {
    if (loadedLocal) return loadedLocal;
    const spec = await specWithUrl(call.signal);
    if (resolved.backend !== 'wasm' && !pageHasWebGpu()) {
      if (resolved.backend === 'webgpu') throw new KinemaError('WEBGPU_UNAVAILABLE', "this page has no WebGPU (navigator.gpu is missing); use backend 'auto' or 'wasm'");
      if (!resolved.allowWasm) throw new KinemaError('NO_BACKEND', 'this page has no WebGPU (navigator.gpu is missing) and allowWasm is false');
      call.onProgress?.({ type: 'fallback', from: 'webgpu', to: 'wasm', reason: 'this page has no WebGPU (navigator.gpu is missing)', code: 'WEBGPU_UNAVAILABLE', overall: 0 });
    }
    const info = await (await getEngine()).load(spec, call.onProgress, call.signal);
    for (const warning of info.warnings) logger?.warn(`kinema: ${warning}`);
    loadedLocal = { backend: info.backend, model: info.model, modelVersion: info.modelVersion, downloadedBytes: info.downloadedBytes, totalBytes: info.totalBytes, loadMs: info.loadMs };
    return loadedLocal;
  }

  const canFallBackToCloud = (error: unknown) =>
    resolved.backend === 'auto' && cloud !== undefined && isKinemaError(error) && !NEVER_FALL_BACK.has(error.code);

  async function generateInCloudBackend(request: GenerateRequest, call: CallOptions): Promise<GenerateResult> {
    if (!cloud) throw new KinemaError('NO_BACKEND', 'no cloud provider is configured');
    const { generateWithCloud } = await import('./cloud-backend');
    return generateWithCloud(request, cloud, call);
  }

  const generator: VideoGenerator = {
    get state() {
      return state;
    },

    capabilities: async () => {
      assertUsable();
      return (await getEngine()).capabilities();
    },

    load(callOptions?: CallOptions): Promise<LoadResult> {
      assertUsable();
      const call = checkCallOptions(callOptions);
      const onProgress = monotonic(call.onProgress);
      return (async () => {
        if (resolved.backend === 'cloud') {
          onProgress?.({ type: 'done', overall: 1 });
          return { backend: 'cloud', model: cloud?.model ?? cloud!.provider, downloadedBytes: 0, totalBytes: 0, loadMs: 0 };
        }
        state = 'loading';
        try {
          const result = await loadLocal({ ...call, ...(onProgress ? { onProgress } : {}) });
          state = 'ready';
          return result;
        } catch (error) {
          state = 'idle';
          if (canFallBackToCloud(error)) {
            localUnavailable = error as KinemaError;
            onProgress?.({ type: 'fallback', from: 'local', to: 'cloud', reason: (error as Error).message, code: (error as KinemaError).code, overall: 0 });
            onProgress?.({ type: 'done', overall: 1 });
            return { backend: 'cloud', model: cloud?.model ?? cloud!.provider, downloadedBytes: 0, totalBytes: 0, loadMs: 0 };
          }
          throw error;
        }
      })();
    },

    generate(request: GenerateRequest, callOptions?: CallOptions): Promise<GenerateResult> {
      assertUsable();
      checkRequestShape(request);
      const call = checkCallOptions(callOptions);
      if (call.signal?.aborted) return Promise.reject(abortError(call.signal, 'generation'));
      const onProgress = monotonic(call.onProgress);
      const withProgress: CallOptions = { ...call, ...(onProgress ? { onProgress } : {}) };
      if (state === 'generating') return Promise.reject(new KinemaError('INVALID_REQUEST', 'a generation is already running on this generator; await it or cancel it first'));
      state = 'generating';
      return (async () => {
        try {
          if (resolved.backend === 'cloud' || localUnavailable) return await generateInCloudBackend(request, withProgress);
          const spec = resolveRequest(request, await getManifest(call.signal));
          let loadMs = 0;
          try {
            const needsLoad = loadedLocal === undefined;
            const load = await loadLocal({ ...call, ...(needsLoad ? { onProgress: phase(onProgress, 0, LOAD_SHARE) } : {}) });
            loadMs = needsLoad ? load.loadMs : 0;
            const result = await (await getEngine()).generate(spec, phase(onProgress, needsLoad ? LOAD_SHARE : 0, 1), call.signal);
            onProgress?.({ type: 'done', overall: 1 });
            return { ...result, timings: { ...result.timings, loadMs, totalMs: result.timings.totalMs + loadMs } };
          } catch (error) {
            if (!canFallBackToCloud(error)) throw error;
            onProgress?.({ type: 'fallback', from: loadedLocal?.backend ?? 'local', to: 'cloud', reason: (error as Error).message, code: (error as KinemaError).code, overall: 0 });
            return await generateInCloudBackend(request, withProgress);
          }
        } finally {
          // dispose() may have run meanwhile; it wins.
          if ((state as GeneratorState) !== 'disposed') state = loadedLocal ? 'ready' : 'idle';
        }
      })();
    },

    isCached: async () => {
      assertUsable();
      if (resolved.backend === 'cloud') return false;
      return (await getEngine()).isCached(await specWithUrl());
    },

    clearCache: async () => {
      assertUsable();
      if (resolved.backend === 'cloud') return;
      await (await getEngine()).clearCache(await specWithUrl());
    },

    dispose: async () => {
      if (state === 'disposed') return;
      state = 'disposed';
      const pending = engine;
      engine = undefined;
      if (pending) await (await pending.catch(() => undefined))?.dispose();
    },

    [Symbol.asyncDispose]() {
      return generator.dispose();
    },
  };
  return generator;
}
