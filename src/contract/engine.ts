/**
 * The Engine interface: what the worker exposes and what the main thread calls. The in-process engine
 * (`createEngine`) and the worker client (`connectWorkerEngine`) both implement it, so tests and users can
 * swap one for the other. Pure declarations.
 */
import type { ProgressListener } from '../progress/events';
import type { CacheKind, CachedModelInfo, Capabilities, LocalBackend, OutputFormat, UpscaleFilter, WeightPreference } from './domain';
import type { GenerateResult } from './result';

export interface EngineLoadSpec {
  manifestUrl: string;
  /** 'auto': WebGPU when an adapter meets the model's needs, else wasm (when allowWasm). */
  backend: 'auto' | LocalBackend;
  allowWasm: boolean;
  weights: WeightPreference;
  cache: CacheKind;
  /** wasm threads (GeneratorOptions.wasmThreads); absent: the runtime's default. */
  wasmThreads?: number;
  /** Lower memory ceilings for the plan made before any download (GeneratorOptions.memoryLimits). */
  memoryLimits?: MemoryLimits;
  /** End the load with a warm-up generation (GeneratorOptions.warmUp); absent: the engine decides. */
  warmUp?: boolean;
}

/**
 * Ceilings for the memory plan, in bytes. `wasmHeapBytes` lowers the wasm heap the plan allows (default:
 * 4 GiB less a runtime margin); `gpuMemoryBytes` is the GPU memory to plan for on WebGPU (WebGPU does not
 * tell it, so without it only the adapter's buffer limits are checked).
 */
export interface MemoryLimits {
  wasmHeapBytes?: number;
  gpuMemoryBytes?: number;
}

/** A request with every default filled in and validated by the main thread (and re-checked by the engine). */
export interface EngineGenerateSpec {
  prompt: string;
  negativePrompt: string;
  seed: number;
  steps: number;
  guidanceScale: number;
  numFrames: number;
  fps: number;
  width: number;
  height: number;
  format: OutputFormat;
  outputScale: number;
  outputFilter: UpscaleFilter;
  previewEvery: number;
  returnFrames: boolean;
  watermark: boolean | string;
  /** Start from these latents [1, C, T, h, w] instead of seeded noise (to reproduce another implementation's run). */
  initialLatents?: Float32Array;
}

export interface EngineLoadInfo {
  backend: LocalBackend;
  model: string;
  modelVersion: string;
  variants: Record<string, string>;
  downloadedBytes: number;
  totalBytes: number;
  loadMs: number;
  /** The part of loadMs the warm-up generation took; absent when none ran. */
  warmUpMs?: number;
  warnings: string[];
  /** The memory plan the load was checked against and stages by (always set by createEngine). */
  memory?: LoadMemory;
}

/** What the memory plan decided for a load (src/models/memory.ts). */
export interface LoadMemory {
  /** Components loaded together, in run order; more than one group: the engine releases one to run the next. */
  residency: string[][];
  /** The most one group needs at once (weights + activations), in the memory `limit` is about. */
  peakBytes: number;
  /** The ceiling planned against: the wasm heap, or the GPU memory given; null on WebGPU without memoryLimits.gpuMemoryBytes. */
  limitBytes: number | null;
  limit: 'wasm-heap' | 'gpu-memory' | null;
}

export interface Engine {
  capabilities(): Promise<Capabilities>;
  load(spec: EngineLoadSpec, onProgress?: ProgressListener, signal?: AbortSignal): Promise<EngineLoadInfo>;
  generate(spec: EngineGenerateSpec, onProgress?: ProgressListener, signal?: AbortSignal): Promise<GenerateResult>;
  isCached(spec: EngineLoadSpec): Promise<boolean>;
  clearCache(spec: EngineLoadSpec): Promise<void>;
  cachedModels(cache: CacheKind): Promise<CachedModelInfo[]>;
  dispose(): Promise<void>;
}
