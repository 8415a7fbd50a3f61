// The chain pool (src/runtime/chain-pool.ts): sessions created on demand per the memory plan's residency,
// released before an incompatible component is created, names kept from the first creation, failures
// leaving nothing half made, and one creation at a time. Fake chains (chainOf over fake sessions) and fake
// ops stand in for onnxruntime: the pool's own logic is what is under test.
import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { cpuFeed, type Tensor } from '../../src/pipeline/ops';
import { chainOf, type GraphChain, type GraphRunner } from '../../src/runtime/chain';
import { createChainPool, type ChainPoolOptions } from '../../src/runtime/chain-pool';
import type { Session } from '../../src/runtime/sessions';
import type { ComponentName } from '../../src/progress/events';

const ALL: ComponentName[] = ['textEncoder', 'denoiser', 'vaeDecoder'];
/** Each component's one graph: input `<c>_in`, output `<c>_out`. */
const io = (c: ComponentName) => ({ input: `${c}_in`, output: `${c}_out` });

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
}

class FakeTensor implements Tensor {
  readonly dims = [1];
  disposed = false;
  constructor(readonly label: string) {}
  dispose() { this.disposed = true; }
}

/** A fake world: `create` makes a fresh chain per call and logs every creation, run and release in order. */
function world(options: { failCreate?: (component: ComponentName, attempt: number) => unknown; gateCreate?: boolean; gateRun?: boolean } = {}) {
  const log: string[] = [];
  const attempts = new Map<ComponentName, number>();
  const createGates = new Map<ComponentName, ReturnType<typeof deferred<void>>>();
  const runGates = new Map<string, ReturnType<typeof deferred<void>>>();
  let creating = 0;
  let maxCreating = 0;
  const liveSessions = new Set<string>();

  async function create(component: ComponentName): Promise<GraphChain> {
    const n = (attempts.get(component) ?? 0) + 1;
    attempts.set(component, n);
    creating++;
    maxCreating = Math.max(maxCreating, creating);
    log.push(`create ${component}`);
    try {
      if (options.gateCreate) {
        const gate = deferred<void>();
        createGates.set(component, gate);
        await gate.promise;
      }
      const failure = options.failCreate?.(component, n);
      if (failure) throw failure;
    } finally {
      creating--;
    }
    const name = `${component}#${n}`;
    liveSessions.add(name);
    const session = {
      name,
      async release() {
        log.push(`release ${component}`);
        liveSessions.delete(name);
      },
    } as unknown as Session;
    log.push(`created ${component}`);
    return chainOf(component, [{ name: `${component}_0`, perPrompt: false, session, inputNames: [io(component).input], outputNames: [io(component).output], }]);
  }

  const ops: GraphRunner = {
    async runOutputs(session, _feeds, outputNames) {
      const name = (session as unknown as { name: string }).name;
      if (!liveSessions.has(name)) throw new Error(`ran ${name} after its release`);
      const component = name.split('#')[0]!;
      log.push(`run ${component}`);
      if (options.gateRun) {
        const gate = deferred<void>();
        runGates.set(component, gate);
        await gate.promise;
      }
      if (!liveSessions.has(name)) throw new Error(`${name} was released during its run`);
      log.push(`ran ${component}`);
      return Object.fromEntries(outputNames.map((o) => [o, new FakeTensor(`${name}/${o}`)]));
    },
  };
  return { create, ops, log, attempts, createGates, runGates, liveSessions, maxCreating: () => maxCreating };
}

const feedsFor = (c: ComponentName) => ({ [io(c).input]: cpuFeed('float32', new Float32Array(1), [1]) });
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

function pool(w: ReturnType<typeof world>, residency: ComponentName[][], extra: Partial<ChainPoolOptions> = {}) {
  return createChainPool({ components: ALL, residency, create: w.create, ...extra });
}

async function runOf(w: ReturnType<typeof world>, p: ReturnType<typeof pool>, c: ComponentName) {
  const out = await p.chains[c]!.run(w.ops, feedsFor(c), [io(c).output]);
  return (out[io(c).output] as FakeTensor).label;
}

describe('chain pool', () => {
  it('with one residency group, creates each component once and never releases between runs', async () => {
    const w = world();
    const p = pool(w, [ALL]);
    expect(p.loadOrder).toEqual(ALL);
    for (const c of p.loadOrder) await p.load(c);
    expect(p.live()).toEqual(ALL);
    for (let i = 0; i < 2; i++) for (const c of ALL) await runOf(w, p, c);
    expect(w.log.filter((e) => e.startsWith('create ') || e.startsWith('release '))).toEqual(['create textEncoder', 'create denoiser', 'create vaeDecoder']);
    // Live chains hand out their graphs, as createGraphChain's do.
    expect(p.chains.textEncoder!.graphs.map((g) => g.name)).toEqual(['textEncoder_0']);
  });

  it('releases the text encoder before creating the denoiser, keeps the decoder with the denoiser', async () => {
    const w = world();
    const events: string[] = [];
    const p = pool(w, [['textEncoder'], ['denoiser', 'vaeDecoder']], { onChange: (e) => events.push(`${e.type} ${e.component}`) });
    // Load leaves the first group (what a generation needs first) loaded.
    expect(p.loadOrder).toEqual(['denoiser', 'vaeDecoder', 'textEncoder']);
    for (const c of p.loadOrder) await p.load(c);
    expect(p.live()).toEqual(['textEncoder']);
    expect(w.log).toEqual([
      'create denoiser', 'created denoiser', 'create vaeDecoder', 'created vaeDecoder',
      'release denoiser', 'release vaeDecoder', 'create textEncoder', 'created textEncoder',
    ]);
    w.log.length = 0;
    // A generation: text encoder (already live), denoiser twice, decoder.
    expect(await runOf(w, p, 'textEncoder')).toBe('textEncoder#1/textEncoder_out');
    expect(await runOf(w, p, 'denoiser')).toBe('denoiser#2/denoiser_out');
    expect(await runOf(w, p, 'denoiser')).toBe('denoiser#2/denoiser_out');
    expect(await runOf(w, p, 'vaeDecoder')).toBe('vaeDecoder#2/vaeDecoder_out');
    expect(w.log).toEqual([
      'run textEncoder', 'ran textEncoder',
      'release textEncoder', 'create denoiser', 'created denoiser', 'run denoiser', 'ran denoiser',
      'run denoiser', 'ran denoiser',
      'create vaeDecoder', 'created vaeDecoder', 'run vaeDecoder', 'ran vaeDecoder',
    ]);
    expect(p.live()).toEqual(['denoiser', 'vaeDecoder']);
    // The next generation's text encoder releases both, then is created again.
    w.log.length = 0;
    await runOf(w, p, 'textEncoder');
    expect(w.log).toEqual(['release denoiser', 'release vaeDecoder', 'create textEncoder', 'created textEncoder', 'run textEncoder', 'ran textEncoder']);
    expect(events).toEqual([
      'create denoiser', 'create vaeDecoder', 'release denoiser', 'release vaeDecoder', 'create textEncoder',
      'release textEncoder', 'create denoiser', 'create vaeDecoder', 'release denoiser', 'release vaeDecoder', 'create textEncoder',
    ]);
  });

  it('keeps the names of the first creation while released, and hands out no graphs then', async () => {
    const w = world();
    const p = pool(w, [['textEncoder'], ['denoiser'], ['vaeDecoder']]);
    const encoder = p.chains.textEncoder!;
    expect(() => encoder.inputNames()).toThrow(/not known before its first creation/);
    for (const c of p.loadOrder) await p.load(c);
    expect(p.live()).toEqual(['textEncoder']);
    const decoder = p.chains.vaeDecoder!;
    expect(decoder.live).toBe(false);
    expect(decoder.graphs).toEqual([]);
    expect(decoder.inputNames()).toEqual(['vaeDecoder_in']);
    expect(decoder.outputNames({ only: 'perStep' })).toEqual(['vaeDecoder_out']);
    expect(decoder.component).toBe('vaeDecoder');
    // Asking names creates nothing.
    expect(w.attempts.get('vaeDecoder')).toBe(1);
    // A pooled chain is a GraphChain: families take it unchanged.
    const asChain: GraphChain = decoder;
    expect(asChain.inputNames()).toEqual(['vaeDecoder_in']);
  });

  it('a failed creation rejects with the chain\'s error and leaves the component released, retried on the next run', async () => {
    const oom = new KinemaError('OUT_OF_MEMORY', 'onnxruntime could not create the denoiser session on wasm: bad_alloc');
    const w = world({ failCreate: (c, n) => (c === 'denoiser' && n === 2 ? oom : undefined) });
    const p = pool(w, [['textEncoder'], ['denoiser', 'vaeDecoder']]);
    for (const c of p.loadOrder) await p.load(c);
    await expect(runOf(w, p, 'denoiser')).rejects.toBe(oom);
    // The text encoder was released before the attempt; nothing is half made.
    expect(p.live()).toEqual([]);
    expect(p.chains.denoiser!.live).toBe(false);
    expect(p.chains.denoiser!.graphs).toEqual([]);
    expect(w.liveSessions.size).toBe(0);
    // Names are still those of the first creation; the next run creates it again.
    expect(p.chains.denoiser!.outputNames()).toEqual(['denoiser_out']);
    expect(await runOf(w, p, 'denoiser')).toBe('denoiser#3/denoiser_out');
    expect(p.live()).toEqual(['denoiser']);
  });

  it('a failure in the first creation leaves no names and no sessions', async () => {
    const w = world({ failCreate: (c) => (c === 'vaeDecoder' ? new KinemaError('BACKEND_FAILED', 'bad graph') : undefined) });
    const p = pool(w, [ALL]);
    await p.load('textEncoder');
    await expect(p.load('vaeDecoder')).rejects.toMatchObject({ code: 'BACKEND_FAILED' });
    expect(p.live()).toEqual(['textEncoder']);
    expect(() => p.chains.vaeDecoder!.inputNames()).toThrow(KinemaError);
    await p.release();
    expect(w.liveSessions.size).toBe(0);
  });

  it('release() releases everything for good, once', async () => {
    const w = world();
    const p = pool(w, [['textEncoder'], ['denoiser', 'vaeDecoder']]);
    for (const c of p.loadOrder) await p.load(c);
    await runOf(w, p, 'denoiser');
    await runOf(w, p, 'vaeDecoder');
    w.log.length = 0;
    await p.release();
    await p.release();
    await p.chains.denoiser!.release(); // the engine's releaseChains calls each chain's release too
    expect(w.log).toEqual(['release denoiser', 'release vaeDecoder']);
    expect(p.live()).toEqual([]);
    expect(w.liveSessions.size).toBe(0);
    await expect(runOf(w, p, 'textEncoder')).rejects.toThrow(/the textEncoder chain was released/);
    await expect(p.load('denoiser')).rejects.toThrow(/was released/);
    expect(w.log.filter((e) => e.startsWith('create '))).toEqual([]);
  });

  it('a chain released by its own release() waits for its run in flight', async () => {
    const w = world({ gateRun: true });
    const p = pool(w, [ALL]);
    await p.load('denoiser');
    const running = runOf(w, p, 'denoiser');
    await tick();
    const releasing = p.chains.denoiser!.release();
    await tick();
    expect(w.log).toEqual(['create denoiser', 'created denoiser', 'run denoiser']);
    w.runGates.get('denoiser')!.resolve();
    await running;
    await releasing;
    expect(w.log.slice(-2)).toEqual(['ran denoiser', 'release denoiser']);
  });

  it('two runs of different components never interleave creation, and a release waits for the run in flight', async () => {
    const w = world({ gateCreate: true, gateRun: true });
    const p = pool(w, [['textEncoder'], ['denoiser', 'vaeDecoder']]);
    const encoding = runOf(w, p, 'textEncoder');
    const denoising = runOf(w, p, 'denoiser');
    await tick();
    // The denoiser waits for the text encoder's creation, not beside it.
    expect(w.log).toEqual(['create textEncoder']);
    w.createGates.get('textEncoder')!.resolve();
    await tick();
    expect(w.log).toEqual(['create textEncoder', 'created textEncoder', 'run textEncoder']);
    // The text encoder is running: the denoiser's staging may not release it yet.
    await tick();
    expect(w.log).not.toContain('release textEncoder');
    w.runGates.get('textEncoder')!.resolve();
    expect(await encoding).toBe('textEncoder#1/textEncoder_out');
    await tick();
    expect(w.log.slice(-3)).toEqual(['ran textEncoder', 'release textEncoder', 'create denoiser']);
    w.createGates.get('denoiser')!.resolve();
    await tick();
    w.runGates.get('denoiser')!.resolve();
    expect(await denoising).toBe('denoiser#1/denoiser_out');
    expect(w.maxCreating()).toBe(1);
  });

  it('creates compatible components one at a time too', async () => {
    const w = world({ gateCreate: true });
    const p = pool(w, [ALL]);
    const loads = ALL.map((c) => p.load(c));
    for (const c of ALL) {
      await tick();
      expect(w.log[w.log.length - 1]).toBe(`create ${c}`);
      w.createGates.get(c)!.resolve();
    }
    await Promise.all(loads);
    expect(w.maxCreating()).toBe(1);
    expect(p.live()).toEqual(ALL);
  });

  it('refuses options that do not describe the components', () => {
    const w = world();
    expect(() => createChainPool({ components: ALL, residency: [['textEncoder'], ['denoiser']], create: w.create })).toThrow(/vaeDecoder in exactly one group \(it is in 0\)/);
    expect(() => createChainPool({ components: ALL, residency: [ALL, ['denoiser']], create: w.create })).toThrow(/denoiser in exactly one group \(it is in 2\)/);
    expect(() => createChainPool({ components: ['denoiser'], residency: [['denoiser', 'vaeDecoder']], create: w.create })).toThrow(/residency names vaeDecoder/);
    expect(() => createChainPool({ components: ALL, residency: [ALL], create: undefined as never })).toThrow(TypeError);
    expect(() => createChainPool({ components: [], residency: [], create: w.create })).toThrow(/non-empty/);
    const p = createChainPool({ components: ['denoiser'], residency: [['denoiser']], create: w.create });
    return expect(p.load('textEncoder')).rejects.toThrow(/not one of the pooled components/);
  });
});
