/**
 * createVideoGenerator: the public entry point. Runs on the page's main thread and never imports the
 * runtime or kernels: local work goes to the engine (in a worker by default), cloud work to the proxy.
 *
 * The generator is a state machine, checked after every await:
 *
 *   idle ──load()──▶ loading ──ok──▶ ready ──generate()──▶ generating ──settled──▶ ready (or idle)
 *   idle/loading/ready ──generate()──▶ generating (loading the model first, or joining the load under way)
 *   loading/generating ──DEVICE_LOST──▶ idle (the engine's worker is replaced; see below)
 *   any ──dispose()──▶ disposed (terminal)
 *
 * - Concurrent `load()` calls (and a `generate()` started while loading) share one load; each caller's
 *   own signal ends only its own wait, and the load itself stops when every caller has left.
 * - `load()` or `generate()` while generating rejects with BUSY.
 * - `dispose()` rejects every pending call with DISPOSED at once; a disposed generator never starts a
 *   worker again and every method then rejects with DISPOSED.
 * - State misuse always rejects (never throws). Caller mistakes in arguments (TypeError/RangeError)
 *   throw synchronously, as documented on each method; limits that need the model's manifest reject.
 * - With `backend: 'auto'` and a cloud configured, a local failure goes to the cloud only when its code
 *   is in CLOUD_FALLBACK_CODES: codes that mean "local generation is impossible on this device".
 * - DEVICE_LOST from an engine in a worker the generator started (the default worker, or `worker` given
 *   as a function): onnxruntime keeps a lost GPUDevice for the rest of its realm's life, so that worker
 *   can never generate again. The call rejects with DEVICE_LOST, the worker is terminated and the model
 *   forgotten; the next load() or generate() starts a fresh worker (a fresh onnxruntime and device) and
 *   loads the model again, from the cache when it is cached. An engine the caller supplied (`engine`, or
 *   `worker` as a Worker) cannot be replaced and keeps failing: the caller makes a new one.
 */
import { KinemaError, abortError, isKinemaError, type KinemaErrorCode } from '../errors';
import type { Engine, EngineLoadSpec } from '../contract';
import { fetchManifestOrCached, isTransientManifestFailure } from '../loader/manifest-cache';
import type { ModelManifest } from '../models';
import type { ProgressEvent, ProgressListener } from '../progress/events';
import { connectWorkerEngine, defaultWorker, type WorkerEngine } from './worker-client';
import type { CallOptions, GenerateRequest, GenerateResult, GeneratorOptions, GeneratorState, LoadResult, VideoGenerator, Logger } from './types';
import { checkRequestShape, resolveOptions, resolveRequest } from './validate';

/**
 * Local failures that go to the cloud (with `backend: 'auto'` and a cloud configured): each means local
 * generation cannot work on this device or with this download. This is an allow-list on purpose: any
 * other code — the caller's own mistakes (INVALID_REQUEST, and TypeError/RangeError), their abort
 * (ABORTED), dispose (DISPOSED), misuse (BUSY), a bad or unknown model (INVALID_MANIFEST, MODEL_NOT_FOUND),
 * INTERNAL, and codes added later — never starts a paid cloud job.
 */
export const CLOUD_FALLBACK_CODES: ReadonlySet<KinemaErrorCode> = new Set<KinemaErrorCode>([
  'WEBGPU_UNAVAILABLE', 'NO_BACKEND', 'DEVICE_LIMITS', 'DEVICE_LOST', 'OUT_OF_MEMORY', 'FILE_TOO_LARGE',
  'BACKEND_FAILED', 'DOWNLOAD_FAILED', 'INTEGRITY_MISMATCH', 'STORAGE_FAILED', 'STORAGE_QUOTA',
  'ENCODER_UNSUPPORTED', 'ENCODE_FAILED', 'WORKER_CRASHED',
]);
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


interface SharedLoad {
  promise: Promise<LoadResult>;
  /** Progress listeners of every caller waiting on this load. */
  listeners: Set<ProgressListener>;
  /** Stops the load; aborted when the last caller has left. */
  controller: AbortController;
  callers: number;
}

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
  // Whether the generator starts the engine's worker itself, so it can start a fresh one after DEVICE_LOST.
  const renewable = options?.engine === undefined && (options?.worker === undefined || typeof options.worker === 'function');
  let manifest: Promise<ModelManifest> | undefined;
  let loadedLocal: LoadResult | undefined;
  let localUnavailable: KinemaError | undefined;
  let sharedLoad: SharedLoad | undefined;
  // Aborted by dispose(): every wait below ends at once with DISPOSED, and every fetch started stops.
  const lifetime = new AbortController();
  const disposed = () => lifetime.signal.aborted;
  const disposedError = () => new KinemaError('DISPOSED', 'this generator was disposed; create a new one');

  /**
   * Waits for `work`, but rejects at once when the generator is disposed (DISPOSED) or `signal` fires
   * (ABORTED), and rejects with DISPOSED when dispose() ran while waiting: the check after every await.
   * Its listeners are removed when it settles, so a long-lived signal reused for many calls holds none.
   */
  function settle<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const release = () => {
        lifetime.signal.removeEventListener('abort', stop);
        signal?.removeEventListener('abort', stop);
      };
      const refusal = () => (disposed() ? disposedError() : signal?.aborted ? abortError(signal, 'the call') : undefined);
      function stop() {
        release();
        reject(refusal());
      }
      work.then(
        (value) => {
          release();
          const refused = refusal();
          if (refused) reject(refused);
          else resolve(value);
        },
        (error: unknown) => {
          release();
          reject(disposed() ? disposedError() : error);
        },
      );
      if (refusal()) return stop();
      lifetime.signal.addEventListener('abort', stop, { once: true });
      signal?.addEventListener('abort', stop, { once: true });
    });
  }

  /** A signal for one call's work: fires when the caller's does or on dispose; release() drops both listeners. */
  function callSignal(signal?: AbortSignal): { signal: AbortSignal; release(): void } {
    const controller = new AbortController();
    const stop = () => controller.abort(disposed() ? disposedError() : signal?.reason);
    const release = () => {
      lifetime.signal.removeEventListener('abort', stop);
      signal?.removeEventListener('abort', stop);
    };
    if (disposed() || signal?.aborted) stop();
    else {
      lifetime.signal.addEventListener('abort', stop, { once: true });
      signal?.addEventListener('abort', stop, { once: true });
    }
    return { signal: controller.signal, release };
  }

  // A page without navigator.gpu (no WebGPU, or disabled for it) gets no WebGPU from its worker either.
  const pageHasWebGpu = () => typeof navigator !== 'undefined' && 'gpu' in navigator && navigator.gpu !== undefined;

  // One manifest fetch shared by every call; only dispose() stops it (each caller's signal ends its own wait).
  function getManifest(): Promise<ModelManifest> {
    if (!manifest) {
      // Offline, the verified copy cached with the model stands in (the same policy as the worker's).
      const pending = fetchManifestOrCached(resolved.model, {
        fetch: globalThis.fetch.bind(globalThis), baseUrl: resolved.modelBaseUrl, signal: lifetime.signal,
        caches: resolved.cache === 'cache-api' ? (globalThis as { caches?: CacheStorage }).caches : undefined,
      });
      manifest = pending;
      pending.catch(() => {
        if (manifest === pending) manifest = undefined;
      });
    }
    return manifest;
  }

  function getEngine(): Promise<Engine> {
    // A disposed generator never starts a worker again.
    if (disposed()) return Promise.reject(disposedError());
    engine ??= (async () => {
      if (options?.engine) return options.engine;
      const choice = options?.worker;
      const worker = typeof choice === 'function' ? choice() : choice ?? defaultWorker();
      return connectWorkerEngine(worker);
    })();
    return engine;
  }

  /**
   * A failure from the engine `from`: after DEVICE_LOST, a renewable engine is retired (its worker
   * terminated, the model forgotten) so the next call starts afresh. Returns the error to reject with.
   */
  function afterEngineFailure(from: Promise<Engine>, error: unknown): unknown {
    if (!renewable || !isKinemaError(error, 'DEVICE_LOST')) return error;
    const lost = new KinemaError('DEVICE_LOST', "the GPU device was lost; this generator's next call starts a fresh worker and loads the model again", { details: error.details, cause: error });
    if (engine === from) {
      engine = undefined;
      loadedLocal = undefined;
      logger?.warn('kinema: the GPU device was lost; the next call starts a fresh worker and loads the model again');
      // Any other call still pending on that worker ends with the same reason.
      void from.then((old) => (old as WorkerEngine).terminate(lost), () => undefined);
    }
    return lost;
  }

  async function specWithUrl(signal?: AbortSignal): Promise<EngineLoadSpec> {
    const { manifestUrl } = await settle(getManifest(), signal);
    return {
      manifestUrl,
      backend: resolved.backend === 'webgpu' || resolved.backend === 'wasm' ? resolved.backend : pageHasWebGpu() ? 'auto' : 'wasm',
      allowWasm: resolved.backend === 'wasm' || resolved.allowWasm,
      weights: resolved.weights,
      cache: resolved.cache,
      ...(resolved.wasmThreads !== undefined ? { wasmThreads: resolved.wasmThreads } : {}),
      ...(resolved.memoryLimits ? { memoryLimits: resolved.memoryLimits } : {}),
      ...(resolved.warmUp !== undefined ? { warmUp: resolved.warmUp } : {}),
    };
  }

  /** The state misuse that refuses `what` now, if any. */
  function refusal(what: string): KinemaError | undefined {
    if (state === 'disposed') return disposedError();
    if (state === 'generating') return new KinemaError('BUSY', `a generation is already running on this generator; await it or abort it before calling ${what}`);
    return undefined;
  }

  /** Where the generator rests when no call of its own is running. */
  function restingState(): GeneratorState {
    if (sharedLoad) return 'loading';
    return loadedLocal || localUnavailable || resolved.backend === 'cloud' ? 'ready' : 'idle';
  }

  async function loadLocal(onProgress: ProgressListener, signal: AbortSignal): Promise<LoadResult> {
    const spec = await specWithUrl(signal);
    if (resolved.backend !== 'wasm' && !pageHasWebGpu()) {
      if (resolved.backend === 'webgpu') throw new KinemaError('WEBGPU_UNAVAILABLE', "this page has no WebGPU (navigator.gpu is missing); use backend 'auto' or 'wasm'");
      if (!resolved.allowWasm) throw new KinemaError('NO_BACKEND', 'this page has no WebGPU (navigator.gpu is missing) and allowWasm is false');
      onProgress({ type: 'fallback', from: 'webgpu', to: 'wasm', reason: 'this page has no WebGPU (navigator.gpu is missing)', code: 'WEBGPU_UNAVAILABLE', overall: 0 });
    }
    const from = getEngine();
    const local = await settle(from, signal);
    let info: Awaited<ReturnType<Engine['load']>>;
    try {
      info = await settle(local.load(spec, onProgress, signal), signal);
    } catch (error) {
      throw afterEngineFailure(from, error);
    }
    for (const warning of info.warnings) logger?.warn(`kinema: ${warning}`);
    loadedLocal = { backend: info.backend, model: info.model, modelVersion: info.modelVersion, downloadedBytes: info.downloadedBytes, totalBytes: info.totalBytes, loadMs: info.loadMs, ...(info.warmUpMs !== undefined ? { warmUpMs: info.warmUpMs } : {}), ...(info.memory ? { memory: info.memory } : {}) };
    return loadedLocal;
  }

  /**
   * Waits for the model load, starting it or joining the one under way. The caller's signal ends only
   * its own wait; the load stops when every caller waiting on it has left (or on dispose).
   */
  function joinLoad(signal: AbortSignal | undefined, onProgress: ProgressListener | undefined): Promise<LoadResult> {
    if (loadedLocal) return Promise.resolve(loadedLocal);
    let load = sharedLoad;
    if (!load) {
      const listeners = new Set<ProgressListener>();
      const fanOut: ProgressListener = (event) => {
        for (const listener of listeners) {
          try {
            listener(event);
          } catch {
            // One caller's throwing callback must not starve the others.
          }
        }
      };
      const controller = new AbortController();
      const created: SharedLoad = { listeners, controller, callers: 0, promise: undefined as unknown as Promise<LoadResult> };
      created.promise = loadLocal(fanOut, controller.signal).finally(() => {
        if (sharedLoad === created) sharedLoad = undefined;
      });
      sharedLoad = load = created;
    }
    const joined = load;
    joined.callers++;
    if (onProgress) joined.listeners.add(onProgress);
    const leave = () => {
      if (--joined.callers > 0) return;
      // Nobody waits any more: stop it, and let the next call start afresh rather than join a dying load.
      if (sharedLoad === joined) sharedLoad = undefined;
      joined.controller.abort(abortError(signal, 'loading the model'));
    };
    signal?.addEventListener('abort', leave, { once: true });
    return settle(joined.promise, signal).finally(() => {
      signal?.removeEventListener('abort', leave);
      if (onProgress) joined.listeners.delete(onProgress);
    });
  }

  const canFallBackToCloud = (error: unknown, signal: AbortSignal | undefined) =>
    resolved.backend === 'auto' && cloud !== undefined && !disposed() && !signal?.aborted && isKinemaError(error) && CLOUD_FALLBACK_CODES.has(error.code);

  const cloudLoadResult = (): LoadResult => ({ backend: 'cloud', model: cloud?.model ?? cloud!.provider, downloadedBytes: 0, totalBytes: 0, loadMs: 0 });

  async function generateInCloudBackend(request: GenerateRequest, call: CallOptions): Promise<GenerateResult> {
    if (!cloud) throw new KinemaError('NO_BACKEND', 'no cloud provider is configured');
    const { generateWithCloud } = await settle(import('./cloud-backend'), call.signal);
    // Stopped by the caller's signal or by dispose(), so a disposed generator never submits or polls a job.
    const linked = callSignal(call.signal);
    try {
      return await settle(generateWithCloud(request, cloud, { ...call, signal: linked.signal }), call.signal);
    } finally {
      linked.release();
    }
  }

  const generator: VideoGenerator = {
    get state() {
      return state;
    },

    capabilities: async () => {
      if (disposed()) throw disposedError();
      const local = await settle(getEngine());
      return settle(local.capabilities());
    },

    load(callOptions?: CallOptions): Promise<LoadResult> {
      const call = checkCallOptions(callOptions);
      const refused = refusal('load()');
      if (refused) return Promise.reject(refused);
      if (call.signal?.aborted) return Promise.reject(abortError(call.signal, 'loading the model'));
      const onProgress = monotonic(call.onProgress);
      if (resolved.backend === 'cloud' || localUnavailable) {
        state = 'ready';
        onProgress?.({ type: 'done', overall: 1 });
        return Promise.resolve(cloudLoadResult());
      }
      if (loadedLocal) return Promise.resolve(loadedLocal);
      state = 'loading';
      return (async () => {
        try {
          return await joinLoad(call.signal, onProgress);
        } catch (error) {
          if (!canFallBackToCloud(error, call.signal)) throw error;
          localUnavailable = error as KinemaError;
          onProgress?.({ type: 'fallback', from: 'local', to: 'cloud', reason: (error as Error).message, code: (error as KinemaError).code, overall: 0 });
          onProgress?.({ type: 'done', overall: 1 });
          return cloudLoadResult();
        } finally {
          // A generate() that joined this load owns the state now; dispose() always wins.
          if ((state as GeneratorState) !== 'disposed' && (state as GeneratorState) !== 'generating') state = restingState();
        }
      })();
    },

    generate(request: GenerateRequest, callOptions?: CallOptions): Promise<GenerateResult> {
      checkRequestShape(request);
      const call = checkCallOptions(callOptions);
      const refused = refusal('generate()');
      if (refused) return Promise.reject(refused);
      if (call.signal?.aborted) return Promise.reject(abortError(call.signal, 'generation'));
      const onProgress = monotonic(call.onProgress);
      const withProgress: CallOptions = { ...call, ...(onProgress ? { onProgress } : {}) };
      state = 'generating';
      return (async () => {
        try {
          if (resolved.backend === 'cloud' || localUnavailable) return await generateInCloudBackend(request, withProgress);
          const spec = resolveRequest(request, await settle(getManifest(), call.signal));
          let loadMs = 0;
          try {
            const needsLoad = loadedLocal === undefined;
            const load = await joinLoad(call.signal, needsLoad ? phase(onProgress, 0, LOAD_SHARE) : undefined);
            loadMs = needsLoad ? load.loadMs : 0;
            const from = getEngine();
            const local = await settle(from);
            // The engine honours the caller's signal itself (the state stays 'generating' until it has stopped).
            const linked = callSignal(call.signal);
            let result: GenerateResult;
            try {
              result = await settle(local.generate(spec, phase(onProgress, needsLoad ? LOAD_SHARE : 0, 1), linked.signal));
            } catch (error) {
              throw afterEngineFailure(from, error);
            } finally {
              linked.release();
            }
            onProgress?.({ type: 'done', overall: 1 });
            return { ...result, timings: { ...result.timings, loadMs, totalMs: result.timings.totalMs + loadMs } };
          } catch (error) {
            // Cloud providers return MP4 only: for frames or WebM the local failure is the honest answer.
            const cloudServes = request.format === undefined || request.format === 'mp4';
            if (!cloudServes || !canFallBackToCloud(error, call.signal)) throw error;
            onProgress?.({ type: 'fallback', from: loadedLocal?.backend ?? 'local', to: 'cloud', reason: (error as Error).message, code: (error as KinemaError).code, overall: 0 });
            return await generateInCloudBackend(request, withProgress);
          }
        } finally {
          if (state === 'generating') state = restingState();
        }
      })();
    },

    isCached: async () => {
      if (disposed()) throw disposedError();
      if (resolved.backend === 'cloud') return false;
      let spec: EngineLoadSpec;
      try {
        spec = await specWithUrl();
      } catch (error) {
        // Offline with no cached manifest: nothing could load without the network, so the answer is no.
        if (isTransientManifestFailure(error)) return false;
        throw error;
      }
      const local = await settle(getEngine());
      return settle(local.isCached(spec));
    },

    clearCache: async () => {
      if (disposed()) throw disposedError();
      if (state === 'loading' || state === 'generating') throw new KinemaError('BUSY', `the model is ${state === 'loading' ? 'loading' : 'generating'}; clear the cache when the call has ended`);
      if (resolved.backend === 'cloud') return;
      const spec = await specWithUrl();
      const local = await settle(getEngine());
      await settle(local.clearCache(spec));
    },

    dispose: async () => {
      if (state === 'disposed') return;
      state = 'disposed';
      lifetime.abort(disposedError());
      sharedLoad?.controller.abort(disposedError());
      sharedLoad = undefined;
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
