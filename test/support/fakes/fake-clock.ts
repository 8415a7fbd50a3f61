/**
 * Fake time for the cloud driver: `sleep` only resolves when the test advances the clock.
 * `run(promise)` drives a job to completion: whenever no fetch is in flight and the job is waiting,
 * it jumps to the earliest pending timer. Pair it with `trackFetch` so real HTTP to local fakes and
 * fake time interleave deterministically. Bounded: it gives up after `maxSteps` jumps.
 */
import type { CloudClock } from '../../../src/cloud/types';

interface Timer {
  at: number;
  ms: number;
  resolve: () => void;
}

export interface FakeClock extends CloudClock {
  /** Every requested sleep duration, in order (what the driver chose to wait). */
  sleeps: number[];
  pending(): number;
  /** Move time forward by `ms`, firing due timers in order. */
  advance(ms: number): void;
  /** Drive `promise` to settlement by jumping between timers while no fetch is in flight. */
  run<T>(promise: Promise<T>, inflight?: () => number, maxSteps?: number): Promise<T>;
}

export function createFakeClock(start = 1_000_000): FakeClock {
  let now = start;
  const timers = new Set<Timer>();
  const sleeps: number[] = [];

  const fireDue = () => {
    for (const timer of [...timers].sort((a, b) => a.at - b.at)) {
      if (timer.at > now) break;
      timers.delete(timer);
      timer.resolve();
    }
  };

  const clock: FakeClock = {
    sleeps,
    now: () => now,
    sleep(ms, signal) {
      sleeps.push(ms);
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) return reject(signal.reason);
        const timer: Timer = { at: now + Math.max(0, ms), ms, resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        } };
        const onAbort = () => {
          timers.delete(timer);
          reject(signal?.reason);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        timers.add(timer);
      });
    },
    pending: () => timers.size,
    advance(ms) {
      now += ms;
      fireDue();
    },
    async run(promise, inflight = () => 0, maxSteps = 500) {
      let settled = false;
      const watched = promise.finally(() => {
        settled = true;
      });
      watched.catch(() => {});
      for (let step = 0; step < maxSteps && !settled; step++) {
        // Let I/O and microtasks run; real time passes only while a request to a local fake is in flight.
        await new Promise((resolve) => setImmediate(resolve));
        if (settled) break;
        if (inflight() > 0 || timers.size === 0) {
          await new Promise((resolve) => setTimeout(resolve, 2));
          continue;
        }
        const earliest = Math.min(...[...timers].map((t) => t.at));
        now = Math.max(now, earliest);
        fireDue();
      }
      if (!settled) throw new Error(`fake clock: job still running after ${maxSteps} steps`);
      return watched;
    },
  };
  return clock;
}

/**
 * Wraps fetch so the fake clock knows when HTTP is in flight. The response body is read before the
 * call resolves, so "not in flight" really means no I/O is pending.
 */
export function trackFetch(inner: typeof fetch = globalThis.fetch): { fetch: typeof fetch; inflight: () => number; calls: string[] } {
  let count = 0;
  const calls: string[] = [];
  const tracked: typeof fetch = async (input, init) => {
    count++;
    calls.push(`${init?.method ?? 'GET'} ${String(input)}`);
    try {
      const response = await inner(input, init);
      const bytes = await response.arrayBuffer();
      const empty = response.status === 204 || response.status === 304;
      return new Response(empty ? null : bytes, { status: response.status, statusText: response.statusText, headers: response.headers });
    } finally {
      count--;
    }
  };
  return { fetch: tracked, inflight: () => count, calls };
}
