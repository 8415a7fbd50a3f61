/**
 * The one polling driver every adapter runs under: submit → poll with capped exponential backoff
 * (or the adapter's `eta` hint, never sooner than `Retry-After`) → download. Transient failures
 * (network, 5xx, malformed bodies, 429) are retried a bounded number of times; an overall deadline
 * ends the job with TIMEOUT; an AbortSignal ends it with ABORTED after a best-effort provider cancel.
 * Time comes from an injected clock so tests run on fake time.
 */
import { KinemaError, abortError, isKinemaError, throwIfAborted } from '../errors';
import type { ProgressListener } from '../progress/events';
import type { CloudState } from '../progress/events';
import { providerError } from './http';
import type { CallContext, CloudClock, CloudJobState, DownloadedVideo, PollPolicy, PreparedJob, ProviderAdapter, CloudRequest, TaskSnapshot } from './types';

export const DEFAULT_TIMEOUT_MS = 15 * 60_000;
export const DEFAULT_MAX_RETRIES = 4;
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
const CANCEL_TIMEOUT_MS = 5000;
/** Without a provider estimate, progress creeps towards 0.85 on this time scale. */
const EXPECTED_RUN_MS = 120_000;

export interface DriverOptions {
  fetch?: typeof fetch;
  clock?: CloudClock;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Whole job, submit to downloaded bytes. Default 15 min. */
  timeoutMs?: number;
  /** Consecutive transient failures tolerated per call before giving up. Default 4. */
  maxRetries?: number;
  /** One API call (submit, poll); a call without an answer by then is retried like a network error. Default 60 s. */
  requestTimeoutMs?: number;
}

export interface JobOutcome {
  job: PreparedJob;
  snapshot: TaskSnapshot;
  video: DownloadedVideo;
  submittedAt: number;
  generateMs: number;
  downloadMs: number;
  totalMs: number;
  polls: number;
}

export const systemClock: CloudClock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, Math.max(0, ms));
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/** Backoff for the `attempt`-th wait (0-based): initial × factor^attempt, capped. */
export function backoffDelay(policy: PollPolicy, attempt: number): number {
  return Math.min(policy.maxDelayMs, policy.initialDelayMs * policy.factor ** attempt);
}

/** The wait before the next poll: the adapter's hint or the backoff, and never sooner than `Retry-After`. */
export function nextPollDelay(adapter: ProviderAdapter, snapshot: TaskSnapshot, attempt: number): number {
  const hinted = adapter.nextPollDelay?.(snapshot, attempt) ?? backoffDelay(adapter.pollPolicy, attempt);
  return Math.max(hinted, snapshot.retryAfterMs ?? 0);
}

type Phase = 'submit' | 'poll' | 'download';

function isRetriable(error: unknown, phase: Phase, snapshot: TaskSnapshot | undefined, url: string | undefined): boolean {
  if (!isKinemaError(error)) return false;
  const { kind, httpStatus } = error.details as { kind?: string; httpStatus?: number };
  if (kind === 'rate_limit') return true;
  // A create that may have reached the provider is not repeated: it could start (and bill) a second job.
  if (phase === 'submit') return httpStatus === 503;
  if (kind === 'network' || kind === 'server') return true;
  // ModelsLab `future_links` can 404 for a moment after the job reports success.
  return phase === 'download' && kind === 'not_found' && url !== undefined && snapshot?.futureUrls?.includes(url) === true;
}

export async function runCloudJob(adapter: ProviderAdapter, request: CloudRequest, options: DriverOptions = {}): Promise<JobOutcome> {
  const job = adapter.prepare(request);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be a positive number of milliseconds (got ${String(timeoutMs)})`);
  const maxRetries = options.maxRetries ?? DEFAULT_MAX_RETRIES;
  if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new RangeError(`maxRetries must be a non-negative integer (got ${String(maxRetries)})`);
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (!(requestTimeoutMs > 0)) throw new RangeError(`requestTimeoutMs must be a positive number of milliseconds (got ${String(requestTimeoutMs)})`);
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const clock = options.clock ?? systemClock;
  const { signal, onProgress } = options;
  const provider = adapter.provider;
  throwIfAborted(signal, `${provider} generation`);

  const start = clock.now();
  const deadline = start + timeoutMs;
  const internal = new AbortController();
  const forwardAbort = () => internal.abort(signal?.reason);
  signal?.addEventListener('abort', forwardAbort, { once: true });

  let overall = 0;
  let snapshot: TaskSnapshot | undefined;
  let lastState: CloudState = 'submitting';
  const emit = (state: CloudState) => {
    lastState = state;
    const elapsedMs = clock.now() - start;
    overall = state === 'succeeded' ? 1 : Math.max(overall, fraction(state, elapsedMs, snapshot));
    try {
      onProgress?.({ type: 'cloud', provider, state, elapsedMs, overall });
    } catch {
      // A throwing listener must not end a paid job.
    }
  };

  const timeoutError = () =>
    new KinemaError('TIMEOUT', `${provider} generation did not finish within ${timeoutMs} ms`, {
      details: { provider, kind: 'timeout', timeoutMs, lastState, ...(snapshot && { taskId: snapshot.taskId }) },
    });

  /** Sleeps `ms`, but throws TIMEOUT instead of sleeping past the deadline. */
  const wait = async (ms: number) => {
    const remaining = deadline - clock.now();
    if (ms >= remaining) {
      if (remaining > 0) await clock.sleep(remaining, internal.signal);
      throw timeoutError();
    }
    await clock.sleep(ms, internal.signal);
  };

  /**
   * Runs one call, retrying transient failures. Each API call gets at most `requestTimeoutMs` (a hung
   * poll is abandoned and retried like a network error); every call is bounded by the overall deadline.
   */
  const attempt = async <T>(phase: Phase, call: (ctx: CallContext) => Promise<T>, url?: string): Promise<T> => {
    for (let retries = 0; ; retries++) {
      const remaining = deadline - clock.now();
      if (remaining <= 0) throw timeoutError();
      const perCall = phase === 'download' ? remaining : Math.min(remaining, requestTimeoutMs);
      const timer = new AbortController();
      const callAbort = new AbortController();
      const forward = () => callAbort.abort(internal.signal.reason);
      internal.signal.addEventListener('abort', forward, { once: true });
      try {
        return await Promise.race([
          call({ fetch: fetchImpl, signal: callAbort.signal }),
          quietSleep(clock, perCall, timer.signal).then((elapsed) => {
            if (!elapsed) return NEVER;
            if (perCall < remaining) {
              const error = providerError(provider, { kind: 'network', providerMessage: `no answer within ${requestTimeoutMs} ms` }, phase);
              callAbort.abort(error);
              throw error;
            }
            const error = timeoutError();
            internal.abort(error);
            throw error;
          }),
        ]);
      } catch (error) {
        if (internal.signal.aborted || !isRetriable(error, phase, snapshot, url) || retries >= maxRetries) throw error;
        const retryAfterMs = isKinemaError(error) && typeof error.details.retryAfterMs === 'number' ? error.details.retryAfterMs : 0;
        await wait(Math.max(retryAfterMs, backoffDelay(adapter.pollPolicy, retries)));
      } finally {
        timer.abort();
        internal.signal.removeEventListener('abort', forward);
      }
    }
  };

  try {
    emit('submitting');
    snapshot = await attempt('submit', (ctx) => adapter.submit(job, ctx));
    const submittedAt = clock.now();
    const taskId = snapshot.taskId;
    // 'succeeded' is only announced once the bytes are here, so overall reaches 1 exactly once, at the end.
    if (snapshot.state !== 'succeeded') emit(snapshot.state);
    let polls = 0;
    while (!isTerminal(snapshot.state)) {
      await wait(nextPollDelay(adapter, snapshot, polls));
      snapshot = await attempt('poll', (ctx) => adapter.poll(taskId, ctx));
      polls++;
      if (snapshot.state !== 'succeeded') emit(snapshot.state);
    }
    if (snapshot.state !== 'succeeded') throw terminalError(provider, snapshot);
    const generatedAt = clock.now();
    emit('downloading');
    const url = snapshot.videoUrl!;
    const video = await attempt('download', (ctx) => adapter.download(url, ctx), url);
    const end = clock.now();
    emit('succeeded');
    return { job, snapshot, video, submittedAt, generateMs: generatedAt - submittedAt, downloadMs: end - generatedAt, totalMs: end - start, polls };
  } catch (error) {
    if (signal?.aborted) {
      const cancelRequested = await bestEffortCancel(adapter, snapshot, fetchImpl, clock);
      emit('canceled');
      const aborted = abortError(signal, `${provider} generation`);
      if (signal.reason instanceof KinemaError) throw aborted;
      throw new KinemaError('ABORTED', aborted.message, {
        details: { provider, kind: 'canceled', cancelRequested, ...(snapshot && { taskId: snapshot.taskId }) },
        cause: signal.reason,
      });
    }
    if (isKinemaError(error, 'TIMEOUT')) {
      const cancelRequested = await bestEffortCancel(adapter, snapshot, fetchImpl, clock);
      error.details.cancelRequested = cancelRequested;
      emit('failed');
      throw error;
    }
    emit(snapshot?.state === 'expired' || snapshot?.state === 'canceled' ? snapshot.state : 'failed');
    throw error;
  } finally {
    signal?.removeEventListener('abort', forwardAbort);
  }
}

const NEVER = new Promise<never>(() => {});

/** Resolves true after `ms`, false if `signal` aborted first; never rejects (so a lost race leaves no unhandled rejection). */
function quietSleep(clock: CloudClock, ms: number, signal: AbortSignal): Promise<boolean> {
  return clock.sleep(ms, signal).then(
    () => !signal.aborted,
    () => false,
  );
}

function isTerminal(state: CloudJobState): boolean {
  return state === 'succeeded' || state === 'failed' || state === 'canceled' || state === 'expired';
}

function terminalError(provider: ProviderAdapter['provider'], snapshot: TaskSnapshot): KinemaError {
  const extra = { taskId: snapshot.taskId, state: snapshot.state, ...(snapshot.providerStatus && { providerStatus: snapshot.providerStatus }) };
  if (snapshot.state === 'canceled') {
    return providerError(provider, { kind: 'canceled', providerCode: snapshot.providerStatus ?? 'CANCELED', providerMessage: 'the task was canceled on the provider side', extra }, 'task');
  }
  const info = snapshot.error ?? { kind: snapshot.state === 'expired' ? ('not_found' as const) : ('server' as const) };
  return providerError(provider, { ...info, ...(info.providerCode === 'ModelNotFound' && { code: 'MODEL_NOT_FOUND' as const }), extra }, 'task');
}

/** Asks the provider to cancel, never longer than a few seconds, never throwing. True when the provider accepted. */
async function bestEffortCancel(adapter: ProviderAdapter, snapshot: TaskSnapshot | undefined, fetchImpl: typeof fetch, clock: CloudClock): Promise<boolean> {
  if (!adapter.cancel || !snapshot || isTerminal(snapshot.state)) return false;
  const controller = new AbortController();
  try {
    return await Promise.race([
      adapter.cancel(snapshot.taskId, { fetch: fetchImpl, signal: controller.signal }).then(() => true),
      quietSleep(clock, CANCEL_TIMEOUT_MS, controller.signal).then(() => false),
    ]);
  } catch {
    return false;
  } finally {
    controller.abort();
  }
}

/** A never-decreasing guess at progress; providers report none, so it is time-based. */
function fraction(state: CloudState, elapsedMs: number, snapshot: TaskSnapshot | undefined): number {
  switch (state) {
    case 'submitting':
      return 0.01;
    case 'queued':
      return 0.05;
    case 'running': {
      const expected = snapshot?.etaSeconds !== undefined && snapshot.etaSeconds > 0 ? Math.max(elapsedMs + snapshot.etaSeconds * 1000, 1) : EXPECTED_RUN_MS;
      return 0.1 + 0.75 * (1 - Math.exp(-elapsedMs / expected));
    }
    case 'downloading':
      return 0.9;
    case 'succeeded':
      return 1;
    default:
      return 0;
  }
}
