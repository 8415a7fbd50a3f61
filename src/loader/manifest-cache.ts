/**
 * The verified manifest, kept in the same store as the model's files, so a fully cached model loads,
 * and `isCached` answers, with the network down.
 *
 * Policy (docs/model-manifest.md, "Offline"):
 * - The network copy wins whenever it arrives: a newer version is picked up on the next load.
 * - With a cached copy at hand the network gets `timeoutMs` (default 5 s) to answer; a network error,
 *   that timeout, or a server in trouble (5xx, 408, 429) falls back to the cached copy with a
 *   MANIFEST_FROM_CACHE warning. An answer that means something (404/410 "gone", 401/403, other 4xx,
 *   a manifest that no longer validates) is never masked by the cache: it fails as it would uncached.
 * - The copy is written only after every file of the load was verified and stored (`saveManifest`, by
 *   the engine), so a failed or aborted load leaves no manifest behind; a new version's copy replaces
 *   the older one for the same URL.
 *
 * Key: `<id>/<version>/manifest/<encoded manifest URL>`. It shares the model's prefix, so `clearCache`
 * removes it with the files; it does not parse as a file key, so `cachedModels` counts only files.
 */
import { KinemaError, abortError } from '../errors';
import { fetchManifest, fetchManifestJson, manifestFromJson, resolveModelRef, type ManifestFetch, type ModelManifest } from '../models';
import type { ProgressWarning } from '../progress/tracker';
import { CACHE_NAME, CacheApiStore, modelCachePrefix, type CacheStorageLike, type ModelStore } from './store';

const MANIFEST_KEY = /^[^/]+\/[^/]+\/manifest\/([^/]+)$/;

export function manifestCacheKey(manifest: Pick<ModelManifest, 'id' | 'version' | 'manifestUrl'>): string {
  return `${modelCachePrefix(manifest.id, manifest.version)}manifest/${encodeURIComponent(manifest.manifestUrl)}`;
}

/** Stores the published JSON of a verified manifest; removes the copies of older versions at the same URL. */
export async function saveManifest(store: ModelStore, manifest: ModelManifest, json: unknown): Promise<void> {
  const key = manifestCacheKey(manifest);
  for (const other of await manifestKeys(store, manifest.manifestUrl)) if (other !== key) await store.delete(other);
  await store.put(key, new TextEncoder().encode(JSON.stringify(json)));
}

/** The cached manifest for `ref`, validated again as on first load; undefined when absent or unusable. */
export async function readCachedManifest(store: ModelStore, ref: string, baseUrl: string | URL): Promise<{ manifest: ModelManifest; json: unknown } | undefined> {
  const { manifestUrl } = resolveModelRef(ref, baseUrl);
  let keys: string[];
  try {
    keys = await manifestKeys(store, manifestUrl);
  } catch {
    return undefined;
  }
  for (const key of keys) {
    try {
      const bytes = await store.get(key);
      if (!bytes) continue;
      const json: unknown = JSON.parse(new TextDecoder().decode(bytes));
      return { manifest: manifestFromJson(json, ref, baseUrl), json };
    } catch {
      // A copy this build no longer accepts (or a damaged entry) is no copy: drop it.
      await store.delete(key).catch(() => false);
    }
  }
  return undefined;
}

async function manifestKeys(store: ModelStore, manifestUrl: string): Promise<string[]> {
  const encoded = encodeURIComponent(manifestUrl);
  return (await store.keys()).filter((key) => MANIFEST_KEY.exec(key)?.[1] === encoded);
}

/** True for failures the cache may stand in for: no answer at all, or a server in trouble. */
export function isTransientManifestFailure(error: unknown): boolean {
  if (!(error instanceof KinemaError) || error.code !== 'DOWNLOAD_FAILED') return false;
  const status = error.details.status;
  return typeof status !== 'number' || status >= 500 || status === 408 || status === 429;
}

export interface ResolveManifestOptions {
  fetch: ManifestFetch;
  baseUrl: string | URL;
  store: ModelStore;
  signal?: AbortSignal;
  /** How long the network may take when a cached copy exists. Default 5000 ms. */
  timeoutMs?: number;
  onWarning?: (warning: ProgressWarning) => void;
}

export interface ResolvedManifest {
  manifest: ModelManifest;
  /** The published JSON, for `saveManifest`. */
  json: unknown;
  fromCache: boolean;
}

/** The manifest from the network, or the cached verified copy when the network cannot answer (see the policy above). */
export async function resolveManifest(ref: string, options: ResolveManifestOptions): Promise<ResolvedManifest> {
  const { signal } = options;
  const cached = await readCachedManifest(options.store, ref, options.baseUrl);
  if (!cached) return { ...(await fetchManifestJson(ref, { fetch: options.fetch, baseUrl: options.baseUrl, ...(signal ? { signal } : {}) })), fromCache: false };

  const bound = new AbortController();
  const onAbort = () => bound.abort(signal?.reason);
  signal?.addEventListener('abort', onAbort, { once: true });
  if (signal?.aborted) onAbort();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    bound.abort();
  }, options.timeoutMs ?? 5000);
  try {
    return { ...(await fetchManifestJson(ref, { fetch: options.fetch, baseUrl: options.baseUrl, signal: bound.signal })), fromCache: false };
  } catch (error) {
    if (signal?.aborted) throw abortError(signal, 'loading the model manifest');
    if (!timedOut && !isTransientManifestFailure(error)) throw error;
    const why = timedOut ? `no answer within ${options.timeoutMs ?? 5000} ms` : (error as Error).message;
    options.onWarning?.({
      type: 'warning',
      code: 'MANIFEST_FROM_CACHE',
      message: `The model manifest could not be fetched (${why}); using the cached copy of ${cached.manifest.id} ${cached.manifest.version}.`,
      details: { manifestUrl: cached.manifest.manifestUrl, version: cached.manifest.version },
    });
    return { ...cached, fromCache: true };
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * For the page (the generator reads the manifest before it starts the worker): the same policy as
 * the engine's, reading the model cache but never writing it. Without `caches`, or before anything was
 * ever cached (no kinema cache exists), it is plain `fetchManifest`; no cache is created.
 */
export async function fetchManifestOrCached(
  ref: string,
  options: { fetch: ManifestFetch; baseUrl: string | URL; signal?: AbortSignal; caches?: (CacheStorageLike & { has?(name: string): Promise<boolean> }) | undefined },
): Promise<ModelManifest> {
  const { caches, ...fetchOptions } = options;
  let store: ModelStore | undefined;
  try {
    if (caches && (await caches.has?.(CACHE_NAME)) !== false) store = new CacheApiStore(caches);
  } catch {
    store = undefined; // a Cache API that refuses (private mode, opaque origin) is no cache
  }
  if (!store) return fetchManifest(ref, fetchOptions);
  return (await resolveManifest(ref, { ...fetchOptions, store })).manifest;
}
