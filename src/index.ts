/**
 * kinema: text to video in the browser. The main-thread API; the engine runs in a Web Worker.
 *
 *   const generator = createVideoGenerator();            // kinema-micro, WebGPU → wasm → (cloud)
 *   const { video, seed } = await generator.generate(
 *     { prompt: 'a red circle moving right on a black background', outputScale: 8 },
 *     { onProgress: (e) => console.log(e.type, e.overall), signal },
 *   );
 */
export { createVideoGenerator } from './api/generator';
export { KinemaError, isKinemaError, KINEMA_ERROR_CODES } from './errors';
export { BUILTIN_MODELS } from './models/registry';
export type { KinemaErrorCode, KinemaErrorDetails } from './errors';
export type {
  CallOptions, CloudOptions, GenerateRequest, GeneratorOptions, GeneratorState, LoadResult, Logger, VideoGenerator,
} from './api/types';
export type {
  BackendChoice, CacheKind, CachedModelInfo, Capabilities, CloudProvider, FramesResult, GenerateResult, LoadMemory, LocalBackend, MemoryLimits,
  OutputFormat, StageTimings, UpscaleFilter, UsedBackend, VideoResult, WebGpuInfo, WeightPreference,
} from './contract';
export type { CloudState, ComponentName, ProgressEvent, ProgressListener, Stage } from './progress/events';
