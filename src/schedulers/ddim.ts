/**
 * diffusers' DDIMScheduler with eta = 0, re-derived from its documented behaviour:
 * betas (linear | scaled_linear | squaredcos_cap_v2 | trained_betas) → ᾱ = cumprod(1 − β) in Float32,
 * timesteps by `timestep_spacing`, and a step from t to t − num_train_timesteps // steps (diffusers uses
 * that stride even for `trailing`/`linspace` spacing, whose own timesteps may be spaced differently).
 *
 * With eta = 0 every prediction type is linear in (x, m), so a step is a LinearUpdate:
 *   epsilon:      x0 = (x − √β·m)/√ᾱ          ε = m                    → xNext = √ᾱp·x0 + √(1−ᾱp)·m
 *   sample:       x0 = m                      ε = (x − √ᾱ·m)/√β         → xNext = √ᾱp·x0 − √(1−ᾱp)·√ᾱ/√β·m + √(1−ᾱp)/√β·x
 *   v_prediction: x0 = √ᾱ·x − √β·m            ε = √ᾱ·m + √β·x           → xNext = √ᾱp·x0 + √(1−ᾱp)·√ᾱ·m + √(1−ᾱp)·√β·x
 * (β = 1 − ᾱ). ε is taken before `clip_sample` clamps x0, as diffusers does unless
 * `use_clipped_model_output`, so clipping only touches the x0 term.
 */
import { checkSteps, configReader, deepFreeze } from './config';
import type { DdimPlan, DdimPredictionType, LinearUpdate, Scheduler, SchedulerConfig } from './types';

const f32 = Math.fround;

export interface DdimConfig {
  readonly num_train_timesteps: number;
  readonly beta_start: number;
  readonly beta_end: number;
  readonly beta_schedule: 'linear' | 'scaled_linear' | 'squaredcos_cap_v2';
  readonly trained_betas: readonly number[] | null;
  readonly clip_sample: boolean;
  readonly clip_sample_range: number;
  readonly set_alpha_to_one: boolean;
  readonly steps_offset: number;
  readonly prediction_type: DdimPredictionType;
  readonly timestep_spacing: 'leading' | 'trailing' | 'linspace';
  readonly rescale_betas_zero_snr: boolean;
}

export function readDdimConfig(config: SchedulerConfig | undefined): DdimConfig {
  const read = configReader('ddim', config);
  read.unsupported('thresholding', (v) => v === false, 'dynamic thresholding is not implemented');
  const numTrain = read.number('num_train_timesteps', 1000, { min: 1, integer: true, text: 'an integer ≥ 1' });
  const betaStart = read.number('beta_start', 0.0001, { min: 0, max: 1, minExclusive: true, text: 'a number in (0, 1)' });
  const betaEnd = read.number('beta_end', 0.02, { min: 0, max: 1, minExclusive: true, text: 'a number in (0, 1)' });
  const trained = read.raw('trained_betas');
  let trainedBetas: number[] | null = null;
  if (trained !== undefined && trained !== null) {
    if (!Array.isArray(trained) || trained.length !== numTrain || !trained.every((b) => typeof b === 'number' && b >= 0 && b < 1)) {
      throw new RangeError(`ddim config: trained_betas must be null or an array of num_train_timesteps (${numTrain}) numbers in [0, 1)`);
    }
    trainedBetas = trained as number[];
  }
  return Object.freeze({
    num_train_timesteps: numTrain,
    beta_start: betaStart,
    beta_end: betaEnd,
    beta_schedule: read.choice('beta_schedule', 'linear', ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const),
    trained_betas: trainedBetas,
    clip_sample: read.boolean('clip_sample', true),
    clip_sample_range: read.number('clip_sample_range', 1, { min: 0, minExclusive: true, text: 'a finite number > 0' }),
    set_alpha_to_one: read.boolean('set_alpha_to_one', true),
    steps_offset: read.number('steps_offset', 0, { min: 0, integer: true, text: 'an integer ≥ 0' }),
    prediction_type: read.choice('prediction_type', 'epsilon', ['epsilon', 'v_prediction', 'sample'] as const),
    timestep_spacing: read.choice('timestep_spacing', 'leading', ['leading', 'trailing', 'linspace'] as const),
    rescale_betas_zero_snr: read.boolean('rescale_betas_zero_snr', false),
  });
}

/** torch.linspace(start, end, steps, dtype=float32) as ATen's CPU kernel computes it (from both ends). */
function torchLinspaceF32(start: number, end: number, steps: number): number[] {
  const s = f32(start);
  const e = f32(end);
  const step = f32(f32(e - s) / (steps - 1));
  const half = Math.floor(steps / 2);
  return Array.from({ length: steps }, (_, i) => (i < half ? f32(s + f32(step * i)) : f32(e - f32(step * (steps - i - 1)))));
}

function cosineBetas(n: number): number[] {
  const alphaBar = (t: number) => Math.cos(((t + 0.008) / 1.008) * Math.PI / 2) ** 2;
  return Array.from({ length: n }, (_, i) => f32(Math.min(1 - alphaBar((i + 1) / n) / alphaBar(i / n), 0.999)));
}

/** diffusers' rescale_zero_terminal_snr, step by step in Float32. */
function rescaleZeroTerminalSnr(betas: number[]): number[] {
  const alphasCumprod = cumprodF32(betas.map((b) => f32(1 - b)));
  const sqrtBar = alphasCumprod.map((a) => f32(Math.sqrt(a)));
  const a0 = sqrtBar[0]!;
  const aT = sqrtBar[sqrtBar.length - 1]!;
  const scale = f32(a0 / f32(a0 - aT));
  const bar = sqrtBar.map((a) => f32(f32(f32(a - aT) * scale) ** 2));
  const alphas = bar.map((a, i) => (i === 0 ? a : f32(a / bar[i - 1]!)));
  return alphas.map((a) => f32(1 - a));
}

/** torch.cumprod on a Float32 CPU tensor accumulates in double and rounds each output to Float32. */
function cumprodF32(values: number[]): number[] {
  let acc = 1;
  return values.map((v) => f32((acc *= v)));
}

/** numpy.round: half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function ddimTimesteps(config: DdimConfig, steps: number): number[] {
  const n = config.num_train_timesteps;
  switch (config.timestep_spacing) {
    case 'linspace': {
      const div = steps - 1;
      const step = div > 0 ? (n - 1) / div : 0;
      return Array.from({ length: steps }, (_, i) => roundHalfEven(i === div && div > 0 ? n - 1 : i * step)).reverse();
    }
    case 'leading': {
      const ratio = Math.floor(n / steps);
      return Array.from({ length: steps }, (_, i) => i * ratio + config.steps_offset).reverse();
    }
    case 'trailing': {
      // np.round(np.arange(n, 0, -n / steps)) − 1; numpy's arange fills start + i·(second − first).
      const ratio = n / steps;
      const delta = n - ratio - n;
      const length = Math.ceil((0 - n) / -ratio);
      // For some step counts (61, 103, 121, … of 1000) float rounding gives arange one extra element,
      // whose timestep is −1; diffusers then steps from alphas_cumprod[−1] (the noisiest ᾱ) at the very
      // end. kinema keeps the first `steps` timesteps instead: a deliberate deviation.
      return Array.from({ length: Math.min(length, steps) }, (_, i) => roundHalfEven(n + i * delta) - 1);
    }
  }
}

export function createDdim(rawConfig: SchedulerConfig | undefined): Scheduler {
  const config = readDdimConfig(rawConfig);
  const n = config.num_train_timesteps;
  let betas: number[];
  if (config.trained_betas) betas = config.trained_betas.map(f32);
  else if (config.beta_schedule === 'linear') betas = torchLinspaceF32(config.beta_start, config.beta_end, n);
  else if (config.beta_schedule === 'scaled_linear') {
    betas = torchLinspaceF32(Math.sqrt(config.beta_start), Math.sqrt(config.beta_end), n).map((b) => f32(b * b));
  } else betas = cosineBetas(n);
  if (config.rescale_betas_zero_snr) betas = rescaleZeroTerminalSnr(betas);
  const alphasCumprod = Object.freeze(cumprodF32(betas.map((b) => f32(1 - b))));
  const finalAlphaCumprod = config.set_alpha_to_one ? 1 : alphasCumprod[0]!;

  function plan(steps: number): DdimPlan {
    checkSteps(steps, n);
    const timesteps = ddimTimesteps(config, steps);
    for (const t of timesteps) {
      if (t < 0 || t >= n) {
        throw new RangeError(`ddim config: steps_offset ${config.steps_offset} with ${steps} steps gives timestep ${t}, outside 0..${n - 1}`);
      }
    }
    const stride = Math.floor(n / steps);
    const prevTimesteps = timesteps.map((t) => t - stride);
    const alphaProd = timesteps.map((t) => alphasCumprod[t]!);
    const alphaProdPrev = prevTimesteps.map((t) => (t >= 0 ? alphasCumprod[t]! : finalAlphaCumprod));
    const updates = alphaProd.map((a, i) => ddimUpdate(config.prediction_type, a, alphaProdPrev[i]!));
    return deepFreeze({
      type: 'ddim',
      steps: timesteps.length,
      timesteps,
      updates,
      clipRange: config.clip_sample ? config.clip_sample_range : null,
      initNoiseSigma: 1,
      predictionType: config.prediction_type,
      alphaProd,
      alphaProdPrev,
      prevTimesteps,
    });
  }

  return Object.freeze({ type: 'ddim' as const, config, plan, alphasCumprod });
}

function ddimUpdate(prediction: DdimPredictionType, alphaProd: number, alphaProdPrev: number): LinearUpdate {
  const sa = Math.sqrt(alphaProd);
  const sb = Math.sqrt(1 - alphaProd);
  const sap = Math.sqrt(alphaProdPrev);
  const direction = Math.sqrt(1 - alphaProdPrev);
  switch (prediction) {
    case 'epsilon':
      return { c: 1 / sa, d: -sb / sa, e: sap, f: direction, g: 0 };
    case 'sample':
      return { c: 0, d: 1, e: sap, f: (-direction * sa) / sb, g: direction / sb };
    case 'v_prediction':
      return { c: sa, d: -sb, e: sap, f: direction * sa, g: direction * sb };
  }
}
