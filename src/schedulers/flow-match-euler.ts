/**
 * diffusers' FlowMatchEulerDiscreteScheduler (used by Wan, SD3, Flux, LTX), re-derived from its
 * documented `set_timesteps` so the numbers agree to Float32 rounding:
 *   - at construction σ runs over (1..N)/N and, without dynamic shifting, is shifted once:
 *     σ' = shift·σ / (1 + (shift − 1)·σ). σ_max = σ'(1) = 1 and σ_min = σ'(1/N) (Float32).
 *   - `set_timesteps(n)` spaces n timesteps linearly (numpy float64) from σ_max·N to σ_min·N, divides by N
 *     and shifts again (statically, or with μ when `use_dynamic_shifting`), optionally stretches to
 *     `shift_terminal`, rounds σ to Float32, sets timestep = σ·N in Float32 and appends a final σ = 0.
 * The double shift of the last σ is diffusers' behaviour, kept on purpose so a model sees the timesteps
 * it was tuned with.
 */
import { checkSteps, configReader, deepFreeze } from './config';
import type { FlowMatchPlan, LinearUpdate, PlanOptions, Scheduler, SchedulerConfig } from './types';

const f32 = Math.fround;

export interface FlowMatchConfig {
  readonly num_train_timesteps: number;
  readonly shift: number;
  readonly use_dynamic_shifting: boolean;
  readonly base_shift: number;
  readonly max_shift: number;
  readonly base_image_seq_len: number;
  readonly max_image_seq_len: number;
  readonly time_shift_type: 'exponential' | 'linear';
  readonly shift_terminal: number | null;
}

export function readFlowMatchConfig(config: SchedulerConfig | undefined): FlowMatchConfig {
  const read = configReader('flow-match-euler', config);
  const why = 'kinema implements the plain Euler flow-matching schedule';
  read.unsupported('invert_sigmas', (v) => v === false, why);
  read.unsupported('use_karras_sigmas', (v) => v === false, why);
  read.unsupported('use_exponential_sigmas', (v) => v === false, why);
  read.unsupported('use_beta_sigmas', (v) => v === false, why);
  read.unsupported('stochastic_sampling', (v) => v === false, why);
  const shiftTerminal = read.number('shift_terminal', 0, { min: 0, max: 1, minExclusive: false, text: 'a number in [0, 1) or null' });
  if (shiftTerminal >= 1) throw new RangeError(`flow-match-euler config: shift_terminal must be a number in [0, 1) or null, got ${shiftTerminal}`);
  const baseSeq = read.number('base_image_seq_len', 256, { min: 1, integer: true, text: 'an integer ≥ 1' });
  const maxSeq = read.number('max_image_seq_len', 4096, { min: 1, integer: true, text: 'an integer ≥ 1' });
  if (maxSeq === baseSeq) throw new RangeError('flow-match-euler config: max_image_seq_len must differ from base_image_seq_len');
  return Object.freeze({
    num_train_timesteps: read.number('num_train_timesteps', 1000, { min: 1, integer: true, text: 'an integer ≥ 1' }),
    shift: read.number('shift', 1, { min: 0, minExclusive: true, text: 'a finite number > 0' }),
    use_dynamic_shifting: read.boolean('use_dynamic_shifting', false),
    base_shift: read.number('base_shift', 0.5, { text: 'a finite number' }),
    max_shift: read.number('max_shift', 1.15, { text: 'a finite number' }),
    base_image_seq_len: baseSeq,
    max_image_seq_len: maxSeq,
    time_shift_type: read.choice('time_shift_type', 'exponential', ['exponential', 'linear'] as const),
    shift_terminal: shiftTerminal === 0 ? null : shiftTerminal,
  });
}

/** diffusers pipelines' `calculate_shift`: μ grows linearly with the latent sequence length. */
export function flowMatchMu(imageSeqLen: number, config: FlowMatchConfig): number {
  const m = (config.max_shift - config.base_shift) / (config.max_image_seq_len - config.base_image_seq_len);
  const b = config.base_shift - m * config.base_image_seq_len;
  return imageSeqLen * m + b;
}

/** numpy.linspace(start, stop, num) in float64, including its exact last element. */
export function numpyLinspace(start: number, stop: number, num: number): number[] {
  const div = num - 1;
  const out: number[] = [];
  const step = div > 0 ? (stop - start) / div : NaN;
  for (let i = 0; i < num; i++) out.push(div > 0 ? i * step + start : i * (stop - start) + start);
  if (num > 1) out[num - 1] = stop;
  return out;
}

export function createFlowMatchEuler(rawConfig: SchedulerConfig | undefined): Scheduler {
  const config = readFlowMatchConfig(rawConfig);
  const n = config.num_train_timesteps;
  // Construction-time σ_min, in Float32 as torch computes it; with dynamic shifting it is not shifted.
  const lowest = f32(1 / n);
  const sigmaMin = config.use_dynamic_shifting
    ? lowest
    : f32(f32(f32(config.shift) * lowest) / f32(1 + f32(f32(config.shift - 1) * lowest)));
  const sigmaMax = 1;

  function plan(steps: number, options: PlanOptions = {}): FlowMatchPlan {
    checkSteps(steps, Number.MAX_SAFE_INTEGER);
    let mu = options.mu;
    if (config.use_dynamic_shifting && mu === undefined) {
      if (options.imageSeqLen === undefined) {
        throw new TypeError('plan(steps, { mu }) needs mu (or imageSeqLen) because the config sets use_dynamic_shifting: true');
      }
      if (!Number.isFinite(options.imageSeqLen) || options.imageSeqLen <= 0) {
        throw new RangeError(`imageSeqLen must be a positive number, got ${options.imageSeqLen}`);
      }
      mu = flowMatchMu(options.imageSeqLen, config);
    }
    if (mu !== undefined && !Number.isFinite(mu)) throw new RangeError(`mu must be a finite number, got ${mu}`);

    let sigmas = numpyLinspace(sigmaMax * n, sigmaMin * n, steps).map((t) => t / n);
    if (config.use_dynamic_shifting) {
      const m = mu!;
      const scale = config.time_shift_type === 'exponential' ? Math.exp(m) : m;
      sigmas = sigmas.map((s) => scale / (scale + (1 / s - 1)));
    } else {
      const shift = config.shift;
      sigmas = sigmas.map((s) => (shift * s) / (1 + (shift - 1) * s));
    }
    if (config.shift_terminal !== null) {
      const scaleFactor = (1 - sigmas[sigmas.length - 1]!) / (1 - config.shift_terminal);
      sigmas = sigmas.map((s) => 1 - (1 - s) / scaleFactor);
    }
    const sigma32 = sigmas.map(f32);
    const timesteps = sigma32.map((s) => f32(s * n));
    const all = [...sigma32, 0];
    const updates: LinearUpdate[] = sigma32.map((s, i) => ({ c: 1, d: -s, e: 1, f: all[i + 1]!, g: 0 }));
    return deepFreeze({ type: 'flow-match-euler', steps, timesteps, sigmas: all, updates, clipRange: null, initNoiseSigma: 1 });
  }

  return Object.freeze({ type: 'flow-match-euler' as const, config, plan });
}
