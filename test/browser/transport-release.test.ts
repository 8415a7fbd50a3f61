// Through kinema's real worker: a call's abort listener and its MessagePorts are released when it ends
// (success, failure or abort), so one AbortSignal reused for 100 calls accumulates nothing; and frames
// arrive whole after crossing the worker by transfer.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/index';
import { connectWorkerEngine, defaultWorker } from '../../src/api/worker-client';
import type { ProgressEvent } from '../../src/progress/events';
import { generateSpec, loadSpec } from './support/model';

const engine = connectWorkerEngine(defaultWorker());
afterAll(() => engine.dispose());

// Counts the page's ends of every MessageChannel a call creates (the other end goes to the worker) and
// which of them were closed; and the listeners added to and removed from one signal.
let opened: MessagePort[] = [];
let closed = new Set<MessagePort>();
let restore = () => undefined as void;
beforeEach(() => {
  opened = [];
  closed = new Set();
  const RealChannel = globalThis.MessageChannel;
  const realClose = MessagePort.prototype.close;
  globalThis.MessageChannel = class extends RealChannel {
    constructor() { super(); opened.push(this.port1); }
  };
  MessagePort.prototype.close = function (this: MessagePort) { closed.add(this); realClose.call(this); };
  restore = () => { globalThis.MessageChannel = RealChannel; MessagePort.prototype.close = realClose; };
});
afterEach(() => restore());

function countListeners(signal: AbortSignal): { added: number; removed: number } {
  const counts = { added: 0, removed: 0 };
  const add = signal.addEventListener.bind(signal);
  const remove = signal.removeEventListener.bind(signal);
  signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => { counts.added++; add(...args); };
  signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => { counts.removed++; remove(...args); };
  return counts;
}

describe('the worker client releases what a call attached', () => {
  it('reuses one AbortSignal for 100 calls (load, generations, refusals) without accumulating listeners or ports', async () => {
    const controller = new AbortController();
    const counts = countListeners(controller.signal);
    const outcomes: string[] = [];
    const events: ProgressEvent[] = [];
    const onProgress = (event: ProgressEvent) => events.push(event);
    await engine.load(loadSpec('wasm'), onProgress, controller.signal);
    outcomes.push('loaded');
    for (let i = 1; i < 100; i++) {
      // Every third call is one the engine refuses (the model makes 8 frames only).
      const spec = generateSpec({ prompt: 'a red circle moving left on a white background', steps: 1, numFrames: i % 3 ? 8 : 16 });
      outcomes.push(await engine.generate(spec, onProgress, controller.signal).then((r) => `frames:${r.frames!.length}`, (e: Error) => (e instanceof KinemaError ? e.code : e.name)));
    }
    expect(outcomes.filter((o) => o === 'frames:8')).toHaveLength(66);
    // The engine's refusal keeps its kind across the worker (never INTERNAL).
    expect(new Set(outcomes.filter((o) => !o.startsWith('frames') && o !== 'loaded'))).toEqual(new Set(['RangeError']));
    expect(outcomes.filter((o) => o === 'RangeError')).toHaveLength(33);
    expect(counts).toEqual({ added: 100, removed: 100 });
    // Two channels a call (the signal relay, the progress relay), every page end closed.
    expect(opened).toHaveLength(200);
    expect(opened.filter((port) => !closed.has(port))).toHaveLength(0);
    // Each call's events were all delivered before it resolved: 66 generations' 'done' events, in order.
    expect(events.filter((e) => e.type === 'done').length).toBeGreaterThanOrEqual(67);
  });

  it('releases them on abort too, and the next call works', async () => {
    const controller = new AbortController();
    const counts = countListeners(controller.signal);
    const pending = engine.generate(generateSpec({ prompt: 'a blue square growing on a black background', steps: 30 }), (e) => {
      if (e.type === 'denoise' && e.step === 1) controller.abort();
    }, controller.signal);
    const error = await pending.then(() => null, (e: unknown) => e);
    expect((error as KinemaError).code).toBe('ABORTED');
    expect(counts.added).toBe(1);
    expect(counts.removed).toBe(1);
    expect(opened).toHaveLength(2);
    expect(opened.filter((port) => !closed.has(port))).toHaveLength(0);
  });

  it('moves returned frames and preview pixels across the worker intact', async () => {
    const spec = generateSpec({ prompt: 'a green triangle moving up on a white background', steps: 2, seed: 7, previewEvery: 1 });
    const previews: Uint8Array[] = [];
    const onProgress = (e: ProgressEvent) => { if (e.type === 'preview') previews.push(e.rgba); };
    const [a, b] = [await engine.generate(spec, onProgress), await engine.generate(spec)];
    expect(previews.length).toBeGreaterThanOrEqual(1);
    for (const rgba of previews) expect(rgba.byteLength).toBe(8 * 32 * 32 * 4);
    expect(a.frames).toHaveLength(8);
    for (const frame of a.frames!) {
      expect(frame.byteLength).toBe(32 * 32 * 4);
      expect(frame.some((v) => v !== 0)).toBe(true);
    }
    expect(b.frames).toEqual(a.frames);
  });

  it('transfers them: the worker\'s own frame and preview buffers are detached after the call', async () => {
    const probe = connectWorkerEngine(new Worker(new URL('./fixtures/transfer-probe.worker.ts', import.meta.url), { type: 'module' }));
    try {
      const previews: Uint8Array[] = [];
      const result = await probe.generate(generateSpec({ prompt: 'x' }), (e) => { if (e.type === 'preview') previews.push(e.rgba); });
      expect(result.frames!.map((f) => [...new Set(f)])).toEqual([[1], [2]]);
      expect(previews.map((p) => [...new Set(p)])).toEqual([[200]]);
      const { detachedHere } = (await probe.capabilities()) as unknown as { detachedHere: boolean[] };
      expect(detachedHere).toEqual([true, true, true]);
    } finally {
      await probe.dispose();
    }
  });
});
