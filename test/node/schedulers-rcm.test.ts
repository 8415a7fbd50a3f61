/**
 * rCM's few-step sampler: σ from the config (the first `steps` of them, as rCM's --num_steps), timestep
 * 1000·σ, x0 = x − σ·v, re-noise x = (1 − σ')·x0 + σ'·ε with ε from seed (seed + 1 + i) mod 2^31, the last
 * step returning x0 itself; the starting-noise factor √(σ0² + (1 − σ0)²) = 1/(cos t0 + sin t0) of rCM's
 * TrigFlow start (t0 = atan 80 ↔ σ0 = 80/81).
 */
import { describe, expect, it } from 'vitest';
import { arrayAlgebra, createSampler, rcmNoiseSeed, validateSamplerConfig, type TensorAlgebra } from '../../src/schedulers';

const RCM = { sigmas: [0.98765, 0.78271, 0.60898, 0.40622] };

describe('rCM schedule', () => {
  it('4 steps: timesteps 1000·σ, then σ = 0', () => {
    const s = createSampler({ type: 'rcm', config: RCM }, 4, { seed: 0 });
    expect(s.timesteps).toEqual([987.65, 782.71, 608.98, 406.22].map((t, k) => RCM.sigmas[k]! * 1000));
    s.timesteps.forEach((t, k) => expect(t).toBeCloseTo([987.65, 782.71, 608.98, 406.22][k]!, 9));
    expect(s.sigmas).toEqual([...RCM.sigmas, 0]);
  });
  it('fewer steps use the first σ (rCM: atan 80 and the first num_steps − 1 middle times)', () => {
    expect(createSampler({ type: 'rcm', config: RCM }, 2, { seed: 0 }).sigmas).toEqual([0.98765, 0.78271, 0]);
    expect(createSampler({ type: 'rcm', config: RCM }, 1, { seed: 0 }).sigmas).toEqual([0.98765, 0]);
  });
  it('σ match rCM\'s TrigFlow times: σ = sin t/(sin t + cos t) for t = atan 80, 1.3, 1.0, 0.6', () => {
    const fromTrig = [Math.atan(80), 1.3, 1.0, 0.6].map((t) => Math.sin(t) / (Math.sin(t) + Math.cos(t)));
    fromTrig.forEach((s, k) => expect(RCM.sigmas[k]).toBeCloseTo(s, 5));
  });
  it('initNoiseSigma = 1/(cos t0 + sin t0) = √(σ0² + (1 − σ0)²)', () => {
    const s = createSampler({ type: 'rcm', config: RCM }, 4, { seed: 0 });
    const t0 = Math.atan(80);
    expect(s.initNoiseSigma).toBeCloseTo(1 / (Math.cos(t0) + Math.sin(t0)), 5);
    expect(s.initNoiseSigma).toBeCloseTo(Math.hypot(0.98765, 1 - 0.98765), 14);
  });
  it('t_scaling_factor changes the model timestep', () => {
    expect(createSampler({ type: 'rcm', config: { ...RCM, t_scaling_factor: 1 } }, 2, { seed: 0 }).timesteps).toEqual([0.98765, 0.78271]);
  });
});

describe('rCM config refusals', () => {
  const bad: [unknown, RegExp][] = [
    [{}, /sigmas must be a non-empty array/],
    [{ sigmas: [] }, /sigmas must be a non-empty array/],
    [{ sigmas: [0.9, 1.2] }, /sigmas\[1\] must be a number in \(0, 1\]/],
    [{ sigmas: [0.9, 0] }, /sigmas\[1\] must be a number in \(0, 1\]/],
    [{ sigmas: [0.5, 0.7] }, /sigmas\[1\] must be smaller than sigmas\[0\]/],
    [{ sigmas: ['0.5'] }, /sigmas\[0\] must be a number/],
    [{ ...RCM, t_scaling_factor: -1 }, /t_scaling_factor must be a finite number > 0/],
  ];
  for (const [config, message] of bad) {
    it(JSON.stringify(config), () => {
      expect(() => createSampler({ type: 'rcm', config: config as Record<string, unknown> }, 1, { seed: 0 })).toThrow(message);
      expect(() => validateSamplerConfig('rcm', config as Record<string, unknown>, 8)).toThrow(message);
    });
  }
  it('steps are 1 … number of σ; the seed is checked', () => {
    expect(() => createSampler({ type: 'rcm', config: RCM }, 5, { seed: 0 })).toThrow(/steps must be from 1 to 4/);
    expect(() => createSampler({ type: 'rcm', config: RCM }, 0, { seed: 0 })).toThrow(/steps must be/);
    expect(() => createSampler({ type: 'rcm', config: RCM }, 2, { seed: -1 })).toThrow(/seed must be an integer/);
    expect(validateSamplerConfig('rcm', RCM, 100)).toEqual({ maxSteps: 4 });
    expect(validateSamplerConfig('rcm', RCM, 3)).toEqual({ maxSteps: 3 });
  });
});

describe('rCM steps', () => {
  it('re-noise seeds are (seed + 1 + i) mod 2^31', () => {
    expect(rcmNoiseSeed(0, 0)).toBe(1);
    expect(rcmNoiseSeed(41, 2)).toBe(44);
    expect(rcmNoiseSeed(2 ** 31 - 1, 0)).toBe(0);
  });
  it('x0 = x − σv, x\' = (1 − σ\')x0 + σ\'ε with ε from the step\'s seed; the last step returns x0 itself; no noise left behind', () => {
    const n = 16;
    const seen: number[] = [];
    const noiseOf = (seed: number) => Float32Array.from({ length: n }, (_, k) => Math.sin(seed * 3.1 + k));
    const base = arrayAlgebra(noiseOf);
    const live = new Set<Float32Array>();
    const algebra: TensorAlgebra<Float32Array> = {
      combine: (t) => base.combine(t),
      noise: (seed) => { seen.push(seed); const e = noiseOf(seed); live.add(e); return e; },
      dispose: (t) => { live.delete(t); },
    };
    const sampler = createSampler({ type: 'rcm', config: RCM }, 4, { seed: 100 });
    let x: Float32Array = Float32Array.from({ length: n }, (_, k) => Math.cos(k));
    for (let i = 0; i < 4; i++) {
      const v = Float32Array.from({ length: n }, (_, k) => Math.sin(k * (i + 2)));
      const { next, x0 } = sampler.step(algebra, i, x, v);
      const s = RCM.sigmas[i]!;
      for (let k = 0; k < n; k++) expect(x0[k]).toBeCloseTo(x[k]! - s * v[k]!, 6);
      if (i < 3) {
        const s1 = RCM.sigmas[i + 1]!;
        const e = noiseOf(100 + 1 + i);
        for (let k = 0; k < n; k++) expect(next[k]).toBeCloseTo((1 - s1) * x0[k]! + s1 * e[k]!, 6);
      } else expect(next).toBe(x0);
      x = next;
    }
    expect(seen).toEqual([101, 102, 103]);
    expect(live.size).toBe(0);
    expect(() => sampler.step(algebra, 1, x, x)).toThrow(/expected step 4, got 1/);
  });
});
