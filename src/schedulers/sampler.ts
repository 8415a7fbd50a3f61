/**
 * Samplers as programs over an abstract tensor algebra: every update of the samplers here is a linear
 * combination of tensors the sampler was given or kept (plus fresh noise for rCM), so a sampler is written
 * once against `TensorAlgebra<T>` and runs unchanged on Float32Arrays, on the wasm backend's CPU twins or
 * on WebGPU buffers (`samplerAlgebra(ops, dims)`: LoopOps.combine is a WGSL kernel there, nothing is read
 * back).
 *
 *   const sampler = createSampler({ type: 'unipc', config: schedulerConfigJson }, 50, { seed });
 *   let x = ops.noise(dims, seed)  (times sampler.initNoiseSigma when it is not 1)
 *   for (let i = 0; i < sampler.steps; i++) {
 *     const v = denoiser(x, sampler.timesteps[i]);
 *     const { next, x0 } = sampler.step(algebra, i, x, v);
 *     …dispose v, x0 (unless it is next) and x (unless it is next); x = next
 *   }
 *   sampler.dispose(algebra);
 *
 * Ownership: `step` never keeps `sample` or `modelOutput` and never keeps what it returns; `next` and `x0`
 * are new tensors owned by the caller (they may be the same tensor, on rCM's and Euler's last step never
 * for Euler). The sampler keeps its own copies of what later steps need (UniPC's x0 history and last
 * sample) and frees them after the last step or on `dispose`. Steps run in order 0, 1, …, steps − 1.
 */
import { configReader } from './config';
import { createDdim } from './ddim';
import { createFlowMatchEuler } from './flow-match-euler';
import { createRcmSampler, readRcmConfig } from './rcm';
import type { SchedulerConfig, SchedulerType } from './types';
import { createUnipcSampler, readUnipcConfig, unipcSchedule } from './unipc';
import type { LoopOps, Tensor } from '../pipeline/ops';

export { rcmNoiseSeed } from './rcm';
export { unipcSchedule } from './unipc';

export interface Term<T> {
  readonly tensor: T;
  readonly coef: number;
}

export interface TensorAlgebra<T> {
  /** Σ coef·tensor over same-shape tensors; a new tensor (inputs untouched). */
  combine(terms: readonly Term<T>[]): T;
  /** Fresh N(0,1) noise of the sample's shape, from kinema's philox with this seed (deterministic). */
  noise(seed: number): T;
  dispose(tensor: T): void;
}

export interface Sampler {
  readonly type: SchedulerType;
  readonly steps: number;
  /** The denoiser's `timestep` input per step (UniPC: diffusers' integer timesteps; Euler/rCM: 1000·σ). */
  readonly timesteps: readonly number[];
  /** σ per step plus the final σ (length steps + 1); for DDIM, √((1 − ᾱ)/ᾱ) of each step's timestep. */
  readonly sigmas: readonly number[];
  /** The standard deviation to give the starting noise (1, except rCM: see rcm.ts). */
  readonly initNoiseSigma: number;
  step<T>(algebra: TensorAlgebra<T>, i: number, sample: T, modelOutput: T): { next: T; x0: T };
  /** Frees kept history (idempotent). */
  dispose<T>(algebra: TensorAlgebra<T>): void;
}

export type SamplerType = Extract<SchedulerType, 'flow-match-euler' | 'unipc' | 'rcm' | 'ddim'>;

export interface SamplerSpec {
  readonly type: SamplerType;
  readonly config?: SchedulerConfig;
}

const TYPES: readonly SamplerType[] = ['flow-match-euler', 'unipc', 'rcm', 'ddim'];

function checkType(type: unknown): SamplerType {
  if (!(TYPES as readonly unknown[]).includes(type)) throw new RangeError(`scheduler type must be one of ${TYPES.map((t) => `'${t}'`).join(', ')}, got ${JSON.stringify(type)}`);
  return type as SamplerType;
}

function checkSeed(seed: unknown): number {
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 1) {
    throw new RangeError(`seed must be an integer from 0 to ${2 ** 31 - 1}, got ${String(seed)}`);
  }
  return seed;
}

export function createSampler(scheduler: SamplerSpec, steps: number, options: { readonly seed: number }): Sampler {
  if (scheduler === null || typeof scheduler !== 'object') throw new TypeError('createSampler needs { type, config }');
  const type = checkType(scheduler.type);
  const seed = checkSeed(options?.seed);
  switch (type) {
    case 'unipc':
      return createUnipcSampler(readUnipcConfig(scheduler.config), steps);
    case 'rcm':
      return createRcmSampler(readRcmConfig(scheduler.config), steps, seed);
    case 'flow-match-euler':
      return eulerSampler(scheduler.config, steps);
    case 'ddim':
      return ddimSampler(scheduler.config, steps);
  }
}

/**
 * Checks a manifest's scheduler config without building a sampler: throws the RangeError/TypeError (naming
 * the key) that createSampler would, and returns the largest step count the config allows, at most
 * `maxSteps` (rCM: its number of σ).
 */
export function validateSamplerConfig(type: SamplerType, config: SchedulerConfig | undefined, maxSteps: number): { maxSteps: number } {
  checkType(type);
  if (!Number.isInteger(maxSteps) || maxSteps < 1) throw new RangeError(`maxSteps must be an integer ≥ 1, got ${String(maxSteps)}`);
  switch (type) {
    case 'unipc': {
      const c = readUnipcConfig(config);
      unipcSchedule(c, 1);
      return { maxSteps: Math.min(maxSteps, c.num_train_timesteps) };
    }
    case 'rcm':
      return { maxSteps: Math.min(maxSteps, readRcmConfig(config).sigmas.length) };
    case 'flow-match-euler':
      eulerSampler(config, 1);
      return { maxSteps };
    case 'ddim': {
      ddimSampler(config, 1);
      const n = (createDdim(config).config as { num_train_timesteps: number }).num_train_timesteps;
      return { maxSteps: Math.min(maxSteps, n) };
    }
  }
}

/** Step order: the multistep samplers keep history, so every sampler insists on 0, 1, … */
function inOrder(type: string, steps: number) {
  let expected = 0;
  return (i: number) => {
    if (!Number.isInteger(i) || i < 0 || i >= steps) throw new RangeError(`step index must be an integer from 0 to ${steps - 1}, got ${i}`);
    if (i !== expected) throw new RangeError(`${type} steps run in order: expected step ${expected}, got ${i}; create a new sampler to start again`);
    expected = i + 1;
  };
}

/** diffusers' FlowMatchEulerDiscreteScheduler (its existing plan): x0 = x − σ·v, x' = x + (σ' − σ)·v. */
function eulerSampler(config: SchedulerConfig | undefined, steps: number): Sampler {
  const read = configReader('flow-match-euler', config);
  read.unsupported('use_dynamic_shifting', (v) => v === false, 'the sampler has no sequence length to compute mu from; use shift');
  const plan = createFlowMatchEuler(config).plan(steps);
  if (plan.type !== 'flow-match-euler') throw new Error('unreachable');
  const check = inOrder('flow-match-euler', plan.steps);
  const sigmas = plan.sigmas;
  return Object.freeze({
    type: 'flow-match-euler' as const,
    steps: plan.steps,
    timesteps: plan.timesteps,
    sigmas,
    initNoiseSigma: 1,
    step<T>(algebra: TensorAlgebra<T>, i: number, sample: T, modelOutput: T) {
      check(i);
      const x0 = algebra.combine([{ tensor: sample, coef: 1 }, { tensor: modelOutput, coef: -sigmas[i]! }]);
      const next = algebra.combine([{ tensor: sample, coef: 1 }, { tensor: modelOutput, coef: sigmas[i + 1]! - sigmas[i]! }]);
      return { next, x0 };
    },
    dispose: () => undefined,
  });
}

/** diffusers' DDIMScheduler (eta 0) from its plan's LinearUpdate: x0 = c·x + d·m, x' = (e·c + g)·x + (e·d + f)·m. */
function ddimSampler(config: SchedulerConfig | undefined, steps: number): Sampler {
  const plan = createDdim(config).plan(steps);
  if (plan.type !== 'ddim') throw new Error('unreachable');
  if (plan.clipRange !== null) {
    throw new RangeError('ddim config: clip_sample = true (the default) is not supported by the sampler algebra (clamping x0 is not a linear combination); set "clip_sample": false, or use the LinearUpdate path');
  }
  const check = inOrder('ddim', plan.steps);
  const sigmas = [...plan.alphaProd, plan.alphaProdPrev[plan.steps - 1]!].map((a) => Math.sqrt((1 - a) / a));
  return Object.freeze({
    type: 'ddim' as const,
    steps: plan.steps,
    timesteps: plan.timesteps,
    sigmas: Object.freeze(sigmas),
    initNoiseSigma: plan.initNoiseSigma,
    step<T>(algebra: TensorAlgebra<T>, i: number, sample: T, modelOutput: T) {
      check(i);
      const { c, d, e, f, g } = plan.updates[i]!;
      const x0 = algebra.combine([{ tensor: sample, coef: c }, { tensor: modelOutput, coef: d }]);
      const next = algebra.combine([{ tensor: sample, coef: e * c + g }, { tensor: modelOutput, coef: e * d + f }]);
      return { next, x0 };
    },
    dispose: () => undefined,
  });
}

/**
 * LoopOps as a sampler's algebra over tensors of shape `dims` (the latent's): combine → ops.combine (the
 * WGSL kernel on WebGPU, its CPU twin on wasm), noise(seed) → ops.noise(dims, seed), dispose → tensor.dispose().
 */
export function samplerAlgebra(ops: LoopOps, dims: readonly number[]): TensorAlgebra<Tensor> {
  return {
    combine: (terms) => ops.combine(terms),
    noise: (seed) => ops.noise(dims, seed),
    dispose: (tensor) => tensor.dispose(),
  };
}

/** A Float32Array algebra in float64 arithmetic (rounded to f32 per result): tests' and tools' reference. */
export function arrayAlgebra(noise: (seed: number) => Float32Array): TensorAlgebra<Float32Array> {
  return {
    combine(terms) {
      if (terms.length === 0) throw new TypeError('combine needs a non-empty array of { tensor, coef } terms');
      const n = terms[0]!.tensor.length;
      for (const t of terms) if (t.tensor.length !== n) throw new RangeError(`combine terms must have one length: ${n} and ${t.tensor.length}`);
      const out = new Float32Array(n);
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (const t of terms) acc += t.coef * t.tensor[j]!;
        out[j] = acc;
      }
      return out;
    },
    noise,
    dispose: () => undefined,
  };
}
