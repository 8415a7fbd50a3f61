export * from './types';
export { parseManifest } from './parse-manifest';
export { BUILTIN_MODELS, resolveModelRef, fetchManifest, fetchManifestJson, manifestFromJson, type ModelRef, type ManifestFetch } from './registry';
export {
  selectVariants, selectedFiles, checkDeviceLimits, externalDataName, type SelectVariantsOptions, type DeviceLimits,
} from './variants';
export { describeVocabulary, promptLanguage, unknownWordsMessage } from './vocabulary';
export {
  planMemory, describeMemoryPlan, formatByteSize, DEFAULT_WASM_HEAP_BYTES, WASM_MEMORY_BYTES, WASM_RUNTIME_MARGIN_BYTES, DEVICE_MEMORY_CAP_GIB,
  type MemoryPlan, type MemoryTarget, type MemoryBackend, type MemoryLimitKind, type StagePlan,
} from './memory';
