/**
 * Where verified model files live between sessions. `ModelStore` is the small interface the loader
 * needs; `CacheApiStore` keeps files in the browser Cache API (the same storage a service worker would
 * use, evicted together with the origin's other data), `MemoryStore` for this session only.
 *
 * Keys are `<id>/<version>/<sha256>.<bytes>/<path>` (see `fileCacheKey`): the hash makes a changed file
 * a different entry, and the id/version prefix lets a cache panel list and clear models without reading
 * any body.
 */
import type { ProgressWarning } from '../progress/tracker';

export interface ModelStore {
  /** The stored bytes, or undefined when absent (or unreadable). */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Stores a copy; may reject with a DOMException named `QuotaExceededError`. */
  put(key: string, bytes: Uint8Array): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** Keys starting with `prefix` (all keys when omitted). */
  keys(prefix?: string): Promise<string[]>;
}

/** The subset of the Cache API the store uses; `caches` (CacheStorage) fits. */
export interface CacheStorageLike {
  open(name: string): Promise<CacheLike>;
}
export interface CacheLike {
  match(request: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer> } | undefined>;
  put(request: string, response: Response): Promise<void>;
  delete(request: string): Promise<boolean>;
  keys(): Promise<ReadonlyArray<{ url: string }>>;
}

export const CACHE_NAME = 'kinema-models-v1';
/** Never fetched: a reserved TLD, so a stored entry can never be mistaken for a real response. */
const SYNTHETIC_ORIGIN = 'https://models.kinema.invalid/';

export function modelCachePrefix(id: string, version?: string): string {
  return version === undefined ? `${encodeURIComponent(id)}/` : `${encodeURIComponent(id)}/${encodeURIComponent(version)}/`;
}

export function fileCacheKey(prefix: string, file: { path: string; sha256: string; bytes: number }): string {
  return `${prefix}${file.sha256}.${file.bytes}/${file.path}`;
}

/** The parts of a key made by `fileCacheKey(modelCachePrefix(id, version), file)`, or undefined. */
export function parseFileCacheKey(key: string): { id: string; version: string; sha256: string; bytes: number; path: string } | undefined {
  const match = /^([^/]+)\/([^/]+)\/([0-9a-f]{64})\.(\d+)\/(.+)$/.exec(key);
  if (!match) return undefined;
  const [, id = '', version = '', sha256 = '', bytes = '', path = ''] = match;
  return { id: decodeURIComponent(id), version: decodeURIComponent(version), sha256, bytes: Number(bytes), path };
}

export class MemoryStore implements ModelStore {
  private readonly entries = new Map<string, Uint8Array>();

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.entries.get(key);
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    this.entries.set(key, bytes.slice());
  }

  async delete(key: string): Promise<boolean> {
    return this.entries.delete(key);
  }

  async keys(prefix = ''): Promise<string[]> {
    return [...this.entries.keys()].filter((k) => k.startsWith(prefix));
  }
}

export class CacheApiStore implements ModelStore {
  private cache: Promise<CacheLike> | undefined;

  /** `response` builds the stored Response; injectable for environments without a global `Response`. */
  constructor(
    private readonly storage: CacheStorageLike,
    private readonly name = CACHE_NAME,
    private readonly response: (bytes: Uint8Array) => Response = (bytes) =>
      new Response(bytes as Uint8Array<ArrayBuffer>, { headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytes.byteLength) } }),
  ) {}

  private open(): Promise<CacheLike> {
    this.cache ??= this.storage.open(this.name);
    return this.cache;
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    try {
      const hit = await (await this.open()).match(SYNTHETIC_ORIGIN + encodeURIComponent(key));
      return hit ? new Uint8Array(await hit.arrayBuffer()) : undefined;
    } catch {
      return undefined; // an unreadable entry is a miss: the loader downloads and overwrites it
    }
  }

  async put(key: string, bytes: Uint8Array): Promise<void> {
    await (await this.open()).put(SYNTHETIC_ORIGIN + encodeURIComponent(key), this.response(bytes));
  }

  async delete(key: string): Promise<boolean> {
    return (await this.open()).delete(SYNTHETIC_ORIGIN + encodeURIComponent(key));
  }

  async keys(prefix = ''): Promise<string[]> {
    const requests = await (await this.open()).keys();
    return requests
      .filter((r) => r.url.startsWith(SYNTHETIC_ORIGIN))
      .map((r) => decodeURIComponent(r.url.slice(SYNTHETIC_ORIGIN.length)))
      .filter((k) => k.startsWith(prefix));
  }
}

/**
 * A CacheApiStore when `caches` is given and opens, else a MemoryStore and a CACHE_UNAVAILABLE warning
 * (no Cache API in this context, or it refuses, as in some private modes and opaque origins).
 */
export async function openModelStore(deps: {
  caches?: CacheStorageLike | undefined;
  onProgress?: (event: ProgressWarning) => void;
  cacheName?: string;
}): Promise<ModelStore> {
  const warn = (message: string, details?: Record<string, unknown>) =>
    deps.onProgress?.({ type: 'warning', code: 'CACHE_UNAVAILABLE', message, ...(details ? { details } : {}) });
  if (!deps.caches) {
    warn('The Cache API is not available here; model files are kept in memory for this session and downloaded again next time.');
    return new MemoryStore();
  }
  try {
    const name = deps.cacheName ?? CACHE_NAME;
    await deps.caches.open(name);
    return new CacheApiStore(deps.caches, name);
  } catch (error) {
    warn(`The Cache API refused to open (${error instanceof Error ? error.message : String(error)}); model files are kept in memory for this session.`, {
      error: error instanceof Error ? error.name : String(error),
    });
    return new MemoryStore();
  }
}
