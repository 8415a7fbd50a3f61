// Graph chains: a component's graphs run in order, tensors passed by name, intermediates disposed after
// their last reader, per-prompt graphs selectable, plan errors before anything runs. Fake sessions and
// fake ops stand in for onnxruntime: the chain's own logic is what is under test.
import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { cpuFeed, type CpuFeed, type Tensor } from '../../src/pipeline/ops';
import { chainOf, type ChainGraph, type GraphRunner } from '../../src/runtime/chain';
import type { Session } from '../../src/runtime/sessions';

class FakeTensor implements Tensor {
  disposed = false;
  constructor(readonly label: string, readonly dims: readonly number[] = [1]) {}
  dispose() {
    if (this.disposed) throw new Error(`${this.label} disposed twice`);
    this.disposed = true;
  }
}

/** A graph whose outputs are labelled `<graph>(<inputs>)/<output>`, so a test can see what flowed where. */
function graph(name: string, inputs: string[], outputs: string[], perPrompt = false): ChainGraph {
  return { name, perPrompt, inputNames: inputs, outputNames: outputs, session: { name, release: async () => undefined } as unknown as Session };
}

function recorder() {
  const runs: { graph: string; feeds: Record<string, string>; fetch: string[] }[] = [];
  const made: FakeTensor[] = [];
  const ops: GraphRunner = {
    async runOutputs(session, feeds, outputNames) {
      const graphName = (session as unknown as { name: string }).name;
      const labels = Object.fromEntries(Object.entries(feeds).map(([k, v]) => {
        if ((v as FakeTensor).disposed) throw new Error(`${graphName} was fed ${k}, already disposed`);
        return [k, (v as CpuFeed).cpu ? `feed:${k}` : (v as FakeTensor).label];
      }));
      runs.push({ graph: graphName, feeds: labels, fetch: [...outputNames] });
      const out: Record<string, Tensor> = {};
      for (const name of outputNames) {
        const tensor = new FakeTensor(`${graphName}/${name}`);
        made.push(tensor);
        out[name] = tensor;
      }
      return out;
    },
  };
  return { ops, runs, made };
}

const feed = () => cpuFeed('float32', new Float32Array(1), [1]);

describe('graph chains', () => {
  it('runs shards in order, each reading the latest tensor of a name, and frees intermediates', async () => {
    // Text-encoder style: every shard maps hidden_states → hidden_states; the last one names its output.
    const chain = chainOf('textEncoder', [
      graph('enc_0', ['hidden_states', 'attention_mask'], ['hidden_states']),
      graph('enc_1', ['hidden_states', 'attention_mask'], ['hidden_states']),
      graph('enc_2', ['hidden_states', 'attention_mask'], ['prompt_embeds']),
    ]);
    expect(chain.inputNames()).toEqual(['hidden_states', 'attention_mask']);
    expect(chain.outputNames()).toEqual(['hidden_states', 'prompt_embeds']);
    const { ops, runs, made } = recorder();
    const result = await chain.run(ops, { hidden_states: feed(), attention_mask: feed() }, ['prompt_embeds']);
    expect(runs).toEqual([
      { graph: 'enc_0', feeds: { hidden_states: 'feed:hidden_states', attention_mask: 'feed:attention_mask' }, fetch: ['hidden_states'] },
      { graph: 'enc_1', feeds: { hidden_states: 'enc_0/hidden_states', attention_mask: 'feed:attention_mask' }, fetch: ['hidden_states'] },
      { graph: 'enc_2', feeds: { hidden_states: 'enc_1/hidden_states', attention_mask: 'feed:attention_mask' }, fetch: ['prompt_embeds'] },
    ]);
    expect((result.prompt_embeds as FakeTensor).label).toBe('enc_2/prompt_embeds');
    expect(Object.keys(result)).toEqual(['prompt_embeds']);
    // Everything but the result is freed, each once; the result is the caller's.
    expect(made.filter((t) => t.disposed).map((t) => t.label)).toEqual(['enc_0/hidden_states', 'enc_1/hidden_states']);
    expect((result.prompt_embeds as FakeTensor).disposed).toBe(false);
  });

  it('passes named tensors to whichever later graph reads them, fetching only what someone reads', async () => {
    const chain = chainOf('vaeDecoder', [
      graph('a', ['x'], ['h', 'skip', 'unused']),
      graph('b', ['h'], ['h2']),
      graph('c', ['h2', 'skip'], ['y', 'mem']),
    ]);
    const { ops, runs, made } = recorder();
    const result = await chain.run(ops, { x: feed() }, ['y', 'mem']);
    expect(runs.map((r) => [r.graph, r.fetch])).toEqual([['a', ['h', 'skip']], ['b', ['h2']], ['c', ['y', 'mem']]]);
    expect(runs[2]!.feeds).toEqual({ h2: 'b/h2', skip: 'a/skip' });
    expect(Object.keys(result).sort()).toEqual(['mem', 'y']);
    expect(made.filter((t) => !t.disposed).map((t) => t.label).sort()).toEqual(['c/mem', 'c/y']);
  });

  it('runs only the per-prompt graphs, or only the per-step ones, as asked', async () => {
    const chain = chainOf('denoiser', [
      graph('denoiser_context', ['encoder_hidden_states'], ['context'], true),
      graph('denoiser_0', ['hidden_states', 'timestep', 'context'], ['hidden_states']),
      graph('denoiser_1', ['hidden_states', 'timestep', 'context'], ['sample']),
    ]);
    expect(chain.inputNames({ only: 'perPrompt' })).toEqual(['encoder_hidden_states']);
    expect(chain.inputNames({ only: 'perStep' })).toEqual(['hidden_states', 'timestep', 'context']);
    const { ops, runs } = recorder();
    const { context } = await chain.run(ops, { encoder_hidden_states: feed() }, ['context'], { only: 'perPrompt' });
    expect(runs.map((r) => r.graph)).toEqual(['denoiser_context']);
    // The per-prompt output is fed back to every step; the chain does not free a caller's tensor.
    for (let step = 0; step < 2; step++) {
      const { sample } = await chain.run(ops, { hidden_states: feed(), timestep: feed(), context: context! }, ['sample'], { only: 'perStep' });
      sample!.dispose();
    }
    expect(runs.map((r) => r.graph)).toEqual(['denoiser_context', 'denoiser_0', 'denoiser_1', 'denoiser_0', 'denoiser_1']);
    expect(runs[2]!.feeds.context).toBe('denoiser_context/context');
    expect((context as FakeTensor).disposed).toBe(false);
  });

  it('refuses a plan that cannot finish before running anything, naming the graph and the name', async () => {
    const chain = chainOf('denoiser', [graph('denoiser_0', ['hidden_states', 'context'], ['hidden_states']), graph('denoiser_1', ['hidden_states'], ['sample'])]);
    const { ops, runs } = recorder();
    const missing = await chain.run(ops, { hidden_states: feed() }, ['sample']).catch((e: unknown) => e as KinemaError);
    expect(missing).toBeInstanceOf(KinemaError);
    expect((missing as KinemaError).message).toMatch(/denoiser graph "denoiser_0" takes "context"/);
    expect((missing as KinemaError).details).toMatchObject({ component: 'denoiser', graph: 'denoiser_0', missing: ['context'] });
    const unknown = await chain.run(ops, { hidden_states: feed(), context: feed() }, ['velocity']).catch((e: unknown) => e as KinemaError);
    expect((unknown as KinemaError).message).toMatch(/produce no "velocity" \(they produce hidden_states, sample\)/);
    expect(runs).toEqual([]);
    await expect(chain.run(ops, {}, [], { only: 'sometimes' as never })).rejects.toThrow(TypeError);
  });

  it('frees what it made when a graph fails midway', async () => {
    const chain = chainOf('textEncoder', [graph('a', ['x'], ['h']), graph('b', ['h'], ['y'])]);
    const { ops, made } = recorder();
    const failing: GraphRunner = {
      async runOutputs(session, feeds, names) {
        if ((session as unknown as { name: string }).name === 'b') throw new KinemaError('BACKEND_FAILED', 'boom');
        return ops.runOutputs(session, feeds, names);
      },
    };
    await expect(chain.run(failing, { x: feed() }, ['y'])).rejects.toMatchObject({ code: 'BACKEND_FAILED' });
    expect(made.map((t) => [t.label, t.disposed])).toEqual([['a/h', true]]);
  });

  it('releases each session once, and refuses to run after', async () => {
    const released: string[] = [];
    const graphs = ['a', 'b'].map((name) => ({ ...graph(name, ['x'], ['x']), session: { release: async () => void released.push(name) } as unknown as Session }));
    const chain = chainOf('vaeDecoder', graphs);
    await chain.release();
    await chain.release();
    expect(released).toEqual(['a', 'b']);
    await expect(chain.run(recorder().ops, { x: feed() }, ['x'])).rejects.toMatchObject({ code: 'INTERNAL' });
  });
});
