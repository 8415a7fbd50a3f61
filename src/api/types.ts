/** The public types of kinema's API. Pure declarations: safe to import from anywhere. */
import type { CloudProviderOptions } from '../cloud/types';
import type { ProgressListener } from '../progress/events';
import type {
  BackendChoice, CacheKind, Capabilities, CloudProvider, Engine, GenerateResult, LoadMemory, MemoryLimits, OutputFormat, UpscaleFilter, UsedBackend,
  WeightPreference,
} from '../contract';

export type {
  BackendChoice, CacheKind, Capabilities, CloudProvider, FramesResult, GenerateResult, LoadMemory, LocalBackend, MemoryLimits, OutputFormat,
  StageTimings, UpscaleFilter, UsedBackend, VideoResult, WebGpuInfo, WeightPreference,
} from '../contract';
export type { ProgressEvent, ProgressListener, ComponentName, Stage, CloudState } from '../progress/events';

export interface CloudOptions {
  provider: CloudProvider;
  /** Your kinema proxy (`npm run proxy`), which holds the provider keys. Keys never go to the browser. */
  proxyUrl: string;
  /** Sent as `Authorization: Bearer <token>` when the proxy requires one (KINEMA_PROXY_TOKEN). */
  proxyToken?: string;
  /** Provider model id, e.g. 'wan2.2-t2v-plus' or 'wan2.2'; the provider's default when absent. */
  model?: string;
  /** Overall bound on one cloud generation, in ms: 1000 to 3600000 (default 10 minutes). */
  timeoutMs?: number;
}

export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

export interface GeneratorOptions {
  /** A built-in model id (default 'kinema-micro') or a manifest URL (relative or absolute). */
  model?: string;
  /** Where built-in model ids are found: `<modelBaseUrl>/<id>/manifest.json`. Default: `models/` next to the page. */
  modelBaseUrl?: string | URL;
  /** 'auto' (default): WebGPU, else wasm (if allowWasm), else cloud (if `cloud` is configured). */
  backend?: BackendChoice;
  /** Whether 'auto' may run on wasm when WebGPU is missing or fails (default true). */
  allowWasm?: boolean;
  /** Weight variant preference (default 'auto': the smallest download that computes in fp32 unless shader-f16 allows fp16). */
  weights?: WeightPreference;
  /** The engine's worker: a Worker you made or a factory (default: kinema's own module worker). */
  worker?: Worker | (() => Worker);
  /**
   * An engine to use instead of a worker, e.g. `createEngine()` from 'kinema/worker' to run in this
   * thread (tests, tools). The main entry never loads the runtime itself.
   */
  engine?: Engine;
  /** Where model files are kept: the Cache API (default; falls back to memory with a warning) or memory only. */
  cache?: CacheKind;
  /** Cloud fallback / cloud backend settings. */
  cloud?: CloudOptions;
  /**
   * Threads for the wasm backend, 1 to 16. Default: half the cores, at most 4, when the page is
   * cross-origin isolated (threads need it), else 1; half leaves the page a core to stay responsive.
   * A worker's runtime starts once, so the first model load in a worker sets it for good.
   */
  wasmThreads?: number;
  /**
   * Lower the memory ceilings the load plans against, in bytes: `wasmHeapBytes` (default: 4 GiB less a
   * runtime margin; at most 4 GiB) and `gpuMemoryBytes` (WebGPU does not report GPU memory; without it
   * only the adapter's buffer limits are checked). A model that cannot fit is refused with DEVICE_LIMITS
   * before any download, naming the stage, its need and the limit.
   */
  memoryLimits?: MemoryLimits;
  /**
   * End load() with one short generation (the model's fewest steps at its default size, frames dropped),
   * so the first real generation runs as fast as later ones: onnxruntime's wasm compiles each of its
   * functions the first time it runs. Default: on for the wasm backend when the model's weights are at
   * most 64 MiB (kinema-micro: about 0.3 s on a first visit, 0.15 s on a revisit); `true` also warms up
   * WebGPU and larger models (a Wan load then spends one full step on it); `false` never.
   */
  warmUp?: boolean;
  /** Diagnostics sink; default none. */
  logger?: Logger | false;
}

export interface GenerateRequest {
  prompt: string;
  negativePrompt?: string;
  /** 0..2147483647 (the range every backend, the cloud included, accepts); random when absent, and always reported back in the result. */
  seed?: number;
  steps?: number;
  guidanceScale?: number;
  numFrames?: number;
  fps?: number;
  width?: number;
  height?: number;
  /** 'mp4' (default), 'webm', or 'frames' (raw RGBA frames, no encoder needed). */
  format?: OutputFormat;
  /** Integer upscale of the model's output for viewing (1..16, default 1). */
  outputScale?: number;
  outputFilter?: UpscaleFilter;
  /** Emit a `preview` event every N denoising steps (0 = never, the default). */
  previewEvery?: number;
  /** Also return the RGBA frames with an encoded video. */
  returnFrames?: boolean;
  /** Draw a small visible mark into the frames (off by default); a string sets the text. */
  watermark?: boolean | string;
  /** Extra provider fields for cloud generation, e.g. `{ dashscope: { shotType: 'multi', promptExtend: false } }`. */
  providerOptions?: CloudProviderOptions;
}

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
}

export type GeneratorState = 'idle' | 'loading' | 'ready' | 'generating' | 'disposed';

export interface LoadResult {
  backend: UsedBackend;
  model: string;
  modelVersion?: string;
  /** Bytes of model files fetched over the network in this load (0 when all came from the cache). */
  downloadedBytes: number;
  totalBytes: number;
  loadMs: number;
  /** The part of loadMs the warm-up generation took (GeneratorOptions.warmUp); absent when none ran. */
  warmUpMs?: number;
  /** Local backends: the memory plan (which components stay loaded together, the peak need, the ceiling). */
  memory?: LoadMemory;
}

/**
 * Argument mistakes throw TypeError/RangeError at once; state misuse always rejects: BUSY while a
 * generation runs, DISPOSED after (or during) dispose(). See the state machine in api/generator.ts.
 */
export interface VideoGenerator {
  readonly state: GeneratorState;
  capabilities(): Promise<Capabilities>;
  /** Loads the model (or joins the load under way); rejects with BUSY while generating. */
  load(options?: CallOptions): Promise<LoadResult>;
  /** Loads first when needed (joining a load under way); rejects with BUSY while another generation runs. */
  generate(request: GenerateRequest, options?: CallOptions): Promise<GenerateResult>;
  isCached(): Promise<boolean>;
  /** Rejects with BUSY while loading or generating. */
  clearCache(): Promise<void>;
  /** Ends the generator for good: pending calls reject with DISPOSED at once, later calls too. */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
