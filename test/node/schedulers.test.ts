import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { applyLinearUpdate, createScheduler, flowMatchMu, step, type SchedulerPlan, type SchedulerType } from '../../src/schedulers';

interface Fixture {
  name: string;
  type: SchedulerType;
  config: Record<string, unknown>;
  steps: number;
  mu?: number;
  timesteps: number[];
  sigmas?: number[];
  alphaProd?: number[];
  alphaProdPrev?: number[];
  prevTimesteps?: number[];
  checks: { step: number; sample: number[]; modelOutput: number[]; prevSample: number[]; predOriginal: number[] }[];
}

const fixtureDir = join(import.meta.dirname, '../fixtures/schedulers');
const fixtures: Fixture[] = readdirSync(fixtureDir)
  .filter((file) => file.endsWith('.json'))
  .map((file) => JSON.parse(readFileSync(join(fixtureDir, file), 'utf8')) as Fixture);

/** |got − want| ≤ abs + rel·|want| elementwise, with the worst index in the message. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, abs: number, what: string): void {
  expect(got.length, `${what}: length`).toBe(want.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i]! - want[i]!) - (abs + rel * Math.abs(want[i]!));
    if (!(excess <= worstExcess)) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  expect(worst, worst < 0 ? what : `${what}[${worst}]: got ${got[worst]}, want ${want[worst]}`).toBe(-1);
}

function randn(n: number, seed: number, scale = 1): Float32Array {
  let s = seed >>> 0;
  const next = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) + 0.5) / 2 ** 32;
  return Float32Array.from({ length: n }, () => scale * Math.sqrt(-2 * Math.log(next())) * Math.cos(2 * Math.PI * next()));
}

describe('schedulers against the independent Python reference (training/reference/schedulers.py)', () => {
  expect(fixtures.length).toBeGreaterThanOrEqual(10);
  for (const fixture of fixtures) {
    it(fixture.name, () => {
      const plan = createScheduler({ type: fixture.type, config: fixture.config }).plan(fixture.steps, fixture.mu === undefined ? {} : { mu: fixture.mu });
      expect(plan.steps).toBe(fixture.timesteps.length);
      if (plan.type === 'flow-match-euler') {
        expectClose(plan.timesteps, fixture.timesteps, 1e-6, 1e-6, 'timesteps');
        expectClose(plan.sigmas, fixture.sigmas!, 1e-6, 1e-9, 'sigmas');
        expect(plan.sigmas.at(-1)).toBe(0);
      } else {
        expect(plan.timesteps).toEqual(fixture.timesteps);
        expect(plan.prevTimesteps).toEqual(fixture.prevTimesteps);
        expectClose(plan.alphaProd, fixture.alphaProd!, 2e-6, 1e-9, 'alphaProd');
        expectClose(plan.alphaProdPrev, fixture.alphaProdPrev!, 2e-6, 1e-9, 'alphaProdPrev');
      }
      for (const check of fixture.checks) {
        const sample = Float32Array.from(check.sample);
        const modelOutput = Float32Array.from(check.modelOutput);
        const direct = step(plan, check.step, sample, modelOutput);
        expectClose(direct.prevSample, check.prevSample, 1e-5, 1e-5, `step ${check.step} prevSample`);
        expectClose(direct.predOriginal, check.predOriginal, 1e-5, 1e-5, `step ${check.step} predOriginal`);
        const linear = applyLinearUpdate(plan.updates[check.step]!, plan.clipRange, sample, modelOutput);
        expectClose(linear.prevSample, check.prevSample, 1e-5, 1e-5, `coefficients ${check.step} prevSample`);
        expectClose(linear.predOriginal, check.predOriginal, 1e-5, 1e-5, `coefficients ${check.step} predOriginal`);
      }
    });
  }

  it('covers the configs the brief asks for', () => {
    const names = fixtures.map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['flow-wan-shift3-20', 'flow-wan-shift5-50', 'ddim-modelscope-25', 'ddim-trailing-v-7', 'ddim-eps-clip-5']));
    expect(fixtures.some((f) => f.type === 'ddim' && f.config.clip_sample === true)).toBe(true);
  });
});

describe('coefficient form equals the direct step', () => {
  const cases: [SchedulerType, Record<string, unknown>, number][] = [
    ['flow-match-euler', { shift: 5 }, 13],
    ['flow-match-euler', { use_dynamic_shifting: true, time_shift_type: 'linear' }, 9],
    ['ddim', { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, set_alpha_to_one: false, clip_sample: false }, 17],
    ['ddim', { prediction_type: 'v_prediction', timestep_spacing: 'trailing', clip_sample: true, clip_sample_range: 0.7 }, 11],
    ['ddim', { prediction_type: 'sample', timestep_spacing: 'linspace', beta_schedule: 'squaredcos_cap_v2', clip_sample: true }, 6],
    ['ddim', { prediction_type: 'epsilon', clip_sample: true }, 20],
  ];
  for (const [type, config, steps] of cases) {
    it(`${type} ${JSON.stringify(config)} × ${steps} steps`, () => {
      const plan = createScheduler({ type, config }).plan(steps, { mu: 0.9 });
      let clipped = 0;
      for (let i = 0; i < plan.steps; i++) {
        const x = randn(257, 11 * i + 1, 2);
        const m = randn(257, 17 * i + 5, 2);
        const direct = step(plan, i, x, m);
        const linear = applyLinearUpdate(plan.updates[i]!, plan.clipRange, x, m);
        expectClose(linear.prevSample, direct.prevSample, 1e-5, 1e-5, `step ${i} prevSample`);
        expectClose(linear.predOriginal, direct.predOriginal, 1e-5, 1e-5, `step ${i} predOriginal`);
        if (plan.clipRange !== null) clipped += direct.predOriginal.filter((v) => Math.abs(v) === Math.fround(plan.clipRange!)).length;
      }
      if (plan.clipRange !== null) expect(clipped, 'the random data should exercise the clamp').toBeGreaterThan(0);
    });
  }

  it('flow Euler coefficients are c=1, d=−σᵢ, e=1, f=σᵢ₊₁, g=0, i.e. x + (σᵢ₊₁ − σᵢ)·m', () => {
    const plan = createScheduler({ type: 'flow-match-euler', config: { shift: 3 } }).plan(5);
    if (plan.type !== 'flow-match-euler') throw new Error('wrong plan type');
    plan.updates.forEach((u, i) => expect(u).toEqual({ c: 1, d: -plan.sigmas[i]!, e: 1, f: plan.sigmas[i + 1]!, g: 0 }));
    const x = randn(5, 3);
    const m = randn(5, 4);
    const out = step(plan, 2, x, m).prevSample;
    out.forEach((v, k) => expect(v).toBeCloseTo(x[k]! + (plan.sigmas[3]! - plan.sigmas[2]!) * m[k]!, 6));
  });
});

describe('plans and steps are pure', () => {
  it('a plan is deeply frozen', () => {
    const plan: SchedulerPlan = createScheduler({ type: 'ddim' }).plan(4);
    expect(Object.isFrozen(plan)).toBe(true);
    expect(Object.isFrozen(plan.timesteps)).toBe(true);
    expect(Object.isFrozen(plan.updates[0])).toBe(true);
    expect(() => ((plan.timesteps as number[])[0] = 1)).toThrow(TypeError);
  });

  it('step leaves its inputs alone and gives the same answer twice', () => {
    const plan = createScheduler({ type: 'flow-match-euler', config: { shift: 5 } }).plan(8);
    const x = randn(33, 1);
    const m = randn(33, 2);
    const copyX = x.slice();
    const a = step(plan, 3, x, m);
    const b = step(plan, 3, x, m);
    expect(x).toEqual(copyX);
    expect(a.prevSample).toEqual(b.prevSample);
    expect(() => step(plan, 8, x, m)).toThrow(RangeError);
    expect(() => step(plan, 0, x, m.subarray(1))).toThrow(/same length/);
  });

  it('dynamic shifting needs mu, or computes it from imageSeqLen like diffusers calculate_shift', () => {
    const scheduler = createScheduler({ type: 'flow-match-euler', config: { use_dynamic_shifting: true } });
    expect(() => scheduler.plan(10)).toThrow(/mu/);
    const mu = flowMatchMu(1024, scheduler.config as never);
    expect(mu).toBeCloseTo(0.5 + (0.65 * (1024 - 256)) / (4096 - 256), 12);
    expect(scheduler.plan(10, { imageSeqLen: 1024 }).timesteps).toEqual(scheduler.plan(10, { mu }).timesteps);
  });

  it('ddim uses the num_train_timesteps // steps stride even with trailing spacing (diffusers behaviour)', () => {
    const plan = createScheduler({ type: 'ddim', config: { timestep_spacing: 'trailing' } }).plan(3);
    if (plan.type !== 'ddim') throw new Error('wrong plan type');
    expect(plan.timesteps).toEqual([999, 666, 332]);
    expect(plan.prevTimesteps).toEqual([666, 333, -1]);
  });

  it('ddim trailing keeps exactly `steps` timesteps where numpy.arange would add a stray −1', () => {
    const plan = createScheduler({ type: 'ddim', config: { timestep_spacing: 'trailing' } }).plan(61);
    expect(plan.steps).toBe(61);
    expect(plan.timesteps.at(-1)).toBe(15);
    expect(Math.min(...plan.timesteps)).toBeGreaterThanOrEqual(0);
  });
});

describe('bad configs are rejected with the key and the valid range', () => {
  const bad: [SchedulerType, Record<string, unknown>, typeof TypeError | typeof RangeError, RegExp][] = [
    ['flow-match-euler', { shift: 0 }, RangeError, /shift must be a finite number > 0, got 0/],
    ['flow-match-euler', { shift: '3' }, TypeError, /shift must be a number/],
    ['flow-match-euler', { num_train_timesteps: 10.5 }, RangeError, /num_train_timesteps must be an integer ≥ 1/],
    ['flow-match-euler', { use_dynamic_shifting: 'yes' }, TypeError, /use_dynamic_shifting must be true or false/],
    ['flow-match-euler', { invert_sigmas: true }, RangeError, /invert_sigmas = true is not supported/],
    ['flow-match-euler', { use_karras_sigmas: true }, RangeError, /use_karras_sigmas/],
    ['flow-match-euler', { time_shift_type: 'cubic' }, RangeError, /time_shift_type must be one of exponential \| linear/],
    ['flow-match-euler', { shift_terminal: 1 }, RangeError, /shift_terminal must be a number in \[0, 1\)/],
    ['ddim', { beta_schedule: 'sigmoid' }, RangeError, /beta_schedule must be one of linear \| scaled_linear \| squaredcos_cap_v2, got "sigmoid"/],
    ['ddim', { prediction_type: 'flow' }, RangeError, /prediction_type must be one of epsilon \| v_prediction \| sample/],
    ['ddim', { timestep_spacing: 'karras' }, RangeError, /timestep_spacing must be one of leading \| trailing \| linspace/],
    ['ddim', { beta_start: 0 }, RangeError, /beta_start must be a number in \(0, 1\)/],
    ['ddim', { beta_end: 2 }, RangeError, /beta_end must be a number in \(0, 1\)/],
    ['ddim', { clip_sample_range: -1 }, RangeError, /clip_sample_range must be a finite number > 0/],
    ['ddim', { steps_offset: -1 }, RangeError, /steps_offset must be an integer ≥ 0/],
    ['ddim', { thresholding: true }, RangeError, /thresholding = true is not supported/],
    ['ddim', { trained_betas: [0.1, 0.2] }, RangeError, /trained_betas must be null or an array of num_train_timesteps/],
    ['ddim', { set_alpha_to_one: 1 }, TypeError, /set_alpha_to_one must be true or false/],
  ];
  for (const [type, config, errorType, message] of bad) {
    it(`${type} ${JSON.stringify(config)}`, () => {
      expect(() => createScheduler({ type, config }).plan(10)).toThrow(errorType);
      expect(() => createScheduler({ type, config }).plan(10)).toThrow(message);
    });
  }

  it('rejects bad step counts, unknown types and non-object configs', () => {
    expect(() => createScheduler({ type: 'ddim' }).plan(0)).toThrow(/steps must be from 1 to 1000/);
    expect(() => createScheduler({ type: 'ddim' }).plan(1001)).toThrow(RangeError);
    expect(() => createScheduler({ type: 'ddim' }).plan(2.5)).toThrow(TypeError);
    expect(() => createScheduler({ type: 'euler' as SchedulerType })).toThrow(/'flow-match-euler' or 'ddim'/);
    expect(() => createScheduler({ type: 'ddim', config: [] as never })).toThrow(TypeError);
    expect(() => createScheduler({ type: 'ddim', config: { num_train_timesteps: 10, steps_offset: 5 } }).plan(2)).toThrow(/steps_offset 5/);
  });

  it('ignores unknown keys such as _class_name', () => {
    const plan = createScheduler({ type: 'ddim', config: { _class_name: 'DDIMScheduler', skip_prk_steps: true, clip_sample: false } }).plan(2);
    expect(plan.timesteps).toEqual([500, 0]);
  });
});
