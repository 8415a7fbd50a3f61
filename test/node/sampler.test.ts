/**
 * Every sampler through the tensor algebra against the Python reference (convert/kinema_convert/schedulers.py,
 * written from diffusers' and rCM's algorithms): the same schedule, and the same final latents after N steps
 * on fixed random model outputs, through the wasm backend's LoopOps (the f32 CPU twin of the WGSL combine
 * kernel, kinema's philox noise) and through a float64 array algebra.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createCpuOps } from '../../src/pipeline/cpu-ops';
import type { Tensor } from '../../src/pipeline/ops';
import type { Ort } from '../../src/runtime/ort';
import { arrayAlgebra, createSampler, createScheduler, step, type SamplerType, type TensorAlgebra } from '../../src/schedulers';
import { samplerAlgebra } from '../../src/schedulers/sampler';
import * as twins from '../../src/kernels/cpu';

interface Fixture {
  name: string;
  type: SamplerType;
  config: Record<string, unknown>;
  steps: number;
  seed: number;
  shape: number[];
  timesteps: number[];
  sigmas: number[];
  sample: number[];
  modelOutputs: number[][];
  final: number[];
  finalX0: number[];
  initNoiseSigma?: number;
}

const root = join(import.meta.dirname, '../..');
const dir = join(root, 'test/fixtures/schedulers/samplers');
const fixtures: Fixture[] = readdirSync(dir).filter((f) => f.endsWith('.json')).sort().map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Fixture);

/** |got − want| ≤ rel·max|want| elementwise (relative to the tensor's scale), worst index in the message. */
function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, rel: number, what: string): number {
  expect(got.length, `${what}: length`).toBe(want.length);
  let scale = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  let worst = 0;
  let at = -1;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= worst)) { worst = err; at = i; }
  }
  expect(worst / scale, `${what}[${at}]: got ${got[at]}, want ${want[at]} (max |want| ${scale})`).toBeLessThanOrEqual(rel);
  return worst / scale;
}

function noiseArray(shape: readonly number[]) {
  return (seed: number) => {
    const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
    twins.noise(out, { count: out.length, seed });
    return out;
  };
}

async function runCpuOps(f: Fixture): Promise<{ final: Float32Array; x0: Float32Array }> {
  const ops = createCpuOps({} as Ort); // combine/noise/upload/read need no onnxruntime
  const algebra = samplerAlgebra(ops, f.shape);
  const sampler = createSampler({ type: f.type, config: f.config }, f.steps, { seed: f.seed });
  let x: Tensor = ops.upload(Float32Array.from(f.sample), f.shape);
  let x0: Tensor | undefined;
  for (let i = 0; i < f.steps; i++) {
    const v = ops.upload(Float32Array.from(f.modelOutputs[i]!), f.shape);
    const r = sampler.step(algebra, i, x, v);
    x0 = r.x0;
    x = r.next;
  }
  sampler.dispose(algebra);
  return { final: await ops.read(x), x0: await ops.read(x0!) };
}

function runArrays(f: Fixture): { final: Float32Array; x0: Float32Array } {
  const algebra: TensorAlgebra<Float32Array> = arrayAlgebra(noiseArray(f.shape));
  const sampler = createSampler({ type: f.type, config: f.config }, f.steps, { seed: f.seed });
  let x: Float32Array = Float32Array.from(f.sample);
  let x0: Float32Array = x;
  for (let i = 0; i < f.steps; i++) ({ next: x, x0 } = sampler.step(algebra, i, x, Float32Array.from(f.modelOutputs[i]!)));
  return { final: x, x0 };
}

describe('samplers equal the Python reference (test/fixtures/schedulers/samplers)', () => {
  it('has the fixtures', () => {
    expect(fixtures.map((f) => f.type).sort()).toEqual(expect.arrayContaining(['unipc', 'rcm', 'flow-match-euler']));
    expect(fixtures.length).toBeGreaterThanOrEqual(10);
  });
  for (const f of fixtures) {
    describe(f.name, () => {
      it('timesteps and sigmas', () => {
        const sampler = createSampler({ type: f.type, config: f.config }, f.steps, { seed: f.seed });
        expect(sampler.steps).toBe(f.steps);
        if (f.type === 'unipc') expect(sampler.timesteps).toEqual(f.timesteps); // diffusers' int64 timesteps, exactly
        else expectClose(sampler.timesteps, f.timesteps, 1e-7, 'timesteps');
        // σ are float32 in diffusers (exact) and plain numbers for rCM.
        expect(sampler.sigmas.map(Math.fround)).toEqual(f.sigmas.map(Math.fround));
        if (f.initNoiseSigma !== undefined) expect(sampler.initNoiseSigma).toBeCloseTo(f.initNoiseSigma, 12);
        else expect(sampler.initNoiseSigma).toBe(1);
      });
      it('final latents and x0 through the wasm LoopOps algebra (f32 combine twin, philox noise)', async () => {
        const got = await runCpuOps(f);
        expectClose(got.final, f.final, 1e-5, 'final');
        expectClose(got.x0, f.finalX0, 1e-5, 'final x0');
      });
      it('final latents through a float64 array algebra', () => {
        const got = runArrays(f);
        expectClose(got.final, f.final, 1e-5, 'final');
      });
    });
  }
});

const python = '/usr/bin/python3';
const hasPython = existsSync(python) && spawnSync(python, ['-c', 'import numpy, torch'], { stdio: 'ignore' }).status === 0;

describe('the fixtures are what schedulers.py writes', () => {
  it.skipIf(!hasPython)('python3 convert/kinema_convert/schedulers.py --check', () => {
    const out = execFileSync(python, [join(root, 'convert/kinema_convert/schedulers.py'), '--check'], { encoding: 'utf8' });
    expect(out).toMatch(/up to date/);
  }, 120_000);
  if (!hasPython) it('needs /usr/bin/python3 with numpy and torch to regenerate the fixtures (skipped here)', () => undefined);
});

describe('Euler and DDIM samplers follow their existing plans (schedulers\' direct step())', () => {
  const n = 40;
  const algebra = arrayAlgebra(() => { throw new Error('no noise'); });
  for (const [type, config, steps] of [
    ['flow-match-euler', { shift: 3 }, 12],
    ['flow-match-euler', { shift: 1, shift_terminal: 0.05 }, 5],
    ['ddim', { clip_sample: false }, 10],
    ['ddim', { clip_sample: false, prediction_type: 'v_prediction', timestep_spacing: 'trailing', rescale_betas_zero_snr: true }, 6],
    ['ddim', { clip_sample: false, prediction_type: 'sample', beta_schedule: 'scaled_linear' }, 7],
  ] as const) {
    it(`${type} ${JSON.stringify(config)} × ${steps}`, () => {
      const sampler = createSampler({ type, config }, steps, { seed: 0 });
      const plan = createScheduler({ type, config }).plan(steps);
      expect(sampler.timesteps).toEqual(plan.timesteps);
      let x: Float32Array = Float32Array.from({ length: n }, (_, k) => Math.sin(k));
      let ref: Float32Array = x;
      for (let i = 0; i < steps; i++) {
        const v = Float32Array.from({ length: n }, (_, k) => Math.cos(k * (i + 1)));
        const r = sampler.step(algebra, i, x, v);
        const want = step(plan, i, ref, v);
        expectClose(r.x0, want.predOriginal, 1e-6, `x0 at ${i}`);
        expectClose(r.next, want.prevSample, 1e-6, `next at ${i}`);
        x = r.next;
        ref = want.prevSample;
      }
    });
  }
  it('DDIM with clip_sample (its default) is refused: clamping is not a linear combination', () => {
    expect(() => createSampler({ type: 'ddim', config: {} }, 10, { seed: 0 })).toThrow(/clip_sample = true \(the default\) is not supported/);
  });
  it('unknown types are refused naming the choices', () => {
    expect(() => createSampler({ type: 'pndm' as SamplerType, config: {} }, 10, { seed: 0 })).toThrow(/scheduler type must be one of 'flow-match-euler', 'unipc', 'rcm', 'ddim'/);
  });
});

describe('LoopOps.combine on wasm (the CPU twin of the WGSL kernel)', () => {
  const ops = createCpuOps({} as Ort);
  it('sums left to right in float32, 4 terms per dispatch then 3 more in place', async () => {
    // 1 + 2^-24 + 2^-24 is 1 in f32 left to right (each addition rounds back to 1), 1 + 2^-23 grouped.
    const one = ops.upload(Float32Array.of(1), [1]);
    const tiny = ops.upload(Float32Array.of(2 ** -24), [1]);
    expect(await ops.read(ops.combine([{ tensor: one, coef: 1 }, { tensor: tiny, coef: 1 }, { tensor: tiny, coef: 1 }]))).toEqual(Float32Array.of(1));
    // 9 terms: dispatch 1 = t0..t3, dispatch 2 = out + t4..t6, dispatch 3 = out + t7, t8.
    const values = [3.25, -1.5, 0.125, 7, 1e-3, -2.75, 0.5, 11, -0.0625];
    const tensors = values.map((v) => ops.upload(Float32Array.of(v, 2 * v), [2]));
    const coefs = values.map((_, k) => (k % 3) - 1.3);
    const got = await ops.read(ops.combine(tensors.map((tensor, k) => ({ tensor, coef: coefs[k]! }))));
    const f = Math.fround;
    const want = [1, 2].map((scale) => {
      let acc = 0;
      values.forEach((v, k) => { acc = k === 0 ? f(f(coefs[k]!) * f(scale * v)) : f(acc + f(f(coefs[k]!) * f(scale * v))); });
      return acc;
    });
    expect(Array.from(got)).toEqual(want);
  });
  it('leaves its inputs alone and refuses mismatched shapes, bad coefficients, no terms', async () => {
    const a = ops.upload(Float32Array.of(1, 2, 3), [1, 3]);
    const b = ops.upload(Float32Array.of(4, 5), [2]);
    const out = ops.combine([{ tensor: a, coef: 2 }, { tensor: a, coef: -1 }]);
    expect(out.dims).toEqual([1, 3]);
    expect(await ops.read(a)).toEqual(Float32Array.of(1, 2, 3));
    expect(() => ops.combine([{ tensor: a, coef: 1 }, { tensor: b, coef: 1 }])).toThrow(/terms\[0\] is \[1, 3\], terms\[1\] is \[2\]/);
    expect(() => ops.combine([{ tensor: a, coef: Number.POSITIVE_INFINITY }])).toThrow(/terms\[0\]\.coef must be a finite number/);
    expect(() => ops.combine([])).toThrow(/non-empty array/);
  });
});
