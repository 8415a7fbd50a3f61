import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  CACHE_NAME, CacheApiStore, MemoryStore, cachedModels, clearCache, fileCacheKey, isCached, loadFiles, modelCachePrefix,
  openModelStore, parseFileCacheKey, type CacheLike, type CacheStorageLike, type LoaderFetch,
} from '../../src/loader';
import { parseManifest, selectedFiles, selectVariants, type ModelManifest } from '../../src/models';
import type { LoadEvent } from '../../src/progress';

/** The Cache API in memory: Responses by URL, as browsers keep them. */
class FakeCacheStorage implements CacheStorageLike {
  readonly caches = new Map<string, Map<string, Response>>();
  async open(name: string): Promise<CacheLike> {
    let entries = this.caches.get(name);
    if (!entries) this.caches.set(name, (entries = new Map()));
    const map = entries;
    return {
      match: async (url) => map.get(url)?.clone(),
      put: async (url, response) => { map.set(url, response); },
      delete: async (url) => map.delete(url),
      keys: async () => [...map.keys()].map((url) => ({ url })),
    };
  }
}

const bytesOf = (name: string, size: number) => {
  const out = new Uint8Array(size);
  for (let i = 0; i < size; i++) out[i] = (i * 7 + name.length) & 255;
  return out;
};

/** The fixture manifest with real content behind every file, and a fetch that serves it. */
function servedManifest(version = '1.0.0', id = 'kinema-micro'): { manifest: ModelManifest; fetch: LoaderFetch } {
  const json = JSON.parse(readFileSync(new URL('../fixtures/manifests/good.json', import.meta.url), 'utf8'));
  json.version = version;
  json.id = id;
  const content = new Map<string, Uint8Array>();
  const visit = (file: { path?: string; url?: string; bytes: number; sha256: string }) => {
    const name = file.path ?? file.url!;
    const bytes = bytesOf(name, 100 + name.length * 10);
    file.bytes = bytes.byteLength;
    file.sha256 = createHash('sha256').update(bytes).digest('hex');
    content.set(name, bytes);
  };
  json.tokenizer.files.forEach(visit);
  for (const c of Object.values(json.components) as any[]) for (const v of c.variants) v.files.forEach(visit);
  const manifest = parseManifest(json, `https://cdn.example/${id}/manifest.json`);
  const byUrl = new Map<string, Uint8Array>();
  for (const f of [manifest.tokenizer!.files, ...Object.values(manifest.components).flatMap((c) => c!.variants.map((v) => v.files))].flat()) {
    byUrl.set(f.url, content.get(f.path) ?? content.get([...content.keys()].find((k) => k.endsWith(f.path))!)!);
  }
  const fetch: LoaderFetch = async (url) => {
    const body = byUrl.get(url);
    if (!body) return { ok: false, status: 404, headers: { get: () => null }, body: null, arrayBuffer: async () => new ArrayBuffer(0) };
    return { ok: true, status: 200, headers: { get: () => null }, body: null, arrayBuffer: async () => body.slice().buffer };
  };
  return { manifest, fetch };
}

async function load(manifest: ModelManifest, fetch: LoaderFetch, store: MemoryStore | CacheApiStore, fp32: boolean) {
  const selected = selectVariants(manifest, { shaderF16: false, ...(fp32 ? { preferDtype: 'fp32' as const } : {}) });
  await loadFiles(selectedFiles(manifest, selected), { fetch, store }, { cacheKeyPrefix: modelCachePrefix(manifest.id, manifest.version) });
  return selected;
}

describe('stores', () => {
  for (const [name, make] of [
    ['MemoryStore', () => new MemoryStore()],
    ['CacheApiStore', () => new CacheApiStore(new FakeCacheStorage())],
  ] as const) {
    it(`${name}: put/get/keys/delete round-trip, keys by prefix`, async () => {
      const store = make();
      const key = fileCacheKey(modelCachePrefix('m', '1.0 beta/2'), { path: 'dir/a b.onnx', sha256: 'a'.repeat(64), bytes: 3 });
      await store.put(key, new Uint8Array([1, 2, 3]));
      await store.put('other/1/x', new Uint8Array([9]));
      expect(await store.get(key)).toEqual(new Uint8Array([1, 2, 3]));
      expect(await store.get('missing')).toBeUndefined();
      expect(await store.keys('m/')).toEqual([key]);
      expect((await store.keys()).sort()).toEqual(['other/1/x', key].sort());
      expect(parseFileCacheKey(key)).toEqual({ id: 'm', version: '1.0 beta/2', sha256: 'a'.repeat(64), bytes: 3, path: 'dir/a b.onnx' });
      expect(await store.delete(key)).toBe(true);
      expect(await store.get(key)).toBeUndefined();
    });
  }

  it('CacheApiStore keeps Responses in the kinema cache under synthetic URLs', async () => {
    const storage = new FakeCacheStorage();
    await new CacheApiStore(storage).put('m/1/x', new Uint8Array([5, 6]));
    const urls = [...(storage.caches.get(CACHE_NAME)?.keys() ?? [])];
    expect(urls).toEqual(['https://models.kinema.invalid/m%2F1%2Fx']);
    expect(storage.caches.get(CACHE_NAME)?.get(urls[0]!)?.headers.get('content-length')).toBe('2');
  });

  it('openModelStore: the Cache API when present, else memory with a CACHE_UNAVAILABLE warning', async () => {
    const events: LoadEvent[] = [];
    expect(await openModelStore({ caches: new FakeCacheStorage(), onProgress: (e) => events.push(e) })).toBeInstanceOf(CacheApiStore);
    expect(events).toEqual([]);
    expect(await openModelStore({ onProgress: (e) => events.push(e) })).toBeInstanceOf(MemoryStore);
    const refusing: CacheStorageLike = { open: async () => { throw new DOMException('denied', 'SecurityError'); } };
    expect(await openModelStore({ caches: refusing, onProgress: (e) => events.push(e) })).toBeInstanceOf(MemoryStore);
    expect(events.map((e) => e.type === 'warning' && e.code)).toEqual(['CACHE_UNAVAILABLE', 'CACHE_UNAVAILABLE']);
    expect(events[1]).toMatchObject({ message: expect.stringContaining('denied') });
  });
});

describe('isCached, clearCache, cachedModels', () => {
  it('isCached is true only for the loaded selection', async () => {
    const { manifest, fetch } = servedManifest();
    const store = new CacheApiStore(new FakeCacheStorage());
    const fp32 = selectVariants(manifest, { shaderF16: false, preferDtype: 'fp32' });
    expect(await isCached(manifest, fp32, store)).toBe(false);
    await load(manifest, fetch, store, true);
    expect(await isCached(manifest, fp32, store)).toBe(true);
    expect(await isCached(manifest, selectVariants(manifest, { shaderF16: false }), store)).toBe(false);
    // One file gone → not cached any more.
    const [someKey] = await store.keys(modelCachePrefix(manifest.id, manifest.version));
    await store.delete(someKey!);
    expect(await isCached(manifest, fp32, store)).toBe(false);
  });

  it('cachedModels lists id, version and bytes; clearCache removes every version of one model only', async () => {
    const store = new MemoryStore();
    const v1 = servedManifest('1.0.0');
    const v2 = servedManifest('1.1.0');
    const other = servedManifest('1.0.0', 'other-model');
    const s1 = await load(v1.manifest, v1.fetch, store, true);
    await load(v2.manifest, v2.fetch, store, false);
    await load(other.manifest, other.fetch, store, false);
    const bytes = (m: ModelManifest, s: ReturnType<typeof selectVariants>) => selectedFiles(m, s).reduce((n, f) => n + f.bytes, 0);
    const listed = await cachedModels(store);
    expect(listed.map(({ id, version }) => `${id}@${version}`)).toEqual(['kinema-micro@1.0.0', 'kinema-micro@1.1.0', 'other-model@1.0.0']);
    expect(listed[0]).toEqual({ id: 'kinema-micro', version: '1.0.0', bytes: bytes(v1.manifest, s1), files: selectedFiles(v1.manifest, s1).length });
    const removed = await clearCache(v1.manifest, store);
    expect(removed).toBeGreaterThan(0);
    expect((await cachedModels(store)).map((m) => m.id)).toEqual(['other-model']);
    expect(await isCached(v1.manifest, s1, store)).toBe(false);
  });
});
