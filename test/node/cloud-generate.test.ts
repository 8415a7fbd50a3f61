import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { generateInCloud, proxyEndpoint, type GenerateInCloudOptions } from '../../src/cloud/generate';
import { probeMp4 } from '../../src/cloud/mp4';
import type { CloudRequest } from '../../src/cloud/types';
import { KinemaError } from '../../src/errors';
import type { ProgressEvent } from '../../src/progress/events';
import { createFakeClock, trackFetch } from '../support/fakes/fake-clock';
import { FAKE_DASHSCOPE_KEY } from '../support/fakes/fake-dashscope';
import { FAKE_PROXY_TOKEN, startProxyHarness, type ProxyHarness } from '../support/fakes/proxy-harness';
import { TINY_MP4_PATH, tinyMp4 } from '../support/fakes/tiny-video';
import { rejection } from '../support/rejection';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

async function harness(options: Parameters<typeof startProxyHarness>[0] = {}): Promise<ProxyHarness> {
  const h = await startProxyHarness(options);
  cleanups.push(() => h.close());
  return h;
}

function generate(h: ProxyHarness, request: CloudRequest, extra: Partial<GenerateInCloudOptions> = {}) {
  const clock = createFakeClock();
  const tracked = trackFetch();
  const events: ProgressEvent[] = [];
  const promise = generateInCloud(request, {
    provider: 'dashscope',
    proxyUrl: h.proxyUrl,
    proxyToken: FAKE_PROXY_TOKEN,
    fetch: tracked.fetch,
    clock,
    onProgress: (e) => events.push(e),
    ...extra,
  });
  return { result: clock.run(promise, tracked.inflight), clock, tracked, events };
}

describe('generateInCloud (DashScope through the proxy)', () => {
  it('returns the video Blob with what was actually generated, and notes for every adjustment', async () => {
    const h = await harness({ dashscope: { pendingPolls: 1, runningPolls: 2 } });
    const { result, tracked, events } = generate(h, { prompt: 'a lighthouse at dusk', width: 512, height: 288, numFrames: 16, fps: 8, seed: 42, model: 'wan2.1-t2v-turbo' });
    const video = await result;
    expect(video.video).toBeInstanceOf(Blob);
    expect(video.video.type).toBe('video/mp4');
    expect(new Uint8Array(await video.video.arrayBuffer())).toEqual(tinyMp4());
    expect(video).toMatchObject({
      provider: 'dashscope',
      model: 'wan2.1-t2v-turbo',
      mimeType: 'video/mp4',
      codec: 'avc1.64000a',
      // What the file really is (the fake always serves the 64x64 fixture).
      width: 64,
      height: 64,
      numFrames: 8,
      fps: 8,
      durationSeconds: 1,
      seed: 42,
      taskId: 'fake-task-1',
    });
    expect(video.notes).toEqual([
      'size snapped to 832*480',
      'duration 2 s → 5 s (the range wan2.1-t2v-turbo accepts)',
      'fps is fixed at 30 by the provider',
      'the provider returned 64x64 (asked for 832x480)',
    ]);
    expect(video.timings.polls).toBe(4);
    expect(video.timings.generateMs).toBe(1000 + 2000 + 4000 + 5000);
    // The browser side only ever talked to the proxy, with the proxy token, never the provider key.
    expect(tracked.calls.every((c) => c.includes(h.proxyUrl))).toBe(true);
    expect(tracked.calls.at(-1)).toMatch(/\/v1\/video\?url=http%3A%2F%2F127\.0\.0\.1/);
    expect(tracked.calls.join('\n')).not.toContain(FAKE_DASHSCOPE_KEY);
    expect(h.dashscope.requests[0]!.headers.authorization).toBe(`Bearer ${FAKE_DASHSCOPE_KEY}`);
    const states = events.map((e) => (e.type === 'cloud' ? e.state : e.type));
    // create answers PENDING, then one PENDING poll, two RUNNING, then SUCCEEDED (not announced until the bytes are here).
    expect(states).toEqual(['submitting', 'queued', 'queued', 'running', 'running', 'downloading', 'succeeded']);
  });

  it('options.model overrides request.model; a bad proxy URL or provider is a caller mistake', async () => {
    const h = await harness({ dashscope: { pendingPolls: 0, runningPolls: 0 } });
    const { result } = generate(h, { prompt: 'x', model: 'wan2.1-t2v-turbo' }, { model: 'wan2.6-t2v' });
    expect((await result).model).toBe('wan2.6-t2v');
    await expect(generateInCloud({ prompt: 'x' }, { provider: 'dashscope', proxyUrl: 'not a url' })).rejects.toThrow(TypeError);
    await expect(generateInCloud({ prompt: 'x' }, { provider: 'replicate' as 'dashscope', proxyUrl: h.proxyUrl })).rejects.toThrow(RangeError);
    await expect(generateInCloud({ prompt: 'x', seed: 1.5 }, { provider: 'dashscope', proxyUrl: h.proxyUrl })).rejects.toThrow(RangeError);
  });

  it('maps a moderation failure, an expired result URL, and a proxy without the key', async () => {
    const moderation = await rejection(generate(await harness({ dashscope: { outcome: 'moderation' } }), { prompt: 'x' }).result);
    expect(moderation.code).toBe('PROVIDER_MODERATION');
    expect(moderation.details).toMatchObject({ provider: 'dashscope', providerCode: 'DataInspectionFailed' });

    const expired = await rejection(generate(await harness({ dashscope: { resultTtlMs: -1 } }), { prompt: 'x' }).result);
    expect(expired.code).toBe('DOWNLOAD_FAILED');
    expect(expired.details).toMatchObject({ kind: 'not_found', httpStatus: 502, upstreamStatus: 403, providerCode: 'PROXY_UPSTREAM_STATUS' });

    const unconfigured = await rejection(generate(await harness({ proxy: { dashscopeApiKey: undefined } }), { prompt: 'x' }).result);
    expect(unconfigured.code).toBe('PROVIDER_AUTH');
    expect(unconfigured.details).toMatchObject({ providerCode: 'PROXY_NOT_CONFIGURED', providerMessage: 'DASHSCOPE_API_KEY is not set on the proxy' });
  });

  it("waits out the proxy's own 429 using its Retry-After", async () => {
    const clock = createFakeClock();
    // The proxy's token bucket runs on the same fake time as the driver.
    const h = await harness({ proxy: { rateLimit: { burst: 2, perSecond: 0.25 }, now: () => clock.now() }, dashscope: { pendingPolls: 0, runningPolls: 0 } });
    const tracked = trackFetch();
    const promise = generateInCloud({ prompt: 'x' }, { provider: 'dashscope', proxyUrl: h.proxyUrl, proxyToken: FAKE_PROXY_TOKEN, fetch: tracked.fetch, clock });
    const video = await clock.run(promise, tracked.inflight);
    expect(video.video.size).toBeGreaterThan(1000);
    // submit + poll (1 s later) use the burst; the download finds 0.25 tokens → 429 Retry-After 3 s, then succeeds.
    expect(clock.sleeps.filter((ms) => ms < 60_000)).toEqual([1000, 3000]);
    expect(h.logs.filter((l) => l.startsWith('GET /v1/video 429'))).toHaveLength(1);
  });

  it('abort through the proxy cancels the upstream task and rejects ABORTED', async () => {
    const h = await harness({ dashscope: { pendingPolls: 1000 } });
    const controller = new AbortController();
    const { result } = generate(h, { prompt: 'x' }, { signal: controller.signal });
    const settled = result.catch((e: unknown) => e);
    for (let i = 0; i < 500 && h.dashscope.requests.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    const error = (await settled) as KinemaError;
    expect(error.code).toBe('ABORTED');
    expect(error.details.cancelRequested).toBe(true);
    expect(h.dashscope.tasks.get('fake-task-1')!.canceled).toBe(true);
  });
});

describe('failure kinds through the proxy, both providers', () => {
  const cases: Array<[string, Parameters<typeof startProxyHarness>[0], GenerateInCloudOptions['provider'], string, Record<string, unknown>]> = [
    ['DashScope FAILED InternalError', { dashscope: { outcome: 'internal-error' } }, 'dashscope', 'PROVIDER_FAILED', { kind: 'server', providerCode: 'InternalError' }],
    ['DashScope UNKNOWN task', { dashscope: { outcome: 'unknown' } }, 'dashscope', 'PROVIDER_FAILED', { kind: 'not_found', state: 'expired' }],
    ['DashScope Arrearage', { dashscope: { createError: { status: 400, code: 'Arrearage', message: 'Access denied, please make sure your account is in good standing.' } } }, 'dashscope', 'PROVIDER_QUOTA', { httpStatus: 400 }],
    ['DashScope 429 Throttling on create, then never better', { dashscope: { createError: { status: 429, code: 'Throttling', message: 'Requests throttling triggered.' } } }, 'dashscope', 'PROVIDER_RATE_LIMITED', { httpStatus: 429 }],
    ['ModelsLab NSFW inside HTTP 200', { modelslab: { outcome: 'nsfw' } }, 'modelslab', 'PROVIDER_MODERATION', { httpStatus: 200 }],
    ['ModelsLab legacy messege', { modelslab: { createErrorInBody: { message: 'Insufficient credits', legacySpelling: true } } }, 'modelslab', 'PROVIDER_QUOTA', { providerMessage: 'Insufficient credits' }],
    ['ModelsLab 402', { modelslab: { createHttpError: { status: 402, message: 'Payment Required' } } }, 'modelslab', 'PROVIDER_QUOTA', { httpStatus: 402 }],
    ['ModelsLab failed', { modelslab: { outcome: 'failed' } }, 'modelslab', 'PROVIDER_FAILED', { kind: 'server' }],
  ];
  for (const [name, options, provider, code, details] of cases) {
    it(`${name} → ${code}`, async () => {
      const h = await harness(options);
      const error = await rejection(generate(h, { prompt: 'x', width: 256, height: 256, numFrames: 8, fps: 8 }, { provider, maxRetries: 1 }).result);
      expect(error.code).toBe(code);
      expect(error.details).toMatchObject({ provider, ...details });
    });
  }

  it('ModelsLab through the proxy honours retry_after and times out a slow queue with TIMEOUT', async () => {
    const slow = await harness({ modelslab: { rateLimitFetches: 1, retryAfterSeconds: 11, processingFetches: 1000, eta: 30 } });
    const { result, clock } = generate(slow, { prompt: 'x', width: 256, height: 256 }, { provider: 'modelslab', timeoutMs: 60_000 });
    const error = await rejection(result);
    expect(error.code).toBe('TIMEOUT');
    // eta 30 s → 5 s polls; the 429 made it wait its 11 s.
    expect(clock.sleeps.filter((ms) => ms === 11_000)).toHaveLength(1);
    expect(clock.sleeps.filter((ms) => ms === 5000).length).toBeGreaterThan(5);
    // It stops exactly at the deadline, never sleeping past it (the fake clock starts at 1_000_000).
    expect(clock.now()).toBe(1_000_000 + 60_000);
    // ModelsLab has no cancel endpoint: nothing to ask.
    expect(error.details.cancelRequested).toBe(false);
  });
});

describe('proxyEndpoint', () => {
  it('routes a provider under /v1/{provider} and videos through /v1/video', () => {
    const endpoint = proxyEndpoint('modelslab', 'http://127.0.0.1:8787/', 'tok');
    expect(endpoint.baseUrl).toBe('http://127.0.0.1:8787/v1/modelslab');
    expect(endpoint.headers).toEqual({ Authorization: 'Bearer tok' });
    expect(endpoint.videoUrl!('https://cdn.example/a b.mp4?sig=1&x=2')).toBe('http://127.0.0.1:8787/v1/video?url=https%3A%2F%2Fcdn.example%2Fa%20b.mp4%3Fsig%3D1%26x%3D2');
    expect(proxyEndpoint('dashscope', 'https://api.example/kinema').baseUrl).toBe('https://api.example/kinema/v1/dashscope');
    expect(() => proxyEndpoint('dashscope', 'ftp://x')).toThrow(TypeError);
  });
});

describe('probeMp4', () => {
  it('reads codec, size, frame count and duration of the fixture', () => {
    expect(probeMp4(new Uint8Array(readFileSync(TINY_MP4_PATH)))).toEqual({ codec: 'avc1.64000a', width: 64, height: 64, numFrames: 8, durationSeconds: 1 });
  });

  it('returns undefined for anything that is not an MP4 with a video track, and survives truncation', () => {
    const bytes = tinyMp4();
    expect(probeMp4(new TextEncoder().encode('<html>not a video</html>'))).toBeUndefined();
    expect(probeMp4(new Uint8Array(0))).toBeUndefined();
    for (const cut of [8, 40, 200, 700, bytes.length - 1]) expect(() => probeMp4(bytes.subarray(0, cut))).not.toThrow();
  });

  it('reports a HEVC sample entry by its fourcc', () => {
    const bytes = tinyMp4().slice();
    const text = new TextDecoder('latin1').decode(bytes);
    const at = text.indexOf('avc1', text.indexOf('stsd')); // not the 'avc1' brand in ftyp
    bytes.set([0x68, 0x76, 0x63, 0x31], at); // 'hvc1'
    expect(probeMp4(bytes)?.codec).toBe('hvc1');
  });
});
