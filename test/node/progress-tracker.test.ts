import { describe, expect, it } from 'vitest';
import { ProgressTracker, type ProgressEvent, type StagePlan } from '../../src/progress';

function track(plan: StagePlan[], options?: ConstructorParameters<typeof ProgressTracker>[2]) {
  const events: ProgressEvent[] = [];
  const tracker = new ProgressTracker((e) => events.push(e), plan, options);
  return { tracker, events };
}

function expectMonotonicEndingAtOne(events: ProgressEvent[]) {
  for (const e of events) {
    expect(e.overall).toBeGreaterThanOrEqual(0);
    expect(e.overall).toBeLessThanOrEqual(1);
  }
  for (let i = 1; i < events.length; i++) expect(events[i]!.overall).toBeGreaterThanOrEqual(events[i - 1]!.overall);
  expect(events.at(-1)).toEqual({ type: 'done', overall: 1 });
}

/** A small random generator, so the property test below is reproducible. */
function random(seed: number) {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

describe('ProgressTracker', () => {
  it('weights stages: overall is the weighted sum of stage fractions', () => {
    const { tracker, events } = track([
      { stage: 'download', total: 1000, weight: 50 },
      { stage: 'compile', total: 3, weight: 30 },
      { stage: 'denoise', total: 4, weight: 20 },
    ]);
    tracker.download('a.onnx', 500, 1000, false);
    expect(events.at(-1)).toEqual({ type: 'download', file: 'a.onnx', loaded: 500, total: 1000, fromCache: false, overall: 0.25 });
    tracker.compile('textEncoder', 0);
    expect(events.at(-1)).toEqual({ type: 'compile', component: 'textEncoder', index: 0, total: 3, overall: 0.5 }); // download completed by moving on
    tracker.compile('denoiser', 2);
    expect(events.at(-1)?.overall).toBeCloseTo(0.7);
    tracker.stage('denoise', 2);
    expect(events.at(-1)).toMatchObject({ type: 'denoise', step: 2, total: 4 });
    expect(events.at(-1)?.overall).toBeCloseTo(0.9);
    tracker.done();
    expectMonotonicEndingAtOne(events);
  });

  it('a generate call: encode-text, denoise per step, decode and encode per frame, done exactly 1', () => {
    const { tracker, events } = track([
      { stage: 'encode-text', total: 1 },
      { stage: 'denoise', total: 8 },
      { stage: 'decode', total: 16 },
      { stage: 'encode', total: 16 },
    ]);
    tracker.stage('encode-text', 0);
    tracker.stage('encode-text', 1);
    for (let s = 1; s <= 8; s++) tracker.stage('denoise', s);
    for (let f = 1; f <= 16; f++) tracker.stage('decode', f);
    for (let f = 1; f <= 16; f++) tracker.stage('encode', f);
    tracker.done();
    expect(events.filter((e) => e.type === 'denoise').map((e) => (e as { step: number }).step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(events.filter((e) => e.type === 'encode')).toHaveLength(16);
    expectMonotonicEndingAtOne(events);
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
  });

  it('ignores regressions: repeated or earlier steps, retried downloads, late events of a finished stage', () => {
    const { tracker, events } = track([{ stage: 'download', total: 100 }, { stage: 'denoise', total: 4 }]);
    tracker.download('a', 60, 100, false);
    tracker.download('a', 40, 100, false); // a retry reporting less
    tracker.stage('denoise', 2);
    tracker.stage('denoise', 2);
    tracker.stage('denoise', 1);
    tracker.download('a', 100, 100, false); // late, stage already left
    tracker.stage('denoise', 9); // clamped to the total
    expect(events.map((e) => e.type === 'download' ? `d${e.loaded}` : e.type === 'denoise' ? `s${e.step}` : e.type)).toEqual(['d60', 's2', 's4']);
    tracker.done();
    tracker.done();
    tracker.stage('denoise', 4);
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
    expect(events.at(-1)?.type).toBe('done');
    expectMonotonicEndingAtOne(events);
  });

  it('stays monotonic and ends at exactly 1 under random, out-of-order stage reports', () => {
    for (let seed = 1; seed <= 50; seed++) {
      const rnd = random(seed);
      const plan: StagePlan[] = [
        { stage: 'download', total: 1 + Math.floor(rnd() * 1e6), weight: rnd() * 10 },
        { stage: 'compile', total: 3, weight: rnd() * 10 },
        { stage: 'encode-text', total: 1, weight: rnd() },
        { stage: 'denoise', total: 1 + Math.floor(rnd() * 50), weight: rnd() * 10 },
        { stage: 'decode', total: 1 + Math.floor(rnd() * 20), weight: rnd() * 10 },
      ];
      const { tracker, events } = track(plan);
      for (let i = 0; i < 200; i++) {
        const p = plan[Math.floor(rnd() * plan.length)]!;
        const value = Math.floor(rnd() * (p.total + 2)) - 1;
        if (p.stage === 'download') tracker.download('f', value, p.total, false);
        else if (p.stage === 'compile') tracker.compile('denoiser', value);
        else tracker.stage(p.stage as 'denoise', value);
        if (rnd() < 0.05) tracker.warning('CACHE_QUOTA_EXCEEDED', 'full');
      }
      tracker.done();
      expectMonotonicEndingAtOne(events);
    }
  });

  it('a stage with nothing to do (all files cached, total 0) counts as done once passed', () => {
    const { tracker, events } = track([{ stage: 'download', total: 0, weight: 1 }, { stage: 'compile', total: 2, weight: 1 }]);
    tracker.compile('textEncoder', 0);
    expect(events.at(-1)?.overall).toBe(0.5);
  });

  it('complete() finishes a stage without an event of its own', () => {
    const { tracker, events } = track([{ stage: 'download', total: 10, weight: 1 }, { stage: 'compile', total: 2, weight: 1 }]);
    tracker.complete('download');
    tracker.compile('textEncoder', 1);
    expect(events).toEqual([{ type: 'compile', component: 'textEncoder', index: 1, total: 2, overall: 0.75 }]);
  });

  it('warnings, fallbacks and previews carry the current overall without moving it', () => {
    const { tracker, events } = track([{ stage: 'download', total: 10 }]);
    tracker.download('a', 5, 10, false);
    tracker.warning('CACHE_QUOTA_EXCEEDED', 'kept in memory', { file: 'a' });
    tracker.fallback('webgpu', 'wasm', 'no adapter', 'WEBGPU_UNAVAILABLE');
    tracker.load({ type: 'warning', code: 'CACHE_UNAVAILABLE', message: 'no cache' });
    expect(events.slice(1)).toEqual([
      { type: 'warning', code: 'CACHE_QUOTA_EXCEEDED', message: 'kept in memory', details: { file: 'a' }, overall: 0.5 },
      { type: 'fallback', from: 'webgpu', to: 'wasm', reason: 'no adapter', code: 'WEBGPU_UNAVAILABLE', overall: 0.5 },
      { type: 'warning', code: 'CACHE_UNAVAILABLE', message: 'no cache', overall: 0.5 },
    ]);
  });

  it('throttles intermediate download events when asked, keeping the first, file changes and the last', () => {
    let now = 0;
    const { tracker, events } = track([{ stage: 'download', total: 1000 }], { minDownloadIntervalMs: 100, now: () => now });
    for (let loaded = 10; loaded <= 600; loaded += 10) { now += 10; tracker.download('a', loaded, 1000, false); }
    now += 1;
    tracker.download('b', 610, 1000, false);
    now += 1;
    tracker.download('b', 1000, 1000, false);
    const loaded = events.map((e) => (e as { loaded: number }).loaded);
    expect(loaded[0]).toBe(10);
    expect(loaded.length).toBeLessThan(12);
    expect(loaded.slice(-2)).toEqual([610, 1000]);
    for (let i = 1; i < events.length - 2; i++) expect(loaded[i]! - loaded[i - 1]!).toBeGreaterThanOrEqual(100);
  });

  it('the loader total is authoritative and a stage total can be given late', () => {
    const { tracker, events } = track([{ stage: 'download', total: 1, weight: 1 }, { stage: 'denoise', total: 1, weight: 1 }]);
    tracker.download('a', 50, 200, true);
    expect(events.at(-1)).toMatchObject({ total: 200, overall: 0.125 });
    tracker.stage('denoise', 1, 4);
    expect(events.at(-1)).toMatchObject({ step: 1, total: 4, overall: 0.625 });
  });

  it('emit() routes stage events without overall, as the engine reports them', () => {
    const { tracker, events } = track([
      { stage: 'download', total: 100, weight: 1 },
      { stage: 'compile', total: 2, weight: 1 },
      { stage: 'denoise', total: 2, weight: 2 },
    ]);
    tracker.emit({ type: 'download', file: 'a', loaded: 100, total: 100, fromCache: true });
    tracker.emit({ type: 'compile', component: 'textEncoder', index: 0, total: 2 });
    tracker.stage('compile', 1); // first session compiled: advances, no event
    tracker.emit({ type: 'compile', component: 'denoiser', index: 1, total: 2 });
    tracker.emit({ type: 'warning', code: 'VARIANT_FALLBACK', message: 'no int8' });
    tracker.emit({ type: 'denoise', step: 1, total: 2 });
    tracker.emit({ type: 'denoise', step: 1, total: 2 });
    tracker.emit({ type: 'done' });
    expect(events.map((e) => [e.type, e.overall])).toEqual([
      ['download', 0.25], ['compile', 0.25], ['compile', 0.375], ['warning', 0.375], ['denoise', 0.75], ['done', 1],
    ]);
  });

  it('works without a listener', () => {
    const tracker = new ProgressTracker(undefined, [{ stage: 'denoise', total: 2 }]);
    tracker.stage('denoise', 1);
    expect(tracker.overall).toBe(0.5);
    tracker.done();
    expect(tracker.overall).toBe(1);
  });

  it('caller mistakes throw at once', () => {
    expect(() => track([{ stage: 'download', total: -1 }])).toThrow(RangeError);
    expect(() => track([{ stage: 'download', total: 1 }, { stage: 'download', total: 1 }])).toThrow(/declared twice/);
    expect(() => track([{ stage: 'warp' as never, total: 1 }])).toThrow(TypeError);
    const { tracker } = track([{ stage: 'download', total: 1 }]);
    expect(() => tracker.stage('denoise', 1)).toThrow(/not declared/);
    expect(() => new ProgressTracker('nope' as never, [])).toThrow(TypeError);
  });
});
