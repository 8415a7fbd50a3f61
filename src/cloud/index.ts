/** kinema's cloud path: provider adapters, the one polling driver, and `generateInCloud` (via the kinema proxy). */
export { generateInCloud, createCloudAdapter, proxyEndpoint, CLOUD_PROVIDERS } from './generate';
export type { GenerateInCloudOptions } from './generate';
export { runCloudJob, backoffDelay, nextPollDelay, systemClock, DEFAULT_TIMEOUT_MS, DEFAULT_MAX_RETRIES, DEFAULT_REQUEST_TIMEOUT_MS } from './driver';
export type { DriverOptions, JobOutcome } from './driver';
export {
  createDashScopeAdapter,
  dashScopeSizes,
  snapDashScopeSize,
  snapDashScopeDuration,
  dashScopeErrorKind,
  DASHSCOPE_MODELS,
  DASHSCOPE_DEFAULT_MODEL,
  DASHSCOPE_OUTPUT_FPS,
} from './dashscope';
export type { DashScopeModel } from './dashscope';
export { createModelsLabAdapter, modelsLabMessageKind, MODELSLAB_MODELS, MODELSLAB_DEFAULT_MODEL, MODELSLAB_LIMITS } from './modelslab';
export type { ModelsLabModel } from './modelslab';
export { codeForKind, parseRetryAfter } from './http';
export { probeMp4 } from './mp4';
export type { Mp4Probe } from './mp4';
export type * from './types';
