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
  /**
   * The stored entry's length without reading its body (the loader's warm check). Optional: a store
   * without it is asked `get` instead, which reads the body.
   */
  size?(key: string): Promise<number | undefined>;
  /**
   * The entry as a Blob backed by the storage (the Cache API's bodies stay on disk until read), so a
   * file of many chunk entries can be handed on without assembling its bytes. Optional.
   */
  getBlob?(key: string): Promise<Blob | undefined>;
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
  match(request: string): Promise<CachedResponseLike | undefined>;
  put(request: string, response: Response): Promise<void>;
  delete(request: string): Promise<boolean>;
  keys(): Promise<ReadonlyArray<{ url: string }>>;
}

/** What the store reads of a cached Response; `headers` and `blob` are used when present. */
export interface CachedResponseLike {
  arrayBuffer(): Promise<ArrayBuffer>;
  blob?(): Promise<Blob>;
  headers?: { get(name: string): string | null };
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

  /** The stored copy itself, not a copy of it: callers only read. */
  async get(key: string): Promise<Uint8Array | undefined> {
    return this.entries.get(key);
  }

  async size(key: string): Promise<number | undefined> {
    return this.entries.get(key)?.byteLength;
  }

  async getBlob(key: string): Promise<Blob | undefined> {
    const bytes = this.entries.get(key);
    return bytes ? new Blob([bytes as Uint8Array<ArrayBuffer>]) : undefined;
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

  /** The Content-Length the store wrote; a Response without it is measured through its Blob (not read). */
  async size(key: string): Promise<number | undefined> {
    try {
      const hit = await (await this.open()).match(SYNTHETIC_ORIGIN + encodeURIComponent(key));
      if (!hit) return undefined;
      const length = Number(hit.headers?.get('content-length') ?? Number.NaN);
      if (Number.isInteger(length) && length >= 0) return length;
      return hit.blob ? (await hit.blob()).size : (await hit.arrayBuffer()).byteLength;
    } catch {
      return undefined;
    }
  }

  async getBlob(key: string): Promise<Blob | undefined> {
    try {
      const hit = await (await this.open()).match(SYNTHETIC_ORIGIN + encodeURIComponent(key));
      if (!hit) return undefined;
      return hit.blob ? await hit.blob() : new Blob([await hit.arrayBuffer()]);
    } catch {
      return undefined;
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
