/**
 * The engine's load path before any download: the memory plan (memoryLimits lowers its ceilings) and
 * the storage pre-check both refuse with only the manifest fetched. No runtime is started.
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { checkLoadSpec, checkMemoryLimits, type EngineLoadSpec } from '../../src/contract';
import type { createEngine as CreateEngine } from '../../src/engine/engine';
import { KinemaError } from '../../src/errors';
import { familyFor, KNOWN_PIPELINES } from '../../src/families';
import type { CacheLike, CacheStorageLike } from '../../src/loader';
import type { ProgressEvent } from '../../src/progress/events';
import { WARM_UP_MAX_WEIGHT_BYTES, shouldWarmUp } from '../../src/engine/warm-up';

const URL_ = 'https://example.com/models/kinema-micro/manifest.json';
const manifestJson = readFileSync(new URL('../fixtures/manifests/good.json', import.meta.url), 'utf8');

function platform(storage?: { quota: number; usage: number }) {
  const requests: string[] = [];
  const fetch = async (url: string) => {
    requests.push(url);
    if (url === URL_) return new Response(manifestJson, { status: 200 });
    return new Response(new Uint8Array(10), { status: 200 });
  };
  const entries = new Map<string, Response>();
  const cache: CacheLike = {
    match: async (url) => entries.get(url)?.clone(),
    put: async (url, response) => void entries.set(url, response),
    delete: async (url) => entries.delete(url),
    keys: async () => [...entries.keys()].map((url) => ({ url })),
  };
  const caches: CacheStorageLike = { open: async () => cache };
  const persist = vi.fn(async () => false);
  return {
    requests,
    persist,
    platform: {
      fetch: fetch as never, caches: caches as never,
      ...(storage ? { storage: { estimate: async () => storage, persist } } : {}),
    },
  };
}

let createEngine: typeof CreateEngine;
beforeAll(async () => {
  // The engine module reads WebGPU's usage flags at import (gpu-ops); Node has none, and no GPU code runs here.
  vi.stubGlobal('GPUBufferUsage', { MAP_READ: 1, MAP_WRITE: 2, COPY_SRC: 4, COPY_DST: 8, INDEX: 16, VERTEX: 32, UNIFORM: 64, STORAGE: 128, INDIRECT: 256, QUERY_RESOLVE: 512 });
  try {
    ({ createEngine } = await import('../../src/engine/engine'));
  } finally {
    vi.unstubAllGlobals();
  }
});

const spec: EngineLoadSpec = { manifestUrl: URL_, backend: 'wasm', allowWasm: true, weights: 'fp32', cache: 'cache-api' };

async function rejectionOf(promise: Promise<unknown>): Promise<KinemaError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KinemaError);
  return error as KinemaError;
}

describe('engine load: refusals before any download', () => {
  it('memoryLimits.wasmHeapBytes below a stage\'s need: DEVICE_LIMITS naming the stage, need and limit; only the manifest fetched', async () => {
    const p = platform();
    const engine = createEngine(p.platform);
    const events: ProgressEvent[] = [];
    // fp32 variants: the denoiser is 20 000 + 3 000 000 bytes, the largest stage; 2 MB fits the others.
    const error = await rejectionOf(engine.load({ ...spec, memoryLimits: { wasmHeapBytes: 2_000_000 } }, (e) => events.push(e)));
    expect(error.code).toBe('DEVICE_LIMITS');
    expect(error.details).toMatchObject({ stage: 'denoiser', needBytes: 3_020_000, limitBytes: 2_000_000, limit: 'wasm-heap' });
    expect(error.message).toMatch(/denoiser/);
    expect(p.requests).toEqual([URL_]);
    expect(events.filter((e) => e.type === 'download')).toEqual([]);
  });

  it('the same model with a ceiling it fits goes on to the download', async () => {
    const p = platform();
    const error = await rejectionOf(createEngine(p.platform).load({ ...spec, memoryLimits: { wasmHeapBytes: 5_000_000 } }));
    // The fake server's bytes are wrong: the download started, which is all this test asks.
    expect(error.code).toBe('INTEGRITY_MISMATCH');
    expect(p.requests.length).toBeGreaterThan(1);
  });

  it('storage short of the download: STORAGE_QUOTA with needed and available bytes after asking persist(); only the manifest fetched', async () => {
    const p = platform({ quota: 1_000_000, usage: 400_000 });
    const error = await rejectionOf(createEngine(p.platform).load(spec));
    expect(error.code).toBe('STORAGE_QUOTA');
    expect(error.details.availableBytes).toBe(600_000);
    expect(error.details.neededBytes as number).toBeGreaterThan(3_000_000);
    expect(p.persist).toHaveBeenCalledTimes(1);
    expect(p.requests).toEqual([URL_]);
  });

  it('cache: memory skips the storage pre-check (the files never reach the origin\'s storage)', async () => {
    const p = platform({ quota: 1, usage: 0 });
    const error = await rejectionOf(createEngine(p.platform).load({ ...spec, cache: 'memory' }));
    expect(error.code).toBe('INTEGRITY_MISMATCH');
    expect(p.persist).not.toHaveBeenCalled();
  });
});

describe('memoryLimits validation', () => {
  it.each([
    [null, TypeError, /memoryLimits must be an object/],
    [[1], TypeError, /memoryLimits must be an object/],
    [{ wasmHeap: 1 }, TypeError, /memoryLimits has no field "wasmHeap"; known fields: wasmHeapBytes, gpuMemoryBytes/],
    [{ wasmHeapBytes: 0 }, RangeError, /memoryLimits.wasmHeapBytes must be an integer from 1 to 4294967296; got 0/],
    [{ wasmHeapBytes: 5 * 1024 ** 3 }, RangeError, /memoryLimits.wasmHeapBytes/],
    [{ gpuMemoryBytes: 1.5 }, RangeError, /memoryLimits.gpuMemoryBytes/],
    [{ gpuMemoryBytes: '8GB' }, TypeError, /memoryLimits.gpuMemoryBytes/],
  ])('%j is refused at once', (value, type, message) => {
    expect(() => checkMemoryLimits(value)).toThrow(type);
    expect(() => checkMemoryLimits(value)).toThrow(message);
    expect(() => checkLoadSpec({ ...spec, memoryLimits: value })).toThrow(message);
  });

  it('valid ceilings pass, and the engine refuses a bad one before fetching anything', async () => {
    expect(checkMemoryLimits({ wasmHeapBytes: 2 * 1024 ** 3, gpuMemoryBytes: 8 * 1024 ** 3 })).toEqual({ wasmHeapBytes: 2 * 1024 ** 3, gpuMemoryBytes: 8 * 1024 ** 3 });
    expect(checkMemoryLimits({})).toEqual({});
    const p = platform();
    await expect(createEngine(p.platform).load({ ...spec, memoryLimits: { wasmHeapBytes: -1 } })).rejects.toThrow(RangeError);
    expect(p.requests).toEqual([]);
  });
});

describe('engine load: a family that cannot be staged', () => {
  it('kinema-micro with ceilings that fit each stage but not all together: DEVICE_LIMITS before any download, not a broken generation', async () => {
    const p = platform();
    // fp32 stages: text encoder 400 000, denoiser 3 020 000, decoder 600 000 bytes: each fits 3.1 MB, not all.
    const error = await rejectionOf(createEngine(p.platform).load({ ...spec, memoryLimits: { wasmHeapBytes: 3_100_000 } }));
    expect(error.code).toBe('DEVICE_LIMITS');
    expect(error.message).toMatch(/keeps all its components loaded together/);
    expect(error.details).toMatchObject({ needBytes: 4_020_000, limitBytes: 3_100_000, limit: 'wasm-heap' });
    expect(p.requests).toEqual([URL_]);
  });

  it('the engine refuses by the family\'s needsAllComponentsLoaded flag: kinema-micro declares it, Wan (staged) does not', () => {
    const family = (pipeline: string) => familyFor({ pipeline, manifestUrl: URL_ });
    expect(family('kinema-micro').needsAllComponentsLoaded).toBe(true);
    expect(KNOWN_PIPELINES.filter((pipeline) => family(pipeline).needsAllComponentsLoaded === true)).toEqual(['kinema-micro']);
    expect(family('wan2.1').needsAllComponentsLoaded).not.toBe(true);
  });
});

describe('the warm-up at the end of a load', () => {
  const ceiling = WARM_UP_MAX_WEIGHT_BYTES;

  it('runs by default on wasm for a small model, and not on WebGPU or for a model above the ceiling', () => {
    const small = { backend: 'wasm' as const, canGenerate: true, weightsBytes: 11e6 };
    expect(shouldWarmUp(small)).toBe(true);
    expect(shouldWarmUp({ ...small, weightsBytes: ceiling })).toBe(true);
    expect(shouldWarmUp({ ...small, weightsBytes: ceiling + 1 })).toBe(false);
    expect(shouldWarmUp({ ...small, backend: 'webgpu' })).toBe(false);
  });

  it('follows warmUp when given, and never runs for a model that cannot generate', () => {
    const large = { backend: 'webgpu' as const, canGenerate: true, weightsBytes: 5e9 };
    expect(shouldWarmUp({ ...large, warmUp: true })).toBe(true);
    expect(shouldWarmUp({ backend: 'wasm', canGenerate: true, weightsBytes: 1, warmUp: false })).toBe(false);
    expect(shouldWarmUp({ ...large, warmUp: true, canGenerate: false })).toBe(false);
  });
});
