/**
 * Public shapes of the schedulers. A scheduler is built once from a diffusers `scheduler_config.json`
 * and turns a step count into an immutable plan; nothing here keeps a step counter.
 */

import type { DdimConfig } from './ddim';
import type { FlowMatchConfig } from './flow-match-euler';
import type { SchedulerType } from '../contract/domain';

export type { SchedulerType };

export type { DdimConfig, FlowMatchConfig };


/** diffusers' `scheduler_config.json` as parsed JSON: snake_case keys, unknown keys ignored. */
export type SchedulerConfig = Readonly<Record<string, unknown>>;

export interface SchedulerOptions {
  readonly type: SchedulerType;
  readonly config?: SchedulerConfig;
}

/**
 * One denoising step as a general linear update, so one GPU kernel serves every scheduler:
 *   x0    = c·x + d·m            (then clamped to ±clipRange when the plan's clipRange is not null)
 *   xNext = e·x0 + f·m + g·x
 * where x is the current sample and m the (guided) model output. x0 is the predicted clean sample,
 * which doubles as the preview.
 */
export interface LinearUpdate {
  readonly c: number;
  readonly d: number;
  readonly e: number;
  readonly f: number;
  readonly g: number;
}

interface PlanBase {
  readonly steps: number;
  /** The model's `timestep` input for each step, as Float32-representable numbers. */
  readonly timesteps: readonly number[];
  /** Coefficients of step i (length `steps`). */
  readonly updates: readonly LinearUpdate[];
  /** Symmetric clamp of x0, or null for none. The same for every step. */
  readonly clipRange: number | null;
  /** Standard deviation of the initial noise (1 for both schedulers here). */
  readonly initNoiseSigma: number;
}

export interface FlowMatchPlan extends PlanBase {
  readonly type: 'flow-match-euler';
  /** σ for each step plus the final σ = 0 (length `steps + 1`). */
  readonly sigmas: readonly number[];
}

export type DdimPredictionType = 'epsilon' | 'v_prediction' | 'sample';

export interface DdimPlan extends PlanBase {
  readonly type: 'ddim';
  readonly predictionType: DdimPredictionType;
  /** ᾱ at each step's timestep. */
  readonly alphaProd: readonly number[];
  /** ᾱ at the previous timestep t − num_train_timesteps // steps (or final_alpha_cumprod below 0). */
  readonly alphaProdPrev: readonly number[];
  /** The timestep diffusers steps to (may be negative on the last step). */
  readonly prevTimesteps: readonly number[];
}

export type SchedulerPlan = FlowMatchPlan | DdimPlan;

export interface PlanOptions {
  /** Flow matching with `use_dynamic_shifting`: the shift exponent μ. */
  readonly mu?: number;
  /** Flow matching with `use_dynamic_shifting` and no `mu`: μ is computed from this sequence length. */
  readonly imageSeqLen?: number;
}

export interface Scheduler {
  readonly type: SchedulerType;
  /** The validated config with defaults filled in (snake_case, as diffusers names them). */
  readonly config: FlowMatchConfig | DdimConfig;
  plan(steps: number, options?: PlanOptions): SchedulerPlan;
}

export interface StepResult {
  readonly prevSample: Float32Array;
  readonly predOriginal: Float32Array;
}
