export {
  loadFiles, type LoadedFiles, type LoaderDeps, type LoadFilesOptions, type LoaderFetch, type LoaderFetchInit, type LoaderResponse,
  type StorageManagerLike,
} from './load-files';
export { CHUNK_BYTES, chunkPrefix, type LoadedFile } from './file-writer';
export {
  MemoryStore, CacheApiStore, openModelStore, modelCachePrefix, fileCacheKey, parseFileCacheKey, CACHE_NAME,
  type ModelStore, type CacheStorageLike, type CacheLike, type CachedResponseLike,
} from './store';
export { isCached, clearCache, cachedModels, type CachedModel } from './cache-admin';
export {
  saveManifest, readCachedManifest, resolveManifest, fetchManifestOrCached, manifestCacheKey, isTransientManifestFailure,
  type ResolveManifestOptions, type ResolvedManifest,
} from './manifest-cache';
