// One whole Wan generation through runWanPipeline on onnxruntime-web (wasm), with hand-built graphs of the
// Wan contract whose arithmetic is simple enough to redo here: embedding gather → text encoder (mask) →
// denoiser_context once → per-step denoiser with timestep, context and RoPE inputs → CFG → sampler step →
// streaming decoder. The frames must equal a plain re-computation of the same flow; swapping the CFG
// batch order, skipping the context graph, feeding the wrong timestep or the wrong latent frame would not.
import { beforeAll, describe, expect, it } from 'vitest';
import { runWanPipeline, type WanAlgebra, type WanSampler } from '../../src/families/wan/pipeline';
import type { WanStreamingSpec } from '../../src/families/wan/manifest';
import { ropeTables } from '../../src/families/wan/rope';
import { createCpuOps } from '../../src/pipeline/cpu-ops';
import type { LoopOps, Tensor } from '../../src/pipeline/ops';
import type { Ort } from '../../src/runtime/ort';
import { createGraphChain, type GraphChain } from '../../src/runtime/chain';
import { toByte } from '../../src/kernels/cpu';
import { onnxModel } from './wan-family-onnx';

const L = 4; // prompt length
const D = 3; // text hidden size
const V = 6; // vocabulary
const C = 2; // latent channels
const F = 2; // latent frames → 5 video frames
const HEAD = 12;
const FRAME = 8;

const scalar = (name: string, value: number) => ({ name, type: 'float32' as const, dims: [1], values: [value] });

function textEncoderGraph(): Uint8Array {
  // prompt_embeds = hidden_states · mask
  return onnxModel({
    name: 'text_encoder',
    inputs: [{ name: 'hidden_states', type: 'float32', dims: ['B', L, D] }, { name: 'attention_mask', type: 'int64', dims: ['B', L] }],
    outputs: [{ name: 'prompt_embeds', type: 'float32', dims: ['B', L, D] }],
    initializers: [{ name: 'axis2', type: 'int64', dims: [1], values: [2] }],
    nodes: [
      { op: 'Unsqueeze', inputs: ['attention_mask', 'axis2'], outputs: ['mask3'] },
      { op: 'Cast', inputs: ['mask3'], outputs: ['maskf'], attributes: { to: 1 } },
      { op: 'Mul', inputs: ['hidden_states', 'maskf'], outputs: ['prompt_embeds'] },
    ],
  });
}

function contextGraph(): Uint8Array {
  // context = 2 · encoder_hidden_states (dim = D here)
  return onnxModel({
    name: 'denoiser_context',
    inputs: [{ name: 'encoder_hidden_states', type: 'float32', dims: ['B', L, D] }],
    outputs: [{ name: 'context', type: 'float32', dims: ['B', L, D] }],
    initializers: [scalar('two', 2)],
    nodes: [{ op: 'Mul', inputs: ['encoder_hidden_states', 'two'], outputs: ['context'] }],
  });
}

function stepGraph(): Uint8Array {
  // sample[b] = 0.5·x[b] + timestep[b]/1000 + mean(context[b]) + mean(rope_sin)
  return onnxModel({
    name: 'denoiser',
    inputs: [
      { name: 'hidden_states', type: 'float32', dims: ['B', C, F, 1, 1] },
      { name: 'timestep', type: 'float32', dims: ['B'] },
      { name: 'context', type: 'float32', dims: ['B', L, D] },
      { name: 'rope_cos', type: 'float32', dims: ['N', HEAD / 2] },
      { name: 'rope_sin', type: 'float32', dims: ['N', HEAD / 2] },
    ],
    outputs: [{ name: 'sample', type: 'float32', dims: ['B', C, F, 1, 1] }],
    initializers: [scalar('half', 0.5), scalar('milli', 0.001), { name: 'shape5', type: 'int64', dims: [5], values: [-1, 1, 1, 1, 1] }],
    nodes: [
      { op: 'Mul', inputs: ['hidden_states', 'half'], outputs: ['hx'] },
      { op: 'Mul', inputs: ['timestep', 'milli'], outputs: ['tm'] },
      { op: 'Reshape', inputs: ['tm', 'shape5'], outputs: ['t5'] },
      { op: 'ReduceMean', inputs: ['context'], outputs: ['cm'], attributes: { axes: [1, 2], keepdims: 1 } },
      { op: 'Reshape', inputs: ['cm', 'shape5'], outputs: ['c5'] },
      { op: 'ReduceMean', inputs: ['rope_sin'], outputs: ['rm'], attributes: { keepdims: 0 } },
      { op: 'Add', inputs: ['hx', 't5'], outputs: ['s1'] },
      { op: 'Add', inputs: ['s1', 'c5'], outputs: ['s2'] },
      { op: 'Add', inputs: ['s2', 'rm'], outputs: ['sample'] },
    ],
  });
}

function decoderGraph(): Uint8Array {
  // frames[k] = [R: 4·mem + k, G: 10·latent[0] + 128, B: 10·latent[1] + 128] / 255
  return onnxModel({
    name: 'vae_decoder_step',
    inputs: [{ name: 'latent', type: 'float32', dims: [1, C, 1, 1] }, { name: 'mem_0', type: 'float32', dims: [1, 1, 1, 1] }],
    outputs: [{ name: 'frames', type: 'float32', dims: [4, 3, FRAME, FRAME] }, { name: 'mem_out_0', type: 'float32', dims: [1, 1, 1, 1] }],
    initializers: [
      { name: 'k', type: 'float32', dims: [4, 1, 1, 1], values: [0, 1, 2, 3] },
      { name: 'zeros', type: 'float32', dims: [4, 1, FRAME, FRAME], values: new Array(4 * FRAME * FRAME).fill(0) },
      scalar('four', 4), scalar('one', 1), scalar('ten', 10), scalar('mid', 128), scalar('inv255', 1 / 255),
    ],
    nodes: [
      { op: 'Mul', inputs: ['mem_0', 'four'], outputs: ['m4'] },
      { op: 'Add', inputs: ['m4', 'k'], outputs: ['a0'] },
      { op: 'Add', inputs: ['a0', 'zeros'], outputs: ['red'] },
      { op: 'Mul', inputs: ['latent', 'ten'], outputs: ['l10'] },
      { op: 'Add', inputs: ['l10', 'mid'], outputs: ['lm'] },
      { op: 'Split', inputs: ['lm'], outputs: ['g', 'b'], attributes: { axis: 1 } },
      { op: 'Add', inputs: ['g', 'zeros'], outputs: ['green'] },
      { op: 'Add', inputs: ['b', 'zeros'], outputs: ['blue'] },
      { op: 'Concat', inputs: ['red', 'green', 'blue'], outputs: ['rgb'], attributes: { axis: 1 } },
      { op: 'Mul', inputs: ['rgb', 'inv255'], outputs: ['frames'] },
      { op: 'Add', inputs: ['mem_0', 'one'], outputs: ['mem_out_0'] },
    ],
  });
}

const streaming: WanStreamingSpec = { memory: [{ input: 'mem_0', output: 'mem_out_0', channels: 1, scale: 1 }], framesPerLatent: 4, trimFrames: 3 };
const SIGMAS = [1, 0.75, 0.5, 0.25, 0];

/** Flow-match Euler over the algebra, as src/schedulers' samplers are written (tests only). */
function eulerSampler(): WanSampler {
  return {
    steps: SIGMAS.length - 1,
    timesteps: SIGMAS.slice(0, -1).map((s) => 1000 * s),
    initNoiseSigma: 1,
    step(algebra, i, sample, v) {
      return {
        next: algebra.combine([{ tensor: sample, coef: 1 }, { tensor: v, coef: SIGMAS[i + 1]! - SIGMAS[i]! }]),
        x0: algebra.combine([{ tensor: sample, coef: 1 }, { tensor: v, coef: -SIGMAS[i]! }]),
      };
    },
    dispose() {},
  };
}

/** combine on the wasm backend's tensors (their values are a Float32Array `data`). */
function cpuAlgebra(ops: LoopOps, dims: readonly number[]): WanAlgebra & { live: Set<Tensor> } {
  const live = new Set<Tensor>();
  const track = (t: Tensor) => { live.add(t); const dispose = t.dispose.bind(t); (t as { dispose(): void }).dispose = () => { live.delete(t); dispose(); }; return t; };
  return {
    live,
    combine(terms) {
      const out = new Float32Array((terms[0]!.tensor as unknown as { data: Float32Array }).data.length);
      for (const { tensor, coef } of terms) {
        const data = (tensor as unknown as { data: Float32Array }).data;
        for (let i = 0; i < out.length; i++) out[i] = Math.fround(out[i]! + Math.fround(coef * data[i]!));
      }
      return track(ops.upload(out, tensor0Dims(terms)));
    },
    noise: (seed) => track(ops.noise(dims, seed)),
    dispose: (t) => t.dispose(),
  };
}
const tensor0Dims = (terms: readonly { tensor: Tensor }[]) => terms[0]!.tensor.dims;

// The embedding table: row v = [v, −v/2, 1].
const table = (() => {
  const bytes = new Uint8Array(V * D * 4);
  const view = new DataView(bytes.buffer);
  for (let v = 0; v < V; v++) [v, -v / 2, 1].forEach((x, d) => view.setFloat32((v * D + d) * 4, x, true));
  return bytes;
})();

/** The same flow in plain numbers: the frames' (R, G, B) per output frame. */
function reference(ids: number[][], masks: number[][], initial: Float32Array, guidance: number): [number, number, number][] {
  const batch = ids.length;
  const rope = ropeTables({ headDim: HEAD, patchSize: [1, 1, 1], ropeTheta: 10000 }, { frames: F, height: 1, width: 1 });
  const ropeMean = rope.sin.reduce((a, b) => a + b, 0) / rope.sin.length;
  // mean over (L, D) of context = 2 · embedding · mask
  const contextMean = ids.map((row, b) => row.reduce((sum, id, l) => sum + masks[b]![l]! * 2 * (id + -id / 2 + 1), 0) / (L * D));
  let x = Array.from(initial);
  for (let i = 0; i < SIGMAS.length - 1; i++) {
    const t = 1000 * SIGMAS[i]!;
    const v = Array.from({ length: batch }, (_, b) => x.map((xi) => 0.5 * xi + t / 1000 + contextMean[b]! + ropeMean));
    const guided = batch === 2 ? v[0]!.map((u, j) => u + guidance * (v[1]![j]! - u)) : v[0]!;
    x = x.map((xi, j) => xi + (SIGMAS[i + 1]! - SIGMAS[i]!) * guided[j]!);
  }
  const frames: [number, number, number][] = [];
  for (let g = 3; g < 4 * F; g++) {
    const t = Math.floor(g / 4);
    const byte = (value: number) => toByte(Math.fround(value / 255) * 2 - 1);
    frames.push([byte(g), byte(10 * x[t]! + 128), byte(10 * x[F + t]! + 128)]);
  }
  return frames;
}

describe('wan pipeline (hand-built graphs, wasm)', () => {
  let ort: Ort;
  let chains: { textEncoder: GraphChain; denoiser: GraphChain; vaeDecoder: GraphChain };
  beforeAll(async () => {
    ort = (await import('onnxruntime-web')) as unknown as Ort;
    ort.env.wasm.numThreads = 1;
    chains = {
      textEncoder: await createGraphChain(ort, 'wasm', 'textEncoder', [{ name: 'text_encoder', model: textEncoderGraph(), externalData: [] }]),
      denoiser: await createGraphChain(ort, 'wasm', 'denoiser', [
        { name: 'denoiser_context', model: contextGraph(), externalData: [], perPrompt: true },
        { name: 'denoiser', model: stepGraph(), externalData: [] },
      ]),
      vaeDecoder: await createGraphChain(ort, 'wasm', 'vaeDecoder', [{ name: 'vae_decoder_step', model: decoderGraph(), externalData: [] }]),
    };
  });

  async function generate(ids: number[][], masks: number[][], guidance: number, initial: Float32Array) {
    const ops = createCpuOps(ort);
    const latentDims = [1, C, F, 1, 1] as [number, number, number, number, number];
    const algebra = cpuAlgebra(ops, latentDims);
    const frames: [number, number, number][] = [];
    const indices: number[] = [];
    const steps: number[] = [];
    const timings = await runWanPipeline({
      ops, chains, algebra, sampler: eulerSampler(),
      tokens: {
        inputIds: BigInt64Array.from(ids.flat().map(BigInt)), attentionMask: BigInt64Array.from(masks.flat().map(BigInt)),
        batch: ids.length, maxLength: L, lengths: masks.map((m) => m.reduce((a, b) => a + b, 0)), cleaned: ids.map(() => ''),
      },
      embedding: { table, spec: { vocabSize: V, dim: D, dtype: 'fp32' } },
      denoiser: { numHeads: 1, headDim: HEAD, patchSize: [1, 1, 1], inChannels: C, outChannels: C, textDim: D, ropeTheta: 10000 },
      streaming, guidanceScale: guidance, seed: 7, latentDims, initialLatents: initial,
      outputScale: 1, outputFilter: 'nearest',
      onStep: (step) => { steps.push(step); },
      onFrame: (rgba, index) => { indices.push(index); frames.push([rgba[0]!, rgba[1]!, rgba[2]!]); },
    });
    return { frames, indices, steps, timings, live: algebra.live };
  }

  const initial = Float32Array.from([0.3, -1.2, 0.8, 2.0]);

  it('with guidance: [negative, prompt] through encoder, context, CFG and Euler equals the plain computation', async () => {
    const ids = [[1, 0, 0, 0], [3, 5, 2, 1]];
    const masks = [[1, 0, 0, 0], [1, 1, 1, 1]];
    const run = await generate(ids, masks, 4, initial);
    expect(run.steps).toEqual([1, 2, 3, 4]);
    expect(run.indices).toEqual([0, 1, 2, 3, 4]);
    expect(run.frames).toEqual(reference(ids, masks, initial, 4));
    expect(run.timings.frames).toBe(5);
    expect(run.timings.readbacksDuringDenoise).toBe(0);
    expect(run.live.size).toBe(0); // every tensor the sampler made was disposed
    // Swapping the guidance order changes the clip: the test sees the batch order.
    expect(run.frames).not.toEqual(reference([ids[1]!, ids[0]!], [masks[1]!, masks[0]!], initial, 4));
  });

  it('without guidance: batch 1', async () => {
    const ids = [[4, 4, 1, 0]];
    const masks = [[1, 1, 1, 0]];
    const run = await generate(ids, masks, 1, initial);
    expect(run.frames).toEqual(reference(ids, masks, initial, 1));
  });

  it('refuses initial latents of the wrong size before running anything', async () => {
    await expect(generate([[1, 0, 0, 0]], [[1, 0, 0, 0]], 1, new Float32Array(3))).rejects.toThrow('initialLatents has 3 values; the latent [1, 2, 2, 1, 1] needs 4');
  });
});
