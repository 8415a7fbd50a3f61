/**
 * `loadFiles`: model files from the store, or downloaded, checked and then stored.
 *
 * - Progress: `total` is the sum of manifest bytes, known before the first byte; cached files count as
 *   loaded at once (`fromCache`); `loaded` never decreases — bytes fetched again after a restart are not
 *   counted twice.
 * - Integrity: the body is streamed into a buffer of exactly `bytes`; too many or too few bytes, or a
 *   SHA-256 that differs, is INTEGRITY_MISMATCH. Only verified files reach the store, so a partial or
 *   corrupt file is never cached.
 * - Network: network errors, 5xx, 408 and 429 are retried with exponential backoff (Retry-After is
 *   honoured, capped); after a mid-body failure the next request asks for the rest with `Range` when the
 *   server advertised `Accept-Ranges: bytes` or answered 206; a 200 to a Range request restarts cleanly.
 *   An attempt that got further than ever before resets the retry budget, so a long download over a
 *   flaky link can finish. Other 4xx fail at once with DOWNLOAD_FAILED.
 * - Storage: a QuotaExceededError keeps the file in memory for this session (CACHE_QUOTA_EXCEEDED
 *   warning); any other store failure likewise degrades to memory with a CACHE_UNAVAILABLE warning.
 * - Files are fetched one at a time: model files are few and large, so concurrency buys little
 *   bandwidth and would double peak memory.
 *
 * Weights larger than 2 GB (Wan-class models) — what works, and what is NOT done:
 * - Works today: ship the weights as several external-data files of under 2 GiB each (ONNX lets every
 *   tensor name its own `location`; onnx's `save_model(..., all_tensors_to_one_file=False)` or a
 *   re-export with a size cap does it). A variant may list any number of `external-data` files; each
 *   is streamed, verified, cached and resumed on its own, and progress covers them all.
 * - Not done: one single file above `maxFileBytes` (default 2 GiB, where browsers' ArrayBuffers and
 *   wasm32 memory stop). A file is held in one Uint8Array because `crypto.subtle.digest` is one-shot
 *   and onnxruntime-web takes external data as one buffer (or a URL it fetches itself), so such a file
 *   is refused with FILE_TOO_LARGE before any byte is fetched rather than crashing midway. Supporting
 *   it would need an incremental SHA-256 over the stream, storage as numbered chunk entries written
 *   only once the final hash matches, and handing onnxruntime the data in a form it can take
 *   (a URL served from those chunks); none of that is implemented.
 */
import { KinemaError, abortError } from '../errors';
import type { FileSpec } from '../models/types';
import type { LoadEvent } from '../progress/tracker';
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

export interface LoaderDeps {
  fetch: LoaderFetch;
  /** `crypto.subtle` fits. Defaults to `globalThis.crypto.subtle`, looked up when `loadFiles` is called. */
  subtle?: { digest(algorithm: 'SHA-256', data: Uint8Array<ArrayBuffer>): Promise<ArrayBuffer> };
  store: ModelStore;
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
  /** See the note at the top of this file. Default 2 GiB. */
  maxFileBytes?: number;
}

const GiB = 1024 ** 3;

/** The files by path, plus how many bytes came from where (for load info and a cache panel). */
export type LoadedFiles = Map<string, Uint8Array> & {
  /** Sum of manifest bytes of all files: the progress total. */
  readonly totalBytes: number;
  /** Bytes of files that were downloaded (not counting bytes fetched again after a restart). */
  readonly downloadedBytes: number;
  readonly cachedBytes: number;
};

export async function loadFiles(requested: readonly FileSpec[], deps: LoaderDeps, options: LoadFilesOptions): Promise<LoadedFiles> {
  if (!Array.isArray(requested)) throw new TypeError('loadFiles: files must be an array of FileSpec (see selectedFiles)');
  if (typeof options?.cacheKeyPrefix !== 'string' || !/^[^/]+\/[^/]+\/$/.test(options.cacheKeyPrefix)) {
    // isCached, clearCache and cachedModels read keys back, so the prefix must have their shape.
    throw new TypeError(`loadFiles: options.cacheKeyPrefix must be modelCachePrefix(manifest.id, manifest.version) ("<id>/<version>/"), got ${JSON.stringify(options?.cacheKeyPrefix)}`);
  }
  const subtle = deps.subtle ?? globalThis.crypto?.subtle;
  if (!subtle) throw new TypeError('loadFiles: deps.subtle is required where globalThis.crypto.subtle is missing (insecure context?)');
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
  const maxFileBytes = options.maxFileBytes ?? 2 * GiB;
  if (signal?.aborted) throw abortError(signal, 'loading the model');
  for (const file of files) {
    if (file.bytes > maxFileBytes) {
      throw new KinemaError('FILE_TOO_LARGE', `${file.path} is ${file.bytes} bytes; files above ${maxFileBytes} bytes cannot be loaded into memory yet (chunked loading of large ONNX external data is not implemented)`, {
        details: { file: file.path, bytes: file.bytes, maxFileBytes },
      });
    }
  }

  const total = files.reduce((sum, f) => sum + f.bytes, 0);
  let completed = 0;
  const report = (file: string, loaded: number, fromCache: boolean) => onProgress?.({ type: 'download', file, loaded, total, fromCache });
  const result = new Map<string, Uint8Array>();
  let cachedBytes = 0;

  // Cached files first, so they count at once and the remaining bar is only real downloads.
  // All reads start at once: the Cache API serves them from the browser's own I/O threads, so a warm
  // load waits for the slowest file rather than the sum (they all end up in memory either way).
  const missing: FileSpec[] = [];
  const reads = files.map((file) => Promise.resolve()
    .then(() => deps.store.get(fileCacheKey(options.cacheKeyPrefix, file)))
    .catch((): undefined => undefined)); // an unreadable entry is a miss
  for (const [index, file] of files.entries()) {
    const key = fileCacheKey(options.cacheKeyPrefix, file);
    const cached = await reads[index];
    if (signal?.aborted) throw abortError(signal, 'loading the model');
    // The hash was checked before the entry was written and is part of its key; the length check catches
    // an entry truncated by storage. Re-hashing every hit would cost a second per GB on each page load.
    if (cached && cached.byteLength === file.bytes) {
      result.set(file.path, cached);
      completed += file.bytes;
      cachedBytes += file.bytes;
      report(file.path, completed, true);
    } else {
      if (cached) await deps.store.delete(key).catch(() => false);
      missing.push(file);
    }
  }

  let storeUsable = true;
  for (const file of missing) {
    const bytes = await downloadFile(file, deps.fetch, subtle, deps.sleep, options, (fileLoaded) => report(file.path, completed + fileLoaded, false));
    completed += file.bytes;
    result.set(file.path, bytes);
    if (!storeUsable) continue;
    try {
      await deps.store.put(fileCacheKey(options.cacheKeyPrefix, file), bytes);
    } catch (error) {
      // Stop writing for the rest of this load: the next file would most likely fail the same way.
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
    }
    if (signal?.aborted) throw abortError(signal, 'loading the model');
  }
  const ordered = new Map(files.map((f) => [f.path, result.get(f.path)!] as const)); // in the caller's order
  return Object.assign(ordered, { totalBytes: total, downloadedBytes: total - cachedBytes, cachedBytes });
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

function toHex(buffer: ArrayBuffer): string {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, '0')).join('');
}

class RetryableFailure extends Error {
  constructor(message: string, readonly status?: number, readonly retryAfter?: number) {
    super(message);
  }
}

async function downloadFile(
  file: FileSpec,
  fetch: LoaderFetch,
  subtle: NonNullable<LoaderDeps['subtle']>,
  sleepDep: LoaderDeps['sleep'],
  options: LoadFilesOptions,
  onBytes: (fileLoaded: number) => void,
): Promise<Uint8Array> {
  const { signal } = options;
  const retries = options.retries ?? 4;
  const baseDelay = options.retryDelayMs ?? 500;
  const maxDelay = options.maxRetryDelayMs ?? 30_000;
  const sleep = sleepDep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let buffer: Uint8Array<ArrayBuffer>;
  try {
    buffer = new Uint8Array(file.bytes);
  } catch (error) {
    // The page cannot hold the file at all (a RangeError from the allocator): nothing to retry.
    throw new KinemaError('OUT_OF_MEMORY', `Not enough memory to hold ${file.path} (${file.bytes} bytes) while it downloads; close other tabs or use a smaller variant`, {
      details: { file: file.path, bytes: file.bytes }, cause: error,
    });
  }
  let received = 0; // valid bytes at the start of `buffer`
  let credited = 0; // bytes of this file already reported: progress never goes below it
  let canResume = false;
  let assembled = false; // the buffer holds bytes from more than one response
  let failures = 0;
  let lastStatus: number | undefined;
  let lastMessage = '';

  for (;;) {
    if (signal?.aborted) throw abortError(signal, 'loading the model');
    const creditedBefore = credited;
    let retryAfter: number | undefined;
    try {
      const from = canResume && received > 0 && received < file.bytes ? received : 0;
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
          received = 0;
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
          received = 0;
          await response.body?.cancel().catch(() => undefined);
          throw new RetryableFailure(`HTTP 206 with Content-Range ${response.headers.get('content-range') ?? '(none)'} for a request from byte ${from}`, status);
        }
        offset = from;
        if (offset > 0) assembled = true;
      } else {
        received = 0; // a full answer, even to a Range request: restart cleanly
        assembled = false;
      }
      canResume = status === 206 || /\bbytes\b/i.test(response.headers.get('accept-ranges') ?? '');
      const encoded = response.headers.get('content-encoding');
      const declaredLength = Number(response.headers.get('content-length') ?? Number.NaN);
      const expectedEnd = encoded && encoded !== 'identity'
        ? Number.NaN
        : status === 206 && range && Number.isFinite(range.total) ? range.total : Number.isFinite(declaredLength) ? offset + declaredLength : Number.NaN;

      let position = offset;
      received = offset;
      const accept = (chunk: Uint8Array) => {
        if (position + chunk.byteLength > file.bytes) {
          throw new KinemaError('INTEGRITY_MISMATCH', `${file.url} sent more than the ${file.bytes} bytes the manifest declares for ${file.path}`, {
            details: { file: file.path, url: file.url, expectedBytes: file.bytes, receivedBytes: position + chunk.byteLength },
          });
        }
        buffer.set(chunk, position);
        position += chunk.byteLength;
        received = position;
        if (position > credited) {
          credited = position;
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
              accept(value);
            }
          } catch (error) {
            await reader.cancel().catch(() => undefined);
            throw error;
          }
        } else {
          accept(new Uint8Array(await raceAbort(response.arrayBuffer(), signal)));
        }
      } catch (error) {
        if (error instanceof KinemaError) throw error;
        if (signal?.aborted || isAborted(error)) throw abortError(signal, 'loading the model');
        lastStatus = status;
        throw new RetryableFailure(`connection lost after ${position} of ${file.bytes} bytes: ${error instanceof Error ? error.message : String(error)}`, status);
      }

      if (position < file.bytes) {
        lastStatus = status;
        // The server meant to send more (its length says so): a cut connection, worth another try.
        if (Number.isFinite(expectedEnd) && expectedEnd >= file.bytes) {
          throw new RetryableFailure(`connection closed after ${position} of ${file.bytes} bytes`, status);
        }
        throw new KinemaError('INTEGRITY_MISMATCH', `${file.url} is ${position} bytes but the manifest declares ${file.bytes} for ${file.path}`, {
          details: { file: file.path, url: file.url, expectedBytes: file.bytes, receivedBytes: position },
        });
      }
      const actual = toHex(await raceAbort(subtle.digest('SHA-256', buffer), signal));
      if (actual !== file.sha256) {
        if (assembled) {
          // Pieces from different responses may come from different versions of the file: one clean retry.
          assembled = false;
          canResume = false;
          received = 0;
          throw new RetryableFailure(`SHA-256 of a resumed download differs (${actual}); downloading whole`, status);
        }
        throw new KinemaError('INTEGRITY_MISMATCH', `SHA-256 of ${file.path} is ${actual} but the manifest declares ${file.sha256} (${file.url})`, {
          details: { file: file.path, url: file.url, expected: file.sha256, actual },
        });
      }
      if (file.bytes === 0) onBytes(0); // an empty file still shows up once in the progress
      return buffer;
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
