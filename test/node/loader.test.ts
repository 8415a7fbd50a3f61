import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import type { FileSpec } from '../../src/models';
import {
  MemoryStore, loadFiles, type LoaderDeps, type LoaderFetch, type LoaderFetchInit, type LoaderResponse, type LoadFilesOptions, type ModelStore,
} from '../../src/loader';
import type { LoadEvent } from '../../src/progress';

// ---- fakes: an HTTP server in memory with failure knobs, and stores that fail like browsers' ----
const ORIGIN = 'https://cdn.example/m/';

/** Deterministic bytes for a name, so a test can regenerate what the server holds. */
function contentFor(name: string, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = [...name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7);
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function spec(path: string, size: number, bytes = contentFor(path, size)): FileSpec {
  return { path, url: ORIGIN + path, bytes: bytes.byteLength, sha256: sha256(bytes) };
}

interface Request {
  url: string;
  range: string | undefined;
}

interface ServerKnobs {
  /** Per request number (0-based, per URL): answer with this status instead of the body. */
  statusFor?: (url: string, attempt: number) => number | undefined;
  /** Per request: after sending this many body bytes, the connection breaks (the stream errors). */
  dropAfter?: (url: string, attempt: number) => number | undefined;
  /** Per request: after this many body bytes, the body stalls forever (for abort tests). */
  stallAfter?: (url: string, attempt: number) => number | undefined;
  /** 'obey': Accept-Ranges + 206; 'ignore': advertises Accept-Ranges but always answers 200 whole; 'none': neither. */
  ranges?: 'obey' | 'ignore' | 'none';
  /** Throw (as fetch does when offline) for these requests. */
  networkErrorFor?: (url: string, attempt: number) => boolean;
  headersFor?: (url: string, attempt: number) => Record<string, string> | undefined;
  chunkSize?: number;
  /** Called after each body chunk is handed out, with the bytes sent so far in this response. */
  onChunk?: (url: string, sentInResponse: number) => void;
}

class FakeServer {
  readonly requests: Request[] = [];
  private readonly attempts = new Map<string, number>();

  constructor(private readonly files: Map<string, Uint8Array>, private readonly knobs: ServerKnobs = {}) {}

  static of(entries: Record<string, Uint8Array>, knobs?: ServerKnobs): FakeServer {
    return new FakeServer(new Map(Object.entries(entries).map(([path, bytes]) => [ORIGIN + path, bytes])), knobs);
  }

  readonly fetch: LoaderFetch = async (url: string, init?: LoaderFetchInit): Promise<LoaderResponse> => {
    const attempt = this.attempts.get(url) ?? 0;
    this.attempts.set(url, attempt + 1);
    const range = init?.headers?.Range;
    this.requests.push({ url, range });
    if (init?.signal?.aborted) throw Object.assign(new Error('aborted'), { name: 'AbortError' });
    if (this.knobs.networkErrorFor?.(url, attempt)) throw new TypeError('Failed to fetch');
    const k = this.knobs;
    const extra = k.headersFor?.(url, attempt) ?? {};
    const forced = k.statusFor?.(url, attempt);
    const file = this.files.get(url);
    if (forced !== undefined || !file) {
      const status = forced ?? 404;
      return response(status, new Uint8Array(0), extra, {});
    }
    const mode = k.ranges ?? 'obey';
    const headers: Record<string, string> = { ...extra };
    if (mode !== 'none') headers['accept-ranges'] = 'bytes';
    let start = 0;
    let status = 200;
    const match = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (match && mode === 'obey') {
      start = Number(match[1]);
      if (start >= file.byteLength) return response(416, new Uint8Array(0), { 'content-range': `bytes */${file.byteLength}` }, {});
      status = 206;
      headers['content-range'] = `bytes ${start}-${file.byteLength - 1}/${file.byteLength}`;
    }
    const body = file.subarray(start);
    headers['content-length'] = String(body.byteLength);
    return response(status, body, headers, {
      chunkSize: k.chunkSize ?? 256,
      dropAfter: k.dropAfter?.(url, attempt),
      stallAfter: k.stallAfter?.(url, attempt),
      onChunk: (sent) => k.onChunk?.(url, sent),
    });
  };
}

function response(
  status: number,
  body: Uint8Array,
  headers: Record<string, string>,
  stream: { chunkSize?: number; dropAfter?: number | undefined; stallAfter?: number | undefined; onChunk?: (sent: number) => void },
): LoaderResponse {
  let sent = 0;
  const chunkSize = stream.chunkSize ?? 256;
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const readable = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (stream.dropAfter !== undefined && sent >= stream.dropAfter) {
        controller.error(new TypeError('network error: connection reset'));
        return;
      }
      if (stream.stallAfter !== undefined && sent >= stream.stallAfter) return new Promise<void>(() => undefined);
      if (sent >= body.byteLength) {
        controller.close();
        return;
      }
      let end = Math.min(body.byteLength, sent + chunkSize);
      if (stream.dropAfter !== undefined) end = Math.min(end, Math.max(stream.dropAfter, sent + 1));
      if (stream.stallAfter !== undefined) end = Math.min(end, Math.max(stream.stallAfter, sent + 1));
      controller.enqueue(body.slice(sent, end));
      sent = end;
      stream.onChunk?.(sent);
    },
  });
  return {
    ok: status >= 200 && status < 300,
    status,
    statusText: '',
    headers: { get: (name: string) => lower[name.toLowerCase()] ?? null },
    body: readable,
    arrayBuffer: async () => body.slice().buffer,
  };
}

/** A MemoryStore whose put fails like a full browser cache. */
class QuotaStore extends MemoryStore {
  override async put(): Promise<void> {
    throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
  }
}

/** Records every put, to prove what reached storage. */
class RecordingStore extends MemoryStore {
  readonly puts: string[] = [];
  override async put(key: string, bytes: Uint8Array): Promise<void> {
    this.puts.push(key);
    await super.put(key, bytes);
  }
}

function recordingSleep(): ((ms: number) => Promise<void>) & { delays: number[] } {
  const delays: number[] = [];
  return Object.assign(async (ms: number) => { delays.push(ms); }, { delays });
}

async function keysOf(store: ModelStore): Promise<string[]> {
  return (await store.keys()).sort();
}

// ---- helpers ----

const PREFIX = 'kinema-micro/1.0.0/';

function setup(entries: Record<string, number>, knobs?: ServerKnobs, store: ModelStore = new RecordingStore()) {
  const bytes = Object.fromEntries(Object.entries(entries).map(([path, size]) => [path, contentFor(path, size)]));
  const files = Object.keys(entries).map((path) => spec(path, 0, bytes[path]));
  const server = FakeServer.of(bytes, knobs);
  const sleep = recordingSleep();
  const events: LoadEvent[] = [];
  const deps: LoaderDeps = { fetch: server.fetch, store, sleep };
  const run = (options: Partial<LoadFilesOptions> = {}) =>
    loadFiles(files, deps, { cacheKeyPrefix: PREFIX, onProgress: (e) => events.push(e), ...options });
  return { bytes, files, server, sleep, events, store, deps, run };
}

async function rejectionOf(promise: Promise<unknown>): Promise<KinemaError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KinemaError);
  return error as KinemaError;
}

/** The invariants every load must keep, whatever happened on the wire. */
function expectProgressInvariants(events: LoadEvent[], expectedTotal: number, complete = true) {
  const downloads = events.filter((e) => e.type === 'download');
  expect(downloads.length).toBeGreaterThan(0);
  for (const e of downloads) expect(e.total).toBe(expectedTotal); // known before the first byte, never changes
  for (let i = 1; i < downloads.length; i++) expect(downloads[i]!.loaded).toBeGreaterThanOrEqual(downloads[i - 1]!.loaded);
  for (const e of downloads) expect(e.loaded).toBeLessThanOrEqual(expectedTotal);
  if (complete) expect(downloads.at(-1)!.loaded).toBe(expectedTotal);
}

describe('loadFiles: downloads', () => {
  it('streams, verifies and caches every file; progress total fixed up front, loaded monotonic, ends at total', async () => {
    const t = setup({ 'a.onnx': 3000, 'b.onnx.data': 5000, 'empty.txt': 0 });
    const result = await t.run();
    expect([...result.keys()]).toEqual(['a.onnx', 'b.onnx.data', 'empty.txt']);
    for (const f of t.files) expect(sha256(await result.get(f.path)!.read())).toBe(f.sha256);
    expectProgressInvariants(t.events, 8000);
    // Streamed: many events per file, not one per file.
    expect(t.events.filter((e) => e.type === 'download' && e.file === 'b.onnx.data').length).toBeGreaterThan(5);
    expect(await keysOf(t.store)).toEqual(t.files.map((f) => `${PREFIX}${f.sha256}.${f.bytes}/${f.path}`).sort());
    expect(t.events.every((e) => e.type !== 'download' || !e.fromCache)).toBe(true);
  });

  it('cached files count at once (fromCache) and are not fetched again', async () => {
    const t = setup({ 'a.onnx': 3000, 'b.onnx': 1000 });
    await t.run();
    const second = setup({ 'c.onnx': 2000, 'a.onnx': 3000, 'b.onnx': 1000 }, {}, t.store);
    expect([...(await second.run()).keys()]).toEqual(['c.onnx', 'a.onnx', 'b.onnx']); // the caller's order
    expect(second.server.requests.map((r) => r.url)).toEqual([`${ORIGIN}c.onnx`]);
    const downloads = second.events.filter((e) => e.type === 'download');
    expect(downloads.slice(0, 2)).toEqual([
      { type: 'download', file: 'a.onnx', loaded: 3000, total: 6000, fromCache: true },
      { type: 'download', file: 'b.onnx', loaded: 4000, total: 6000, fromCache: true },
    ]);
    expectProgressInvariants(second.events, 6000);
  });

  it('a warm load reads no file body: it checks every entry\'s size at once, and reports them in the caller\'s order', async () => {
    class SlowStore extends MemoryStore {
      inFlight = 0;
      maxInFlight = 0;
      gets = 0;
      override async size(key: string): Promise<number | undefined> {
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        this.inFlight--;
        return super.size(key);
      }
      override async get(key: string): Promise<Uint8Array | undefined> {
        this.gets++;
        return super.get(key);
      }
    }
    const store = new SlowStore();
    const t = setup({ 'a.onnx': 100, 'b.onnx': 200, 'c.onnx': 300 }, {}, store);
    await t.run();
    store.maxInFlight = 0;
    store.gets = 0;
    t.events.length = 0;
    const warm = await t.run();
    expect(store.maxInFlight).toBe(3);
    expect(store.gets).toBe(0); // bodies stay in storage until the engine reads one graph's files
    expect(t.events.map((e) => e.type === 'download' && [e.file, e.loaded, e.fromCache])).toEqual([['a.onnx', 100, true], ['b.onnx', 300, true], ['c.onnx', 600, true]]);
    expect(t.server.requests).toHaveLength(3); // only the first load fetched
    expect(sha256(await warm.get('c.onnx')!.read())).toBe(t.files[2]!.sha256);
    expect(store.gets).toBe(1);
    expect(warm.get('c.onnx')!.held).toBe('store');
  });

  it('a cached entry of the wrong length is dropped and downloaded again', async () => {
    const t = setup({ 'a.onnx': 3000 });
    const f = t.files[0]!;
    await t.store.put(`${PREFIX}${f.sha256}.${f.bytes}/${f.path}`, new Uint8Array(10));
    const result = await t.run();
    expect(sha256(await result.get('a.onnx')!.read())).toBe(f.sha256);
    expect(t.server.requests).toHaveLength(1);
    expect((await t.store.get(`${PREFIX}${f.sha256}.${f.bytes}/${f.path}`))?.byteLength).toBe(3000);
  });
});

describe('loadFiles: integrity', () => {
  it('a wrong hash → INTEGRITY_MISMATCH and nothing of that file cached', async () => {
    const t = setup({ 'a.onnx': 1000, 'b.onnx': 2000 });
    const wrong: FileSpec = { ...t.files[1]!, sha256: 'f'.repeat(64) };
    const error = await rejectionOf(loadFiles([t.files[0]!, wrong], t.deps, { cacheKeyPrefix: PREFIX }));
    expect(error.code).toBe('INTEGRITY_MISMATCH');
    expect(error.message).toContain('b.onnx');
    expect(error.message).toContain(t.files[1]!.sha256); // the actual hash, to compare by hand
    expect((t.store as RecordingStore).puts).toEqual([`${PREFIX}${t.files[0]!.sha256}.1000/a.onnx`]);
    expect(t.sleep.delays).toEqual([]); // not retried: the server would send the same bytes again
  });

  it('the server sends more bytes than declared → INTEGRITY_MISMATCH, not cached', async () => {
    const t = setup({ 'a.onnx': 1000 });
    const short: FileSpec = { ...t.files[0]!, bytes: 900 };
    const error = await rejectionOf(loadFiles([short], t.deps, { cacheKeyPrefix: PREFIX }));
    expect(error.code).toBe('INTEGRITY_MISMATCH');
    expect(error.message).toMatch(/more than the 900 bytes/);
    expect(await keysOf(t.store)).toEqual([]);
  });

  it('the server sends fewer bytes than declared (and says so) → INTEGRITY_MISMATCH, not cached', async () => {
    const t = setup({ 'a.onnx': 1000 });
    const long: FileSpec = { ...t.files[0]!, bytes: 1200 };
    const error = await rejectionOf(loadFiles([long], t.deps, { cacheKeyPrefix: PREFIX }));
    expect(error.code).toBe('INTEGRITY_MISMATCH');
    expect(error.message).toMatch(/is 1000 bytes but the manifest declares 1200/);
    expect(await keysOf(t.store)).toEqual([]);
  });
});

describe('loadFiles: retries', () => {
  it('5xx twice, then success: backoff doubles, result right', async () => {
    const t = setup({ 'a.onnx': 1000 }, { statusFor: (_u, n) => (n < 2 ? 503 : undefined) });
    const result = await t.run();
    expect(sha256(await result.get('a.onnx')!.read())).toBe(t.files[0]!.sha256);
    expect(t.server.requests).toHaveLength(3);
    expect(t.sleep.delays).toEqual([500, 1000]);
    expectProgressInvariants(t.events, 1000);
  });

  it('network errors are retried; 429 honours Retry-After', async () => {
    const t = setup({ 'a.onnx': 1000 }, {
      networkErrorFor: (_u, n) => n === 0,
      statusFor: (_u, n) => (n === 1 ? 429 : undefined),
      headersFor: (_u, n) => (n === 1 ? { 'retry-after': '3' } : undefined),
    });
    await t.run();
    expect(t.sleep.delays).toEqual([500, 3000]);
  });

  it('retries exhausted → DOWNLOAD_FAILED with the URL and the last status', async () => {
    const t = setup({ 'a.onnx': 1000 }, { statusFor: () => 502 });
    const error = await rejectionOf(t.run({ retries: 3 }));
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.message).toContain(`${ORIGIN}a.onnx`);
    expect(error.message).toContain('502');
    expect(error.details).toMatchObject({ url: `${ORIGIN}a.onnx`, status: 502, attempts: 4 });
    expect(t.server.requests).toHaveLength(4);
    expect(t.sleep.delays).toEqual([500, 1000, 2000]);
    expect(await keysOf(t.store)).toEqual([]);
  });

  it('4xx (other than 408/429) fails at once', async () => {
    const t = setup({ 'a.onnx': 1000 }, { statusFor: () => 403 });
    const error = await rejectionOf(t.run());
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.details.status).toBe(403);
    expect(t.server.requests).toHaveLength(1);
    expect(t.sleep.delays).toEqual([]);
  });

  it('408 is retried', async () => {
    const t = setup({ 'a.onnx': 100 }, { statusFor: (_u, n) => (n === 0 ? 408 : undefined) });
    await t.run();
    expect(t.server.requests).toHaveLength(2);
  });

  it('a connection cut without Range support restarts from 0 and never counts bytes twice', async () => {
    const t = setup({ 'a.onnx': 4000 }, { ranges: 'none', dropAfter: (_u, n) => (n < 2 ? 1500 + n * 1000 : undefined) });
    const result = await t.run();
    expect(sha256(await result.get('a.onnx')!.read())).toBe(t.files[0]!.sha256);
    expect(t.server.requests.map((r) => r.range)).toEqual([undefined, undefined, undefined]);
    expectProgressInvariants(t.events, 4000);
    // The bar stood still while the restarts re-fetched what it had already shown.
    const loaded = t.events.filter((e) => e.type === 'download').map((e) => (e as { loaded: number }).loaded);
    expect(loaded).toContain(1500);
    expect(loaded).toContain(2500);
  });

  it('a connection that always breaks at the same byte exhausts the retries', async () => {
    const t = setup({ 'a.onnx': 4000 }, { ranges: 'none', dropAfter: () => 1000 });
    const error = await rejectionOf(t.run({ retries: 2 }));
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.message).toMatch(/connection lost after 1000 of 4000 bytes/);
    expect(await keysOf(t.store)).toEqual([]);
  });
});

describe('loadFiles: resume with Range', () => {
  it('continues from the right byte after a mid-body failure and the result hashes right', async () => {
    const t = setup({ 'a.onnx': 5000 }, { ranges: 'obey', dropAfter: (_u, n) => (n === 0 ? 1800 : n === 1 ? 1000 : undefined) });
    const result = await t.run();
    expect(t.server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=1800-', 'bytes=2800-']);
    expect(sha256(await result.get('a.onnx')!.read())).toBe(t.files[0]!.sha256);
    expectProgressInvariants(t.events, 5000);
    expect(await keysOf(t.store)).toHaveLength(1);
  });

  it('a server that advertises ranges but answers 200 restarts cleanly', async () => {
    const t = setup({ 'a.onnx': 3000 }, { ranges: 'ignore', dropAfter: (_u, n) => (n === 0 ? 2000 : undefined) });
    const result = await t.run();
    expect(t.server.requests.map((r) => r.range)).toEqual([undefined, 'bytes=2000-']);
    expect(sha256(await result.get('a.onnx')!.read())).toBe(t.files[0]!.sha256);
    expectProgressInvariants(t.events, 3000);
  });

  it('resuming keeps going as long as each attempt gets further', async () => {
    // Breaks every 700 bytes: more breaks than the retry budget, but each one makes progress.
    const t = setup({ 'a.onnx': 5000 }, { ranges: 'obey', dropAfter: () => 700 });
    const result = await t.run({ retries: 2 });
    expect(sha256(await result.get('a.onnx')!.read())).toBe(t.files[0]!.sha256);
    expect(t.server.requests).toHaveLength(8);
  });
});

describe('loadFiles: storage', () => {
  it('a full cache keeps files in memory and warns once, not a failure', async () => {
    const t = setup({ 'a.onnx': 1000, 'b.onnx': 2000 }, {}, new QuotaStore());
    const result = await t.run();
    expect([...result.keys()]).toEqual(['a.onnx', 'b.onnx']);
    expect(sha256(await result.get('b.onnx')!.read())).toBe(t.files[1]!.sha256);
    const warnings = t.events.filter((e) => e.type === 'warning');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ type: 'warning', code: 'CACHE_QUOTA_EXCEEDED', details: { file: 'a.onnx' } });
    expectProgressInvariants(t.events, 3000);
  });

  it('another store failure degrades to memory with CACHE_UNAVAILABLE', async () => {
    class Broken extends MemoryStore {
      override async put(): Promise<void> {
        throw new Error('disk on fire');
      }
    }
    const t = setup({ 'a.onnx': 100 }, {}, new Broken());
    expect((await (await t.run()).get('a.onnx')!.read()).byteLength).toBe(100);
    expect(t.events.find((e) => e.type === 'warning')).toMatchObject({ code: 'CACHE_UNAVAILABLE' });
  });
});

describe('loadFiles: abort', () => {
  it('abort mid-body → ABORTED promptly (even if the body stalls), the file not cached', async () => {
    const controller = new AbortController();
    const t = setup({ 'a.onnx': 1000, 'b.onnx': 5000 }, {
      stallAfter: (url) => (url.endsWith('b.onnx') ? 2048 : undefined),
      onChunk: (url, sent) => { if (url.endsWith('b.onnx') && sent >= 2048) setTimeout(() => controller.abort(), 5); },
    });
    // b.onnx's body stalls for good, so a load that ignored the abort would never settle (the test's
    // timeout fails it): no wall-clock bound needed.
    const error = await rejectionOf(t.run({ signal: controller.signal }));
    expect(error.code).toBe('ABORTED');
    expect((t.store as RecordingStore).puts).toEqual([`${PREFIX}${t.files[0]!.sha256}.1000/a.onnx`]);
    expectProgressInvariants(t.events, 6000, false);
  }, 5000);

  it('abort during a retry wait → ABORTED', async () => {
    const controller = new AbortController();
    const t = setup({ 'a.onnx': 100 }, { statusFor: () => 503 });
    t.deps.sleep = () => { controller.abort(); return new Promise<void>(() => undefined); };
    expect((await rejectionOf(t.run({ signal: controller.signal }))).code).toBe('ABORTED');
  });

  it('an already aborted signal fetches nothing', async () => {
    const t = setup({ 'a.onnx': 100 });
    expect((await rejectionOf(t.run({ signal: AbortSignal.abort() }))).code).toBe('ABORTED');
    expect(t.server.requests).toEqual([]);
  });
});

describe('loadFiles: arguments and memory', () => {
  it('caller mistakes are TypeErrors', async () => {
    const t = setup({ 'a.onnx': 100 });
    await expect(loadFiles(t.files, t.deps, { cacheKeyPrefix: '' })).rejects.toThrow(TypeError);
    await expect(loadFiles(t.files, t.deps, { cacheKeyPrefix: 'kinema-micro@1.0.0' })).rejects.toThrow(/modelCachePrefix/);
    await expect(loadFiles([t.files[0]!, { ...t.files[0]!, sha256: '0'.repeat(64) }], t.deps, { cacheKeyPrefix: PREFIX })).rejects.toThrow(/listed twice/);
  });

  it('the same file listed twice is loaded once; the result says where bytes came from', async () => {
    const t = setup({ 'a.onnx': 100, 'b.onnx': 300 });
    await loadFiles([t.files[0]!], t.deps, { cacheKeyPrefix: PREFIX });
    const result = await loadFiles([t.files[0]!, t.files[1]!, { ...t.files[0]! }], t.deps, { cacheKeyPrefix: PREFIX });
    expect([...result.keys()]).toEqual(['a.onnx', 'b.onnx']);
    expect({ total: result.totalBytes, downloaded: result.downloadedBytes, cached: result.cachedBytes }).toEqual({ total: 400, downloaded: 300, cached: 100 });
    expect(t.server.requests.map((r) => r.url)).toEqual([`${ORIGIN}a.onnx`, `${ORIGIN}b.onnx`]);
  });

  it('a file the page cannot allocate is OUT_OF_MEMORY, not a raw RangeError, and nothing is fetched', async () => {
    const t = setup({ 'a.onnx': 100 });
    // One buffer of chunkBytes is all a download holds; here even that cannot be allocated.
    const huge: FileSpec = { ...t.files[0]!, bytes: 2 ** 50 };
    const error = await rejectionOf(loadFiles([huge], t.deps, { cacheKeyPrefix: PREFIX, chunkBytes: 2 ** 50 }));
    expect(error.code).toBe('OUT_OF_MEMORY');
    expect(t.server.requests).toEqual([]);
    expect(await t.deps.store.keys()).toEqual([]);
  });
});
