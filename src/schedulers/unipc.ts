/**
 * diffusers' UniPCMultistepScheduler in the flow-matching form Wan2.1 ships with
 * (`prediction_type: "flow_prediction"`, `use_flow_sigmas: true`, `flow_shift`), re-derived from its
 * documented `set_timesteps` / `step` (diffusers 58eb52c, src/diffusers/schedulers/scheduling_unipc_multistep.py):
 *
 * Schedule, for N steps over n = num_train_timesteps:
 *   s_k = numpy.linspace(1, 1/n, N + 1)[k], k < N                 (float64)
 *   σ_k = shift·s_k / (1 + (shift − 1)·s_k)                         (then `shift_terminal` stretch, if set)
 *   σ_0 −= 1e−6 when |σ_0 − 1| < 1e−6                               (keeps log(1 − σ) finite)
 *   timestep_k = trunc(σ_k·n)                                        (diffusers casts to int64: 999, 996, …)
 *   sigmas = [σ_0 … σ_{N−1}, 0 (final_sigmas_type "zero") or σ_{N−1} ("sigma_min")] in float32.
 * Unlike FlowMatchEulerDiscreteScheduler there is no construction-time shift and no double shift.
 *
 * Step i (model output v = the velocity; α = 1 − σ, λ = ln α − ln σ, predict_x0):
 *   x0_i = x_i − σ_i·v_i
 *   corrector (UniC, when i > 0 and i − 1 ∉ disable_corrector): x_i ← from the previous step's sample,
 *     the x0 history and x0_i, with the previous step's order;
 *   predictor (UniP, B(h) = h (bh1) or e^h − 1 (bh2)): x_{i+1} from x_i and the x0 history; the order
 *     warms up 1, 2, … up to solver_order and, with lower_order_final, drops to 1 on the last step (whose
 *     σ' = 0 makes it return x0 exactly).
 * Every update is a linear combination of kept tensors, so it runs as one TensorAlgebra.combine; the scalar
 * coefficients are computed in float64 from the float32 σ (diffusers computes them in float32 tensors; the
 * difference is ~1e−7 relative per coefficient, measured against the Python reference in the tests).
 */
import { checkSteps, configReader } from './config';
import { numpyLinspace } from './flow-match-euler';
import type { SchedulerConfig } from './types';
import type { Sampler, TensorAlgebra, Term } from './sampler';

const f32 = Math.fround;

export interface UnipcConfig {
  readonly num_train_timesteps: number;
  readonly solver_order: number;
  readonly prediction_type: 'flow_prediction';
  readonly predict_x0: true;
  readonly solver_type: 'bh1' | 'bh2';
  readonly lower_order_final: boolean;
  readonly disable_corrector: readonly number[];
  readonly use_flow_sigmas: true;
  readonly flow_shift: number;
  readonly final_sigmas_type: 'zero' | 'sigma_min';
  readonly shift_terminal: number | null;
}

export function readUnipcConfig(config: SchedulerConfig | undefined): UnipcConfig {
  const read = configReader('unipc', config);
  const flowOnly = 'kinema implements UniPC in the flow-matching form Wan2.1 ships with (flow_prediction, use_flow_sigmas)';
  // diffusers' defaults are epsilon / no flow sigmas: a config must ask for the flow form explicitly.
  const prediction = read.raw('prediction_type') ?? 'epsilon';
  if (prediction !== 'flow_prediction') {
    throw new RangeError(`unipc config: prediction_type = ${JSON.stringify(prediction)}${read.raw('prediction_type') === undefined ? ' (the default)' : ''} is not supported (${flowOnly}); set "prediction_type": "flow_prediction"`);
  }
  if (read.raw('use_flow_sigmas') !== true) {
    throw new RangeError(`unipc config: use_flow_sigmas = ${JSON.stringify(read.raw('use_flow_sigmas') ?? false)} is not supported (${flowOnly}); set "use_flow_sigmas": true`);
  }
  read.unsupported('predict_x0', (v) => v === true, 'flow_prediction needs the data-prediction (x0) form');
  read.unsupported('thresholding', (v) => v === false, 'dynamic thresholding is not implemented');
  read.unsupported('use_karras_sigmas', (v) => v === false, flowOnly);
  read.unsupported('use_exponential_sigmas', (v) => v === false, flowOnly);
  read.unsupported('use_beta_sigmas', (v) => v === false, flowOnly);
  read.unsupported('use_dynamic_shifting', (v) => v === false, 'dynamic shifting (mu) is not implemented; use flow_shift');
  read.unsupported('solver_p', (v) => v === null, 'an external solver_p is not supported');
  const numTrain = read.number('num_train_timesteps', 1000, { min: 1, integer: true, text: 'an integer ≥ 1' });
  const order = read.number('solver_order', 2, { min: 1, max: 3, integer: true, text: 'an integer from 1 to 3' });
  // diffusers maps its legacy names to bh2.
  const rawType = read.raw('solver_type');
  const solverType = typeof rawType === 'string' && ['midpoint', 'heun', 'logrho'].includes(rawType) ? 'bh2' : read.choice('solver_type', 'bh2', ['bh1', 'bh2'] as const);
  const lowerOrderFinal = read.boolean('lower_order_final', true);
  const finalSigmas = read.choice('final_sigmas_type', 'zero', ['zero', 'sigma_min'] as const);
  if (!lowerOrderFinal && finalSigmas === 'zero' && order > 1) {
    throw new RangeError('unipc config: lower_order_final = false is not supported with final_sigmas_type "zero" and solver_order > 1 (a multistep update into σ = 0 divides by zero: diffusers returns NaN there)');
  }
  if (solverType === 'bh1' && finalSigmas === 'zero') {
    throw new RangeError('unipc config: solver_type "bh1" is not supported with final_sigmas_type "zero" (B(h) = −h is −∞ on the step into σ = 0: diffusers returns NaN there); use "bh2" (Wan2.1\'s) or final_sigmas_type "sigma_min"');
  }
  const disable = read.raw('disable_corrector') ?? [];
  if (!Array.isArray(disable) || !disable.every((v) => typeof v === 'number' && Number.isInteger(v) && v >= 0)) {
    throw new TypeError(`unipc config: disable_corrector must be an array of step indices (integers ≥ 0), got ${JSON.stringify(disable)}`);
  }
  const shift = read.number('flow_shift', 1, { min: 0, minExclusive: true, text: 'a finite number > 0' });
  const terminal = read.number('shift_terminal', 0, { min: 0, max: 1, text: 'a number in [0, 1) or null' });
  if (terminal >= 1) throw new RangeError(`unipc config: shift_terminal must be a number in [0, 1) or null, got ${terminal}`);
  read.choice('timestep_spacing', 'linspace', ['linspace', 'leading', 'trailing'] as const); // no effect with flow sigmas
  return Object.freeze({
    num_train_timesteps: numTrain,
    solver_order: order,
    prediction_type: 'flow_prediction' as const,
    predict_x0: true as const,
    solver_type: solverType,
    lower_order_final: lowerOrderFinal,
    disable_corrector: Object.freeze([...(disable as number[])]),
    use_flow_sigmas: true as const,
    flow_shift: shift,
    final_sigmas_type: finalSigmas,
    // diffusers tests `if shift_terminal:`, so 0 means none.
    shift_terminal: terminal === 0 ? null : terminal,
  });
}

/** The timesteps (integers, as diffusers' int64) and float32 σ (length steps + 1) of `steps` steps. */
export function unipcSchedule(config: UnipcConfig, steps: number): { timesteps: number[]; sigmas: number[] } {
  checkSteps(steps, config.num_train_timesteps);
  const n = config.num_train_timesteps;
  const shift = config.flow_shift;
  let sigmas = numpyLinspace(1, 1 / n, steps + 1).slice(0, steps).map((s) => (shift * s) / (1 + (shift - 1) * s));
  if (config.shift_terminal !== null) {
    const scale = (1 - sigmas[sigmas.length - 1]!) / (1 - config.shift_terminal);
    sigmas = sigmas.map((s) => 1 - (1 - s) / scale);
  }
  if (Math.abs(sigmas[0]! - 1) < 1e-6) sigmas[0] = sigmas[0]! - 1e-6;
  const timesteps = sigmas.map((s) => Math.trunc(s * n));
  const last = config.final_sigmas_type === 'zero' ? 0 : sigmas[sigmas.length - 1]!;
  return { timesteps, sigmas: [...sigmas, last].map(f32) };
}

/** λ = ln α − ln σ with α = 1 − σ (flow sigmas); +∞ at σ = 0. */
const lambda = (sigma: number) => Math.log(1 - sigma) - Math.log(sigma);

/** Solves the small dense system A·x = b (Gaussian elimination, partial pivoting). */
function solve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row.slice(0, n), b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r]![c]!) > Math.abs(m[p]![c]!)) p = r;
    [m[c], m[p]] = [m[p]!, m[c]!];
    for (let r = c + 1; r < n; r++) {
      const f = m[r]![c]! / m[c]![c]!;
      for (let k = c; k <= n; k++) m[r]![k] = m[r]![k]! - f * m[c]![k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = m[r]![n]!;
    for (let k = r + 1; k < n; k++) s -= m[r]![k]! * x[k]!;
    x[r] = s / m[r]![r]!;
  }
  return x;
}

/**
 * The B(h) update's scalars from σ_s0 to σ_t with `order` points, the earlier ones at σ of `previous`
 * (most recent first): x_t = (σ_t/σ_s0)·x − α_t·hφ₁·m0 − α_t·B(h)·Σ ρ_k·D_k, D_k = (m_k − m0)/r_k.
 */
function bhScalars(solverType: 'bh1' | 'bh2', sigmaT: number, sigmaS0: number, previous: readonly number[], order: number) {
  const alphaT = 1 - sigmaT;
  const lambdaS0 = lambda(sigmaS0);
  const h = lambda(sigmaT) - lambdaS0;
  const rks = previous.slice(0, order - 1).map((s) => (lambda(s) - lambdaS0) / h);
  rks.push(1);
  const hh = -h;
  const hPhi1 = Math.expm1(hh);
  const bh = solverType === 'bh1' ? hh : Math.expm1(hh);
  const rows: number[][] = [];
  const b: number[] = [];
  let hPhiK = hPhi1 / hh - 1;
  let factorial = 1;
  for (let i = 1; i <= order; i++) {
    rows.push(rks.map((r) => r ** (i - 1)));
    b.push((hPhiK * factorial) / bh);
    factorial *= i + 1;
    hPhiK = hPhiK / hh - 1 / factorial;
  }
  return { ratio: sigmaT / sigmaS0, alphaT, hPhi1, bh, rks, rows, b };
}

interface Kept<T> {
  readonly tensor: T;
  readonly index: number;
}

export function createUnipcSampler(config: UnipcConfig, steps: number): Sampler {
  const { timesteps, sigmas } = unipcSchedule(config, steps);
  const order = config.solver_order;
  const disabled = new Set(config.disable_corrector);
  let history: Kept<unknown>[] = []; // x0 predictions, oldest first, at most solver_order
  let last: unknown; // the sample the last predictor started from (for the next corrector)
  let lastOrder = 0;
  let lowerOrderNums = 0;
  let expected = 0;

  function step<T>(algebra: TensorAlgebra<T>, i: number, sample: T, modelOutput: T): { next: T; x0: T } {
    if (i !== expected) {
      throw new RangeError(`unipc is a multistep sampler: call step with i = 0, 1, … in order (expected ${expected}, got ${i}); create a new sampler to start again`);
    }
    const hist = history as Kept<T>[];
    const sigma = sigmas[i]!;
    const x0 = algebra.combine([{ tensor: sample, coef: 1 }, { tensor: modelOutput, coef: -sigma }]);

    // UniC: correct this step's sample with the model output just computed.
    let current = sample;
    let ownCurrent = false;
    const useCorrector = i > 0 && !disabled.has(i - 1) && last !== undefined;
    if (useCorrector) {
      const o = lastOrder;
      const m0 = hist[hist.length - 1]!;
      const previous = hist.slice(0, -1).reverse();
      const s = bhScalars(config.solver_type, sigma, sigmas[i - 1]!, previous.map((k) => sigmas[k.index]!), o);
      const rhos = o === 1 ? [0.5] : solve(s.rows, s.b);
      const scale = s.alphaT * s.bh;
      const terms: Term<T>[] = [{ tensor: last as T, coef: s.ratio }];
      let m0Coef = -s.alphaT * s.hPhi1 + scale * rhos[o - 1]!;
      for (let k = 0; k < o - 1; k++) {
        const c = (scale * rhos[k]!) / s.rks[k]!;
        terms.push({ tensor: previous[k]!.tensor, coef: -c });
        m0Coef += c;
      }
      terms.push({ tensor: m0.tensor, coef: m0Coef }, { tensor: x0, coef: -scale * rhos[o - 1]! });
      current = algebra.combine(terms);
      ownCurrent = true;
    }
    if (last !== undefined) algebra.dispose(last as T);
    last = undefined;

    // Keep x0_i (our own copy: the caller owns the returned x0).
    hist.push({ tensor: algebra.combine([{ tensor: x0, coef: 1 }]), index: i });
    while (hist.length > order) algebra.dispose(hist.shift()!.tensor);

    let thisOrder = config.lower_order_final ? Math.min(order, steps - i) : order;
    thisOrder = Math.min(thisOrder, lowerOrderNums + 1);

    // UniP: predict the next sample.
    const m0 = hist[hist.length - 1]!;
    const previous = hist.slice(0, -1).reverse();
    const s = bhScalars(config.solver_type, sigmas[i + 1]!, sigma, previous.map((k) => sigmas[k.index]!), thisOrder);
    const terms: Term<T>[] = [{ tensor: current, coef: s.ratio }];
    let m0Coef = -s.alphaT * s.hPhi1;
    if (thisOrder > 1) {
      const rhos = thisOrder === 2 ? [0.5] : solve(s.rows.slice(0, -1).map((r) => r.slice(0, -1)), s.b.slice(0, -1));
      const scale = s.alphaT * s.bh;
      for (let k = 0; k < thisOrder - 1; k++) {
        const c = (scale * rhos[k]!) / s.rks[k]!;
        terms.push({ tensor: previous[k]!.tensor, coef: -c });
        m0Coef += c;
      }
    }
    terms.push({ tensor: m0.tensor, coef: m0Coef });
    // σ' = 0 (the last step) gives 0·x + 1·x0: drop zero terms so the result is exactly x0.
    const nonZero = terms.filter((t) => t.coef !== 0);
    const next = algebra.combine(nonZero.length > 0 ? nonZero : terms.slice(0, 1));

    // The next corrector starts from this step's (corrected) sample.
    const corrects = i + 1 < steps && !disabled.has(i);
    if (corrects) last = ownCurrent ? current : algebra.combine([{ tensor: current, coef: 1 }]);
    else if (ownCurrent) algebra.dispose(current);
    lastOrder = thisOrder;
    if (lowerOrderNums < order) lowerOrderNums++;
    expected = i + 1;
    if (expected === steps) release(algebra);
    return { next, x0 };
  }

  function release<T>(algebra: TensorAlgebra<T>): void {
    for (const k of history) algebra.dispose(k.tensor as T);
    history = [];
    if (last !== undefined) algebra.dispose(last as T);
    last = undefined;
  }

  return Object.freeze({
    type: 'unipc' as const,
    steps,
    timesteps: Object.freeze(timesteps),
    sigmas: Object.freeze(sigmas),
    initNoiseSigma: 1,
    step,
    dispose: release,
  });
}
