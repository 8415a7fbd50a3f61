/**
 * Faults that need no browser, each driven through the code path the library uses: the loader under a
 * network cut (within a load, and across loads for a chunked file), a corrupt file, a full disk and too
 * little storage for the download; onnxruntime running out of memory; a cloud provider that
 * throttles, fails or never finishes (on fake time: nothing here waits on the real clock). The browser
 * faults (GPU device lost, worker terminated) are in test/reliability/browser/faults.test.ts; deeper
 * cases of each live in test/node/loader.test.ts and test/node/cloud-*.test.ts.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDashScopeAdapter } from '../../src/cloud/dashscope';
import { runCloudJob } from '../../src/cloud/driver';
import { KinemaError } from '../../src/errors';
import { MemoryStore, loadFiles, type LoaderFetch } from '../../src/loader';
import { modelCachePrefix } from '../../src/loader/store';
import { createCpuOps } from '../../src/pipeline/cpu-ops';
import type { LoadEvent } from '../../src/progress';
import type { Ort } from '../../src/runtime/ort';
import { createComponentSession, isOutOfMemory } from '../../src/runtime/sessions';
import { createFakeClock, trackFetch } from '../support/fakes/fake-clock';
import { FAKE_DASHSCOPE_KEY, startFakeDashScope, type FakeDashScope, type FakeDashScopeOptions } from '../support/fakes/fake-dashscope';
import { rejection } from '../support/rejection';
import { bounded } from './catalogue-data';

const HANG_MS = 30_000;
const prefix = modelCachePrefix('kinema-micro', '1.1.0');
const content = Uint8Array.from({ length: 64 * 1024 }, (_, i) => (i * 31 + (i >> 8)) & 0xff);
const spec = { path: 'denoiser.onnx', url: 'https://cdn.example/m/denoiser.onnx', bytes: content.length, sha256: createHash('sha256').update(content).digest('hex') };

/** A body that sends `cutAfter` bytes and then fails like a dropped connection. */
function cutBody(bytes: Uint8Array, cutAfter: number): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(bytes.slice(0, cutAfter));
      controller.error(new TypeError('network error: connection reset'));
    },
  });
}

/** Every request answered 200 with `content`, except those `cut(attempt)` says to drop midway. */
function flakyFetch(cut: (attempt: number) => boolean) {
  let attempts = 0;
  const fetch: LoaderFetch = async () => {
    const attempt = attempts++;
    const body = cut(attempt) ? cutBody(content, content.length >> 1) : content;
    return new Response(body as BodyInit, { status: 200, headers: { 'Content-Length': String(content.length) } });
  };
  return { fetch, attempts: () => attempts };
}

describe('faults: model download', () => {
  const noWait = async () => undefined;

  it('a network cut on every attempt: bounded retries, then DOWNLOAD_FAILED, and no cache entry', async () => {
    const store = new MemoryStore();
    const server = flakyFetch(() => true);
    const error = await rejection(bounded(loadFiles([spec], { fetch: server.fetch, store, sleep: noWait }, { cacheKeyPrefix: prefix, retries: 3 }), HANG_MS, 'download'));
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(server.attempts()).toBe(4); // the first attempt and 3 retries
    expect(await store.keys()).toEqual([]);
  });

  it('a network cut once: the retry completes and the cached bytes are the verified file', async () => {
    const store = new MemoryStore();
    const server = flakyFetch((attempt) => attempt === 0);
    const files = await bounded(loadFiles([spec], { fetch: server.fetch, store, sleep: noWait }, { cacheKeyPrefix: prefix, retries: 3 }), HANG_MS, 'download');
    expect(server.attempts()).toBe(2);
    expect(await files.get(spec.path)!.read()).toEqual(content);
    const [key] = await store.keys();
    expect(createHash('sha256').update((await store.get(key!))!).digest('hex')).toBe(spec.sha256);
  });

  it('an integrity mismatch is INTEGRITY_MISMATCH, and nothing is cached', async () => {
    const store = new MemoryStore();
    const corrupt = content.slice();
    corrupt[100]! ^= 1;
    const fetch: LoaderFetch = async () => new Response(corrupt, { status: 200 });
    const error = await rejection(loadFiles([spec], { fetch, store, sleep: noWait }, { cacheKeyPrefix: prefix, retries: 0 }));
    expect(error.code).toBe('INTEGRITY_MISMATCH');
    expect(await store.keys()).toEqual([]);
  });

  it('storage quota exceeded: the file is kept in memory with a CACHE_QUOTA_EXCEEDED warning', async () => {
    const full = new MemoryStore();
    full.put = async () => {
      throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
    };
    const events: LoadEvent[] = [];
    const fetch: LoaderFetch = async () => new Response(content, { status: 200 });
    const files = await loadFiles([spec], { fetch, store: full, sleep: noWait }, { cacheKeyPrefix: prefix, onProgress: (e) => events.push(e) });
    expect(await files.get(spec.path)!.read()).toEqual(content);
    expect(events.filter((e) => e.type === 'warning').map((e) => (e as { code: string }).code)).toEqual(['CACHE_QUOTA_EXCEEDED']);
    expect(await full.keys()).toEqual([]);
  });
});

describe('faults: large downloads', () => {
  const noWait = async () => undefined;
  const CHUNK = 16 * 1024; // stands in for the 128 MiB chunks of a real model file

  /** Serves `content` honouring Range; `cut` drops the body after that many bytes of this response. */
  function rangedFetch(cut: () => number | undefined) {
    const log: { range: string | undefined; bytes: number }[] = [];
    const fetch: LoaderFetch = async (_url, init) => {
      const range = init?.headers?.Range;
      const start = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0;
      const body = content.slice(start);
      const at = cut();
      log.push({ range, bytes: at ?? body.length });
      const headers: Record<string, string> = { 'Accept-Ranges': 'bytes', 'Content-Length': String(body.length) };
      if (range) headers['Content-Range'] = `bytes ${start}-${content.length - 1}/${content.length}`;
      return new Response((at === undefined ? body : pulledCut(body, at)) as BodyInit, { status: range ? 206 : 200, headers });
    };
    return { fetch, log };
  }

  /** Like cutBody, but the bytes before the cut are read before the error (error() drops what is still queued). */
  function pulledCut(bytes: Uint8Array, cutAfter: number): ReadableStream<Uint8Array> {
    let sent = false;
    return new ReadableStream({
      pull(controller) {
        if (sent) return controller.error(new TypeError('network error: connection reset'));
        sent = true;
        controller.enqueue(bytes.slice(0, cutAfter));
      },
    });
  }

  it('the connection dies mid-file and the page goes away: the next load fetches only what no stored chunk holds', async () => {
    const store = new MemoryStore();
    let cuts = 1;
    const server = rangedFetch(() => (cuts-- > 0 ? 3 * CHUNK + 100 : undefined));
    const error = await rejection(bounded(loadFiles([spec], { fetch: server.fetch, store, sleep: noWait }, { cacheKeyPrefix: prefix, chunkBytes: CHUNK, retries: 0 }), HANG_MS, 'download'));
    expect(error.code).toBe('DOWNLOAD_FAILED');
    // A new load (a new page): the three stored chunks are hashed again from storage, the rest is fetched.
    const files = await bounded(loadFiles([spec], { fetch: server.fetch, store, sleep: noWait }, { cacheKeyPrefix: prefix, chunkBytes: CHUNK }), HANG_MS, 'download');
    expect(server.log.at(-1)).toEqual({ range: `bytes=${3 * CHUNK}-`, bytes: content.length - 3 * CHUNK });
    expect(await files.get(spec.path)!.read()).toEqual(content);
  });

  it('not enough storage for the download: STORAGE_QUOTA before any byte is fetched, with the figures', async () => {
    const server = rangedFetch(() => undefined);
    const storage = { estimate: async () => ({ quota: 50_000, usage: 10_000 }), persist: async () => false };
    const error = await rejection(loadFiles([spec], { fetch: server.fetch, store: new MemoryStore(), storage, sleep: noWait }, { cacheKeyPrefix: prefix }));
    expect(error.code).toBe('STORAGE_QUOTA');
    expect(error.details).toMatchObject({ neededBytes: content.length, availableBytes: 40_000 });
    expect(server.log).toEqual([]);
  });
});

describe('faults: onnxruntime out of memory', () => {
  let ort: Ort;
  beforeAll(async () => {
    ort = (await import('onnxruntime-web')) as unknown as Ort;
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = 'fatal';
  });

  it('a run that cannot allocate is OUT_OF_MEMORY, and the session still runs afterwards', async () => {
    // out = ConstantOfShape(shape): asking for just under 4 GiB makes wasm's malloc fail at once (the heap
    // cannot grow past 4 GiB), so no memory is actually taken. onnxruntime-web says `std::bad_alloc`.
    const graph = new Uint8Array(fs.readFileSync(new URL('./fixtures/allocate.onnx', import.meta.url)));
    const session = await createComponentSession(ort, 'wasm', 'vaeDecoder', { model: graph, externalData: [] });
    const ops = createCpuOps(ort);
    const ask = (n: bigint) => ops.run(session, { shape: { cpu: true, type: 'int64', data: BigInt64Array.from([n]), dims: [1] } }, 'out');
    const error = await rejection(bounded(ask(1_073_741_000n), HANG_MS, 'huge run'));
    expect(error.code, error.message).toBe('OUT_OF_MEMORY');
    expect((await ask(16n)).dims).toEqual([16]);
    await session.release();
  });

  it('session creation that cannot allocate is OUT_OF_MEMORY; other failures stay BACKEND_FAILED', async () => {
    const failing = (message: string) => ({ InferenceSession: { create: async () => { throw new Error(message); } } }) as unknown as Ort;
    const files = { model: new Uint8Array(8), externalData: [] };
    expect((await rejection(createComponentSession(failing('std::bad_alloc'), 'wasm', 'denoiser', files))).code).toBe('OUT_OF_MEMORY');
    expect((await rejection(createComponentSession(failing('Failed to allocate a buffer of size 1073741824'), 'webgpu', 'denoiser', files))).code).toBe('OUT_OF_MEMORY');
    expect((await rejection(createComponentSession(failing('protobuf parsing failed'), 'wasm', 'denoiser', files))).code).toBe('BACKEND_FAILED');
    expect(isOutOfMemory('Invalid rank for input: hidden_states')).toBe(false);
  });
});

describe('faults: cloud provider', () => {
  const servers: FakeDashScope[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((s) => s.close()));
  });

  async function job(options: FakeDashScopeOptions, driver: { timeoutMs?: number; maxRetries?: number } = {}) {
    const server = await startFakeDashScope(options);
    servers.push(server);
    const clock = createFakeClock();
    const tracked = trackFetch();
    const adapter = createDashScopeAdapter({ baseUrl: server.url, headers: { Authorization: `Bearer ${FAKE_DASHSCOPE_KEY}` } });
    const started = clock.now();
    const promise = runCloudJob(adapter, { prompt: 'a cat' }, { fetch: tracked.fetch, clock, ...driver });
    return { result: clock.run(promise, tracked.inflight, 2000), clock, server, started };
  }
  const polls = (server: FakeDashScope) => server.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/v1/tasks/')).length;

  it('429 with Retry-After: waits at least that long before polling again, then succeeds', async () => {
    const { result, clock, server } = await job({ rateLimitPolls: 2, retryAfterSeconds: 7 });
    const outcome = await result;
    expect(outcome.video.bytes.length).toBeGreaterThan(0);
    expect(clock.sleeps.filter((ms) => ms >= 7000).length).toBeGreaterThanOrEqual(2);
    expect(polls(server)).toBeGreaterThanOrEqual(3);
  });

  it('429 for ever: PROVIDER_RATE_LIMITED after the bounded retries', async () => {
    const { result, server } = await job({ rateLimitPolls: 1000, retryAfterSeconds: 1 }, { maxRetries: 2 });
    const error = await rejection(result);
    expect(error.code).toBe('PROVIDER_RATE_LIMITED');
    expect(polls(server)).toBe(3);
  });

  it('5xx: retried, then succeeds; 5xx for ever: PROVIDER_FAILED after the bounded retries', async () => {
    const once = await job({ transientPolls: 2 });
    expect((await once.result).video.bytes.length).toBeGreaterThan(0);
    const always = await job({ transientPolls: 1000 }, { maxRetries: 2 });
    const error = await rejection(always.result);
    expect(error.code).toBe('PROVIDER_FAILED');
    expect(polls(always.server)).toBe(3);
  });

  it('a task that never finishes: TIMEOUT at the deadline on fake time, and the task is canceled', async () => {
    const { result, clock, server, started } = await job({ pendingPolls: 1_000_000 }, { timeoutMs: 60_000 });
    const error = await rejection(result);
    expect(error).toBeInstanceOf(KinemaError);
    expect(error.code).toBe('TIMEOUT');
    expect(clock.now() - started).toBeLessThanOrEqual(60_000);
    expect(server.requests.some((r) => r.method === 'POST' && r.path.endsWith('/cancel'))).toBe(true);
  });
});
