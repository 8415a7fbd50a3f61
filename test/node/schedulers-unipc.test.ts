/**
 * UniPC (flow form): the schedule checked by hand against diffusers' set_timesteps for the config
 * convert_wan_to_diffusers.py ships with Wan2.1 (flow_shift 3, 1000 train steps, use_flow_sigmas,
 * flow_prediction): s = linspace(1, 1/1000, N + 1)[:-1], σ = 3s/(1 + 2s), σ_0 = 1 − 1e−6 (diffusers nudges a
 * σ of 1 so log(1 − σ) is finite), timesteps = trunc(1000·σ) (diffusers casts them to int64; they are NOT
 * 1000·σ), then a final σ = 0. Plus: config refusals naming the key, exactness on a consistent model, the
 * ownership rules of the algebra, step order.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { arrayAlgebra, createSampler, unipcSchedule, validateSamplerConfig, type TensorAlgebra, type Term } from '../../src/schedulers';
import { readUnipcConfig } from '../../src/schedulers/unipc';

const WAN = JSON.parse(readFileSync(join(import.meta.dirname, '../fixtures/schedulers/samplers/unipc-wan21-4.json'), 'utf8')).config as Record<string, unknown>;
const FLOW = { prediction_type: 'flow_prediction', use_flow_sigmas: true };

function byHand(steps: number, shift = 3, n = 1000): { sigmas: number[]; timesteps: number[] } {
  const sigmas: number[] = [];
  for (let k = 0; k < steps; k++) {
    const s = k === steps ? 1 / n : 1 + (k * (1 / n - 1)) / steps;
    sigmas.push((shift * s) / (1 + (shift - 1) * s));
  }
  sigmas[0] = sigmas[0]! - 1e-6; // σ_0 = 1 exactly for any shift
  return { sigmas: [...sigmas, 0].map(Math.fround), timesteps: sigmas.map((s) => Math.trunc(s * n)) };
}

describe('UniPC schedule for Wan2.1 (diffusers\' shipped scheduler_config.json)', () => {
  it('the config is what convert_wan_to_diffusers.py writes', () => {
    expect(WAN).toMatchObject({ _class_name: 'UniPCMultistepScheduler', prediction_type: 'flow_prediction', use_flow_sigmas: true, flow_shift: 3, num_train_timesteps: 1000, solver_order: 2, solver_type: 'bh2' });
  });
  it('4 steps: timesteps 999, 900, 750, 500 and σ = 3s/(1 + 2s)', () => {
    const sampler = createSampler({ type: 'unipc', config: WAN }, 4, { seed: 0 });
    expect(sampler.timesteps).toEqual([999, 900, 750, 500]);
    expect(sampler.sigmas).toEqual(byHand(4).sigmas);
    // s = 1, 0.75025, 0.5005, 0.25075: 3s/(1 + 2s) = 1 (− 1e−6), 0.90011998, 0.75037481, 0.50099900.
    [0.999999, 0.9001199760047992, 0.7503748125937031, 0.5009990009990009, 0].forEach((want, k) => expect(sampler.sigmas[k]).toBeCloseTo(want, 7));
  });
  it('50 steps: the same formula, first and last values spelled out', () => {
    const sampler = createSampler({ type: 'unipc', config: WAN }, 50, { seed: 0 });
    const hand = byHand(50);
    expect(sampler.sigmas).toEqual(hand.sigmas);
    expect(sampler.timesteps).toEqual(hand.timesteps);
    expect(sampler.timesteps.slice(0, 5)).toEqual([999, 993, 986, 979, 971]);
    expect(sampler.timesteps.slice(-3)).toEqual([162, 113, 60]);
    expect(sampler.sigmas.length).toBe(51);
    expect(sampler.sigmas[50]).toBe(0);
  });
  it('final_sigmas_type sigma_min repeats the last σ; shift_terminal stretches to it', () => {
    const c = readUnipcConfig({ ...FLOW, flow_shift: 3, final_sigmas_type: 'sigma_min' });
    const { sigmas } = unipcSchedule(c, 5);
    expect(sigmas[5]).toBe(sigmas[4]);
    const t = unipcSchedule(readUnipcConfig({ ...FLOW, flow_shift: 3, shift_terminal: 0.2 }), 5);
    expect(t.sigmas[4]).toBeCloseTo(0.2, 6);
  });
});

describe('UniPC config refusals name the key (RangeError/TypeError for INVALID_MANIFEST)', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{}, /prediction_type = "epsilon" \(the default\) is not supported/],
    [{ prediction_type: 'v_prediction', use_flow_sigmas: true }, /prediction_type = "v_prediction"/],
    [{ prediction_type: 'flow_prediction' }, /use_flow_sigmas = false is not supported/],
    [{ ...FLOW, thresholding: true }, /thresholding = true is not supported/],
    [{ ...FLOW, use_karras_sigmas: true }, /use_karras_sigmas = true is not supported/],
    [{ ...FLOW, use_exponential_sigmas: true }, /use_exponential_sigmas/],
    [{ ...FLOW, use_beta_sigmas: true }, /use_beta_sigmas/],
    [{ ...FLOW, use_dynamic_shifting: true }, /use_dynamic_shifting/],
    [{ ...FLOW, predict_x0: false }, /predict_x0 = false/],
    [{ ...FLOW, solver_order: 4 }, /solver_order must be an integer from 1 to 3/],
    [{ ...FLOW, solver_type: 'dpm' }, /solver_type must be one of bh1 \| bh2/],
    [{ ...FLOW, solver_type: 'bh1' }, /solver_type "bh1" is not supported with final_sigmas_type "zero"/],
    [{ ...FLOW, lower_order_final: false }, /lower_order_final = false is not supported/],
    [{ ...FLOW, disable_corrector: [1.5] }, /disable_corrector must be an array of step indices/],
    [{ ...FLOW, flow_shift: 0 }, /flow_shift must be a finite number > 0/],
    [{ ...FLOW, final_sigmas_type: 'max' }, /final_sigmas_type must be one of zero \| sigma_min/],
    [{ ...FLOW, shift_terminal: 1 }, /shift_terminal must be a number in \[0, 1\)/],
    [{ ...FLOW, solver_p: {} }, /solver_p/],
  ];
  for (const [config, message] of bad) {
    it(JSON.stringify(config), () => {
      expect(() => createSampler({ type: 'unipc', config }, 4, { seed: 0 })).toThrow(message);
      expect(() => validateSamplerConfig('unipc', config, 100)).toThrow(message);
    });
  }
  it('accepts Wan\'s config and diffusers\' legacy solver_type names; reports the step limit', () => {
    expect(validateSamplerConfig('unipc', WAN, 100)).toEqual({ maxSteps: 100 });
    expect(validateSamplerConfig('unipc', { ...FLOW, num_train_timesteps: 20 }, 100)).toEqual({ maxSteps: 20 });
    expect(readUnipcConfig({ ...FLOW, solver_type: 'midpoint' }).solver_type).toBe('bh2');
    expect(() => createSampler({ type: 'unipc', config: WAN }, 0, { seed: 0 })).toThrow(/steps must be/);
    expect(() => createSampler({ type: 'unipc', config: WAN }, 1001, { seed: 0 })).toThrow(/steps must be from 1 to 1000/);
  });
});

/** An algebra over Float32Arrays that records what it made and what was disposed. */
function countingAlgebra() {
  const base = arrayAlgebra(() => new Float32Array(0));
  const live = new Set<Float32Array>();
  const disposedForeign: Float32Array[] = [];
  const algebra: TensorAlgebra<Float32Array> = {
    combine(terms: readonly Term<Float32Array>[]) {
      const out = base.combine(terms);
      live.add(out);
      return out;
    },
    noise: () => { throw new Error('unipc draws no noise'); },
    dispose(t) {
      if (!live.delete(t)) disposedForeign.push(t);
    },
  };
  return { algebra, live, disposedForeign };
}

describe('UniPC through the algebra', () => {
  const n = 64;
  const clean = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.7) * 1.5);
  const noise = Float32Array.from({ length: n }, (_, i) => Math.cos(i * 1.3 + 0.2));
  for (const [name, config, steps] of [
    ['Wan2.1, 50 steps', WAN, 50],
    ['Wan2.1, 4 steps', WAN, 4],
    ['order 3, bh1, σ_min, 9 steps', { ...FLOW, flow_shift: 5, solver_order: 3, solver_type: 'bh1', final_sigmas_type: 'sigma_min' }, 9],
    ['order 1, corrector off at 1', { ...FLOW, solver_order: 1, disable_corrector: [1] }, 5],
  ] as const) {
    it(`${name}: a model that knows x0 makes every step predict it, and the last step lands on it`, () => {
      const { algebra, live, disposedForeign } = countingAlgebra();
      const sampler = createSampler({ type: 'unipc', config }, steps, { seed: 0 });
      // The exact velocity of x = (1 − σ)·x0 + σ·ε is v = (x − x0)/σ; x0 predictions are then exact.
      let x: Float32Array = noise.map((e, i) => (1 - sampler.sigmas[0]!) * clean[i]! + sampler.sigmas[0]! * e);
      const callerOwned: Float32Array[] = [];
      for (let i = 0; i < steps; i++) {
        const sigma = sampler.sigmas[i]!;
        const v = x.map((xi, k) => (xi - clean[k]!) / sigma);
        callerOwned.push(x, v);
        const { next, x0 } = sampler.step(algebra, i, x, v);
        for (let k = 0; k < n; k++) expect(Math.abs(x0[k]! - clean[k]!)).toBeLessThan(1e-5);
        live.delete(next);
        live.delete(x0);
        x = next;
      }
      const last = (config as Record<string, unknown>).final_sigmas_type === 'sigma_min';
      if (!last) for (let k = 0; k < n; k++) expect(Math.abs(x[k]! - clean[k]!)).toBeLessThan(1e-5);
      // Everything the sampler made for itself is freed after the last step, and it never disposed the caller's tensors.
      expect(live.size).toBe(0);
      expect(disposedForeign.filter((t) => callerOwned.includes(t))).toEqual([]);
      sampler.dispose(algebra);
      expect(live.size).toBe(0);
    });
  }
  it('frees its history on dispose mid-run, and steps run in order', () => {
    const { algebra, live } = countingAlgebra();
    const sampler = createSampler({ type: 'unipc', config: WAN }, 10, { seed: 0 });
    const x = new Float32Array(8).fill(1);
    const r = sampler.step(algebra, 0, x, x);
    live.delete(r.next);
    live.delete(r.x0);
    expect(live.size).toBeGreaterThan(0);
    expect(() => sampler.step(algebra, 2, r.next, x)).toThrow(/expected 1, got 2/);
    sampler.dispose(algebra);
    expect(live.size).toBe(0);
  });
});
