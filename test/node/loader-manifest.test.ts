import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { createEngine as CreateEngine } from '../../src/engine/engine';
import { KinemaError } from '../../src/errors';
import {
  CACHE_NAME, CacheApiStore, MemoryStore, fetchManifestOrCached, fileCacheKey, manifestCacheKey, modelCachePrefix, readCachedManifest, resolveManifest, saveManifest,
  type CacheLike, type CacheStorageLike, type ModelStore,
} from '../../src/loader';
import { parseManifest, selectVariants, selectedFiles, type ManifestFetch } from '../../src/models';
import type { ProgressWarning } from '../../src/progress/tracker';

const URL_ = 'https://example.com/models/kinema-micro/manifest.json';
const goodJson = (): any => JSON.parse(readFileSync(new URL('../fixtures/manifests/good.json', import.meta.url), 'utf8'));

type Answer = { status: number; body?: string } | 'network-error' | 'hang';

/** A manifest server whose answer the test sets; counts requests. */
function server(answer: () => Answer) {
  const requests: string[] = [];
  const fetch: ManifestFetch = (url, init) => {
    requests.push(url);
    const a = answer();
    if (a === 'network-error') return Promise.reject(new TypeError('Failed to fetch'));
    if (a === 'hang') {
      return new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(Object.assign(new Error('aborted'), { name: 'AbortError' }))));
    }
    return Promise.resolve({ ok: a.status < 300, status: a.status, statusText: '', text: async () => a.body ?? '' });
  };
  return { fetch, requests };
}

const ok = (json: unknown): Answer => ({ status: 200, body: JSON.stringify(json) });

async function cachedOnce(store: ModelStore, json = goodJson()) {
  const manifest = parseManifest(json, URL_);
  await saveManifest(store, manifest, json);
  return manifest;
}

describe('resolveManifest: the cached verified manifest stands in only when the network cannot answer', () => {
  it('no cached copy: the network answer, and a network failure fails as before', async () => {
    const store = new MemoryStore();
    const online = await resolveManifest(URL_, { fetch: server(() => ok(goodJson())).fetch, baseUrl: URL_, store });
    expect(online.fromCache).toBe(false);
    expect(online.manifest.version).toBe('1.0.0');
    const error = await resolveManifest(URL_, { fetch: server(() => 'network-error').fetch, baseUrl: URL_, store }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('DOWNLOAD_FAILED');
  });

  it.each([
    ['a network error', 'network-error' as Answer],
    ['HTTP 503', { status: 503 } as Answer],
    ['HTTP 429', { status: 429 } as Answer],
  ])('%s with a cached copy: the cached copy, with a MANIFEST_FROM_CACHE warning', async (_name, answer) => {
    const store = new MemoryStore();
    await cachedOnce(store);
    const warnings: ProgressWarning[] = [];
    const resolved = await resolveManifest(URL_, { fetch: server(() => answer).fetch, baseUrl: URL_, store, onWarning: (w) => warnings.push(w) });
    expect(resolved.fromCache).toBe(true);
    expect(resolved.manifest).toEqual(parseManifest(goodJson(), URL_));
    expect(warnings.map((w) => w.code)).toEqual(['MANIFEST_FROM_CACHE']);
  });

  it('a network that never answers: the cached copy after the bound', async () => {
    const store = new MemoryStore();
    await cachedOnce(store);
    const resolved = await resolveManifest(URL_, { fetch: server(() => 'hang').fetch, baseUrl: URL_, store, timeoutMs: 20 });
    expect(resolved.fromCache).toBe(true);
  });

  it.each([
    ['404 (gone)', { status: 404 } as Answer, 'MODEL_NOT_FOUND'],
    ['410 (gone)', { status: 410 } as Answer, 'MODEL_NOT_FOUND'],
    ['403', { status: 403 } as Answer, 'DOWNLOAD_FAILED'],
    ['a broken manifest', { status: 200, body: '{"format": 2}' } as Answer, 'INVALID_MANIFEST'],
  ])('%s is never masked by the cached copy', async (_name, answer, code) => {
    const store = new MemoryStore();
    await cachedOnce(store);
    const error = await resolveManifest(URL_, { fetch: server(() => answer).fetch, baseUrl: URL_, store }).catch((e: unknown) => e);
    expect((error as KinemaError).code).toBe(code);
  });

  it('a newer version online wins, and its saved copy replaces the older one for the URL', async () => {
    const store = new MemoryStore();
    await cachedOnce(store);
    const newer = goodJson();
    newer.version = '1.1.0';
    const resolved = await resolveManifest(URL_, { fetch: server(() => ok(newer)).fetch, baseUrl: URL_, store });
    expect(resolved).toMatchObject({ fromCache: false, manifest: { version: '1.1.0' } });
    await saveManifest(store, resolved.manifest, resolved.json);
    expect((await store.keys()).filter((k) => k.includes('/manifest/'))).toEqual([manifestCacheKey(resolved.manifest)]);
    expect((await readCachedManifest(store, URL_, URL_))?.manifest.version).toBe('1.1.0');
  });

  it('a caller abort is ABORTED, not a fallback', async () => {
    const store = new MemoryStore();
    await cachedOnce(store);
    const controller = new AbortController();
    const pending = resolveManifest(URL_, { fetch: server(() => 'hang').fetch, baseUrl: URL_, store, signal: controller.signal });
    controller.abort();
    expect(((await pending.catch((e: unknown) => e)) as KinemaError).code).toBe('ABORTED');
  });

  it('a damaged cached copy is dropped, not trusted', async () => {
    const store = new MemoryStore();
    const manifest = await cachedOnce(store);
    await store.put(manifestCacheKey(manifest), new TextEncoder().encode('{"format": 1, "id": "kinema-micro"'));
    expect(await readCachedManifest(store, URL_, URL_)).toBeUndefined();
    expect(await store.keys()).toEqual([]);
  });
});

// ---- the engine's load/isCached/clearCache with a Cache API in memory (no runtime is started) ----

function fakeCaches(): CacheStorageLike & { entries: Map<string, ArrayBuffer> } {
  const entries = new Map<string, ArrayBuffer>();
  const cache: CacheLike = {
    match: async (request) => {
      const body = entries.get(request);
      return body ? { arrayBuffer: async () => body.slice(0) } : undefined;
    },
    put: async (request, response) => void entries.set(request, await response.arrayBuffer()),
    delete: async (request) => entries.delete(request),
    keys: async () => [...entries.keys()].map((url) => ({ url })),
  };
  return { entries, open: async () => cache };
}

// The engine module reads WebGPU's usage flags at import (gpu-ops); Node has none, and no GPU code runs here.
let createEngine: typeof CreateEngine;
beforeAll(async () => {
  vi.stubGlobal('GPUBufferUsage', { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128, INDIRECT: 256, QUERY_RESOLVE: 512 });
  try {
    ({ createEngine } = await import('../../src/engine/engine'));
  } finally {
    vi.unstubAllGlobals();
  }
});

const spec = { manifestUrl: URL_, backend: 'wasm' as const, allowWasm: true, weights: 'auto' as const, cache: 'cache-api' as const };

describe('engine: offline isCached and nothing cached by a failed load', () => {
  it('isCached answers from the cached manifest with the network down, and clearCache works offline', async () => {
    const caches = fakeCaches();
    const store = new CacheApiStore(caches);
    const manifest = await cachedOnce(store);
    const offline = server(() => 'network-error');
    const engine = createEngine({ fetch: offline.fetch as never, caches: caches as never });
    expect(await engine.isCached(spec)).toBe(false); // the manifest alone is not the model
    const prefix = modelCachePrefix(manifest.id, manifest.version);
    for (const file of selectedFiles(manifest, selectVariants(manifest, { shaderF16: false }))) await store.put(fileCacheKey(prefix, file), new Uint8Array(1));
    expect(await engine.isCached(spec)).toBe(true);
    expect(offline.requests.length).toBeGreaterThan(0); // it did try the network first
    await engine.clearCache(spec);
    expect(await store.keys()).toEqual([]);
    expect(await engine.isCached(spec)).toBe(false); // offline, nothing cached: false, not an error
  });

  it.each([
    ['a file that 404s', (url: string): Answer => (url.endsWith('manifest.json') ? ok(goodJson()) : { status: 404 }), 'DOWNLOAD_FAILED'],
    ['a file whose hash differs', (url: string): Answer => (url.endsWith('manifest.json') ? ok(goodJson()) : { status: 200, body: 'x' }), 'INTEGRITY_MISMATCH'],
  ])('%s: the load fails and leaves neither files nor the manifest in the cache', async (_name, answer, code) => {
    const caches = fakeCaches();
    const fetch = (url: string, init?: { signal?: AbortSignal }) => server(() => answer(url)).fetch(url, init).then((r) => {
      const body = new TextEncoder().encode('');
      return Object.assign(r, { headers: new Headers(), body: null, arrayBuffer: async () => body.buffer });
    });
    const engine = createEngine({ fetch: fetch as never, caches: caches as never });
    const error = await engine.load(spec).catch((e: unknown) => e);
    expect((error as KinemaError).code).toBe(code);
    expect([...caches.entries.keys()]).toEqual([]);
  });
});

describe('fetchManifestOrCached (the page side)', () => {
  it('reads the cached copy offline, and creates no cache where kinema never cached anything', async () => {
    const caches = fakeCaches();
    let opened = 0;
    const guarded = { ...caches, has: async () => caches.entries.size > 0, open: async (name: string) => (opened++, caches.open(name)) };
    const offline = server(() => 'network-error').fetch;
    const error = await fetchManifestOrCached(URL_, { fetch: offline, baseUrl: URL_, caches: guarded }).catch((e: unknown) => e);
    expect((error as KinemaError).code).toBe('DOWNLOAD_FAILED');
    expect(opened).toBe(0);
    await cachedOnce(new CacheApiStore(caches, CACHE_NAME));
    expect((await fetchManifestOrCached(URL_, { fetch: offline, baseUrl: URL_, caches: guarded })).id).toBe('kinema-micro');
    expect((await fetchManifestOrCached(URL_, { fetch: offline, baseUrl: URL_, caches: undefined }).catch((e: unknown) => e) as KinemaError).code).toBe('DOWNLOAD_FAILED');
  });
});

describe('generator.isCached() offline', () => {
  it('is false, not an error, when the manifest cannot be fetched and nothing is cached; a 404 still rejects', async () => {
    const { createVideoGenerator } = await import('../../src/api/generator');
    const engineCalls: string[] = [];
    const engine = new Proxy({}, { get: (_t, name) => async () => { engineCalls.push(String(name)); return true; } });
    // Port 9 (discard) refuses connections here: fetch fails as it does offline.
    const offline = createVideoGenerator({ modelBaseUrl: 'http://127.0.0.1:9/models/', backend: 'wasm', cache: 'memory', engine: engine as never });
    expect(await offline.isCached()).toBe(false);
    expect(engineCalls).toEqual([]);
    await offline.dispose();
    vi.stubGlobal('fetch', async () => new Response('', { status: 404 }));
    try {
      const gone = createVideoGenerator({ modelBaseUrl: 'http://127.0.0.1:9/models/', backend: 'wasm', cache: 'memory', engine: engine as never });
      expect(((await gone.isCached().catch((e: unknown) => e)) as KinemaError).code).toBe('MODEL_NOT_FOUND');
      await gone.dispose();
    } finally {
      vi.unstubAllGlobals();
    }
  });
});
