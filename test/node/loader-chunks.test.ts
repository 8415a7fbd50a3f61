/**
 * The loader at real sizes, on small bytes: large files as chunk entries (small `chunkBytes` stands in
 * for 128 MiB), resumed across loads, the storage pre-check, and files read back without the loader
 * holding them.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KinemaError } from '../../src/errors';
import type { FileSpec } from '../../src/models';
import {
  CacheApiStore, MemoryStore, cachedModels, chunkPrefix, fileCacheKey, loadFiles, type CacheLike, type CacheStorageLike,
  type LoaderFetch, type LoaderFetchInit, type ModelStore, type StorageManagerLike,
} from '../../src/loader';
import { PERSIST_TIMEOUT_MS } from '../../src/loader/load-files';
import type { LoadEvent } from '../../src/progress';

const ORIGIN = 'https://cdn.example/m/';
const PREFIX = 'wan/1.0.0/';
const CHUNK = 1024;

function contentFor(name: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 11);
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const specOf = (path: string, bytes: Uint8Array): FileSpec => ({ path, url: ORIGIN + path, bytes: bytes.byteLength, sha256: sha256(bytes) });

/** An HTTP server in memory that honours `Range`, counts the body bytes it sends, and can die mid-body. */
class Server {
  readonly requests: { path: string; range: string | undefined }[] = [];
  bytesSent = 0;
  /** Body bytes after which the current response's stream errors (once per request while set). */
  dieAfter: number | undefined;
  ranges = true;

  constructor(readonly files: Record<string, Uint8Array>) {}

  readonly fetch: LoaderFetch = async (url: string, init?: LoaderFetchInit) => {
    const path = url.slice(ORIGIN.length);
    const range = init?.headers?.Range;
    this.requests.push({ path, range });
    const file = this.files[path];
    if (!file) return { ok: false, status: 404, headers: { get: () => null }, body: null, arrayBuffer: async () => new ArrayBuffer(0) };
    const match = range && this.ranges ? /^bytes=(\d+)-$/.exec(range) : null;
    const start = match ? Number(match[1]) : 0;
    const headers: Record<string, string> = { 'content-length': String(file.byteLength - start) };
    if (this.ranges) headers['accept-ranges'] = 'bytes';
    if (match) headers['content-range'] = `bytes ${start}-${file.byteLength - 1}/${file.byteLength}`;
    const body = file.subarray(start);
    const dieAfter = this.dieAfter;
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull: (controller) => {
        if (dieAfter !== undefined && sent >= dieAfter) return controller.error(new TypeError('network error: connection reset'));
        if (sent >= body.byteLength) return controller.close();
        const end = Math.min(body.byteLength, sent + 300, dieAfter ?? Number.POSITIVE_INFINITY);
        controller.enqueue(body.slice(sent, end));
        this.bytesSent += end - sent;
        sent = end;
      },
    });
    return { ok: true, status: match ? 206 : 200, headers: { get: (name: string) => headers[name.toLowerCase()] ?? null }, body: stream, arrayBuffer: async () => body.slice().buffer };
  };
}

function setup(sizes: Record<string, number>, store: ModelStore = new MemoryStore()) {
  const bytes = Object.fromEntries(Object.entries(sizes).map(([path, size]) => [path, contentFor(path, size)]));
  const files = Object.entries(bytes).map(([path, b]) => specOf(path, b));
  const server = new Server(bytes);
  const events: LoadEvent[] = [];
  const run = (extra: { storage?: StorageManagerLike; signal?: AbortSignal; retries?: number } = {}) => loadFiles(files, {
    fetch: server.fetch, store, sleep: async () => undefined, ...(extra.storage ? { storage: extra.storage } : {}),
  }, { cacheKeyPrefix: PREFIX, chunkBytes: CHUNK, onProgress: (e) => events.push(e), retries: extra.retries ?? 0, ...(extra.signal ? { signal: extra.signal } : {}) });
  return { bytes, files, server, events, store, run };
}

async function rejectionOf(promise: Promise<unknown>): Promise<KinemaError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KinemaError);
  return error as KinemaError;
}

function downloads(events: LoadEvent[]) {
  return events.filter((e): e is Extract<LoadEvent, { type: 'download' }> => e.type === 'download');
}

function expectMonotone(events: LoadEvent[], total: number) {
  const d = downloads(events);
  for (const e of d) expect(e.total).toBe(total);
  for (let i = 1; i < d.length; i++) expect(d[i]!.loaded).toBeGreaterThanOrEqual(d[i - 1]!.loaded);
  expect(d.at(-1)!.loaded).toBe(total);
}

afterEach(() => vi.restoreAllMocks());

describe('loadFiles: large files as chunk entries', () => {
  it('a file above chunkBytes is stored as chunks plus a marker; it reads back whole and as a Blob; a warm load reads no body', async () => {
    const t = setup({ 'big.onnx.data': 5000, 'small.onnx': 700 });
    const digest = vi.spyOn(globalThis.crypto.subtle, 'digest');
    const cold = await t.run();
    expect(digest).not.toHaveBeenCalled(); // hashed while streaming, not by a one-shot digest afterwards
    const [big, small] = t.files as [FileSpec, FileSpec];
    const chunks = chunkPrefix(PREFIX, big, CHUNK);
    expect((await t.store.keys()).sort()).toEqual([
      ...[0, 1, 2, 3, 4].map((i) => chunks + i), fileCacheKey(PREFIX, big), fileCacheKey(PREFIX, small),
    ].sort());
    for (let i = 0; i < 4; i++) expect((await t.store.get(chunks + i))!.byteLength).toBe(CHUNK);
    expect((await t.store.get(chunks + 4))!.byteLength).toBe(5000 - 4 * CHUNK);
    expect(await cachedModels(t.store)).toEqual([{ id: 'wan', version: '1.0.0', bytes: 5700, files: 2 }]);
    expect(sha256(await cold.get(big.path)!.read())).toBe(big.sha256);
    expect(cold.get(big.path)!.held).toBe('store');
    const blob = await cold.get(big.path)!.blob();
    expect(blob.size).toBe(5000);
    expect(sha256(new Uint8Array(await blob.arrayBuffer()))).toBe(big.sha256);
    expectMonotone(t.events, 5700);

    class CountingStore extends MemoryStore {
      gets = 0;
      override async get(key: string) { this.gets++; return super.get(key); }
    }
    const counting = new CountingStore();
    for (const key of await t.store.keys()) await counting.put(key, (await t.store.get(key))!);
    const warm = setup({ 'big.onnx.data': 5000, 'small.onnx': 700 }, counting);
    const again = await warm.run();
    expect(warm.server.requests).toEqual([]);
    expect(counting.gets).toBe(1); // the marker only; no chunk body
    expect(again.cachedBytes).toBe(5700);
    expect(sha256(new Uint8Array(await (await again.get(big.path)!.blob()).arrayBuffer()))).toBe(big.sha256);
  });

  it('a download that dies mid-file is resumed by the next load from the first missing chunk (only the rest is fetched)', async () => {
    const t = setup({ 'big.onnx.data': 5000 });
    const [big] = t.files as [FileSpec];
    t.server.dieAfter = 2500;
    const error = await rejectionOf(t.run());
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(t.server.bytesSent).toBe(2500);
    // Two whole chunks reached storage; no marker: the file does not count as cached.
    expect((await t.store.keys()).sort()).toEqual([chunkPrefix(PREFIX, big, CHUNK) + 0, chunkPrefix(PREFIX, big, CHUNK) + 1]);
    expect(await cachedModels(t.store)).toEqual([]);

    t.server.dieAfter = undefined;
    t.server.bytesSent = 0;
    t.server.requests.length = 0;
    t.events.length = 0;
    const result = await t.run();
    expect(t.server.requests).toEqual([{ path: 'big.onnx.data', range: 'bytes=2048-' }]);
    expect(t.server.bytesSent).toBe(5000 - 2048);
    expect(sha256(await result.get(big.path)!.read())).toBe(big.sha256);
    expect({ cached: result.cachedBytes, downloaded: result.downloadedBytes }).toEqual({ cached: 2048, downloaded: 2952 });
    expect(downloads(t.events)[0]).toEqual({ type: 'download', file: 'big.onnx.data', loaded: 2048, total: 5000, fromCache: true });
    expectMonotone(t.events, 5000);
    expect(await cachedModels(t.store)).toEqual([{ id: 'wan', version: '1.0.0', bytes: 5000, files: 1 }]);
  });

  it('an aborted download keeps its stored chunks for the next load', async () => {
    const t = setup({ 'big.onnx.data': 4000 });
    const controller = new AbortController();
    const original = t.server.fetch;
    let sent = 0;
    const aborting: LoaderFetch = async (url, init) => {
      const response = await original(url, init);
      const reader = response.body!.getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(c) {
          const { done, value } = await reader.read();
          if (done) return c.close();
          sent += value.byteLength;
          c.enqueue(value);
          if (sent >= 3000) controller.abort();
        },
      });
      return { ...response, body };
    };
    const error = await rejectionOf(loadFiles(t.files, { fetch: aborting, store: t.store }, { cacheKeyPrefix: PREFIX, chunkBytes: CHUNK, signal: controller.signal }));
    expect(error.code).toBe('ABORTED');
    expect(await t.store.keys()).toHaveLength(2);
    t.server.bytesSent = 0;
    await t.run();
    expect(t.server.bytesSent).toBe(4000 - 2048);
  });

  it('a server that ignores Range on resume: the stored chunks are dropped from the hash and the file is fetched whole', async () => {
    const t = setup({ 'big.onnx.data': 3000 });
    t.server.dieAfter = 1500;
    await rejectionOf(t.run());
    t.server.dieAfter = undefined;
    t.server.ranges = false;
    t.server.bytesSent = 0;
    t.events.length = 0;
    const result = await t.run();
    expect(t.server.bytesSent).toBe(3000);
    expect(sha256(await result.get('big.onnx.data')!.read())).toBe(t.files[0]!.sha256);
    expectMonotone(t.events, 3000);
  });

  it('stored chunks of other bytes (a changed file on the server) fail the final hash once, then the whole file is fetched', async () => {
    const t = setup({ 'big.onnx.data': 3000 });
    const [big] = t.files as [FileSpec];
    await t.store.put(chunkPrefix(PREFIX, big, CHUNK) + 0, new Uint8Array(CHUNK).fill(7));
    const result = await t.run({ retries: 1 });
    expect(t.server.requests.map((r) => r.range)).toEqual(['bytes=1024-', undefined]);
    expect(sha256(await result.get(big.path)!.read())).toBe(big.sha256);
    expect(sha256((await t.store.get(chunkPrefix(PREFIX, big, CHUNK) + 0))!)).toBe(sha256(t.bytes['big.onnx.data']!.subarray(0, CHUNK)));
  });

  it('a wrong hash on a fresh download is INTEGRITY_MISMATCH and leaves no chunk behind', async () => {
    const t = setup({ 'big.onnx.data': 3000 });
    const wrong = { ...t.files[0]!, sha256: 'e'.repeat(64) };
    const error = await rejectionOf(loadFiles([wrong], { fetch: t.server.fetch, store: t.store }, { cacheKeyPrefix: PREFIX, chunkBytes: CHUNK }));
    expect(error.code).toBe('INTEGRITY_MISMATCH');
    expect(await t.store.keys()).toEqual([]);
  });

  it('a chunk missing under a marker: the file is not cached; it downloads again from that chunk', async () => {
    const t = setup({ 'big.onnx.data': 3000 });
    await t.run();
    const [big] = t.files as [FileSpec];
    await t.store.delete(chunkPrefix(PREFIX, big, CHUNK) + 1);
    t.server.requests.length = 0;
    const result = await t.run();
    expect(t.server.requests.map((r) => r.range)).toEqual(['bytes=1024-']);
    expect(sha256(await result.get(big.path)!.read())).toBe(big.sha256);
  });

  it('a store that refuses chunks keeps the file in memory (held: memory) with one warning', async () => {
    class Full extends MemoryStore {
      override async put(key: string, bytes: Uint8Array) {
        if (key.includes('/chunks/') && key.endsWith('/2')) throw new DOMException('full', 'QuotaExceededError');
        return super.put(key, bytes);
      }
    }
    const t = setup({ 'big.onnx.data': 5000 }, new Full());
    const result = await t.run();
    const file = result.get('big.onnx.data')!;
    expect(file.held).toBe('memory');
    expect(sha256(await file.read())).toBe(t.files[0]!.sha256);
    expect(sha256(new Uint8Array(await (await file.blob()).arrayBuffer()))).toBe(t.files[0]!.sha256);
    expect(t.events.filter((e) => e.type === 'warning').map((e) => (e as { code: string }).code)).toEqual(['CACHE_QUOTA_EXCEEDED']);
    expect(await cachedModels(t.store)).toEqual([]); // no marker: not cached
  });
});

describe('loadFiles: storage pre-check', () => {
  function storage(estimates: { quota: number; usage: number }[], grant: boolean) {
    let call = 0;
    const calls = { estimate: 0, persist: 0 };
    const manager: StorageManagerLike = {
      estimate: async () => { calls.estimate++; return estimates[Math.min(call++, estimates.length - 1)]!; },
      persist: async () => { calls.persist++; return grant; },
    };
    return { manager, calls };
  }

  it('short of space: asks persist() once, then refuses with STORAGE_QUOTA naming needed and available bytes, before any fetch', async () => {
    const t = setup({ 'big.onnx.data': 5000, 'small.onnx': 700 });
    const { manager, calls } = storage([{ quota: 10_000, usage: 6000 }], false);
    const error = await rejectionOf(t.run({ storage: manager }));
    expect(error.code).toBe('STORAGE_QUOTA');
    expect(error.details).toMatchObject({ neededBytes: 5700, availableBytes: 4000 });
    expect(error.message).toMatch(/5700 bytes/);
    expect(error.message).toMatch(/4000 bytes/);
    expect(error.message).toMatch(/cache: 'memory'/);
    expect(calls).toEqual({ estimate: 1, persist: 1 });
    expect(t.server.requests).toEqual([]);
  });

  it('persistence granted with a larger quota: the load goes on', async () => {
    const t = setup({ 'big.onnx.data': 5000 });
    const { manager, calls } = storage([{ quota: 4000, usage: 0 }, { quota: 100_000, usage: 0 }], true);
    await t.run({ storage: manager });
    expect(calls).toEqual({ estimate: 2, persist: 1 });
    expect(t.server.requests).toHaveLength(1);
  });

  it('only bytes still to fetch count: cached files and stored chunks are left out', async () => {
    const t = setup({ 'big.onnx.data': 5000, 'small.onnx': 700 });
    await t.run({ storage: storage([{ quota: 1e9, usage: 0 }], false).manager });
    const [big] = t.files as [FileSpec];
    await t.store.delete(fileCacheKey(PREFIX, big));
    await t.store.delete(chunkPrefix(PREFIX, big, CHUNK) + 4);
    await t.store.delete(chunkPrefix(PREFIX, big, CHUNK) + 3);
    // 5000 - 3 chunks = 1928 bytes to fetch; 1928 available is enough, 1927 is not.
    const error = await rejectionOf(t.run({ storage: storage([{ quota: 1927, usage: 0 }], false).manager }));
    expect(error.details.neededBytes).toBe(1928);
    await t.run({ storage: storage([{ quota: 1928, usage: 0 }], false).manager });
  });

  it('no estimate (it throws, or no quota) and fully cached models skip the check', async () => {
    const t = setup({ 'small.onnx': 700 });
    await t.run({ storage: { estimate: async () => { throw new Error('no'); } } });
    await t.store.delete((await t.store.keys())[0]!);
    await t.run({ storage: { estimate: async () => ({}) } });
    const { manager, calls } = storage([{ quota: 0, usage: 0 }], false);
    await t.run({ storage: manager });
    expect(calls.estimate).toBe(0);
  });
});

describe('loadFiles: chunked files in the Cache API store', () => {
  class FakeCacheStorage implements CacheStorageLike {
    readonly entries = new Map<string, Response>();
    async open(): Promise<CacheLike> {
      const map = this.entries;
      return {
        match: async (url) => map.get(url)?.clone(),
        put: async (url, response) => { map.set(url, response); },
        delete: async (url) => map.delete(url),
        keys: async () => [...map.keys()].map((url) => ({ url })),
      };
    }
  }

  it('round-trips through Responses: size from Content-Length, the file as a Blob of chunk Blobs', async () => {
    const storage = new FakeCacheStorage();
    const t = setup({ 'big.onnx.data': 3500 }, new CacheApiStore(storage));
    await t.run();
    const warm = setup({ 'big.onnx.data': 3500 }, new CacheApiStore(storage));
    const result = await warm.run();
    expect(warm.server.requests).toEqual([]);
    const blob = await result.get('big.onnx.data')!.blob();
    expect(sha256(new Uint8Array(await blob.arrayBuffer()))).toBe(t.files[0]!.sha256);
    expect(sha256(await result.get('big.onnx.data')!.read())).toBe(t.files[0]!.sha256);
  });
});

describe('loadFiles: storage pre-check never hangs', () => {
  it('a persist() that never answers counts as refused after PERSIST_TIMEOUT_MS', async () => {
    vi.useFakeTimers();
    try {
      const t = setup({ 'small.onnx': 700 });
      const pending = rejectionOf(t.run({ storage: { estimate: async () => ({ quota: 100, usage: 0 }), persist: () => new Promise<boolean>(() => undefined) } }));
      await vi.advanceTimersByTimeAsync(PERSIST_TIMEOUT_MS);
      const error = await pending;
      expect(error.code).toBe('STORAGE_QUOTA');
      expect(t.server.requests).toEqual([]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an abort while persist() is pending rejects ABORTED', async () => {
    const t = setup({ 'small.onnx': 700 });
    const controller = new AbortController();
    const pending = rejectionOf(t.run({ signal: controller.signal, storage: { estimate: async () => ({ quota: 100, usage: 0 }), persist: () => { setTimeout(() => controller.abort(), 1); return new Promise<boolean>(() => undefined); } } }));
    expect((await pending).code).toBe('ABORTED');
  });
});
