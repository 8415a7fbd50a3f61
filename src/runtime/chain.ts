/**
 * A component as a chain of ONNX graphs run in sequence ("shards"): a text encoder split into blocks,
 * a denoiser whose prompt-only part runs once per prompt (`perPrompt`) before its per-step blocks.
 *
 * Tensors flow between graphs by name: each graph takes its inputs from the caller's feeds and from
 * every earlier graph's outputs; a later output of the same name replaces an earlier one (shards that
 * each map `hidden_states` to `hidden_states`). Only outputs that a later graph reads or the caller asked
 * for are fetched, and intermediates are disposed as soon as their last reader has run, so a long chain
 * holds one set of activations at a time. On WebGPU every tensor stays on the GPU.
 *
 * Two phases, because onnxruntime's WebGPU device (which LoopOps needs) exists only once a session has
 * been created: `createGraphChain` makes the sessions at load time; `run` is given the LoopOps that own
 * the tensors.
 */
import { KinemaError } from '../errors';
import type { ComponentName } from '../progress/events';
import type { CpuFeed, LoopOps, Tensor } from '../pipeline/ops';
import type { Ort } from './ort';
import { createComponentSession, type LocalBackend, type Session } from './sessions';

/** Bytes, or a function that reads them when they are needed (just before the graph's session is created). */
export type GraphBytes = Uint8Array | (() => Promise<Uint8Array>);

/** One graph's bytes, as the loader delivered them. */
export interface GraphSource {
  readonly name: string;
  /** The .onnx graph. */
  readonly model: GraphBytes;
  /** ONNX external-data files under the names the graph refers to. */
  readonly externalData: readonly { readonly path: string; readonly data: GraphBytes }[];
  /** Runs once per prompt, before the per-step graphs (see `ChainRunOptions.only`). */
  readonly perPrompt?: boolean;
}

export interface ChainGraph {
  readonly name: string;
  readonly perPrompt: boolean;
  readonly session: Session;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
}

export interface ChainRunOptions {
  /** Run only the `perPrompt` graphs, or only the others ('perStep'). Default: all, in order. */
  readonly only?: 'perPrompt' | 'perStep';
}

/** What a chain needs from the backend to run a graph: LoopOps has it. */
export type GraphRunner = Pick<LoopOps, 'runOutputs'>;

export type ChainFeeds = Readonly<Record<string, Tensor | CpuFeed>>;

export interface GraphChain {
  readonly component: ComponentName;
  /** In run order. */
  readonly graphs: readonly ChainGraph[];
  /** The names the selected graphs read that no earlier selected graph produces: what `feeds` must hold. */
  inputNames(options?: ChainRunOptions): string[];
  /** Every name the selected graphs produce (a later graph's output of the same name wins). */
  outputNames(options?: ChainRunOptions): string[];
  /**
   * Runs the selected graphs in order and returns the requested outputs; the caller owns (and disposes)
   * them. Feeds are not disposed. A name no selected graph produces, or an input neither the feeds nor
   * an earlier graph gives, fails before any graph runs.
   */
  run(ops: GraphRunner, feeds: ChainFeeds, outputs: readonly string[], options?: ChainRunOptions): Promise<Record<string, Tensor>>;
  /** Releases every session; idempotent. */
  release(): Promise<void>;
}

/**
 * One session per graph, created in order (one at a time: WebGPU compiles shaders per session, and
 * peak memory stays at one graph's). If one fails, those already made are released.
 */
export async function createGraphChain(ort: Ort, backend: LocalBackend, component: ComponentName, sources: readonly GraphSource[]): Promise<GraphChain> {
  if (sources.length === 0) throw new TypeError(`createGraphChain: ${component} needs at least one graph`);
  const graphs: ChainGraph[] = [];
  try {
    for (const source of sources) {
      // Lazy sources are read here, one graph at a time, and dropped once onnxruntime has copied them.
      const model = await bytesOf(source.model);
      const externalData: { path: string; data: Uint8Array }[] = [];
      for (const { path, data } of source.externalData) externalData.push({ path, data: await bytesOf(data) });
      const session = await createComponentSession(ort, backend, component, { model, externalData }, sources.length > 1 ? source.name : undefined);
      graphs.push({
        name: source.name,
        perPrompt: source.perPrompt === true,
        session,
        inputNames: [...session.inputNames],
        outputNames: [...session.outputNames],
      });
    }
  } catch (error) {
    for (const graph of graphs) await graph.session.release().catch(() => undefined);
    throw error;
  }
  return chainOf(component, graphs);
}

const bytesOf = (bytes: GraphBytes): Promise<Uint8Array> => (typeof bytes === 'function' ? bytes() : Promise.resolve(bytes));

/** A chain over sessions that already exist (tests give fakes). */
export function chainOf(component: ComponentName, graphs: readonly ChainGraph[]): GraphChain {
  let released = false;
  const select = (options?: ChainRunOptions): readonly ChainGraph[] => {
    const only = options?.only;
    if (only === undefined) return graphs;
    if (only !== 'perPrompt' && only !== 'perStep') throw new TypeError(`chain.run: options.only must be 'perPrompt' or 'perStep'; got ${JSON.stringify(only)}`);
    return graphs.filter((g) => g.perPrompt === (only === 'perPrompt'));
  };

  const inputNames = (options?: ChainRunOptions): string[] => {
    const produced = new Set<string>();
    const needed = new Set<string>();
    for (const graph of select(options)) {
      for (const name of graph.inputNames) if (!produced.has(name)) needed.add(name);
      for (const name of graph.outputNames) produced.add(name);
    }
    return [...needed];
  };
  const outputNames = (options?: ChainRunOptions): string[] => [...new Set(select(options).flatMap((g) => g.outputNames))];

  async function run(ops: GraphRunner, feeds: ChainFeeds, outputs: readonly string[], options?: ChainRunOptions): Promise<Record<string, Tensor>> {
    if (released) throw new KinemaError('INTERNAL', `the ${component} chain was released`);
    const selected = select(options);
    const requested = new Set(outputs);
    const what = (graph: ChainGraph) => (graphs.length > 1 ? `the ${component} graph "${graph.name}"` : `the ${component} graph`);

    // Check the whole plan first: nothing runs for a call that cannot finish.
    const available = new Set(Object.keys(feeds));
    for (const graph of selected) {
      const missing = graph.inputNames.filter((name) => !available.has(name));
      if (missing.length > 0) {
        throw new KinemaError('INVALID_MANIFEST', `${what(graph)} takes ${missing.map((n) => `"${n}"`).join(', ')}, which neither the feeds (${Object.keys(feeds).join(', ') || 'none'}) nor an earlier graph provide: the graph does not fit its family's contract`, {
          details: { component, graph: graph.name, missing },
        });
      }
      for (const name of graph.outputNames) available.add(name);
    }
    const producedBySelected = new Set(selected.flatMap((g) => g.outputNames));
    for (const name of requested) {
      if (!producedBySelected.has(name)) {
        throw new KinemaError('INVALID_MANIFEST', `the ${component} graphs produce no "${name}" (they produce ${[...producedBySelected].join(', ') || 'nothing'}): the graphs do not fit their family's contract`, {
          details: { component, output: name },
        });
      }
    }

    /** Whether the value `name` holds after graph `index` is read later: by a later graph before one replaces it, or by the caller. */
    const neededAfter = (name: string, index: number): boolean => {
      for (let j = index + 1; j < selected.length; j++) {
        if (selected[j]!.inputNames.includes(name)) return true;
        if (selected[j]!.outputNames.includes(name)) return false;
      }
      return requested.has(name);
    };

    const pool = new Map<string, Tensor | CpuFeed>(Object.entries(feeds));
    const owned = new Set<Tensor>();
    try {
      for (const [index, graph] of selected.entries()) {
        const fetch = graph.outputNames.filter((name) => neededAfter(name, index));
        if (fetch.length === 0) continue; // nothing downstream reads it
        const graphFeeds: Record<string, Tensor | CpuFeed> = {};
        for (const name of graph.inputNames) graphFeeds[name] = pool.get(name)!;
        const results = await ops.runOutputs(graph.session, graphFeeds, fetch);
        for (const name of fetch) {
          const replaced = pool.get(name);
          if (replaced && owned.delete(replaced as Tensor)) (replaced as Tensor).dispose(); // read by this graph, replaced for everyone after
          const tensor = results[name]!;
          owned.add(tensor);
          pool.set(name, tensor);
        }
        // Drop what no one reads any more (this graph's inputs, and outputs a later graph replaces).
        for (const [name, value] of pool) {
          if (owned.has(value as Tensor) && !neededAfter(name, index)) {
            (value as Tensor).dispose();
            owned.delete(value as Tensor);
            pool.delete(name);
          }
        }
      }
      const result: Record<string, Tensor> = {};
      for (const name of requested) {
        const tensor = pool.get(name) as Tensor;
        result[name] = tensor;
        owned.delete(tensor);
      }
      return result;
    } finally {
      for (const tensor of owned) tensor.dispose();
    }
  }

  return {
    component,
    graphs,
    inputNames,
    outputNames,
    run,
    async release() {
      if (released) return;
      released = true;
      for (const graph of graphs) await graph.session.release().catch(() => undefined);
    },
  };
}
