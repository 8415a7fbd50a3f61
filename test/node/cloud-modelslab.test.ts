import { afterEach, describe, expect, it } from 'vitest';
import { runCloudJob } from '../../src/cloud/driver';
import { generateInCloud } from '../../src/cloud/generate';
import { createModelsLabAdapter, modelsLabMessageKind } from '../../src/cloud/modelslab';
import type { CloudRequest } from '../../src/cloud/types';
import { KinemaError } from '../../src/errors';
import { createFakeClock, trackFetch } from '../support/fakes/fake-clock';
import { FAKE_MODELSLAB_KEY, startFakeModelsLab, type FakeModelsLab, type FakeModelsLabOptions } from '../support/fakes/fake-modelslab';
import { FAKE_PROXY_TOKEN, startProxyHarness, type ProxyHarness } from '../support/fakes/proxy-harness';
import { rejection } from '../support/rejection';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

async function fake(options: FakeModelsLabOptions = {}) {
  const server = await startFakeModelsLab({ apiKey: null, ...options });
  cleanups.push(() => server.close());
  return server;
}

async function harness(options: Parameters<typeof startProxyHarness>[0] = {}): Promise<ProxyHarness> {
  const h = await startProxyHarness(options);
  cleanups.push(() => h.close());
  return h;
}

/** Directly against the fake: the adapter has no key to send, so the fake runs without one. */
async function runDirect(server: FakeModelsLab, request: CloudRequest, maxRetries?: number) {
  const clock = createFakeClock();
  const tracked = trackFetch();
  const adapter = createModelsLabAdapter({ baseUrl: server.url });
  const promise = runCloudJob(adapter, request, { fetch: tracked.fetch, clock, ...(maxRetries !== undefined && { maxRetries }) });
  return { result: clock.run(promise, tracked.inflight), clock };
}

async function viaProxy(h: ProxyHarness, request: CloudRequest, extra: { proxyToken?: string } = {}) {
  const clock = createFakeClock();
  const tracked = trackFetch();
  const promise = generateInCloud(request, {
    provider: 'modelslab',
    proxyUrl: h.proxyUrl,
    proxyToken: 'proxyToken' in extra ? extra.proxyToken : FAKE_PROXY_TOKEN,
    fetch: tracked.fetch,
    clock,
  });
  return { result: clock.run(promise, tracked.inflight), clock, tracked };
}

describe('ModelsLab request normalization', () => {
  const adapter = createModelsLabAdapter({ baseUrl: 'http://unused' });

  it('forces mp4 output and never puts a key in the body', () => {
    const job = adapter.prepare({ prompt: 'a boat', width: 512, height: 288, numFrames: 16, fps: 8, seed: 3, model: 'ltx-2.3' });
    expect(job.body).toEqual({
      model_id: 'ltx-2.3',
      prompt: 'a boat',
      negative_prompt: '',
      seed: 3,
      width: 512,
      height: 288,
      num_frames: 16,
      fps: 8,
      output_type: 'mp4',
    });
    expect(job.body).not.toHaveProperty('key');
    expect(job.durationSeconds).toBe(2);
    expect(adapter.prepare({ prompt: 'x' }).body).toMatchObject({ seed: null, width: 512, height: 512, num_frames: 25, model_id: 'wan2.2' });
  });

  it('refuses out-of-range requests with the valid range in the message', () => {
    expect(() => adapter.prepare({ prompt: 'x', width: 832, height: 480 })).toThrow('modelslab: width must be an integer from 1 to 512; got 832');
    expect(() => adapter.prepare({ prompt: 'x', numFrames: 26 })).toThrow(/numFrames must be an integer from 1 to 25/);
    expect(() => adapter.prepare({ prompt: 'x', fps: 24 })).toThrow(/fps must be an integer from 1 to 16/);
    expect(() => adapter.prepare({ prompt: 'x', providerOptions: { modelslab: { guidanceScale: 9 } } })).toThrow(/guidanceScale must be a number from 0 to 8/);
    expect(() => adapter.prepare({ prompt: 'x', providerOptions: { modelslab: { numInferenceSteps: 51 } } })).toThrow(RangeError);
    expect(() => adapter.prepare({ prompt: 'x', model: 'cogvideox' })).toThrow(/use one of wan2\.2, ltx-2\.3/);
  });

  it('reads kinds from the provider prose', () => {
    expect(modelsLabMessageKind('Invalid Api Key')).toBe('auth');
    expect(modelsLabMessageKind('NSFW content detected in the prompt')).toBe('moderation');
    expect(modelsLabMessageKind('Insufficient credits, please upgrade')).toBe('quota');
    expect(modelsLabMessageKind('Request not found')).toBe('not_found');
    expect(modelsLabMessageKind('The width field must not be greater than 512.')).toBe('invalid_request');
    expect(modelsLabMessageKind('Something went wrong')).toBe('server');
  });
});

describe('ModelsLab adapter against the fake, directly', () => {
  it('creates, fetches with POST until success, waits by eta, downloads the mp4', async () => {
    const server = await fake({ processingFetches: 2, eta: 3 });
    const { result, clock } = await runDirect(server, { prompt: 'a boat', width: 256, height: 256, numFrames: 8, fps: 8 });
    const outcome = await result;
    const paths = server.requests.map((r) => `${r.method} ${r.path}`);
    expect(paths[0]).toBe('POST /api/v6/video/text2video');
    expect(paths.filter((p) => p.startsWith('POST /api/v6/video/fetch/81000'))).toHaveLength(3);
    expect(JSON.parse(server.requests[0]!.body)).toMatchObject({ output_type: 'mp4', model_id: 'wan2.2' });
    expect(JSON.parse(server.requests[0]!.body)).not.toHaveProperty('key');
    // eta 3 s → 3 s waits (within 1..5 s), not the 5 s default.
    expect(clock.sleeps.filter((ms) => ms <= 5000)).toEqual([3000, 3000, 3000]);
    expect(outcome.video.mimeType).toBe('video/mp4');
    expect(outcome.video.bytes.byteLength).toBeGreaterThan(1000);
  });

  it('treats an error inside HTTP 200 as authoritative, including the legacy "messege" spelling', async () => {
    const auth = await rejection((await runDirect(await fake({ apiKey: FAKE_MODELSLAB_KEY }), { prompt: 'x' })).result);
    expect(auth.code).toBe('PROVIDER_AUTH');
    expect(auth.details).toMatchObject({ provider: 'modelslab', kind: 'auth', httpStatus: 200, providerMessage: 'Invalid Api Key', providerCode: 'error' });
    const legacy = await rejection((await runDirect(await fake({ createErrorInBody: { message: 'Insufficient credits', legacySpelling: true } }), { prompt: 'x' })).result);
    expect(legacy.code).toBe('PROVIDER_QUOTA');
    expect(legacy.details.providerMessage).toBe('Insufficient credits');
    const nsfw = await rejection((await runDirect(await fake({ outcome: 'nsfw' }), { prompt: 'x' })).result);
    expect(nsfw.code).toBe('PROVIDER_MODERATION');
    const failed = await rejection((await runDirect(await fake({ outcome: 'failed' }), { prompt: 'x' })).result);
    expect(failed.code).toBe('PROVIDER_FAILED');
    expect(failed.details).toMatchObject({ kind: 'server', providerCode: 'failed' });
    const legacyFetch = await rejection((await runDirect(await fake({ outcome: 'legacy-error' }), { prompt: 'x' })).result);
    expect(legacyFetch.details.providerMessage).toBe('Something went wrong');
  });

  it('maps HTTP 402 to PROVIDER_QUOTA and 401 to PROVIDER_AUTH', async () => {
    const quota = await rejection((await runDirect(await fake({ createHttpError: { status: 402, message: 'Payment required' } }), { prompt: 'x' })).result);
    expect([quota.code, quota.details.httpStatus]).toEqual(['PROVIDER_QUOTA', 402]);
    const auth = await rejection((await runDirect(await fake({ createHttpError: { status: 401, message: 'Unauthorized' } }), { prompt: 'x' })).result);
    expect(auth.code).toBe('PROVIDER_AUTH');
  });

  it('honours retry_after on 429 and retries 500 and malformed bodies', async () => {
    const server = await fake({ rateLimitFetches: 1, retryAfterSeconds: 12, transientFetches: 1, malformedFetches: 1, processingFetches: 0, eta: 0 });
    const { result, clock } = await runDirect(server, { prompt: 'x' });
    await result;
    // first wait: no eta → policy 5 s; 429 → max(12 s, 5 s); 500 → 5 s; malformed → 5 s.
    expect(clock.sleeps.filter((ms) => ms <= 15_000)).toEqual([5000, 12000, 5000, 5000]);
  });

  it('retries a future link that 404s for a moment after success', async () => {
    const server = await fake({ futureLinksOnly: true, notReadyDownloads: 2, processingFetches: 0 });
    const outcome = await (await runDirect(server, { prompt: 'x' })).result;
    expect(outcome.video.bytes.byteLength).toBeGreaterThan(1000);
    expect(server.requests.filter((r) => r.path.startsWith('/generations/'))).toHaveLength(3);
  });

  it('reports unknown job ids on fetch as not_found', async () => {
    const server = await fake();
    const adapter = createModelsLabAdapter({ baseUrl: server.url });
    const snapshot = await adapter.poll('999', { fetch, signal: new AbortController().signal });
    expect(snapshot).toMatchObject({ state: 'failed', error: { kind: 'not_found', providerMessage: 'Request not found' } });
  });
});

describe('ModelsLab through the proxy', () => {
  it('the proxy adds the key; the browser side never sends or receives it', async () => {
    const h = await harness({ modelslab: { echoKey: true } });
    const { result, tracked } = await viaProxy(h, { prompt: 'a boat', width: 256, height: 256, numFrames: 8, fps: 8, seed: 5 });
    const video = await result;
    expect(video).toMatchObject({ provider: 'modelslab', model: 'wan2.2', mimeType: 'video/mp4', codec: 'avc1.64000a', width: 64, height: 64, seed: 5 });
    expect(video.notes).toContain('the provider returned 64x64 (asked for 256x256)');
    // Upstream saw the key in the body…
    const create = h.modelslab.requests.find((r) => r.path === '/api/v6/video/text2video')!;
    expect(JSON.parse(create.body)).toMatchObject({ key: FAKE_MODELSLAB_KEY, output_type: 'mp4' });
    // …but every call of the browser side went to the proxy, none carried it, and no proxy answer echoed it.
    expect(tracked.calls.every((call) => call.includes(h.proxyUrl))).toBe(true);
    expect(tracked.calls.join('\n')).not.toContain(FAKE_MODELSLAB_KEY);
    expect(h.logs.join('\n')).not.toContain(FAKE_MODELSLAB_KEY);
    const direct = await fetch(`${h.proxyUrl}/v1/modelslab/api/v6/video/text2video`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${FAKE_PROXY_TOKEN}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ prompt: 'x', key: 'client-supplied', webhook: 'https://evil.example/hook' }),
    });
    const text = await direct.text();
    expect(text).not.toContain(FAKE_MODELSLAB_KEY);
    expect(text).toContain('[redacted]');
    expect(direct.headers.get('x-echo-key')).toBeNull();
    for (const [, value] of direct.headers) expect(value).not.toContain(FAKE_MODELSLAB_KEY);
    const forwarded = JSON.parse(h.modelslab.requests.at(-1)!.body) as Record<string, unknown>;
    expect(forwarded.key).toBe(FAKE_MODELSLAB_KEY);
    expect(forwarded).not.toHaveProperty('webhook');
  });

  it('a wrong proxy token is PROVIDER_AUTH from the proxy, and nothing reaches the provider', async () => {
    const h = await harness();
    const error = await rejection((await viaProxy(h, { prompt: 'x' }, { proxyToken: 'nope' })).result);
    expect(error.code).toBe('PROVIDER_AUTH');
    expect(error.details).toMatchObject({ httpStatus: 401, providerCode: 'PROXY_UNAUTHORIZED' });
    expect(h.modelslab.requests).toHaveLength(0);
  });
});
