/**
 * The runner's `scheduler` component: kinema's sampler (src/schedulers/sampler.ts) stepped with model
 * outputs the porter supplies instead of a denoiser, on the wasm backend's LoopOps — the same tensor
 * algebra (`ops.combine`, `ops.noise`) a generation on wasm uses, so what comes out is what the engine's
 * loop would compute from the same model outputs.
 */
import { createCpuOps } from '../pipeline/cpu-ops';
import type { LoopOps, Tensor } from '../pipeline/ops';
import { createSampler, type TensorAlgebra } from '../schedulers/sampler';
import type { Ort } from '../runtime/ort';
import { UsageError } from './args';
import type { NpyArray } from './npy';

export interface SamplerRun {
  timesteps: Float32Array;
  sigmas: Float32Array;
  latents: Float32Array;
}

export type SamplerType = 'unipc' | 'flow-match-euler' | 'rcm';

/** LoopOps as the samplers' algebra over tensors of one shape. */
export function opsAlgebra(ops: LoopOps, dims: readonly number[]): TensorAlgebra<Tensor> {
  return {
    combine: (terms) => ops.combine(terms),
    noise: (seed) => ops.noise(dims, seed),
    dispose: (tensor) => tensor.dispose(),
  };
}

export async function runSampler(
  ort: Ort,
  scheduler: { type: string; config: Readonly<Record<string, unknown>> },
  steps: number,
  seed: number,
  latents: NpyArray<'float32'>,
  modelOutputs: readonly NpyArray<'float32'>[],
): Promise<SamplerRun> {
  if (scheduler.type !== 'unipc' && scheduler.type !== 'flow-match-euler' && scheduler.type !== 'rcm') {
    throw new UsageError(`the scheduler component runs the Wan samplers (unipc, flow-match-euler, rcm); the model's scheduler is ${JSON.stringify(scheduler.type)}`);
  }
  let sampler: ReturnType<typeof createSampler>;
  try {
    sampler = createSampler({ type: scheduler.type, config: { ...scheduler.config } }, steps, { seed });
  } catch (error) {
    // A config the sampler refuses (a field out of range) is the porter's to fix.
    if (error instanceof RangeError || error instanceof TypeError) throw new UsageError(`the scheduler config: ${error.message}`);
    throw error;
  }
  const ops = createCpuOps(ort);
  const dims = latents.shape;
  const algebra = opsAlgebra(ops, dims);
  let sample: Tensor = ops.upload(latents.data, dims);
  try {
    for (let i = 0; i < steps; i++) {
      const output = ops.upload(modelOutputs[i]!.data, dims);
      const { next, x0 } = sampler.step(algebra, i, sample, output);
      // The sampler keeps its own copies of what it needs later (as in the Wan pipeline's loop).
      if (x0 !== next) x0.dispose();
      output.dispose();
      if (next !== sample) sample.dispose();
      sample = next;
    }
    const final = await ops.read(sample);
    return { timesteps: Float32Array.from(sampler.timesteps), sigmas: Float32Array.from(sampler.sigmas), latents: final };
  } finally {
    sample.dispose();
    sampler.dispose(algebra);
    ops.destroy();
  }
}
