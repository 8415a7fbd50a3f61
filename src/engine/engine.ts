/**
 * The in-process engine: loads a model (manifest → its family → verified, cached files → one graph chain
 * per component → the family's prepare) and turns requests into clips (the family's generate, frames
 * into the clip encoder). What is the same for every model lives here; what one model family knows lives
 * in src/families. The worker exposes exactly this object; tests may run it in the page.
 * Calls are serialized: one load or generation at a time.
 */
import { KinemaError, throwIfAborted } from '../errors';
import { createClipEncoder, type ClipEncoder } from '../encode';
import { shouldWarmUp, warmUp } from './warm-up';
import {
  loadFiles, openModelStore, isCached, clearCache, cachedModels, modelCachePrefix, CacheApiStore, MemoryStore, resolveManifest, saveManifest,
  isTransientManifestFailure, type LoadedFiles, type ModelStore, type StorageManagerLike,
} from '../loader';
import {
  checkDeviceLimits, externalDataName, planMemory, presentComponents, selectVariants, selectedFiles, type ComponentName, type MemoryPlan,
  type MemoryTarget, type ModelManifest, type SelectedVariants,
} from '../models';
import { ProgressTracker } from '../progress';
import type { ProgressListener } from '../progress/events';
import { probeCapabilities, probeWebGpu, type Capabilities } from '../runtime/capabilities';
import { loadOrt, type Ort } from '../runtime/ort';
import { ortGpuDevice } from '../runtime/sessions';
import { createGraphChain, type GraphChain } from '../runtime/chain';
import { createChainPool } from '../runtime/chain-pool';
import { createCpuOps } from '../pipeline/cpu-ops';
import { createGpuOps } from '../pipeline/gpu-ops';
import { createKernels } from '../kernels';
import type { LoopOps } from '../pipeline/ops';
import { checkComplete, checkedFamily, type Family } from '../families';
import { checkGenerateSpec, checkLoadSpec, checkSpecForModel, type CachedModelInfo, type Engine, type EngineGenerateSpec, type EngineLoadInfo, type EngineLoadSpec, type GenerateResult, type LocalBackend } from '../contract';
import type { WebGpuInfo } from '../contract';

export interface EnginePlatform {
  fetch: typeof fetch;
  caches?: CacheStorage;
  gpu?: GPU;
  /** navigator.storage: the pre-check before a download into the Cache API. Absent: no pre-check. */
  storage?: StorageManagerLike;
  /** navigator.deviceMemory (GiB, coarse and capped by browsers): a hint for the memory plan. */
  deviceMemoryGiB?: number;
}

type Chains = Partial<Record<ComponentName, GraphChain>>;

interface LoadedModel {
  key: string;
  manifest: ModelManifest;
  family: Family;
  /** What the family's prepare made. */
  state: unknown;
  backend: LocalBackend;
  variants: SelectedVariants;
  chains: Chains;
  /** The memory plan the load was checked against (residency groups for staging). */
  plan: MemoryPlan;
  ops: LoopOps;
  loadMs: number;
  /** The warm-up generation's share of loadMs; undefined when none ran. */
  warmUpMs?: number;
}

/** Chains released in the manifest's declared order. */
async function releaseChains(manifest: ModelManifest, chains: Chains): Promise<void> {
  for (const name of manifest.releaseOrder) await chains[name]?.release().catch(() => undefined);
}

function defaultPlatform(): EnginePlatform {
  const nav = globalThis.navigator as (Navigator & { deviceMemory?: number }) | undefined;
  const deviceMemory = nav?.deviceMemory;
  return {
    fetch: globalThis.fetch.bind(globalThis),
    caches: (globalThis as { caches?: CacheStorage }).caches,
    gpu: nav?.gpu,
    ...(nav?.storage && typeof nav.storage.estimate === 'function' ? { storage: nav.storage } : {}),
    ...(typeof deviceMemory === 'number' && deviceMemory > 0 ? { deviceMemoryGiB: deviceMemory } : {}),
  };
}

const loadKey = (spec: EngineLoadSpec) => JSON.stringify([spec.manifestUrl, spec.backend, spec.allowWasm, spec.weights, spec.memoryLimits ?? null]);

function unstageable(manifest: ModelManifest, plan: MemoryPlan): KinemaError {
  const need = plan.stages.reduce((sum, stage) => sum + stage.needBytes, 0);
  const limit = plan.limit === 'wasm-heap' ? 'wasm memory' : 'the GPU memory given';
  return new KinemaError('DEVICE_LIMITS', `${manifest.id} keeps all its components loaded together, which needs ${(need / 1e6).toFixed(1)} MB (${need} bytes), but ${limit} allows ${plan.limitBytes} bytes; raise memoryLimits or use a device with more memory`, {
    details: { stage: null, components: plan.stages.map((s) => s.component), needBytes: need, limitBytes: plan.limitBytes ?? null, limit: plan.limit ?? null },
  });
}

/** Frames handed to the encoder and not yet taken by it, at most (overlap with decoding, bounded memory). */
const ENCODE_WINDOW = 3;

export function createEngine(platform: EnginePlatform = defaultPlatform()): Engine {
  let loaded: LoadedModel | undefined;
  let queue: Promise<unknown> = Promise.resolve();
  const stores = new Map<string, ModelStore>();
  let disposed = false;

  // One operation at a time; a failed one does not block the next.
  function serialize<T>(task: () => Promise<T>): Promise<T> {
    const next = queue.then(task, task);
    queue = next.catch(() => undefined);
    return next;
  }

  async function store(kind: 'cache-api' | 'memory', onProgress?: ProgressListener): Promise<ModelStore> {
    let existing = stores.get(kind);
    if (!existing) {
      existing = kind === 'memory'
        ? new MemoryStore()
        : await openModelStore({ caches: platform.caches, onProgress: (event) => onProgress?.({ ...event, overall: 0 }) });
      stores.set(kind, existing);
    }
    return existing;
  }

  async function release(model: LoadedModel | undefined): Promise<void> {
    if (!model) return;
    await model.family.release(model.state).catch(() => undefined);
    model.ops.destroy();
    await releaseChains(model.manifest, model.chains);
  }

  async function chooseBackend(spec: EngineLoadSpec, manifest: ModelManifest, emitFallback: (reason: string, code?: string) => void): Promise<{ backend: LocalBackend; shaderF16: boolean; gpu?: WebGpuInfo }> {
    if (spec.backend === 'wasm') return { backend: 'wasm' as const, shaderF16: false };
    const gpu = await probeWebGpu(platform.gpu);
    // A software adapter (SwiftShader, WARP) is correct but far slower than wasm: 'auto' prefers wasm then.
    if (gpu.available && gpu.isFallbackAdapter && spec.backend === 'auto' && spec.allowWasm) {
      emitFallback(`the WebGPU adapter is a software fallback (${gpu.architecture || gpu.description || 'no hardware GPU'}), slower than wasm`, 'WEBGPU_UNAVAILABLE');
      return { backend: 'wasm' as const, shaderF16: false };
    }
    if (gpu.available) {
      const variants = selectVariants(manifest, { shaderF16: gpu.shaderF16 === true });
      const limitError = gpu.limits ? checkDeviceLimits(manifest, variants, gpu.limits) : null;
      if (!limitError) return { backend: 'webgpu' as const, shaderF16: gpu.shaderF16 === true, gpu };
      if (spec.backend === 'webgpu' || !spec.allowWasm) throw limitError;
      emitFallback(limitError.message, limitError.code);
      return { backend: 'wasm' as const, shaderF16: false };
    }
    if (spec.backend === 'webgpu' || !spec.allowWasm) {
      throw new KinemaError('WEBGPU_UNAVAILABLE', `WebGPU is not available: ${gpu.reason}. Use backend 'wasm' or 'auto' to run without it.`);
    }
    emitFallback(`WebGPU is not available (${gpu.reason})`, 'WEBGPU_UNAVAILABLE');
    return { backend: 'wasm' as const, shaderF16: false };
  }

  async function doLoad(spec: EngineLoadSpec, onProgress?: ProgressListener, signal?: AbortSignal): Promise<EngineLoadInfo> {
    checkLoadSpec(spec);
    if (disposed) throw new KinemaError('DISPOSED', 'this engine was disposed; create a new generator to load a model');
    const started = performance.now();
    // The wasm runtime is known to be needed: start fetching and compiling it before the store opens and
    // the manifest is read (on a revisit it is the longest wait once the files come from the cache).
    if (spec.backend === 'wasm') loadOrt('wasm', spec.wasmThreads !== undefined ? { numThreads: spec.wasmThreads } : {}).catch(() => undefined);
    const key = loadKey(spec);
    const warnings: string[] = [];
    if (loaded?.key === key) {
      onProgress?.({ type: 'done', overall: 1 });
      return info(loaded, 0, 0, warnings);
    }
    await release(loaded);
    loaded = undefined;

    const tracker = new ProgressTracker(onProgress, [
      { stage: 'download', total: 1, weight: 0.8 },
      // Re-totalled once the manifest says which components there are.
      { stage: 'compile', total: 3, weight: 0.2 },
    ]);
    // The store first: it also holds the verified manifest, which stands in when the network is down.
    const modelStore = await store(spec.cache, (event) => tracker.emit(event));
    const resolved = await resolveManifest(spec.manifestUrl, {
      fetch: platform.fetch, baseUrl: spec.manifestUrl, store: modelStore, onWarning: (event) => tracker.emit(event), ...(signal ? { signal } : {}),
    });
    const { manifest } = resolved;
    // The family's own rules too, before anything is downloaded. A model missing a component still loads
    // (component runs); generate() refuses it.
    const family = checkedFamily(manifest);
    const fallback = (reason: string, code?: string) => tracker.emit({ type: 'fallback', from: 'webgpu', to: 'wasm', reason, ...(code ? { code } : {}) });
    const chosen = await chooseBackend(spec, manifest, fallback);
    let { backend } = chosen;
    const choose = (shaderF16: boolean, report: boolean) => selectVariants(manifest, {
      shaderF16,
      ...(spec.weights !== 'auto' ? { preferDtype: spec.weights } : {}),
      ...(report ? {
        onFallback: ({ reason }: { reason: string }) => {
          warnings.push(reason);
          tracker.emit({ type: 'warning', code: 'VARIANT_FALLBACK', message: reason });
        },
      } : {}),
    });
    let variants = choose(chosen.shaderF16, true);
    // The memory plan before any byte of the model is fetched: a stage that cannot fit is refused now.
    let plan: MemoryPlan;
    try {
      plan = planMemory(manifest, variants, memoryTarget(spec, backend, chosen.gpu));
    } catch (error) {
      if (backend !== 'webgpu' || spec.backend === 'webgpu' || !spec.allowWasm || !(error instanceof KinemaError)) throw error;
      fallback(error.message, error.code);
      backend = 'wasm';
      variants = choose(false, true);
      plan = planMemory(manifest, variants, memoryTarget(spec, backend));
    }
    // A family that holds its sessions itself (Family.needsAllComponentsLoaded) cannot run a staged plan.
    if (plan.residency.length > 1 && family.needsAllComponentsLoaded === true) throw unstageable(manifest, plan);
    const files = selectedFiles(manifest, variants); // the tokenizer's files and the chosen variants'
    // The runtime build this backend needs loads while the model downloads (settled before anything awaits it).
    const ortReady = loadOrt(backend, spec.wasmThreads !== undefined ? { numThreads: spec.wasmThreads } : {});
    ortReady.catch(() => undefined);
    // The storage pre-check applies where the files go to the origin's storage (the Cache API store).
    const storage = modelStore instanceof CacheApiStore ? platform.storage : undefined;
    const downloaded = await loadFiles(files, { fetch: platform.fetch, store: modelStore, ...(storage ? { storage } : {}) }, {
      signal,
      cacheKeyPrefix: modelCachePrefix(manifest.id, manifest.version),
      onProgress: (event) => tracker.emit(event),
    });
    throwIfAborted(signal, 'loading the model');
    // Only now, with every file verified: a failed or aborted load leaves no manifest behind. Where the
    // files could not be stored (memory fallback) a cached manifest is harmless: isCached checks files too.
    if (!resolved.fromCache) await saveManifest(modelStore, manifest, resolved.json).catch(() => undefined);

    const ort = await ortReady;

    let chains: Chains;
    try {
      chains = await createChains(ort, backend, manifest, variants, plan, downloaded, tracker, signal);
    } catch (error) {
      if (backend !== 'webgpu' || spec.backend === 'webgpu' || !spec.allowWasm || (error as KinemaError).code === 'ABORTED') throw error;
      fallback(`the WebGPU backend failed (${(error as Error).message})`, (error as KinemaError).code);
      backend = 'wasm';
      plan = planMemory(manifest, variants, memoryTarget(spec, backend));
      chains = await createChains(ort, backend, manifest, variants, plan, downloaded, tracker, signal);
    }
    // The runtime fixes its thread count when it starts (and keeps 1 where the page is not cross-origin isolated).
    if (backend === 'wasm' && spec.wasmThreads !== undefined && ort.env.wasm.numThreads !== spec.wasmThreads) {
      const reason = `wasmThreads ${spec.wasmThreads} was not applied: the runtime runs ${String(ort.env.wasm.numThreads)} thread(s) (threads need a cross-origin isolated page, and a worker's runtime keeps the count it started with; a new generator gets a new worker)`;
      warnings.push(reason);
      tracker.emit({ type: 'warning', code: 'WASM_THREADS_NOT_APPLIED', message: reason });
    }
    let ops: LoopOps | undefined;
    let state: unknown;
    try {
      if (backend === 'webgpu') {
        const device = await ortGpuDevice(ort);
        ops = createGpuOps(ort, device, await createKernels(device));
      } else {
        ops = createCpuOps(ort);
      }
      // The family reads what is not a graph (tokenizer files, data files such as an embedding table).
      const graphFiles = new Set(Object.values(variants).flatMap((v) => v!.graphs.flatMap((g) => [g.model.path, ...g.externalData.map((f) => f.path)])));
      const familyFiles = [...downloaded].filter(([path]) => !graphFiles.has(path));
      const files = new Map(await Promise.all(familyFiles.map(async ([path, file]) => [path, await file.read()] as const)));
      state = await family.prepare({
        manifest, backend, variants, ops, chains, files,
        warn: (code, message) => {
          warnings.push(message);
          tracker.emit({ type: 'warning', code, message });
        },
      });
    } catch (error) {
      // Nothing holds the chains yet: release them rather than leak them.
      ops?.destroy();
      await releaseChains(manifest, chains);
      throw error;
    }
    const model: LoadedModel = { key, manifest, family, state, backend, variants, chains, ops, plan, loadMs: 0 };
    const warm = shouldWarmUp({
      ...(spec.warmUp !== undefined ? { warmUp: spec.warmUp } : {}),
      backend,
      canGenerate: family.requiredComponents.every((c) => chains[c]),
      weightsBytes: plan.stages.reduce((sum, stage) => sum + stage.weightsBytes, 0),
    });
    if (warm) {
      const t = performance.now();
      try {
        await warmUp(family, state, manifest, signal);
      } catch (error) {
        await release(model);
        // An abort during the warm-up is the load's abort; any other failure is what a generation would meet.
        throwIfAborted(signal, 'loading the model');
        throw error;
      }
      model.warmUpMs = performance.now() - t;
    }
    loaded = { ...model, loadMs: performance.now() - started };
    tracker.done();
    return info(loaded, downloaded.downloadedBytes, downloaded.totalBytes, warnings);
  }

  /** The plan's target for this load: the backend, the caller's lower ceilings, WebGPU's limits, deviceMemory. */
  function memoryTarget(spec: EngineLoadSpec, backend: LocalBackend, gpu?: WebGpuInfo): MemoryTarget {
    const limits = spec.memoryLimits ?? {};
    const deviceMemory = platform.deviceMemoryGiB !== undefined ? { deviceMemoryGiB: platform.deviceMemoryGiB } : {};
    if (backend === 'wasm') return { backend, ...(limits.wasmHeapBytes !== undefined ? { wasmHeapBytes: limits.wasmHeapBytes } : {}), ...deviceMemory };
    return {
      backend,
      ...(limits.wasmHeapBytes !== undefined ? { wasmHeapBytes: limits.wasmHeapBytes } : {}),
      gpu: {
        // Without a probe's limits (none taken) WebGPU's defaults are what any adapter offers.
        maxBufferSize: gpu?.limits?.maxBufferSize ?? 256 * 1024 ** 2,
        maxStorageBufferBindingSize: gpu?.limits?.maxStorageBufferBindingSize ?? 128 * 1024 ** 2,
        ...(limits.gpuMemoryBytes !== undefined ? { memoryBytes: limits.gpuMemoryBytes } : {}),
      },
      ...deviceMemory,
    };
  }

  /**
   * One chain per component the manifest has, staged by the memory plan: a pool creates a component's
   * sessions when it runs and first releases the residency groups it is not in (the text encoder before
   * the denoiser when they do not fit together). Each component is created once here, in the pool's load
   * order (so names are known for the family's prepare), which leaves the first group loaded.
   */
  async function createChains(
    ort: Ort, backend: LocalBackend, manifest: ModelManifest, variants: SelectedVariants, plan: MemoryPlan,
    files: LoadedFiles, tracker: ProgressTracker, signal?: AbortSignal,
  ): Promise<Chains> {
    const components = presentComponents(manifest);
    tracker.stage('compile', 0, components.length);
    const pool = createChainPool({
      components,
      residency: plan.residency,
      // Later re-creations (during a generation) read the files from the store again; nothing is held here.
      create: (component) => createChainFromFiles(ort, backend, component, variants, files),
    });
    try {
      for (const [index, component] of pool.loadOrder.entries()) {
        throwIfAborted(signal, 'loading the model');
        tracker.emit({ type: 'compile', component, index, total: components.length });
        await pool.load(component);
        tracker.stage('compile', index + 1);
      }
      throwIfAborted(signal, 'loading the model');
      return pool.chains;
    } catch (error) {
      await pool.release();
      throw error;
    }
  }

  function info(model: LoadedModel, downloadedBytes: number, totalBytes: number, warnings: string[]): EngineLoadInfo {
    return {
      backend: model.backend,
      model: model.manifest.id,
      modelVersion: model.manifest.version,
      variants: Object.fromEntries(presentComponents(model.manifest).map((c) => [c, model.variants[c]!.dtype])),
      downloadedBytes,
      totalBytes,
      loadMs: model.loadMs,
      ...(model.warmUpMs !== undefined ? { warmUpMs: model.warmUpMs } : {}),
      warnings,
      memory: {
        residency: model.plan.residency.map((group) => [...group]),
        peakBytes: model.plan.peakBytes,
        limitBytes: model.plan.limitBytes ?? null,
        limit: model.plan.limit ?? null,
      },
    };
  }

  async function doGenerate(spec: EngineGenerateSpec, onProgress?: ProgressListener, signal?: AbortSignal): Promise<GenerateResult> {
    // The same limits table as the API: a worker driven directly (kinema/worker) gets the same messages.
    checkGenerateSpec(spec);
    if (disposed) throw new KinemaError('DISPOSED', 'this engine was disposed; create a new generator to generate');
    const model = loaded;
    if (!model) throw new KinemaError('INTERNAL', 'generate() was called before load() finished');
    const started = performance.now();
    throwIfAborted(signal, 'generation');
    const { manifest } = model;
    checkSpecForModel(spec, manifest);
    // A model converted with only some components loads (component runs) but cannot generate.
    checkComplete(manifest, model.family);
    const encodeFrames = spec.format !== 'frames';
    const tracker = new ProgressTracker(onProgress, [
      { stage: 'encode-text', total: 1, weight: 0.05 },
      { stage: 'denoise', total: spec.steps, weight: 0.75 },
      { stage: 'decode', total: spec.numFrames, weight: 0.1 },
      ...(encodeFrames ? [{ stage: 'encode' as const, total: spec.numFrames, weight: 0.1 }] : []),
    ]);
    const warnings: string[] = [];
    const outWidth = spec.width * spec.outputScale;
    const outHeight = spec.height * spec.outputScale;

    // The clip encoder opens (probe, configure) while the prompt is encoded and denoising starts. Its
    // options are checked now, synchronously; if it cannot open, the generation stops at its next check
    // and rejects with the encoder's error, not ABORTED.
    const encoderFailed = new AbortController();
    let encoderError: unknown;
    const opening: Promise<ClipEncoder> | undefined = encodeFrames
      ? createClipEncoder({
        format: spec.format === 'webm' ? 'webm' : 'mp4',
        width: outWidth,
        height: outHeight,
        fps: spec.fps,
        numFrames: spec.numFrames,
        metadata: { prompt: spec.prompt, negativePrompt: spec.negativePrompt || undefined, seed: spec.seed, modelId: manifest.id, modelVersion: manifest.version },
        watermark: spec.watermark,
        ...(signal ? { signal } : {}),
      })
      : undefined;
    opening?.catch((error: unknown) => {
      encoderError = error;
      encoderFailed.abort();
    });
    const familySignal = encodeFrames ? (signal ? AbortSignal.any([signal, encoderFailed.signal]) : encoderFailed.signal) : signal;
    const frames: Uint8Array[] = [];
    // Encoding runs alongside decoding: a frame is handed to the encoder and the next one is decoded while
    // WebCodecs works on it, with at most ENCODE_WINDOW frames in flight (bounded memory). encodeMs is the
    // time the generation waits for the encoder (a full window, then the tail and finalize), not the
    // encoder's own busy time, which overlaps the decoder.
    const inFlight: Promise<void>[] = [];
    const waitForEncoder = async (keep: number) => {
      while (inFlight.length > keep) await inFlight.shift();
    };
    let encodeMs = 0;
    let firstPreviewMs: number | undefined;
    try {
      const timings = await model.family.generate(model.state, spec, {
        ...(familySignal ? { signal: familySignal } : {}),
        onWarning: (code, message, details) => {
          warnings.push(message);
          tracker.emit({ type: 'warning', code, message, ...(details ? { details } : {}) });
        },
        onEncoded: () => tracker.stage('encode-text', 1),
        onStep: (step) => tracker.stage('denoise', step),
        onPreview: (step, previewFrames) => {
          firstPreviewMs ??= performance.now() - started;
          const rgba = concat(previewFrames);
          tracker.emit({ type: 'preview', step, width: spec.width, height: spec.height, numFrames: spec.numFrames, rgba });
        },
        onFrame: async (frame, index) => {
          tracker.stage('decode', index + 1);
          if (spec.returnFrames || !opening) frames.push(frame);
          if (opening) {
            const encoder = await opening;
            const added = encoder.addFrame(frame, index).then(() => tracker.stage('encode', index + 1));
            added.catch(() => undefined); // awaited below; a failure rejects the generation from there
            inFlight.push(added);
            const t = performance.now();
            await waitForEncoder(ENCODE_WINDOW - 1);
            encodeMs += performance.now() - t;
          }
        },
      });
      let video: Blob | null = null;
      let codec: string | null = null;
      let mimeType: string | null = null;
      let format = spec.format;
      if (opening) {
        const t = performance.now();
        await waitForEncoder(0);
        const clip = await (await opening).finalize();
        encodeMs += performance.now() - t;
        video = clip.blob;
        codec = clip.codec;
        mimeType = clip.mimeType;
        format = clip.format;
        if (clip.fellBackToWebm) warnings.push('no MP4 codec can encode here; the clip is WebM');
      }
      tracker.done();
      const totalMs = performance.now() - started;
      // The result type says which of video/frames is set; build the one that matches the format.
      const media = video && mimeType && format !== 'frames'
        ? { video, format, codec, mimeType, ...(spec.returnFrames ? { frames } : {}) }
        : { video: null, format: 'frames' as const, codec: null, mimeType: null, frames };
      return {
        ...media,
        width: outWidth, height: outHeight, numFrames: spec.numFrames, fps: spec.fps, seed: spec.seed,
        steps: spec.steps, guidanceScale: spec.guidanceScale,
        backend: model.backend, model: manifest.id, modelVersion: manifest.version,
        timings: {
          loadMs: 0, encodeTextMs: timings.encodeTextMs, denoiseMs: timings.denoiseMs,
          // Frames are decoded and encoded alongside; decodeMs leaves out the time spent waiting for the encoder.
          decodeMs: Math.max(0, timings.decodeMs - encodeMs), encodeMs, totalMs,
          sessionRunMs: timings.sessionRunMs,
          ...(firstPreviewMs !== undefined ? { firstPreviewMs } : {}),
        },
        warnings,
        readbacksDuringDenoise: timings.readbacksDuringDenoise,
      };
    } catch (error) {
      await opening?.then((encoder) => encoder.cancel(), () => undefined);
      await Promise.allSettled(inFlight);
      // The generation stopped because the encoder could not open: that is the reason to report.
      if (encoderError !== undefined && !signal?.aborted) throw encoderError;
      throw error;
    }
  }

  return {
    capabilities: (): Promise<Capabilities> => probeCapabilities(),
    load: (spec, onProgress, signal) => serialize(() => doLoad(spec, onProgress, signal)),
    generate: (spec, onProgress, signal) => serialize(() => doGenerate(spec, onProgress, signal)),
    isCached: (spec) => serialize(async () => {
      const modelStore = await store(spec.cache);
      let manifest: ModelManifest;
      try {
        ({ manifest } = await resolveManifest(spec.manifestUrl, { fetch: platform.fetch, baseUrl: spec.manifestUrl, store: modelStore }));
      } catch (error) {
        // Offline with no cached manifest: nothing here could load without the network.
        if (isTransientManifestFailure(error)) return false;
        throw error;
      }
      const variants = selectVariants(manifest, { shaderF16: false, ...(spec.weights !== 'auto' ? { preferDtype: spec.weights } : {}) });
      return isCached(manifest, variants, modelStore);
    }),
    clearCache: (spec) => serialize(async () => {
      const modelStore = await store(spec.cache);
      const { manifest } = await resolveManifest(spec.manifestUrl, { fetch: platform.fetch, baseUrl: spec.manifestUrl, store: modelStore });
      await clearCache(manifest, modelStore);
    }),
    cachedModels: (cache): Promise<CachedModelInfo[]> => serialize(async () => cachedModels(await store(cache))),
    dispose: () => serialize(async () => {
      disposed = true;
      await release(loaded);
      loaded = undefined;
    }),
  };
}

/** Bytes of small graph files a chain reads ahead, at once, before creating its sessions. */
const READ_AHEAD_BYTES = 64 * 1024 ** 2;

/**
 * A component's chain with each graph's files read from the store just before its session is created
 * and dropped right after (onnxruntime copies them into its own memory), so at most one graph's bytes
 * (plus READ_AHEAD_BYTES of small files) are in the JS heap at a time, whatever the model's size:
 * createGraphChain with lazy sources.
 *
 * Why bytes and not the file's Blob: onnxruntime-web turns external data given as a Blob (or a URL)
 * into one Uint8Array of the whole file itself (wasm-utils-load-file.ts: `blob.arrayBuffer()`), while a
 * Uint8Array is used as it is. Reading it here costs the same one copy, and a page that cannot allocate
 * it gets OUT_OF_MEMORY naming the file (LoadedFile.read) rather than a bare RangeError from inside ORT.
 */
async function createChainFromFiles(
  ort: Ort, backend: LocalBackend, component: ComponentName, variants: SelectedVariants, files: LoadedFiles,
): Promise<GraphChain> {
  const graphs = variants[component]!.graphs;
  const fileOf = (path: string) => {
    const file = files.get(path);
    if (!file) throw new KinemaError('INTERNAL', `the ${component} graph file ${path} was not loaded`);
    return file;
  };
  // Small files are read ahead, all at once (the Cache API serves reads from the browser's own I/O threads,
  // so a warm load of a small model waits for the slowest read, not the sum); larger ones are read only
  // when their session is created, so at most READ_AHEAD_BYTES plus one graph's files are held at a time.
  const early = new Map<string, Promise<Uint8Array>>();
  let budget = READ_AHEAD_BYTES;
  for (const path of graphs.flatMap((graph) => [graph.model.path, ...graph.externalData.map((file) => file.path)])) {
    const file = fileOf(path);
    if (file.bytes > budget || early.has(path)) continue;
    budget -= file.bytes;
    const pending = file.read();
    pending.catch(() => undefined); // awaited below, where a failure rejects the load
    early.set(path, pending);
  }
  const read = (path: string) => () => early.get(path) ?? fileOf(path).read();
  return createGraphChain(ort, backend, component, graphs.map((graph) => ({
    name: graph.name,
    perPrompt: graph.perPrompt,
    model: read(graph.model.path),
    externalData: graph.externalData.map((file) => ({ path: externalDataName(graph.model.path, file.path), data: read(file.path) })),
  })));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
