/**
 * The few-step sampler of rCM (NVlabs/rcm, rcm/inference/wan2pt1_t2v_rcm_infer.py) and TurboDiffusion, in
 * rectified-flow terms. rCM samples in TrigFlow time t with x_trig = cos t·x0 + sin t·ε and wraps the
 * flow-matching network with c_in = 1/(cos t + sin t), c_noise = 1000·σ, σ = sin t/(cos t + sin t); so in
 * flow terms (x = x_trig/(cos t + sin t)) each step is
 *   x0 = x − σ_i·v
 *   x  = (1 − σ_{i+1})·x0 + σ_{i+1}·ε_i      (fresh N(0,1) noise; the last step returns x0 itself)
 * with the model's timestep 1000·σ_i (config `t_scaling_factor`, default 1000).
 *
 * σ come from the config's `sigmas` (rCM, Wan2.1 1.3B: [0.98765, 0.78271, 0.60898, 0.40622], from
 * t = atan(80), 1.3, 1.0, 0.6); `steps` must be 1 … sigmas.length and uses the first `steps` of them, as
 * rCM's `--num_steps` does (it takes the first num_steps − 1 middle times).
 *
 * rCM starts from pure noise in TrigFlow space, x_trig = ε, which is x = ε/(cos t0 + sin t0) in flow
 * space: `initNoiseSigma` = √(σ0² + (1 − σ0)²) (0.98773 for σ0 = 0.98765) is that factor; the family
 * scales its starting noise by it.
 *
 * Re-noise seeds: step i draws ε_i = kinema's philox noise with seed `rcmNoiseSeed(seed, i)` =
 * (seed + 1 + i) mod 2^31 (the starting latent uses `seed` itself), so a run is reproducible from one seed.
 */
import { checkSteps, configReader, describe } from './config';
import type { SchedulerConfig } from './types';
import type { Sampler, TensorAlgebra } from './sampler';

export interface RcmConfig {
  readonly sigmas: readonly number[];
  readonly t_scaling_factor: number;
}

export function readRcmConfig(config: SchedulerConfig | undefined): RcmConfig {
  const read = configReader('rcm', config);
  const sigmas = read.raw('sigmas');
  const hint = 'rCM for Wan2.1: [0.98765, 0.78271, 0.60898, 0.40622]';
  if (!Array.isArray(sigmas) || sigmas.length === 0) {
    throw new RangeError(`rcm config: sigmas must be a non-empty array of σ in (0, 1], decreasing (${hint}), got ${sigmas === undefined ? 'nothing' : describe(sigmas)}`);
  }
  sigmas.forEach((s: unknown, i) => {
    if (typeof s !== 'number' || !(s > 0 && s <= 1)) throw new RangeError(`rcm config: sigmas[${i}] must be a number in (0, 1], got ${describe(s)}`);
    if (i > 0 && !(s < (sigmas[i - 1] as number))) throw new RangeError(`rcm config: sigmas[${i}] must be smaller than sigmas[${i - 1}] (${String(sigmas[i - 1])}), got ${s}`);
  });
  const scale = read.number('t_scaling_factor', 1000, { min: 0, minExclusive: true, text: 'a finite number > 0' });
  return Object.freeze({ sigmas: Object.freeze([...(sigmas as number[])]), t_scaling_factor: scale });
}

/** The seed of step i's re-noise ε_i: (seed + 1 + i) mod 2^31. */
export function rcmNoiseSeed(seed: number, i: number): number {
  return (seed + 1 + i) % 2 ** 31;
}

export function createRcmSampler(config: RcmConfig, steps: number, seed: number): Sampler {
  checkSteps(steps, config.sigmas.length);
  const used = config.sigmas.slice(0, steps);
  const sigmas = Object.freeze([...used, 0]);
  const timesteps = Object.freeze(used.map((s) => s * config.t_scaling_factor));
  const s0 = sigmas[0]!;
  let expected = 0;

  function step<T>(algebra: TensorAlgebra<T>, i: number, sample: T, modelOutput: T): { next: T; x0: T } {
    if (i !== expected) throw new RangeError(`rcm steps run in order: expected step ${expected}, got ${i}; create a new sampler to start again`);
    expected = i + 1;
    const x0 = algebra.combine([{ tensor: sample, coef: 1 }, { tensor: modelOutput, coef: -sigmas[i]! }]);
    if (i === steps - 1) return { next: x0, x0 };
    const sigmaNext = sigmas[i + 1]!;
    const noise = algebra.noise(rcmNoiseSeed(seed, i));
    try {
      const next = algebra.combine([{ tensor: x0, coef: 1 - sigmaNext }, { tensor: noise, coef: sigmaNext }]);
      return { next, x0 };
    } finally {
      algebra.dispose(noise);
    }
  }

  return Object.freeze({
    type: 'rcm' as const,
    steps,
    timesteps,
    sigmas,
    initNoiseSigma: Math.sqrt(s0 * s0 + (1 - s0) * (1 - s0)),
    step,
    dispose: () => undefined,
  });
}
