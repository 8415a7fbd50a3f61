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
  BackendChoice, CallOptions, Capabilities, CloudOptions, CloudProvider, CloudState, ComponentName, GenerateRequest,
  GenerateResult, GeneratorOptions, GeneratorState, LoadResult, Logger, OutputFormat, ProgressEvent, ProgressListener,
  Stage, StageTimings, UpscaleFilter, UsedBackend, VideoGenerator, WebGpuInfo, WeightPreference,
} from './api/types';
