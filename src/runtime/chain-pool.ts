/**
 * Memory staging: one GraphChain-compatible object per component whose sessions exist only while the
 * memory plan (src/models/memory.ts) lets them. Running a component first releases the chains of the
 * residency groups it is not in, then (re)creates its own; families keep calling `chain.run(...)` as
 * before, and what they hold (prompt embeddings, latents) are their own tensors, which outlive the
 * sessions that made them.
 *
 * Engine-agnostic: `create(component)` makes the component's chain (the engine reads the graphs' bytes
 * just before and drops them after); the pool only decides when. Creations and releases happen one at a
 * time (a lock), and a chain is released only once no run of it is in flight.
 *
 * The engine's wiring (src/engine/engine.ts):
 *
 * ```ts
 * const plan = planMemory(manifest, variants, target);          // before any download: refuses early
 * // … download and verify the files …
 * const pool = createChainPool({
 *   components: presentComponents(manifest),
 *   residency: plan.residency,
 *   // graphSources: this component's graph bytes, read from the store now and dropped once created.
 *   create: async (component) => createGraphChain(ort, backend, component, await graphSources(component)),
 * });
 * try {
 *   // Each component once, so names are known for the family's prepare; the order leaves the first
 *   // residency group (the text encoder) loaded, as a generation needs it first.
 *   for (const component of pool.loadOrder) await pool.load(component);
 * } catch (error) {
 *   await pool.release();
 *   throw error;
 * }
 * family.prepare({ …, chains: pool.chains });                   // chains.textEncoder.run(…) as before
 * // unloading: pool.release() (or each chain's release(), as releaseChains does)
 * ```
 *
 * While a pooled chain's sessions are released, `graphs` is `[]` (no session to hand out), and
 * `inputNames`/`outputNames` answer from the graphs of its first creation. A family that keeps a
 * session from `graphs` (kinema-micro does) is therefore only correct while the plan keeps every
 * component resident (one residency group); `run` is always correct.
 */
import { KinemaError } from '../errors';
import type { ComponentName } from '../progress/events';
import { chainOf, type ChainFeeds, type ChainGraph, type ChainRunOptions, type GraphChain, type GraphRunner } from './chain';
import type { Tensor } from '../pipeline/ops';

export interface ChainPoolOptions {
  /** The pooled components, in run order. */
  readonly components: readonly ComponentName[];
  /** Groups of components that may be loaded together (MemoryPlan.residency): each component in exactly one. */
  readonly residency: readonly (readonly ComponentName[])[];
  /** Makes the component's chain (its sessions). A rejection leaves the component released and is passed on unchanged. */
  readonly create: (component: ComponentName) => Promise<GraphChain>;
  /** Told after each creation and each staging release (bench figures, progress). */
  readonly onChange?: (event: { readonly type: 'create' | 'release'; readonly component: ComponentName }) => void;
}

export interface PooledChain extends GraphChain {
  /** Whether its sessions exist now. */
  readonly live: boolean;
}

export interface ChainPool {
  readonly chains: Readonly<Partial<Record<ComponentName, PooledChain>>>;
  /**
   * Every component once, in an order that ends with the first residency group: after loading each in
   * turn, what a generation runs first is the group left loaded.
   */
  readonly loadOrder: readonly ComponentName[];
  /** Creates the component's sessions now (releasing the groups it is not in) unless they exist. */
  load(component: ComponentName): Promise<void>;
  /** The components whose sessions exist now, in run order. */
  live(): ComponentName[];
  /** Releases every chain for good (runs after it reject); idempotent. */
  release(): Promise<void>;
}

interface Slot {
  readonly component: ComponentName;
  readonly group: number;
  inner?: GraphChain;
  /** The first creation's graphs, for names while released. */
  names?: GraphChain;
  /** Runs in flight on `inner`. */
  inUse: number;
  /** A staging release waits for this slot: new runs queue behind it instead of starting. */
  draining: boolean;
  disposed: boolean;
  idle: (() => void)[];
}

export function createChainPool(options: ChainPoolOptions): ChainPool {
  const { components, residency, create, onChange } = checkOptions(options);
  const slots = new Map<ComponentName, Slot>();
  for (const component of components) {
    slots.set(component, { component, group: residency.findIndex((g) => g.includes(component)), inUse: 0, draining: false, disposed: false, idle: [] });
  }

  // One staging step (release, create) at a time.
  let lock: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(task: () => Promise<T>): Promise<T> => {
    const next = lock.then(task, task);
    lock = next.catch(() => undefined);
    return next;
  };

  const released = (component: ComponentName) => new KinemaError('INTERNAL', `the ${component} chain was released`);

  const whenIdle = (slot: Slot): Promise<void> => (slot.inUse === 0 ? Promise.resolve() : new Promise((resolve) => slot.idle.push(resolve)));

  function done(slot: Slot): void {
    slot.inUse--;
    if (slot.inUse === 0) for (const resolve of slot.idle.splice(0)) resolve();
  }

  /** Releases the slot's sessions once no run uses them; the slot stays usable (it is recreated on demand). */
  async function stageOut(slot: Slot): Promise<void> {
    if (!slot.inner) return;
    slot.draining = true;
    try {
      await whenIdle(slot);
    } finally {
      slot.draining = false;
    }
    const chain = slot.inner;
    slot.inner = undefined;
    await chain.release().catch(() => undefined);
    onChange?.({ type: 'release', component: slot.component });
  }

  /** The live chain with one run counted on it; the caller must call done(slot). */
  async function acquire(slot: Slot): Promise<GraphChain> {
    if (slot.disposed) throw released(slot.component);
    if (slot.inner && !slot.draining) {
      slot.inUse++;
      return slot.inner;
    }
    return exclusive(async () => {
      if (slot.disposed) throw released(slot.component);
      if (!slot.inner) {
        for (const other of slots.values()) if (other.group !== slot.group) await stageOut(other);
        const chain = await create(slot.component);
        slot.inner = chain;
        slot.names ??= chainOf(slot.component, [...chain.graphs]);
        onChange?.({ type: 'create', component: slot.component });
      }
      slot.inUse++;
      return slot.inner;
    });
  }

  function namesOf(slot: Slot): GraphChain {
    const chain = slot.inner ?? slot.names;
    if (!chain) {
      throw new KinemaError('INTERNAL', `the ${slot.component} chain's graph names are not known before its first creation: load every component once (pool.load) before the family reads them`);
    }
    return chain;
  }

  async function dispose(slot: Slot): Promise<void> {
    if (slot.disposed) return;
    slot.disposed = true;
    // Behind any creation in progress, after the runs in flight.
    await exclusive(async () => {
      await whenIdle(slot);
      const chain = slot.inner;
      slot.inner = undefined;
      await chain?.release().catch(() => undefined);
    });
  }

  const chains: Partial<Record<ComponentName, PooledChain>> = {};
  for (const slot of slots.values()) {
    chains[slot.component] = {
      component: slot.component,
      get graphs(): readonly ChainGraph[] {
        return slot.inner?.graphs ?? [];
      },
      get live() {
        return slot.inner !== undefined;
      },
      inputNames: (runOptions?: ChainRunOptions) => namesOf(slot).inputNames(runOptions),
      outputNames: (runOptions?: ChainRunOptions) => namesOf(slot).outputNames(runOptions),
      async run(ops: GraphRunner, feeds: ChainFeeds, outputs: readonly string[], runOptions?: ChainRunOptions): Promise<Record<string, Tensor>> {
        const chain = await acquire(slot);
        try {
          return await chain.run(ops, feeds, outputs, runOptions);
        } finally {
          done(slot);
        }
      },
      release: () => dispose(slot),
    };
  }

  const loadOrder = [...residency.slice(1).flat(), ...(residency[0] ?? [])];
  return {
    chains,
    loadOrder,
    async load(component) {
      const slot = slots.get(component);
      if (!slot) throw new TypeError(`chainPool.load: "${component}" is not one of the pooled components (${components.join(', ')})`);
      await acquire(slot);
      done(slot);
    },
    live: () => components.filter((c) => slots.get(c)!.inner !== undefined),
    async release() {
      for (const slot of slots.values()) await dispose(slot);
    },
  };
}

function checkOptions(options: ChainPoolOptions): ChainPoolOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createChainPool: options must be { components, residency, create }');
  const { components, residency, create } = options;
  if (!Array.isArray(components) || components.length === 0) throw new TypeError('createChainPool: components must be a non-empty array of component names');
  if (new Set(components).size !== components.length) throw new TypeError(`createChainPool: components lists a component twice (${components.join(', ')})`);
  if (typeof create !== 'function') throw new TypeError('createChainPool: create must be a function (component) => Promise<GraphChain>');
  if (!Array.isArray(residency) || residency.some((group) => !Array.isArray(group) || group.length === 0)) {
    throw new TypeError('createChainPool: residency must be an array of non-empty component groups (MemoryPlan.residency)');
  }
  const grouped = residency.flat();
  for (const component of components) {
    const count = grouped.filter((c) => c === component).length;
    if (count !== 1) throw new TypeError(`createChainPool: residency must put ${component} in exactly one group (it is in ${count}); pass the residency of planMemory for these components`);
  }
  const unknown = grouped.filter((c) => !components.includes(c));
  if (unknown.length > 0) throw new TypeError(`createChainPool: residency names ${unknown.join(', ')}, not among the components (${components.join(', ')})`);
  return options;
}
