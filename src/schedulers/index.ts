/**
 * Schedulers: pure TypeScript, no GPU, no DOM.
 *
 *   const scheduler = createScheduler({ type: 'flow-match-euler', config: schedulerConfigJson });
 *   const plan = scheduler.plan(30);               // immutable: timesteps + one LinearUpdate per step
 *   plan.timesteps[i]                               // the model's timestep input at step i
 *   step(plan, i, sample, modelOutput)              // CPU step → { prevSample, predOriginal }
 *   applyLinearUpdate(plan.updates[i], …)           // the same step via the coefficients (what the GPU runs)
 *
 * Samplers (./sampler): every type, including the multistep UniPC and rCM (which have no LinearUpdate plan),
 * as programs over a tensor algebra so latents stay on the GPU:
 *   const sampler = createSampler({ type: 'unipc', config }, steps, { seed });
 *   sampler.step(samplerAlgebra(ops, dims), i, sample, modelOutput)   // → { next, x0 }
 */
import { createDdim } from './ddim';
import { createFlowMatchEuler } from './flow-match-euler';
import type { LinearUpdate, Scheduler, SchedulerOptions, SchedulerPlan, StepResult } from './types';

export type * from './types';
export { flowMatchMu } from './flow-match-euler';
export { arrayAlgebra, createSampler, rcmNoiseSeed, samplerAlgebra, unipcSchedule, validateSamplerConfig } from './sampler';
export type { Sampler, SamplerSpec, SamplerType, TensorAlgebra, Term } from './sampler';
export type { UnipcConfig } from './unipc';
export type { RcmConfig } from './rcm';

export function createScheduler(options: SchedulerOptions): Scheduler {
  if (options === null || typeof options !== 'object') throw new TypeError('createScheduler needs { type, config }');
  switch (options.type) {
    case 'flow-match-euler':
      return createFlowMatchEuler(options.config);
    case 'ddim':
      return createDdim(options.config);
    default:
      throw new RangeError(
        options.type === 'unipc' || options.type === 'rcm'
          ? `${options.type} is a multistep/stochastic sampler with no LinearUpdate plan: use createSampler({ type: '${options.type}', config }, steps, { seed })`
          : `scheduler type must be 'flow-match-euler' or 'ddim', got ${JSON.stringify(options.type)}`,
      );
  }
}

/**
 * One step of `plan` from step i, written straight from the scheduler's formulas (not from
 * `plan.updates`, so tests can hold the two against each other). Pure: the inputs are not modified.
 */
export function step(plan: SchedulerPlan, i: number, sample: Float32Array, modelOutput: Float32Array): StepResult {
  checkStepArgs(plan, i, sample, modelOutput);
  const n = sample.length;
  const prevSample = new Float32Array(n);
  const predOriginal = new Float32Array(n);
  if (plan.type === 'flow-match-euler') {
    const sigma = plan.sigmas[i]!;
    const dt = plan.sigmas[i + 1]! - sigma;
    for (let k = 0; k < n; k++) {
      prevSample[k] = sample[k]! + dt * modelOutput[k]!;
      predOriginal[k] = sample[k]! - sigma * modelOutput[k]!;
    }
    return { prevSample, predOriginal };
  }
  const alpha = plan.alphaProd[i]!;
  const alphaPrev = plan.alphaProdPrev[i]!;
  const beta = 1 - alpha;
  const clip = plan.clipRange;
  for (let k = 0; k < n; k++) {
    const x = sample[k]!;
    const m = modelOutput[k]!;
    let x0: number;
    let eps: number;
    if (plan.predictionType === 'epsilon') {
      x0 = (x - Math.sqrt(beta) * m) / Math.sqrt(alpha);
      eps = m;
    } else if (plan.predictionType === 'sample') {
      x0 = m;
      eps = (x - Math.sqrt(alpha) * x0) / Math.sqrt(beta);
    } else {
      x0 = Math.sqrt(alpha) * x - Math.sqrt(beta) * m;
      eps = Math.sqrt(alpha) * m + Math.sqrt(beta) * x;
    }
    if (clip !== null) x0 = Math.min(Math.max(x0, -clip), clip);
    predOriginal[k] = x0;
    prevSample[k] = Math.sqrt(alphaPrev) * x0 + Math.sqrt(1 - alphaPrev) * eps;
  }
  return { prevSample, predOriginal };
}

/** The general linear update of `LinearUpdate`, in float64 — the reference the GPU kernel is held to. */
export function applyLinearUpdate(update: LinearUpdate, clipRange: number | null, sample: Float32Array, modelOutput: Float32Array): StepResult {
  const n = sample.length;
  const prevSample = new Float32Array(n);
  const predOriginal = new Float32Array(n);
  const { c, d, e, f, g } = update;
  for (let k = 0; k < n; k++) {
    const x = sample[k]!;
    const m = modelOutput[k]!;
    let x0 = c * x + d * m;
    if (clipRange !== null) x0 = Math.min(Math.max(x0, -clipRange), clipRange);
    predOriginal[k] = x0;
    prevSample[k] = e * x0 + f * m + g * x;
  }
  return { prevSample, predOriginal };
}

function checkStepArgs(plan: SchedulerPlan, i: number, sample: Float32Array, modelOutput: Float32Array): void {
  if (!Number.isInteger(i) || i < 0 || i >= plan.steps) throw new RangeError(`step index must be an integer from 0 to ${plan.steps - 1}, got ${i}`);
  if (!(sample instanceof Float32Array) || !(modelOutput instanceof Float32Array)) {
    throw new TypeError('sample and modelOutput must be Float32Arrays');
  }
  if (sample.length !== modelOutput.length) {
    throw new RangeError(`sample and modelOutput must have the same length, got ${sample.length} and ${modelOutput.length}`);
  }
}
