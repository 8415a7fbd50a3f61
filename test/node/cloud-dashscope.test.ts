import { afterEach, describe, expect, it } from 'vitest';
import { createDashScopeAdapter, dashScopeSizes, snapDashScopeDuration, snapDashScopeSize } from '../../src/cloud/dashscope';
import { runCloudJob } from '../../src/cloud/driver';
import { probeMp4 } from '../../src/cloud/mp4';
import type { CloudRequest } from '../../src/cloud/types';
import { KinemaError } from '../../src/errors';
import type { ProgressEvent } from '../../src/progress/events';
import { createFakeClock, trackFetch } from '../support/fakes/fake-clock';
import { FAKE_DASHSCOPE_KEY, startFakeDashScope, type FakeDashScope, type FakeDashScopeOptions } from '../support/fakes/fake-dashscope';
import { rejection } from '../support/rejection';

const servers: FakeDashScope[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function fake(options: FakeDashScopeOptions = {}) {
  const server = await startFakeDashScope(options);
  servers.push(server);
  return server;
}

/** Runs a DashScope job directly against a fake (the Node/server-side way: key in the Authorization header). */
async function run(server: FakeDashScope, request: CloudRequest, extra: { key?: string; timeoutMs?: number; maxRetries?: number; signal?: AbortSignal } = {}) {
  const clock = createFakeClock();
  const tracked = trackFetch();
  const events: ProgressEvent[] = [];
  const adapter = createDashScopeAdapter({ baseUrl: server.url, headers: { Authorization: `Bearer ${extra.key ?? FAKE_DASHSCOPE_KEY}` } });
  const promise = runCloudJob(adapter, request, {
    fetch: tracked.fetch,
    clock,
    onProgress: (e) => events.push(e),
    ...(extra.timeoutMs !== undefined && { timeoutMs: extra.timeoutMs }),
    ...(extra.maxRetries !== undefined && { maxRetries: extra.maxRetries }),
    ...(extra.signal && { signal: extra.signal }),
  });
  return { promise: clock.run(promise, tracked.inflight), clock, events, tracked };
}

describe('DashScope request normalization', () => {
  const adapter = createDashScopeAdapter({ baseUrl: 'http://unused' });

  it('snaps size by aspect first, then area, and reports it', () => {
    expect(snapDashScopeSize('wan2.1-t2v-turbo', 512, 288)).toMatchObject({ size: '832*480' });
    expect(snapDashScopeSize('wan2.1-t2v-turbo', 1000, 1000)).toMatchObject({ size: '960*960' });
    expect(snapDashScopeSize('wan2.2-t2v-plus', 300, 600)).toMatchObject({ size: '480*832' });
    // 720P is not offered by wan2.2-t2v-plus: the 16:9 shape wins, then the nearer area.
    expect(snapDashScopeSize('wan2.2-t2v-plus', 1280, 720)).toMatchObject({ size: '1920*1080' });
    expect(snapDashScopeSize('wan2.6-t2v', 832, 480)).toMatchObject({ size: '1280*720' });
    expect(snapDashScopeSize('wan2.6-t2v', 1600, 1200)).toMatchObject({ size: '1632*1248' });
    expect(snapDashScopeSize('wan2.6-t2v', 800, 600)).toMatchObject({ size: '1088*832' });
    const job = adapter.prepare({ prompt: 'a cat', width: 512, height: 288, model: 'wan2.1-t2v-turbo' });
    expect(job.body).toMatchObject({ model: 'wan2.1-t2v-turbo', parameters: { size: '832*480' } });
    expect(job.notes).toContain('size snapped to 832*480');
    expect([job.width, job.height]).toEqual([832, 480]);
  });

  it('lists exactly the sizes of each model tier', () => {
    expect(dashScopeSizes('wan2.1-t2v-plus')).toEqual(['1280*720', '720*1280', '960*960', '1088*832', '832*1088']);
    expect(dashScopeSizes('wan2.6-t2v')).toHaveLength(10);
    expect(dashScopeSizes('wan2.5-t2v-preview')).toHaveLength(13);
  });

  it('clamps duration into the model range and reports it', () => {
    expect(snapDashScopeDuration('wan2.6-t2v', 1)).toBe(2);
    expect(snapDashScopeDuration('wan2.6-t2v', 20)).toBe(15);
    expect(snapDashScopeDuration('wan2.6-t2v', 7.4)).toBe(7);
    expect(snapDashScopeDuration('wan2.5-t2v-preview', 8)).toBe(10);
    expect(snapDashScopeDuration('wan2.2-t2v-plus', 2)).toBe(5);
    const job = adapter.prepare({ prompt: 'a cat', numFrames: 16, fps: 8, model: 'wan2.5-t2v-preview' });
    expect(job.body).toMatchObject({ parameters: { duration: 5 } });
    expect(job.notes.some((n) => n.includes('duration 2 s → 5 s'))).toBe(true);
    expect(job).toMatchObject({ fps: 30, numFrames: 150, durationSeconds: 5 });
  });

  it('maps negative prompt, seed and provider options onto the wire body', () => {
    const job = adapter.prepare({
      prompt: 'waves',
      negativePrompt: 'blurry',
      seed: 2147483647,
      width: 1280,
      height: 720,
      model: 'wan2.6-t2v',
      providerOptions: { dashscope: { shotType: 'multi', audioUrl: 'https://example.com/a.mp3', promptExtend: false, watermark: true } },
    });
    expect(job.body).toEqual({
      model: 'wan2.6-t2v',
      input: { prompt: 'waves', negative_prompt: 'blurry', audio_url: 'https://example.com/a.mp3' },
      parameters: { size: '1280*720', duration: 5, prompt_extend: false, watermark: true, seed: 2147483647, shot_type: 'multi' },
    });
    expect(adapter.prepare({ prompt: 'x', width: 832, height: 480 }).body).toMatchObject({ parameters: { prompt_extend: true, watermark: false } });
  });

  it('refuses caller mistakes at once with a message that says how to fix them', () => {
    expect(() => adapter.prepare({ prompt: 'x'.repeat(801), model: 'wan2.2-t2v-plus' })).toThrow(/at most 800/);
    expect(() => adapter.prepare({ prompt: 'x'.repeat(1200), model: 'wan2.5-t2v-preview' })).not.toThrow();
    expect(() => adapter.prepare({ prompt: 'x', negativePrompt: 'n'.repeat(501) })).toThrow(RangeError);
    expect(() => adapter.prepare({ prompt: 'x', seed: 2147483648 })).toThrow(/`?seed`? must be an integer from 0 to 2147483647/);
    expect(() => adapter.prepare({ prompt: 'x', seed: -1 })).toThrow(RangeError);
    expect(() => adapter.prepare({ prompt: 'x', model: 'wan9' })).toThrow(/use one of wan2\.6-t2v/);
    expect(() => adapter.prepare({ prompt: 'x', providerOptions: { dashscope: { shotType: 'multi' } } })).toThrow(/only accepted by wan2\.6-t2v/);
    expect(() => adapter.prepare({ prompt: '  ' })).toThrow(RangeError); // the same kind the API throws for a blank prompt
  });
});

describe('DashScope adapter against the fake, directly', () => {
  it('submits with the async header, polls with 1→2→4→5 s backoff, and downloads the video', async () => {
    const server = await fake({ pendingPolls: 2, runningPolls: 3 });
    const { promise, clock, events } = await run(server, { prompt: 'a red fox', width: 832, height: 480, seed: 7 });
    const outcome = await promise;
    const create = server.requests[0]!;
    expect(create.headers['x-dashscope-async']).toBe('enable');
    expect(create.headers.authorization).toBe(`Bearer ${FAKE_DASHSCOPE_KEY}`);
    expect(JSON.parse(create.body)).toMatchObject({ model: 'wan2.2-t2v-plus', input: { prompt: 'a red fox' }, parameters: { size: '832*480', seed: 7 } });
    expect(outcome.polls).toBe(6);
    // Poll waits only (the deadline guards are longer): the SDK schedule, capped at 5 s.
    expect(clock.sleeps.filter((ms) => ms <= 5000)).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
    expect(probeMp4(outcome.video.bytes)).toMatchObject({ codec: 'avc1.64000a', width: 64, height: 64, numFrames: 8 });
    expect(outcome.snapshot.extra).toMatchObject({ actualPrompt: 'a red fox, cinematic lighting' });
    const states = events.map((e) => (e.type === 'cloud' ? e.state : e.type));
    expect(states[0]).toBe('submitting');
    expect(states).toContain('queued');
    expect(states).toContain('running');
    expect(states.slice(-2)).toEqual(['downloading', 'succeeded']);
    const overall = events.map((e) => e.overall);
    expect(overall).toEqual([...overall].sort((a, b) => a - b));
    expect(overall.at(-1)).toBe(1);
  });

  it('maps a FAILED task with DataInspectionFailed to PROVIDER_MODERATION, keeping the provider code', async () => {
    const server = await fake({ outcome: 'moderation' });
    const error = await rejection((await run(server, { prompt: 'x' })).promise);
    expect(error.code).toBe('PROVIDER_MODERATION');
    expect(error.details).toMatchObject({ provider: 'dashscope', kind: 'moderation', providerCode: 'DataInspectionFailed', state: 'failed' });
  });

  it('maps a create-time moderation refusal (HTTP 400) to PROVIDER_MODERATION', async () => {
    const server = await fake();
    const error = await rejection((await run(server, { prompt: 'x [fake:moderation-create]' })).promise);
    expect(error.code).toBe('PROVIDER_MODERATION');
    expect(error.details).toMatchObject({ httpStatus: 400, providerCode: 'DataInspectionFailed' });
  });

  it('maps FAILED InternalError to PROVIDER_FAILED/server and UNKNOWN to not_found', async () => {
    const failed = await rejection((await run(await fake({ outcome: 'internal-error' }), { prompt: 'x' })).promise);
    expect(failed.code).toBe('PROVIDER_FAILED');
    expect(failed.details).toMatchObject({ kind: 'server', providerCode: 'InternalError' });
    const unknown = await rejection((await run(await fake({ outcome: 'unknown' }), { prompt: 'x' })).promise);
    expect(unknown.code).toBe('PROVIDER_FAILED');
    expect(unknown.details).toMatchObject({ kind: 'not_found', state: 'expired', providerCode: 'UNKNOWN' });
  });

  it('maps auth, quota, rate limit, invalid parameter and unknown model', async () => {
    const auth = await rejection((await run(await fake(), { prompt: 'x' }, { key: 'sk-wrong' })).promise);
    expect(auth.code).toBe('PROVIDER_AUTH');
    expect(auth.details).toMatchObject({ httpStatus: 401, providerCode: 'InvalidApiKey' });
    const cases = [
      [{ status: 400, code: 'Arrearage', message: 'Access denied, please make sure your account is in good standing.' }, 'PROVIDER_QUOTA', 'quota'],
      [{ status: 429, code: 'Throttling.AllocationQuota', message: 'Free allocated quota exceeded.' }, 'PROVIDER_QUOTA', 'quota'],
      [{ status: 400, code: 'InvalidParameter', message: 'The size is not match the allowed size.' }, 'INVALID_REQUEST', 'invalid_request'],
      [{ status: 404, code: 'ModelNotFound', message: 'Model not exist.' }, 'MODEL_NOT_FOUND', 'not_found'],
      [{ status: 403, code: 'AccessDenied', message: 'Access denied.' }, 'PROVIDER_AUTH', 'auth'],
      [{ status: 500, code: 'InternalError', message: 'oops' }, 'PROVIDER_FAILED', 'server'],
    ] as const;
    for (const [createError, code, kind] of cases) {
      const error = await rejection((await run(await fake({ createError }), { prompt: 'x' })).promise);
      expect([error.code, error.details.kind, error.details.providerCode]).toEqual([code, kind, createError.code]);
    }
  });

  it('honours Retry-After on 429 and retries 503 and malformed bodies within the budget', async () => {
    const server = await fake({ rateLimitPolls: 1, retryAfterSeconds: 7, transientPolls: 2, malformedPolls: 1, pendingPolls: 0, runningPolls: 0 });
    const { promise, clock } = await run(server, { prompt: 'x' });
    await promise;
    const waits = clock.sleeps.filter((ms) => ms <= 10_000);
    // first poll wait 1 s; 429 → max(7 s, backoff 1 s); 503 → 2 s; 503 → 4 s; malformed → 5 s (cap).
    expect(waits).toEqual([1000, 7000, 2000, 4000, 5000]);
  });

  it('gives up after maxRetries consecutive transient failures', async () => {
    const server = await fake({ transientPolls: 10 });
    const error = await rejection((await run(server, { prompt: 'x' }, { maxRetries: 2 })).promise);
    expect(error.code).toBe('PROVIDER_FAILED');
    expect(error.details).toMatchObject({ kind: 'server', httpStatus: 503, providerCode: 'ModelUnavailable' });
    expect(server.requests.filter((r) => r.path.startsWith('/api/v1/tasks/'))).toHaveLength(3);
  });

  it('times out a slow queue with TIMEOUT and asks the provider to cancel', async () => {
    const server = await fake({ pendingPolls: 1000 });
    const error = await rejection((await run(server, { prompt: 'x' }, { timeoutMs: 30_000 })).promise);
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toMatchObject({ provider: 'dashscope', kind: 'timeout', lastState: 'queued', cancelRequested: true });
    expect(server.requests.at(-1)!.path).toMatch(/^\/api\/v1\/tasks\/fake-task-1\/cancel$/);
    expect([...server.tasks.values()][0]!.canceled).toBe(true);
  });

  /**
   * Fake time with hung polls: the fake clock only jumps while no request is in flight, so requests the
   * fake never answers (the first `hung` polls) are not counted as in flight. No real time is waited.
   */
  function runWithHungPolls(server: FakeDashScope, hung: number, options: { timeoutMs: number; requestTimeoutMs?: number }) {
    const clock = createFakeClock();
    const tracked = trackFetch();
    let polls = 0;
    let hungNow = 0;
    const hangAware: typeof fetch = (input, init) => {
      const isPoll = (init?.method ?? 'GET') === 'GET' && /\/api\/v1\/tasks\/[^/]+$/.test(String(input));
      const hangs = isPoll && polls++ < hung;
      if (hangs) hungNow++;
      const response = tracked.fetch(input, init);
      if (hangs) response.finally(() => hungNow--).catch(() => undefined);
      return response;
    };
    const adapter = createDashScopeAdapter({ baseUrl: server.url, headers: { Authorization: `Bearer ${FAKE_DASHSCOPE_KEY}` } });
    const started = clock.now();
    const promise = runCloudJob(adapter, { prompt: 'x' }, { fetch: hangAware, clock, ...options });
    return { promise: clock.run(promise, () => tracked.inflight() - hungNow), clock, started };
  }

  it('aborts a hung poll at the deadline (fake clock)', async () => {
    const server = await fake({ hangPolls: 5, pendingPolls: 0 });
    const { promise, clock, started } = runWithHungPolls(server, 5, { timeoutMs: 1500 });
    const error = await rejection(promise);
    expect(error.code).toBe('TIMEOUT');
    // It gave up at the deadline (fake time), not later.
    expect(clock.now() - started).toBe(1500);
  });

  it('abandons a hung poll after requestTimeoutMs and retries it (fake clock)', async () => {
    const server = await fake({ hangPolls: 1, pendingPolls: 0, runningPolls: 0 });
    const { promise, clock } = runWithHungPolls(server, 1, { requestTimeoutMs: 300, timeoutMs: 20_000 });
    const outcome = await promise;
    expect(outcome.polls).toBe(1);
    expect(clock.sleeps).toContain(300);
    expect(server.requests.filter((r) => r.path === '/api/v1/tasks/fake-task-1')).toHaveLength(2);
  });

  it('on abort cancels the pending task, emits canceled and rejects with ABORTED', async () => {
    const server = await fake({ pendingPolls: 1000 });
    const controller = new AbortController();
    const { promise, events } = await run(server, { prompt: 'x' }, { signal: controller.signal });
    const watching = promise.catch((e: unknown) => e);
    // Abort once the job has polled a few times.
    for (let i = 0; i < 500 && server.requests.length < 3; i++) await new Promise((r) => setTimeout(r, 5));
    controller.abort(new Error('user clicked stop'));
    const error = (await watching) as KinemaError;
    expect(error).toBeInstanceOf(KinemaError);
    expect(error.code).toBe('ABORTED');
    expect(error.message).toContain('user clicked stop');
    expect(error.details).toMatchObject({ provider: 'dashscope', kind: 'canceled', cancelRequested: true, taskId: 'fake-task-1' });
    expect(server.requests.some((r) => r.method === 'POST' && r.path.endsWith('/cancel'))).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'cloud', state: 'canceled' });
  });

  it('reports a result URL that has expired as DOWNLOAD_FAILED', async () => {
    const server = await fake({ resultTtlMs: -1 });
    const error = await rejection((await run(server, { prompt: 'x' })).promise);
    expect(error.code).toBe('DOWNLOAD_FAILED');
    expect(error.details).toMatchObject({ kind: 'not_found', httpStatus: 403 });
  });

  it('the fake refuses a create without the async header, like the real service', async () => {
    const server = await fake();
    const response = await fetch(`${server.url}/api/v1/services/aigc/video-generation/video-synthesis`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${FAKE_DASHSCOPE_KEY}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'wan2.2-t2v-plus', input: { prompt: 'x' } }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ code: 'AccessDenied', message: 'current user api does not support synchronous calls' });
  });
});
