/**
 * Runs every row of catalogue.json. Each row checks: the failure is the expected kind (caller mistakes
 * TypeError/RangeError naming the field, before any engine work; runtime failures KinemaError with the
 * stable code), it settles within a hang guard, nothing is kept that should not be (no manifest memoized,
 * no cache entry for a bad file), and the next valid request on the same object succeeds.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVideoGenerator } from '../../src/api/generator';
import { createDashScopeAdapter } from '../../src/cloud/dashscope';
import { runCloudJob } from '../../src/cloud/driver';
import type { Engine } from '../../src/contract';
import { KinemaError } from '../../src/errors';
import { MemoryStore, loadFiles } from '../../src/loader';
import { modelCachePrefix } from '../../src/loader/store';
import { createCpuOps } from '../../src/pipeline/cpu-ops';
import { createComponentSession } from '../../src/runtime/sessions';
import type { Ort } from '../../src/runtime/ort';
import { createFakeClock, trackFetch } from '../support/fakes/fake-clock';
import { startFakeServer, type FakeServer } from '../support/fakes/fake-server';
import { tinyMp4 } from '../support/fakes/tiny-video';
import { applyPath, bounded, decode, loadCatalogue, type CatalogueRow, type Expectation, type Reply } from './catalogue-data';

const rows = loadCatalogue();
const byLayer = <L extends CatalogueRow['layer']>(layer: L) => rows.filter((r): r is Extract<CatalogueRow, { layer: L }> => r.layer === layer);
const HANG_MS = 30_000;
const MODEL_DIR = new URL('../../public/models/kinema-micro/', import.meta.url);
const shippedManifest = JSON.parse(fs.readFileSync(new URL('manifest.json', MODEL_DIR), 'utf8')) as Record<string, unknown>;
const VALID = { prompt: 'a red circle moving right on a black background', steps: 1, format: 'frames' as const };

/** What a call did: its error (or none) and whether it threw before returning a promise. */
async function outcome(call: () => Promise<unknown>, what: string): Promise<{ error?: unknown; sync: boolean }> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    return { error, sync: true };
  }
  try {
    await bounded(promise, HANG_MS, what);
    return { sync: false };
  } catch (error) {
    return { error, sync: false };
  }
}

function expectFailure(error: unknown, expected: Expectation, id: string): void {
  expect(String(error), id).not.toMatch(/^Error: HANG/);
  if (expected.kind === 'accepted') {
    expect(error, id).toBeUndefined();
    return;
  }
  expect(error, `${id} should fail`).toBeDefined();
  if (expected.kind === 'KinemaError') {
    expect(error, id).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code, `${id}: ${(error as Error).message}`).toBe(expected.code);
  } else {
    expect((error as Error).constructor.name, `${id}: ${String(error)}`).toBe(expected.kind);
    expect((error as Error).message, id).toContain(expected.mentions);
  }
}

function send(res: ServerResponse, reply: Reply): void {
  const body = reply.json !== undefined ? JSON.stringify(reply.json) : reply.body ?? '';
  res.writeHead(reply.status, { 'Content-Type': reply.contentType });
  res.end(body);
}

/** An Engine that records calls and answers a tiny frames result: the API's side of the catalogue. */
function fakeEngine() {
  const calls = { load: 0, generate: 0, prompts: [] as string[] };
  const engine = {
    capabilities: async () => ({}),
    load: async () => {
      calls.load++;
      return { backend: 'wasm', model: 'kinema-micro', modelVersion: '1.1.0', variants: {}, downloadedBytes: 0, totalBytes: 0, loadMs: 0, warnings: [] };
    },
    generate: async (spec: { prompt: string; width: number; height: number; numFrames: number; fps: number; seed: number }) => {
      calls.generate++;
      calls.prompts.push(spec.prompt);
      return {
        format: 'frames', frames: [], width: spec.width, height: spec.height, numFrames: spec.numFrames, fps: spec.fps, seed: spec.seed,
        backend: 'wasm', model: 'kinema-micro', timings: { totalMs: 0 }, warnings: [],
      };
    },
    isCached: async () => false,
    clearCache: async () => undefined,
    cachedModels: async () => [],
    dispose: async () => undefined,
  };
  return { engine: engine as unknown as Engine, calls };
}

// ---- requests and manifests: through createVideoGenerator with a fake engine and a manifest server ----
let manifestServer: FakeServer;
let manifestReply: Reply;
const validManifestReply = (): Reply => ({ status: 200, contentType: 'application/json', json: shippedManifest });

beforeAll(async () => {
  manifestReply = validManifestReply();
  manifestServer = await startFakeServer((_req, res) => send(res, manifestReply));
});
afterAll(() => manifestServer.close());

const newGenerator = () => {
  const { engine, calls } = fakeEngine();
  const generator = createVideoGenerator({ model: `${manifestServer.url}/models/kinema-micro/manifest.json`, backend: 'wasm', engine });
  return { generator, calls };
};

describe('catalogue', () => {
  it('has at least 40 bad inputs across every layer, with unique ids', () => {
    const bad = rows.filter((r) => r.expect.kind !== 'accepted');
    expect(bad.length).toBeGreaterThanOrEqual(40);
    expect(new Set(rows.map((r) => r.id)).size).toBe(rows.length);
    for (const layer of ['request', 'manifest', 'model-file', 'cloud'] as const) expect(byLayer(layer).length, layer).toBeGreaterThan(3);
  });
});

describe('catalogue: requests', () => {
  it.each(byLayer('request').map((r) => [r.id, r] as const))('%s', async (id, row) => {
    manifestReply = validManifestReply();
    const { generator, calls } = newGenerator();
    const request = decode(row.request);
    const { error } = await outcome(() => generator.generate(request as never), id);
    expectFailure(error, row.expect, id);
    if (row.expect.kind === 'accepted') {
      // Accepted rows reach the engine with the prompt unchanged.
      expect(calls.prompts, id).toEqual([(request as { prompt: string }).prompt]);
    } else {
      expect(calls.generate, `${id}: a caller mistake must not reach the engine`).toBe(0);
    }
    const next = await outcome(() => generator.generate(VALID), `${id}: next request`);
    expect(next.error, `${id}: the next valid request`).toBeUndefined();
  });
});

describe('catalogue: manifests', () => {
  it.each(byLayer('manifest').map((r) => [r.id, r] as const))('%s', async (id, row) => {
    const change = row.manifest;
    if (change.reply) {
      manifestReply = change.reply;
    } else {
      const json = structuredClone(shippedManifest);
      for (const [path, value] of Object.entries(change.set ?? {})) applyPath(json, path, value);
      for (const path of change.unset ?? []) applyPath(json, path, undefined, true);
      manifestReply = { status: 200, contentType: 'application/json', json };
    }
    const { generator, calls } = newGenerator();
    const { error } = await outcome(() => generator.generate(VALID), id);
    expectFailure(error, row.expect, id);
    expect(calls.load, `${id}: nothing may be loaded from a bad manifest`).toBe(0);
    // The bad manifest must not be memoized: once the server is fixed, the same generator works.
    manifestReply = validManifestReply();
    const next = await outcome(() => generator.generate(VALID), `${id}: next request`);
    expect(next.error, `${id}: the next valid request`).toBeUndefined();
  });
});

// ---- model files: the loader (bytes) and onnxruntime-web's wasm backend (graphs) ----
describe('catalogue: model files', () => {
  const fileOf = (component: string) => (shippedManifest.components as Record<string, { variants: { dtype: string; files: { path: string }[] }[] }>)[component]!
    .variants.find((v) => v.dtype === 'fp32')!.files[0]!.path;
  const read = (path: string) => new Uint8Array(fs.readFileSync(new URL(path, MODEL_DIR)));
  const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
  const denoiser = read(fileOf('denoiser'));
  const vae = read(fileOf('vaeDecoder'));
  const prefix = modelCachePrefix('kinema-micro', '1.1.0');
  let ort: Ort;

  beforeAll(async () => {
    ort = (await import('onnxruntime-web')) as unknown as Ort;
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = 'error';
  });

  const served: Record<string, () => Reply & { bytes?: Uint8Array }> = {
    truncated: () => ({ status: 200, contentType: 'application/octet-stream', bytes: denoiser.slice(0, denoiser.length >> 1) }),
    extended: () => ({ status: 200, contentType: 'application/octet-stream', bytes: Uint8Array.from([...denoiser.subarray(0, 16), ...denoiser.subarray(16), 0, 0, 0, 0]) }),
    flipped: () => {
      const bytes = denoiser.slice();
      bytes[bytes.length >> 1]! ^= 0xff;
      return { status: 200, contentType: 'application/octet-stream', bytes };
    },
    html: () => ({ status: 200, contentType: 'text/html', bytes: new TextEncoder().encode('<!doctype html><h1>Sign in to continue</h1>') }),
    '404': () => ({ status: 404, contentType: 'text/plain', bytes: new TextEncoder().encode('not found') }),
  };

  /** The loader against an in-memory fetch answering `reply` once, then the right bytes. */
  async function download(id: string, serve: string) {
    const spec = { path: 'denoiser.onnx', url: 'https://cdn.example/m/denoiser.onnx', bytes: denoiser.length, sha256: sha256(denoiser) };
    const store = new MemoryStore();
    let reply: (Reply & { bytes?: Uint8Array }) | undefined = served[serve]!();
    const fetch = async () => {
      const r = reply ?? { status: 200, contentType: 'application/octet-stream', bytes: denoiser };
      return new Response(r.bytes as Uint8Array<ArrayBuffer>, { status: r.status, headers: { 'Content-Type': r.contentType, 'Content-Length': String(r.bytes!.length) } });
    };
    const options = { cacheKeyPrefix: prefix, retries: 0, retryDelayMs: 1 };
    const deps = { fetch, store, sleep: async () => undefined };
    const { error } = await outcome(() => loadFiles([spec], deps, options), id);
    const keptAfterFailure = await store.keys();
    reply = undefined;
    const next = await outcome(() => loadFiles([spec], deps, options), `${id}: next load`);
    return { error, keptAfterFailure, next, keptAfterSuccess: await store.keys() };
  }

  /** A denoiser run on `session` with latents of `channels` channels (kinema-micro has 8). */
  function runDenoiser(session: Awaited<ReturnType<typeof createComponentSession>>, channels = 8) {
    const ops = createCpuOps(ort);
    const latent = [2, channels, 8, 8, 8] as const;
    return ops.run(session, {
      hidden_states: ops.upload(new Float32Array(latent.reduce((a, b) => a * b, 1)), latent),
      timestep: ops.upload(Float32Array.from([500, 500]), [2]),
      encoder_hidden_states: ops.upload(new Float32Array(2 * 32 * 128), [2, 32, 128]),
      encoder_attention_mask: { cpu: true, type: 'int64', data: new BigInt64Array(64).fill(1n), dims: [2, 32] },
    }, 'sample');
  }

  it.each(byLayer('model-file').map((r) => [r.id, r] as const))('%s', async (id, row) => {
    const { serve, stage } = row.file;
    if (stage === 'download') {
      const result = await download(id, serve);
      expectFailure(result.error, row.expect, id);
      expect(result.keptAfterFailure, `${id}: no cache entry for a bad file`).toEqual([]);
      expect(result.next.error, `${id}: the next load`).toBeUndefined();
      expect(result.keptAfterSuccess).toHaveLength(1);
      return;
    }
    if (stage === 'session') {
      const garbage = new TextEncoder().encode('this is not an ONNX model, only text with the right hash'.repeat(8));
      const { error } = await outcome(() => createComponentSession(ort, 'wasm', 'denoiser', { model: garbage, externalData: [] }), id);
      expectFailure(error, row.expect, id);
    } else {
      const session = await createComponentSession(ort, 'wasm', 'denoiser', { model: serve === 'other-graph' ? vae : denoiser, externalData: [] });
      const { error } = await outcome(() => runDenoiser(session, serve === 'wrong-shape' ? 3 : 8), id);
      expectFailure(error, row.expect, id);
      await session.release();
    }
    // The next valid session runs.
    const good = await createComponentSession(ort, 'wasm', 'denoiser', { model: denoiser, externalData: [] });
    const out = await bounded(runDenoiser(good), HANG_MS, `${id}: next run`);
    expect(out.dims).toEqual([2, 8, 8, 8, 8]);
    await good.release();
  });
});

// ---- cloud replies: the DashScope adapter through the driver against a scripted server, on fake time ----
describe('catalogue: cloud replies', () => {
  let server: FakeServer;
  let overrides: CatalogueRow & { layer: 'cloud' } extends { replies: infer R } ? R : never = {};
  const video = tinyMp4();

  beforeAll(async () => {
    server = await startFakeServer((req, res, self) => {
      const path = new URL(req.path, self.url).pathname;
      if (req.method === 'POST' && path.endsWith('/video-synthesis')) {
        return send(res, overrides.create ?? { status: 200, contentType: 'application/json', json: { request_id: 'r1', output: { task_id: 't1', task_status: 'PENDING' } } });
      }
      if (req.method === 'GET' && path === '/api/v1/tasks/t1') {
        return send(res, overrides.poll ?? {
          status: 200, contentType: 'application/json',
          json: { request_id: 'r2', output: { task_id: 't1', task_status: 'SUCCEEDED', video_url: `${self.url}/oss/t1.mp4` } },
        });
      }
      if (req.method === 'GET' && path === '/oss/t1.mp4') {
        if (overrides.video) return send(res, overrides.video);
        res.writeHead(200, { 'Content-Type': 'video/mp4', 'Content-Length': String(video.length) });
        return void res.end(video);
      }
      send(res, { status: 404, contentType: 'application/json', json: { code: 'NotFound', message: `no route ${path}` } });
    });
  });
  afterAll(() => server.close());

  function job() {
    const clock = createFakeClock();
    const tracked = trackFetch();
    const adapter = createDashScopeAdapter({ baseUrl: server.url, headers: { Authorization: 'Bearer sk-catalogue' } });
    const promise = runCloudJob(adapter, { prompt: 'a cat', width: 832, height: 480, model: 'wan2.1-t2v-turbo' }, { fetch: tracked.fetch, clock, maxRetries: 1 });
    return clock.run(promise, tracked.inflight);
  }

  it.each(byLayer('cloud').map((r) => [r.id, r] as const))('%s', async (id, row) => {
    overrides = row.replies;
    const { error } = await outcome(job, id);
    expectFailure(error, row.expect, id);
    overrides = {};
    const next = await outcome(job, `${id}: next job`);
    expect(next.error, `${id}: the next valid job`).toBeUndefined();
  });
});
