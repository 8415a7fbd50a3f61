// kinema's comlink wiring, end to end over a Node MessageChannel: the page's client (connectWorkerEngine)
// talks to the served engine (what exposeEngine puts in the worker) exactly as it does through a worker.
import * as Comlink from 'comlink';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connectWorkerEngine, type WorkerEngine } from '../../src/api/worker-client';
import { KinemaError, abortError } from '../../src/errors';
import { HANDLER_NAMES, registerTransferHandlers, transferablesOf } from '../../src/transport/comlink-handlers';
import { exposeServedEngine } from '../../src/transport/serve';
import type { Engine, EngineGenerateSpec, GenerateResult } from '../../src/contract';
import type { ProgressEvent } from '../../src/progress/events';

const spec = { prompt: 'x' } as EngineGenerateSpec;

function framesResult(frames: Uint8Array[]): GenerateResult {
  return {
    format: 'frames', video: null, mimeType: null, codec: null, frames, width: 2, height: 1, numFrames: frames.length, fps: 8,
    seed: 1, backend: 'wasm', model: 'fake', warnings: [],
    timings: { loadMs: 0, encodeTextMs: 0, denoiseMs: 0, decodeMs: 0, encodeMs: 0, totalMs: 0 },
  };
}

// An Engine whose generate is supplied per test; every other method answers trivially.
function fakeEngine(generate: Engine['generate']): Engine {
  return {
    capabilities: async () => { throw new KinemaError('WEBGPU_UNAVAILABLE', 'no adapter', { details: { tried: ['webgpu'] } }); },
    load: async () => { throw new TypeError('spec.manifestUrl must be a string'); },
    generate,
    isCached: async () => { throw new RangeError('steps must be an integer from 1 to 100; got 0'); },
    clearCache: async () => { throw new Error('plain failure inside the engine'); },
    cachedModels: async () => [],
    dispose: async () => undefined,
  };
}

let channel: MessageChannel | undefined;
const RealMessageChannel = globalThis.MessageChannel;
function connect(engine: Engine): WorkerEngine {
  // The connection's own channel is not one a call creates: made with the unspied constructor.
  channel = new RealMessageChannel();
  exposeServedEngine(engine, channel.port1 as unknown as Comlink.Endpoint);
  return connectWorkerEngine(channel.port2 as unknown as Worker);
}
afterEach(() => {
  channel?.port1.close();
  channel?.port2.close();
  channel = undefined;
});

describe('comlink handlers', () => {
  it('add only two kinema-named entries, idempotently, and leave comlink\'s own handlers as they were', () => {
    const before = new Map(Comlink.transferHandlers);
    registerTransferHandlers();
    registerTransferHandlers();
    const added = [...Comlink.transferHandlers.keys()].filter((name) => !before.has(name));
    for (const [name, handler] of before) if (!Object.values(HANDLER_NAMES).includes(name as never)) expect(Comlink.transferHandlers.get(name)).toBe(handler);
    expect(added.every((name) => Object.values(HANDLER_NAMES).includes(name as never))).toBe(true);
    expect(Object.values(HANDLER_NAMES).every((name) => Comlink.transferHandlers.has(name))).toBe(true);
    // Nobody else's values are claimed: a raw AbortSignal and a thrown Error are not kinema's.
    for (const name of Object.values(HANDLER_NAMES)) {
      const handler = Comlink.transferHandlers.get(name)!;
      expect(handler.canHandle(new AbortController().signal)).toBe(false);
      expect(handler.canHandle(new Error('host error'))).toBe(false);
    }
  });
});

describe('errors across the served engine', () => {
  it('keep KinemaError code and details, and TypeError/RangeError kinds; anything else is INTERNAL', async () => {
    const engine = connect(fakeEngine(async () => framesResult([])));
    const caps = await engine.capabilities().then(() => null, (e: unknown) => e);
    expect(caps).toBeInstanceOf(KinemaError);
    expect((caps as KinemaError).code).toBe('WEBGPU_UNAVAILABLE');
    expect((caps as KinemaError).details).toEqual({ tried: ['webgpu'] });
    await expect(engine.load({} as never)).rejects.toThrow(TypeError);
    await expect(engine.isCached({} as never)).rejects.toThrow(new RangeError('steps must be an integer from 1 to 100; got 0'));
    const plain = await engine.clearCache({} as never).then(() => null, (e: unknown) => e);
    expect((plain as KinemaError).code).toBe('INTERNAL');
    expect((plain as KinemaError).message).toBe('plain failure inside the engine');
  });
});

describe('signals and ports', () => {
  let created: MessagePort[];
  let closed: Set<MessagePort>;
  let restore: () => void;
  beforeEach(() => {
    created = [];
    closed = new Set();
    const Original = globalThis.MessageChannel;
    const originalClose = MessagePort.prototype.close;
    globalThis.MessageChannel = class extends Original {
      constructor() { super(); created.push(this.port1, this.port2); }
    };
    MessagePort.prototype.close = function (this: MessagePort) { closed.add(this); return originalClose.call(this); };
    restore = () => { globalThis.MessageChannel = Original; MessagePort.prototype.close = originalClose; };
  });
  afterEach(() => restore());

  it('relays an abort with its reason, then releases the listener and both ends of every port', async () => {
    let started!: () => void;
    const running = new Promise<void>((resolve) => { started = resolve; });
    const engine = connect(fakeEngine((_spec, _onProgress, signal) => new Promise((_resolve, reject) => {
      started();
      signal!.addEventListener('abort', () => reject(abortError(signal, 'generation')), { once: true });
    })));
    const controller = new AbortController();
    const pending = engine.generate(spec, () => undefined, controller.signal);
    await running;
    controller.abort(new Error('user clicked cancel'));
    const error = await pending.then(() => null, (e: unknown) => e);
    expect((error as KinemaError).code).toBe('ABORTED');
    expect((error as KinemaError).message).toContain('user clicked cancel');
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Two channels (the signal relay, the progress proxy): each end closed on its own side.
    expect(created.length).toBe(4);
    expect(closed.size).toBe(created.length);
  });

  it('reuses one signal for 100 calls without accumulating listeners or ports', async () => {
    let calls = 0;
    const engine = connect(fakeEngine(async (_spec, onProgress, signal) => {
      calls++;
      onProgress?.({ type: 'done', overall: 1 });
      if (calls % 2) throw new KinemaError('BACKEND_FAILED', 'odd calls fail');
      expect(signal!.aborted).toBe(false);
      return framesResult([]);
    }));
    const controller = new AbortController();
    let added = 0;
    let removed = 0;
    const add = controller.signal.addEventListener.bind(controller.signal);
    const remove = controller.signal.removeEventListener.bind(controller.signal);
    controller.signal.addEventListener = (...args: Parameters<AbortSignal['addEventListener']>) => { added++; add(...args); };
    controller.signal.removeEventListener = (...args: Parameters<AbortSignal['removeEventListener']>) => { removed++; remove(...args); };
    const outcomes: string[] = [];
    for (let i = 0; i < 100; i++) {
      outcomes.push(await engine.generate(spec, () => undefined, controller.signal).then(() => 'ok', (e: KinemaError) => e.code));
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(outcomes.filter((o) => o === 'ok')).toHaveLength(50);
    expect(outcomes.filter((o) => o === 'BACKEND_FAILED')).toHaveLength(50);
    expect(added).toBe(100);
    expect(removed).toBe(100);
    expect(created.length).toBe(400);
    expect(closed.size).toBe(400);
  });
});

describe('large buffers', () => {
  it('transfer frames and preview pixels (detached on the serving side) and arrive intact', async () => {
    const served: Uint8Array[] = [];
    const engine = connect(fakeEngine(async (_spec, onProgress) => {
      const rgba = new Uint8Array([9, 8, 7, 6]);
      served.push(rgba);
      onProgress?.({ type: 'preview', step: 1, width: 1, height: 1, numFrames: 1, rgba, overall: 0.5 });
      const frames = [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), new Uint8Array([8, 7, 6, 5, 4, 3, 2, 1])];
      served.push(...frames);
      return framesResult(frames);
    }));
    const events: ProgressEvent[] = [];
    const result = await engine.generate(spec, (e) => events.push(e));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(result.frames!.map((f) => [...f])).toEqual([[1, 2, 3, 4, 5, 6, 7, 8], [8, 7, 6, 5, 4, 3, 2, 1]]);
    expect(events[0]).toMatchObject({ type: 'preview', rgba: new Uint8Array([9, 8, 7, 6]) });
    expect(served.map((view) => view.buffer.byteLength)).toEqual([0, 0, 0]);
  });

  it('copy, never detach, a view into a larger or shared buffer', () => {
    const pool = new ArrayBuffer(16);
    const whole = new Uint8Array(8);
    const views = [new Uint8Array(pool, 0, 8), new Uint8Array(pool, 8, 8), whole, whole, new Uint8Array(new SharedArrayBuffer(4))];
    expect(transferablesOf(views)).toEqual([whole.buffer]);
  });
});
