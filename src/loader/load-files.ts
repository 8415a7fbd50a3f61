/**
 * `loadFiles`: model files from the store, or downloaded, checked and then stored.
 *
 * - Progress: `total` is the sum of manifest bytes, known before the first byte; cached files count as
 *   loaded at once (`fromCache`), as do the stored chunks of an unfinished download; `loaded` never
 *   decreases — bytes fetched again after a restart are not counted twice.
 * - Integrity: a SHA-256 is computed while the body streams in (file-writer.ts: no second pass, no copy);
 *   too many or too few bytes, or a hash that differs, is INTEGRITY_MISMATCH. Only verified files count
 *   as cached: a small file is stored once it verified; a large one is stored chunk by chunk as it
 *   arrives, and marked complete only once its hash matched, so a partial or corrupt file is never cached.
 * - Size: no limit of our own. A file above `chunkBytes` (128 MiB) is never held whole: it goes to
 *   storage a chunk at a time and is read back as a Blob of its chunk entries (`LoadedFile.blob`).
 * - Resume: after a mid-body failure the next request asks for the rest with `Range` when the server
 *   advertised `Accept-Ranges: bytes` or answered 206; a 200 to a Range request restarts cleanly. Across
 *   loads (tab closed, network gone), a large file's stored chunks are kept: the next load hashes them
 *   again from storage and asks only for the bytes after them.
 * - Network: network errors, 5xx, 408 and 429 are retried with exponential backoff (Retry-After is
 *   honoured, capped). An attempt that got further than ever before resets the retry budget, so a long
 *   download over a flaky link can finish. Other 4xx fail at once with DOWNLOAD_FAILED.
 * - Storage: before any download, `deps.storage.estimate()` (navigator.storage) is compared with the
 *   bytes still to fetch; when short, `persist()` is asked once (persistent storage usually raises the
 *   quota), then STORAGE_QUOTA names both figures. A store write that fails anyway keeps the file in
 *   memory for this session (CACHE_QUOTA_EXCEEDED warning); any other store failure likewise degrades to
 *   memory with a CACHE_UNAVAILABLE warning.
 * - The result holds no file bytes (unless the store refused them): each `LoadedFile` reads its bytes
 *   from storage when asked, so the caller can read one graph's files just before it needs them and
 *   drop them after.
 * - Files are fetched one at a time: model files are few and large, so concurrency buys little
 *   bandwidth and would double peak memory.
 */
import { KinemaError, abortError } from '../errors';
import type { FileSpec } from '../models/types';
import type { LoadEvent } from '../progress/tracker';
import { CHUNK_BYTES, FileWriter, storedChunkBytes, storedFile, type LoadedFile } from './file-writer';
import { fileCacheKey, type ModelStore } from './store';

export interface LoaderFetchInit {
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** The subset of a fetch Response the loader reads; the platform Response fits. */
export interface LoaderResponse {
  ok: boolean;
  status: number;
  statusText?: string;
  headers: { get(name: string): string | null };
  body: ReadableStream<Uint8Array> | null;
  arrayBuffer(): Promise<ArrayBuffer>;
}

export type LoaderFetch = (url: string, init?: LoaderFetchInit) => Promise<LoaderResponse>;

/** The subset of `navigator.storage` (StorageManager) the pre-check uses; `persist` is absent in workers. */
export interface StorageManagerLike {
  estimate(): Promise<{ quota?: number; usage?: number }>;
  persist?(): Promise<boolean>;
}

export interface LoaderDeps {
  fetch: LoaderFetch;
  store: ModelStore;
  /**
   * The storage the store writes to, for the pre-check (navigator.storage with the Cache API store).
   * Absent: no pre-check (a memory store, or a platform without the Storage API).
   */
  storage?: StorageManagerLike;
  /** Waits between retries; defaults to setTimeout. The loader also stops waiting when aborted. */
  sleep?: (ms: number) => Promise<void>;
}

export interface LoadFilesOptions {
  /** Key prefix of this model's files in the store: `modelCachePrefix(manifest.id, manifest.version)`. */
  cacheKeyPrefix: string;
  onProgress?: (event: LoadEvent) => void;
  signal?: AbortSignal;
  /** Retries per file after the first attempt (reset by an attempt that gets further). Default 4. */
  retries?: number;
  /** First backoff delay; doubles per retry up to `maxRetryDelayMs`. Default 500. */
  retryDelayMs?: number;
  maxRetryDelayMs?: number;
  /** Files larger than this are stored as chunk entries of this size. Default CHUNK_BYTES (128 MiB). */
  chunkBytes?: number;
}

/** The files by path (the caller's order), plus how many bytes came from where (for load info and a cache panel). */
export type LoadedFiles = ReadonlyMap<string, LoadedFile> & {
  /** Sum of manifest bytes of all files: the progress total. */
  readonly totalBytes: number;
  /** Bytes that were downloaded (not counting bytes fetched again after a restart). */
  readonly downloadedBytes: number;
  /** Bytes found in the store: complete files and the stored chunks of an unfinished download. */
  readonly cachedBytes: number;
};

export type { LoadedFile };

export async function loadFiles(requested: readonly FileSpec[], deps: LoaderDeps, options: LoadFilesOptions): Promise<LoadedFiles> {
  if (!Array.isArray(requested)) throw new TypeError('loadFiles: files must be an array of FileSpec (see selectedFiles)');
  if (typeof options?.cacheKeyPrefix !== 'string' || !/^[^/]+\/[^/]+\/$/.test(options.cacheKeyPrefix)) {
    // isCached, clearCache and cachedModels read keys back, so the prefix must have their shape.
    throw new TypeError(`loadFiles: options.cacheKeyPrefix must be modelCachePrefix(manifest.id, manifest.version) ("<id>/<version>/"), got ${JSON.stringify(options?.cacheKeyPrefix)}`);
  }
  const chunkBytes = options.chunkBytes ?? CHUNK_BYTES;
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new TypeError(`loadFiles: options.chunkBytes must be a positive integer; got ${String(options.chunkBytes)}`);
  // The same file listed twice (tokenizer files plus selectedFiles, say) is loaded once; the same path
  // with different contents is a caller bug.
  const byPath = new Map<string, FileSpec>();
  for (const file of requested) {
    const earlier = byPath.get(file.path);
    if (earlier && (earlier.sha256 !== file.sha256 || earlier.bytes !== file.bytes || earlier.url !== file.url)) {
      throw new TypeError(`loadFiles: path "${file.path}" is listed twice with different url, bytes or sha256`);
    }
    byPath.set(file.path, file);
  }
  const files = [...byPath.values()];
  const { signal, onProgress } = options;
  const prefix = options.cacheKeyPrefix;
  if (signal?.aborted) throw abortError(signal, 'loading the model');

  const total = files.reduce((sum, f) => sum + f.bytes, 0);
  let completed = 0;
  const report = (file: string, loaded: number, fromCache: boolean) => onProgress?.({ type: 'download', file, loaded, total, fromCache });
  const result = new Map<string, LoadedFile>();
  let cachedBytes = 0;

  // Cached files first, so they count at once and the remaining bar is only real downloads. The check
  // reads entry sizes, not bodies (all at once: the Cache API answers from its own threads).
  const missing: FileSpec[] = [];
  const lookups = files.map((file) => Promise.resolve()
    .then(() => storedFile(deps.store, prefix, file))
    .catch((): undefined => undefined)); // an unreadable entry is a miss
  for (const [index, file] of files.entries()) {
    const cached = await lookups[index];
    if (signal?.aborted) throw abortError(signal, 'loading the model');
    if (cached) {
      result.set(file.path, cached);
      completed += file.bytes;
      cachedBytes += file.bytes;
      report(file.path, completed, true);
    } else {
      // A wrong-length entry or a stale marker: drop it (a large file's chunks stay, to resume from).
      await deps.store.delete(fileCacheKey(prefix, file)).catch(() => false);
      missing.push(file);
    }
  }

  if (missing.length > 0 && deps.storage) {
    let needed = 0;
    for (const file of missing) needed += file.bytes - await storedChunkBytes(deps.store, prefix, file, chunkBytes);
    await checkStorage(deps.storage, needed, signal);
  }

  let storeUsable = true;
  const tryPut = async (key: string, bytes: Uint8Array, file: FileSpec): Promise<boolean> => {
    if (!storeUsable) return false;
    try {
      await deps.store.put(key, bytes);
      return true;
    } catch (error) {
      // Stop writing for the rest of this load: the next entry would most likely fail the same way.
      storeUsable = false;
      const quota = isQuotaError(error);
      onProgress?.({
        type: 'warning',
        code: quota ? 'CACHE_QUOTA_EXCEEDED' : 'CACHE_UNAVAILABLE',
        message: quota
          ? `Not enough storage to cache ${file.path}; the model is kept in memory for this session and will be downloaded again next time. Free some site data to cache it.`
          : `Could not cache ${file.path} (${error instanceof Error ? error.message : String(error)}); the model is kept in memory for this session.`,
        details: { file: file.path, bytes: file.bytes, error: error instanceof Error ? error.name : String(error) },
      });
      return false;
    }
  };

  for (const file of missing) {
    const writer = new FileWriter(file, chunkBytes, deps.store, prefix, tryPut);
    const resumed = await writer.resume(signal);
    if (resumed > 0) {
      cachedBytes += resumed;
      report(file.path, completed + resumed, true);
    }
    const base = completed;
    result.set(file.path, await downloadFile(writer, deps.fetch, deps.sleep, options, (fileLoaded) => report(file.path, base + fileLoaded, false)));
    completed += file.bytes;
    if (signal?.aborted) throw abortError(signal, 'loading the model');
  }
  const ordered = new Map(files.map((f) => [f.path, result.get(f.path)!] as const)); // in the caller's order
  return Object.assign(ordered, { totalBytes: total, downloadedBytes: total - cachedBytes, cachedBytes });
}

/** How long the pre-check waits for `persist()` to answer before refusing as if it had said no. */
export const PERSIST_TIMEOUT_MS = 10_000;

const formatBytes = (n: number) => (n >= 1e9 ? `${(n / 1e9).toFixed(2)} GB` : `${(n / 1e6).toFixed(1)} MB`);

/** Refuses (STORAGE_QUOTA) when the origin's storage cannot take `needed` more bytes, after asking for persistence once. */
async function checkStorage(storage: StorageManagerLike, needed: number, signal: AbortSignal | undefined): Promise<void> {
  if (needed <= 0) return;
  const available = async (): Promise<{ available: number; quota: number; usage: number } | undefined> => {
    try {
      const { quota, usage } = await storage.estimate();
      if (typeof quota !== 'number' || !Number.isFinite(quota)) return undefined;
      const used = typeof usage === 'number' && Number.isFinite(usage) ? usage : 0;
      return { available: Math.max(0, quota - used), quota, usage: used };
    } catch {
      return undefined; // no estimate: nothing to compare with, the store's own errors still degrade to memory
    }
  };
  let estimate = await available();
  if (!estimate || estimate.available >= needed) return;
  let persisted = false;
  if (storage.persist) {
    // A browser may ask the user (Firefox shows a prompt): an unanswered request counts as refused.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const unanswered = new Promise<boolean>((resolve) => { timer = setTimeout(() => resolve(false), PERSIST_TIMEOUT_MS); });
    persisted = await raceAbort(Promise.race([storage.persist().catch(() => false), unanswered]), signal).finally(() => clearTimeout(timer));
    if (signal?.aborted) throw abortError(signal, 'loading the model');
    if (persisted) {
      estimate = await available();
      if (!estimate || estimate.available >= needed) return;
    }
  }
  throw new KinemaError('STORAGE_QUOTA', `The model needs ${formatBytes(needed)} more storage (${needed} bytes) but this site may store only ${formatBytes(estimate.available)} more (${estimate.available} bytes: quota ${estimate.quota}, used ${estimate.usage}${persisted ? ', with persistent storage granted' : storage.persist ? '; persistent storage was not granted' : ''}). Free space on the device or clear other site data (clearCache for models you no longer use), or load with cache: 'memory' to keep the files in memory for this session only.`, {
    details: { neededBytes: needed, availableBytes: estimate.available, quotaBytes: estimate.quota, usageBytes: estimate.usage, persisted },
  });
}

function isQuotaError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code } = error as { name?: unknown; code?: unknown };
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED' || code === 22;
}

function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Rejects with ABORTED as soon as the signal fires, whatever `promise` does. */
function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined, onAbort?: () => void): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) {
    promise.catch(() => undefined);
    onAbort?.();
    return Promise.reject(abortError(signal, 'loading the model'));
  }
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      onAbort?.();
      reject(abortError(signal, 'loading the model'));
    };
    signal.addEventListener('abort', abort, { once: true });
    promise.then(
      (value) => { signal.removeEventListener('abort', abort); resolve(value); },
      (error: unknown) => { signal.removeEventListener('abort', abort); reject(error); },
    );
  });
}

/** `bytes a-b/total` → start and total (total NaN when `*`). */
function parseContentRange(header: string | null): { start: number; total: number } | undefined {
  const match = header ? /^bytes\s+(\d+)-(\d+)\/(\d+|\*)$/i.exec(header.trim()) : null;
  if (!match) return undefined;
  return { start: Number(match[1]), total: match[3] === '*' ? Number.NaN : Number(match[3]) };
}

function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  const seconds = Number(header);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}

class RetryableFailure extends Error {
  constructor(message: string, readonly status?: number, readonly retryAfter?: number) {
    super(message);
  }
}

async function downloadFile(
  writer: FileWriter,
  fetch: LoaderFetch,
  sleepDep: LoaderDeps['sleep'],
  options: LoadFilesOptions,
  onBytes: (fileLoaded: number) => void,
): Promise<LoadedFile> {
  const { file } = writer;
  const { signal } = options;
  const retries = options.retries ?? 4;
  const baseDelay = options.retryDelayMs ?? 500;
  const maxDelay = options.maxRetryDelayMs ?? 30_000;
  const sleep = sleepDep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let credited = writer.position; // bytes of this file already reported: progress never goes below it
  // Stored chunks from an earlier load: ask for the rest (a server without ranges answers 200: restart).
  let canResume = writer.position > 0;
  let assembled = writer.position > 0; // the bytes come from more than one response (or from storage)
  let failures = 0;
  let lastStatus: number | undefined;
  let lastMessage = '';

  const restart = () => {
    writer.restart();
    assembled = false;
  };

  for (;;) {
    if (signal?.aborted) throw abortError(signal, 'loading the model');
    const creditedBefore = credited;
    let retryAfter: number | undefined;
    try {
      // All of it already stored (the marker was not written): nothing to fetch, only the hash to check.
      if (writer.position < file.bytes || file.bytes === 0) {
        const from = canResume && writer.position > 0 && writer.position < file.bytes ? writer.position : 0;
        if (from === 0 && writer.position > 0) restart();
        const init: LoaderFetchInit = {};
        if (from > 0) init.headers = { Range: `bytes=${from}-` };
        if (signal) init.signal = signal;
        let response: LoaderResponse;
        try {
          response = await raceAbort(fetch(file.url, init), signal);
        } catch (error) {
          if (signal?.aborted || isAborted(error)) throw abortError(signal, 'loading the model');
          throw new RetryableFailure(error instanceof Error ? error.message : String(error));
        }
        const { status } = response;
        if (!response.ok) {
          lastStatus = status;
          if (status === 416) {
            // Our Range no longer fits what the server has: start over from byte 0.
            canResume = false;
            restart();
            throw new RetryableFailure(`HTTP 416 to a range request`, status);
          }
          if (isRetryableStatus(status)) throw new RetryableFailure(`HTTP ${status} ${response.statusText ?? ''}`.trim(), status, retryAfterMs(response.headers.get('retry-after')));
          throw new KinemaError('DOWNLOAD_FAILED', `Downloading ${file.url} failed: HTTP ${status} ${response.statusText ?? ''}`.trim(), {
            details: { url: file.url, file: file.path, status },
          });
        }
        let offset = 0;
        const range = parseContentRange(response.headers.get('content-range'));
        if (status === 206) {
          if (!range || range.start !== from) {
            canResume = false;
            restart();
            await response.body?.cancel().catch(() => undefined);
            throw new RetryableFailure(`HTTP 206 with Content-Range ${response.headers.get('content-range') ?? '(none)'} for a request from byte ${from}`, status);
          }
          offset = from;
          if (offset > 0) assembled = true;
        } else if (writer.position > 0) {
          restart(); // a full answer, even to a Range request: restart cleanly
        }
        canResume = status === 206 || /\bbytes\b/i.test(response.headers.get('accept-ranges') ?? '');
        const encoded = response.headers.get('content-encoding');
        const declaredLength = Number(response.headers.get('content-length') ?? Number.NaN);
        const expectedEnd = encoded && encoded !== 'identity'
          ? Number.NaN
          : status === 206 && range && Number.isFinite(range.total) ? range.total : Number.isFinite(declaredLength) ? offset + declaredLength : Number.NaN;

        const accept = async (chunk: Uint8Array) => {
          if (writer.position + chunk.byteLength > file.bytes) {
            throw new KinemaError('INTEGRITY_MISMATCH', `${file.url} sent more than the ${file.bytes} bytes the manifest declares for ${file.path}`, {
              details: { file: file.path, url: file.url, expectedBytes: file.bytes, receivedBytes: writer.position + chunk.byteLength },
            });
          }
          await writer.write(chunk);
          if (writer.position > credited) {
            credited = writer.position;
            onBytes(credited);
          }
        };
        try {
          if (response.body) {
            const reader = response.body.getReader();
            try {
              for (;;) {
                const { done, value } = await raceAbort(reader.read(), signal, () => void reader.cancel().catch(() => undefined));
                if (done) break;
                await accept(value);
              }
            } catch (error) {
              await reader.cancel().catch(() => undefined);
              throw error;
            }
          } else {
            await accept(new Uint8Array(await raceAbort(response.arrayBuffer(), signal)));
          }
        } catch (error) {
          if (error instanceof KinemaError) throw error;
          if (signal?.aborted || isAborted(error)) throw abortError(signal, 'loading the model');
          lastStatus = status;
          throw new RetryableFailure(`connection lost after ${writer.position} of ${file.bytes} bytes: ${error instanceof Error ? error.message : String(error)}`, status);
        }

        if (writer.position < file.bytes) {
          lastStatus = status;
          // The server meant to send more (its length says so): a cut connection, worth another try.
          if (Number.isFinite(expectedEnd) && expectedEnd >= file.bytes) {
            throw new RetryableFailure(`connection closed after ${writer.position} of ${file.bytes} bytes`, status);
          }
          throw new KinemaError('INTEGRITY_MISMATCH', `${file.url} is ${writer.position} bytes but the manifest declares ${file.bytes} for ${file.path}`, {
            details: { file: file.path, url: file.url, expectedBytes: file.bytes, receivedBytes: writer.position },
          });
        }
      }
      const actual = writer.digest();
      if (actual !== file.sha256) {
        await writer.discardStored();
        if (assembled) {
          // Pieces from different responses (or an earlier load) may come from different versions of the file: one clean retry.
          canResume = false;
          restart();
          throw new RetryableFailure(`SHA-256 of a resumed download differs (${actual}); downloading whole`, lastStatus);
        }
        throw new KinemaError('INTEGRITY_MISMATCH', `SHA-256 of ${file.path} is ${actual} but the manifest declares ${file.sha256} (${file.url})`, {
          details: { file: file.path, url: file.url, expected: file.sha256, actual },
        });
      }
      if (file.bytes === 0) onBytes(0); // an empty file still shows up once in the progress
      return await writer.commit();
    } catch (error) {
      if (!(error instanceof RetryableFailure)) throw error;
      if (error.status !== undefined) lastStatus = error.status;
      lastMessage = error.message;
      retryAfter = error.retryAfter;
    }
    failures = credited > creditedBefore ? 1 : failures + 1;
    if (failures > retries) {
      throw new KinemaError('DOWNLOAD_FAILED', `Downloading ${file.url} failed after ${failures} attempts without progress${lastStatus !== undefined ? ` (last HTTP status ${lastStatus})` : ''}: ${lastMessage}`, {
        details: { url: file.url, file: file.path, status: lastStatus ?? null, attempts: failures, receivedBytes: credited },
      });
    }
    const delay = Math.min(maxDelay, retryAfter ?? baseDelay * 2 ** (failures - 1));
    await raceAbort(sleep(delay), signal);
  }
}

function isAborted(error: unknown): boolean {
  return (error instanceof KinemaError && error.code === 'ABORTED') || (error instanceof Error && error.name === 'AbortError');
}
