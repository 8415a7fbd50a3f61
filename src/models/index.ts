export * from './types';
export { parseManifest } from './parse-manifest';
export { BUILTIN_MODELS, resolveModelRef, fetchManifest, fetchManifestJson, manifestFromJson, type ModelRef, type ManifestFetch } from './registry';
export {
  selectVariants, selectedFiles, checkDeviceLimits, externalDataName, type SelectVariantsOptions, type DeviceLimits,
} from './variants';
export { describeVocabulary, promptLanguage, unknownWordsMessage } from './vocabulary';
