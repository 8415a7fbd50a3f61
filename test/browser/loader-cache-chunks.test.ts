// The loader against Chromium's real Cache API: a file above chunkBytes stored as chunk Responses, read
// back as a Blob of the cache's own Blobs, and a warm load that finds it by size without reading a body;
// a download cut mid-file is resumed by the next load with Range from the first missing chunk.
import { afterAll, describe, expect, it } from 'vitest';
import { CacheApiStore, chunkPrefix, fileCacheKey, loadFiles, type LoaderFetch, type LoaderFetchInit } from '../../src/loader';

const CACHE = `kinema-test-chunks-${Math.random().toString(36).slice(2)}`;
const PREFIX = 'chunked/1.0.0/';
const CHUNK = 64 * 1024;
afterAll(() => caches.delete(CACHE));

async function hex(bytes: ArrayBuffer | Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

function server(content: Uint8Array) {
  const log: { range: string | undefined; sent: number }[] = [];
  let dieAfter: number | undefined;
  const fetch: LoaderFetch = async (_url: string, init?: LoaderFetchInit) => {
    const range = init?.headers?.Range;
    const start = range ? Number(/^bytes=(\d+)-$/.exec(range)![1]) : 0;
    const body = content.subarray(start);
    const entry = { range, sent: 0 };
    log.push(entry);
    const limit = dieAfter;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (limit !== undefined && entry.sent >= limit) return controller.error(new TypeError('connection reset'));
        if (entry.sent >= body.byteLength) return controller.close();
        const end = Math.min(body.byteLength, entry.sent + 16 * 1024, limit ?? Number.POSITIVE_INFINITY);
        controller.enqueue(body.slice(entry.sent, end));
        entry.sent = end;
      },
    });
    const headers = new Headers({ 'accept-ranges': 'bytes', 'content-length': String(body.byteLength) });
    if (range) headers.set('content-range', `bytes ${start}-${content.byteLength - 1}/${content.byteLength}`);
    return new Response(stream, { status: range ? 206 : 200, headers });
  };
  return { fetch, log, die: (n: number | undefined) => { dieAfter = n; } };
}

describe('loader with the Cache API', () => {
  it('chunk entries, a warm load by size, a Blob of cached Blobs, and a resume across loads', async () => {
    const content = new Uint8Array(5 * CHUNK + 1234);
    let x = 12345;
    for (let i = 0; i < content.length; i++) content[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
    const file = { path: 'denoiser.onnx.data', url: 'https://cdn.example/denoiser.onnx.data', bytes: content.byteLength, sha256: await hex(content) };
    const store = new CacheApiStore(caches, CACHE);
    const s = server(content);
    s.die(2 * CHUNK + 500);
    const failed = await loadFiles([file], { fetch: s.fetch, store }, { cacheKeyPrefix: PREFIX, chunkBytes: CHUNK, retries: 0 }).catch((e: unknown) => e);
    expect((failed as { code?: string }).code).toBe('DOWNLOAD_FAILED');
    expect((await store.keys()).sort()).toEqual([chunkPrefix(PREFIX, file, CHUNK) + 0, chunkPrefix(PREFIX, file, CHUNK) + 1]);

    s.die(undefined);
    const loaded = await loadFiles([file], { fetch: s.fetch, store }, { cacheKeyPrefix: PREFIX, chunkBytes: CHUNK });
    expect(s.log.at(-1)).toEqual({ range: `bytes=${2 * CHUNK}-`, sent: content.byteLength - 2 * CHUNK });
    expect(loaded.cachedBytes).toBe(2 * CHUNK);
    expect(await store.keys()).toContain(fileCacheKey(PREFIX, file));

    const requestsBefore = s.log.length;
    const warm = await loadFiles([file], { fetch: s.fetch, store }, { cacheKeyPrefix: PREFIX, chunkBytes: CHUNK });
    expect(s.log.length).toBe(requestsBefore);
    const blob = await warm.get(file.path)!.blob();
    expect(blob.size).toBe(content.byteLength);
    expect(await hex(await blob.arrayBuffer())).toBe(file.sha256);
    expect(await hex(await warm.get(file.path)!.read())).toBe(file.sha256);
  });
});
