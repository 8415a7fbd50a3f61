import { describe, expect, it } from 'vitest';
import { backoffDelay, nextPollDelay, runCloudJob } from '../../src/cloud/driver';
import { codeForKind, parseRetryAfter, providerError } from '../../src/cloud/http';
import type { CloudErrorKind, PollPolicy, ProviderAdapter, TaskSnapshot } from '../../src/cloud/types';
import { KinemaError } from '../../src/errors';
import type { ProgressEvent } from '../../src/progress/events';
import { createFakeClock } from '../support/fakes/fake-clock';

type Step = TaskSnapshot | KinemaError;

/** An in-memory adapter playing a script of poll answers; every call is recorded. */
function scripted(steps: Step[], options: { policy?: PollPolicy; submit?: Step[]; cancel?: boolean; download?: Step[] } = {}) {
  const calls: string[] = [];
  const submits = [...(options.submit ?? [{ taskId: 't1', state: 'queued' as const }])];
  const polls = [...steps];
  const downloads = [...(options.download ?? [])];
  const next = (queue: Step[], what: string): TaskSnapshot => {
    const step = queue.shift();
    if (!step) throw new Error(`script ran out at ${what}`);
    if (step instanceof KinemaError) throw step;
    return step;
  };
  const adapter: ProviderAdapter = {
    provider: 'dashscope',
    pollPolicy: options.policy ?? { initialDelayMs: 1000, factor: 2, maxDelayMs: 5000 },
    prepare: (request) => ({ provider: 'dashscope', model: 'm', body: { prompt: request.prompt }, width: 64, height: 64, durationSeconds: 1, notes: [] }),
    submit: async () => {
      calls.push('submit');
      return next(submits, 'submit');
    },
    poll: async (taskId) => {
      calls.push(`poll ${taskId}`);
      return next(polls, 'poll');
    },
    download: async (url) => {
      calls.push(`download ${url}`);
      const step = downloads.shift();
      if (step instanceof KinemaError) throw step;
      return { bytes: new Uint8Array([1, 2, 3]), mimeType: 'video/mp4' };
    },
  };
  if (options.cancel) {
    adapter.cancel = async (taskId) => {
      calls.push(`cancel ${taskId}`);
    };
  }
  return { adapter, calls };
}

const running = (extra: Partial<TaskSnapshot> = {}): TaskSnapshot => ({ taskId: 't1', state: 'running', ...extra });
const done: TaskSnapshot = { taskId: 't1', state: 'succeeded', videoUrl: 'https://storage.example/v.mp4' };
const transient = (kind: CloudErrorKind, httpStatus?: number, retryAfterMs?: number) =>
  providerError('dashscope', { kind, ...(httpStatus && { httpStatus }), ...(retryAfterMs !== undefined && { retryAfterMs }) }, 'poll');

/** Poll waits only: the deadline guard sleeps are the whole remaining budget, far longer. */
const pollWaits = (sleeps: number[]) => sleeps.filter((ms) => ms < 60_000);

describe('backoff', () => {
  it('follows the SDK schedule 1 → 2 → 4 → 5 s cap', () => {
    const policy = { initialDelayMs: 1000, factor: 2, maxDelayMs: 5000 };
    expect([0, 1, 2, 3, 4, 10].map((n) => backoffDelay(policy, n))).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it('uses the adapter hint, but never sooner than Retry-After', () => {
    const { adapter } = scripted([]);
    adapter.nextPollDelay = (s) => (s.etaSeconds !== undefined ? s.etaSeconds * 1000 : undefined);
    expect(nextPollDelay(adapter, running({ etaSeconds: 3 }), 0)).toBe(3000);
    expect(nextPollDelay(adapter, running(), 2)).toBe(4000);
    expect(nextPollDelay(adapter, running({ etaSeconds: 3, retryAfterMs: 8000 }), 0)).toBe(8000);
  });

  it('parses Retry-After seconds and HTTP dates', () => {
    expect(parseRetryAfter('7', 0)).toBe(7000);
    expect(parseRetryAfter('1.5', 0)).toBe(1500);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4000)).toBe(6000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
  });

  it('maps every common kind onto a KinemaError code', () => {
    expect(codeForKind('auth')).toBe('PROVIDER_AUTH');
    expect(codeForKind('rate_limit')).toBe('PROVIDER_RATE_LIMITED');
    expect(codeForKind('quota')).toBe('PROVIDER_QUOTA');
    expect(codeForKind('moderation')).toBe('PROVIDER_MODERATION');
    expect(codeForKind('invalid_request')).toBe('INVALID_REQUEST');
    expect(codeForKind('timeout')).toBe('TIMEOUT');
    for (const kind of ['not_found', 'canceled', 'server', 'network'] as const) expect(codeForKind(kind)).toBe('PROVIDER_FAILED');
  });
});

describe('the polling driver on a fake clock', () => {
  it('polls until success, emitting cloud events with elapsed time and a never-decreasing overall', async () => {
    const { adapter, calls } = scripted([running(), running(), running(), running(), done]);
    const clock = createFakeClock();
    const events: ProgressEvent[] = [];
    const outcome = await clock.run(runCloudJob(adapter, { prompt: 'x' }, { clock, onProgress: (e) => events.push(e) }));
    expect(calls).toEqual(['submit', 'poll t1', 'poll t1', 'poll t1', 'poll t1', 'poll t1', 'download https://storage.example/v.mp4']);
    expect(pollWaits(clock.sleeps)).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(outcome).toMatchObject({ polls: 5, generateMs: 17_000, totalMs: 17_000 });
    const cloud = events.filter((e): e is Extract<ProgressEvent, { type: 'cloud' }> => e.type === 'cloud');
    expect(cloud.map((e) => e.state)).toEqual(['submitting', 'queued', 'running', 'running', 'running', 'running', 'downloading', 'succeeded']);
    expect(cloud.map((e) => e.elapsedMs)).toEqual([0, 0, 1000, 3000, 7000, 12_000, 17_000, 17_000]);
    const overall = cloud.map((e) => e.overall);
    for (let i = 1; i < overall.length; i++) expect(overall[i]!).toBeGreaterThanOrEqual(overall[i - 1]!);
    expect(overall.at(-1)).toBe(1);
    expect(cloud.every((e) => e.provider === 'dashscope')).toBe(true);
  });

  it('waits Retry-After on a 429 poll, then carries on', async () => {
    const { adapter } = scripted([transient('rate_limit', 429, 30_000), running(), done]);
    const clock = createFakeClock();
    await clock.run(runCloudJob(adapter, { prompt: 'x' }, { clock }));
    expect(pollWaits(clock.sleeps)).toEqual([1000, 30_000, 2000]);
  });

  it('retries network and 5xx failures a bounded number of times, resetting after a success', async () => {
    const { adapter, calls } = scripted([transient('network'), transient('server', 502), running(), transient('server', 500), done]);
    const clock = createFakeClock();
    await clock.run(runCloudJob(adapter, { prompt: 'x' }, { clock, maxRetries: 2 }));
    expect(calls.filter((c) => c.startsWith('poll'))).toHaveLength(5);
    const failing = scripted([transient('network'), transient('network'), transient('network'), done]);
    const error = await clock.run(runCloudJob(failing.adapter, { prompt: 'x' }, { clock, maxRetries: 2 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).details.kind).toBe('network');
    expect(failing.calls.filter((c) => c.startsWith('poll'))).toHaveLength(3);
  });

  it('does not retry a non-transient failure, nor a create that may have reached the provider', async () => {
    const auth = scripted([transient('auth', 401), done]);
    const clock = createFakeClock();
    await expect(clock.run(runCloudJob(auth.adapter, { prompt: 'x' }, { clock }))).rejects.toMatchObject({ code: 'PROVIDER_AUTH' });
    expect(auth.calls).toEqual(['submit', 'poll t1']);
    const created500 = scripted([done], { submit: [transient('server', 500), { taskId: 't1', state: 'queued' }] });
    await expect(clock.run(runCloudJob(created500.adapter, { prompt: 'x' }, { clock }))).rejects.toMatchObject({ code: 'PROVIDER_FAILED' });
    expect(created500.calls).toEqual(['submit']);
    const busy503 = scripted([done], { submit: [transient('server', 503), { taskId: 't1', state: 'queued' }] });
    await clock.run(runCloudJob(busy503.adapter, { prompt: 'x' }, { clock }));
    expect(busy503.calls.slice(0, 2)).toEqual(['submit', 'submit']);
  });

  it('turns terminal provider states into errors with the right codes', async () => {
    const clock = createFakeClock();
    const cases: Array<[TaskSnapshot, string, string]> = [
      [{ taskId: 't1', state: 'failed', error: { kind: 'moderation', providerCode: 'DataInspectionFailed' } }, 'PROVIDER_MODERATION', 'moderation'],
      [{ taskId: 't1', state: 'failed', error: { kind: 'quota', providerCode: 'Arrearage' } }, 'PROVIDER_QUOTA', 'quota'],
      [{ taskId: 't1', state: 'expired', error: { kind: 'not_found', providerCode: 'UNKNOWN' } }, 'PROVIDER_FAILED', 'not_found'],
      [{ taskId: 't1', state: 'canceled', providerStatus: 'CANCELED' }, 'PROVIDER_FAILED', 'canceled'],
    ];
    for (const [snapshot, code, kind] of cases) {
      const events: ProgressEvent[] = [];
      const { adapter } = scripted([snapshot]);
      const error = (await clock.run(runCloudJob(adapter, { prompt: 'x' }, { clock, onProgress: (e) => events.push(e) })).catch((e: unknown) => e)) as KinemaError;
      expect([error.code, error.details.kind, error.details.taskId]).toEqual([code, kind, 't1']);
      expect(events.at(-1)).toMatchObject({ type: 'cloud', state: snapshot.state === 'failed' ? 'failed' : snapshot.state });
    }
  });

  it('times out with TIMEOUT, without sleeping past the deadline, and cancels best-effort', async () => {
    const { adapter, calls } = scripted(Array.from({ length: 100 }, () => running()), { cancel: true });
    const clock = createFakeClock();
    const started = clock.now();
    const error = (await clock.run(runCloudJob(adapter, { prompt: 'x' }, { clock, timeoutMs: 20_000 })).catch((e: unknown) => e)) as KinemaError;
    expect(error.code).toBe('TIMEOUT');
    expect(error.details).toMatchObject({ kind: 'timeout', timeoutMs: 20_000, taskId: 't1', lastState: 'running', cancelRequested: true });
    expect(clock.now() - started).toBe(20_000);
    expect(calls.at(-1)).toBe('cancel t1');
  });

  it('on abort: cancels the provider job, emits canceled, rejects ABORTED; an already-aborted signal never submits', async () => {
    const { adapter, calls } = scripted(Array.from({ length: 100 }, () => running()), { cancel: true });
    const clock = createFakeClock();
    const controller = new AbortController();
    const events: ProgressEvent[] = [];
    const job = runCloudJob(adapter, { prompt: 'x' }, { clock, signal: controller.signal, onProgress: (e) => events.push(e) });
    // Three polls in, the user stops it.
    const stopped = job.catch((e: unknown) => e);
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setImmediate(r));
      clock.advance(5000);
    }
    controller.abort();
    const error = (await stopped) as KinemaError;
    expect(error.code).toBe('ABORTED');
    expect(error.details).toMatchObject({ kind: 'canceled', cancelRequested: true, taskId: 't1' });
    expect(calls.at(-1)).toBe('cancel t1');
    expect(events.at(-1)).toMatchObject({ type: 'cloud', state: 'canceled' });

    const early = scripted([done]);
    const aborted = new AbortController();
    aborted.abort();
    await expect(runCloudJob(early.adapter, { prompt: 'x' }, { clock, signal: aborted.signal })).rejects.toMatchObject({ code: 'ABORTED' });
    expect(early.calls).toEqual([]);
  });

  it('a throwing progress listener does not end the job; bad options throw at once', async () => {
    const { adapter } = scripted([done]);
    const clock = createFakeClock();
    const onProgress = () => {
      throw new Error('listener bug');
    };
    await expect(clock.run(runCloudJob(adapter, { prompt: 'x' }, { clock, onProgress }))).resolves.toMatchObject({ polls: 1 });
    await expect(runCloudJob(adapter, { prompt: 'x' }, { timeoutMs: 0 })).rejects.toThrow(RangeError);
    await expect(runCloudJob(adapter, { prompt: 'x' }, { maxRetries: -1 })).rejects.toThrow(RangeError);
  });
});
