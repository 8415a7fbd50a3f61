/**
 * The WGSL combine kernel against its f32 CPU twin (1 to 9 terms, so chained dispatches too; odd sizes;
 * offsets on and off the binding alignment; in place), and the UniPC and rCM samplers run through the
 * WebGPU LoopOps algebra against the same samplers through the wasm LoopOps algebra (CPU twins).
 * Inputs are random but reproducible: VITE_KINEMA_TEST_SEED=<n> replays a run; the seed is printed on failure.
 */
import { describe, expect, it } from 'vitest';
import { createKernels } from '../../src/kernels';
import * as cpu from '../../src/kernels/cpu';
import { createCpuOps } from '../../src/pipeline/cpu-ops';
import { createGpuOps } from '../../src/pipeline/gpu-ops';
import type { LoopOps, Tensor } from '../../src/pipeline/ops';
import type { Ort } from '../../src/runtime/ort';
import { createSampler, samplerAlgebra } from '../../src/schedulers';
import { expectClose, filled, seededRandom, useGpu } from './support/gpu';

const gpu = useGpu();
const { upload, downloadFloats, run } = gpu;
const { seed: SEED, rand, random } = seededRandom('kernels-combine');

describe('combine kernel vs CPU twin', () => {
  const cases = [
    { terms: 1, count: 1, outputOffset: 0 },
    { terms: 2, count: 63, outputOffset: 5 },
    { terms: 3, count: 65, outputOffset: 64 },
    { terms: 4, count: 1000, outputOffset: 67 },
    { terms: 5, count: 257, outputOffset: 3 },
    { terms: 7, count: 130, outputOffset: 128 },
    { terms: 9, count: 4099, outputOffset: 301 },
  ];
  for (const c of cases) {
    it(`${c.terms} terms × ${c.count} elements, output at ${c.outputOffset}`, async () => {
      // Inputs in separate buffers and as slices of one shared buffer, at assorted offsets.
      const shared = random(c.terms * (c.count + 70) + 11, 4);
      const separate = Array.from({ length: c.terms }, () => random(c.count + 13, 4));
      const terms = separate.map((input, k) =>
        k % 2 === 0
          ? { input, coef: (rand() * 2 - 1) * 3, offset: k % 3 }
          : { input: shared, coef: (rand() * 2 - 1) * 3, offset: k * (c.count + 70) + (k * 17) % 70 });
      const want = filled(c.outputOffset + c.count + 9);
      cpu.combine(terms, want, { count: c.count, outputOffset: c.outputOffset });
      const buffers = new Map<Float32Array, GPUBuffer>();
      const bufferOf = (a: Float32Array) => buffers.get(a) ?? buffers.set(a, upload(a as Float32Array<ArrayBuffer>)).get(a)!;
      const out = upload(filled(want.length));
      await run((encoder) => gpu.kernels.combine(encoder, terms.map((t) => ({ ...t, input: bufferOf(t.input) })), out, { count: c.count, outputOffset: c.outputOffset }));
      const got = await downloadFloats(out, want.length);
      // Bound: a few ulp of the sum of |c·x| (fused multiply-adds on a GPU).
      const scale = (i: number) => {
        const j = i - c.outputOffset;
        if (j < 0 || j >= c.count) return 0;
        return terms.reduce((s, t) => s + Math.abs(Math.fround(t.coef) * t.input[t.offset + j]!), 0) * 2 ** -21;
      };
      expectClose(got, want, scale, `seed ${SEED}`);
      for (const b of [...buffers.values(), out]) b.destroy();
    });
  }

  it('in place: out is exactly one input\'s range (≤ 4 terms)', async () => {
    const a = random(300, 2);
    const b = random(300, 2);
    const terms = [{ input: b, coef: 0.5, offset: 0 }, { input: a, coef: -1.25, offset: 70 }, { input: b, coef: 2, offset: 100 }];
    const want = Float32Array.from(a);
    cpu.combine(terms.map((t) => (t.input === a ? { ...t, input: want } : t)), want, { count: 150, outputOffset: 70 });
    const ga = upload(Float32Array.from(a));
    const gb = upload(b);
    await run((encoder) => gpu.kernels.combine(encoder, terms.map((t) => ({ ...t, input: t.input === a ? ga : gb })), ga, { count: 150, outputOffset: 70 }));
    const got = await downloadFloats(ga, 300);
    expectClose(got, want, () => 1e-5, 'in place');
    ga.destroy();
    gb.destroy();
  });

  it('rejects bad calls before touching the GPU: no terms, short inputs, partial overlap, out among > 4 inputs', () => {
    const small = upload(filled(8));
    const big = upload(filled(64));
    const encoder = gpu.device.createCommandEncoder();
    expect(() => gpu.kernels.combine(encoder, [], big, { count: 4 })).toThrow(/non-empty array of terms/);
    expect(() => gpu.kernels.combine(encoder, [{ input: small, coef: 1 }], big, { count: 12 })).toThrow(/combine terms\[0\]: offset 0 \+ 12 elements exceeds/);
    expect(() => gpu.kernels.combine(encoder, [{ input: big, coef: 1, offset: 2 }], big, { count: 8 })).toThrow(/out overlaps terms\[0\]/);
    expect(() => gpu.kernels.combine(encoder, [{ input: big, coef: Number.NaN }], small, { count: 4 })).toThrow(/coef must be a finite number/);
    const five = Array.from({ length: 5 }, (_, k) => ({ input: big, coef: 1, offset: 8 * k }));
    expect(() => gpu.kernels.combine(encoder, five, big, { count: 8, outputOffset: 0 })).toThrow(/more than 4 terms the output must be apart/);
    expect(() => cpu.combine(Array.from({ length: 5 }, () => ({ input: new Float32Array(8), coef: 1 })), new Float32Array(4), { count: 8 })).toThrow(/exceeds/);
    encoder.finish();
    small.destroy();
    big.destroy();
  });
});

describe('samplers through the WebGPU algebra equal the wasm algebra', () => {
  const dims = [1, 16, 2, 6, 5];
  const wanUnipc = { prediction_type: 'flow_prediction', use_flow_sigmas: true, flow_shift: 3, num_train_timesteps: 1000, solver_order: 2, solver_type: 'bh2' };
  for (const [name, scheduler, steps] of [
    ['UniPC (Wan2.1 config), 4 steps', { type: 'unipc' as const, config: wanUnipc }, 4],
    ['rCM, 4 steps (re-noise on the GPU)', { type: 'rcm' as const, config: { sigmas: [0.98765, 0.78271, 0.60898, 0.40622] } }, 4],
  ] as const) {
    it(name, async () => {
      const count = dims.reduce((a, b) => a * b, 1);
      const start = random(count, 1);
      const outputs = Array.from({ length: steps }, () => random(count, 1.5));
      const seed = Math.floor(rand() * 2 ** 31);
      async function sample(ops: LoopOps): Promise<Float32Array> {
        const algebra = samplerAlgebra(ops, dims);
        const sampler = createSampler(scheduler, steps, { seed });
        let x: Tensor = ops.upload(start, dims);
        for (let i = 0; i < steps; i++) {
          const v = ops.upload(outputs[i]!, dims);
          const { next, x0 } = sampler.step(algebra, i, x, v);
          if (x0 !== next) x0.dispose();
          v.dispose();
          x.dispose();
          x = next;
        }
        sampler.dispose(algebra);
        const values = await ops.read(x);
        x.dispose();
        return values;
      }
      const cpuOps = createCpuOps({} as Ort);
      const gpuKernels = await createKernels(gpu.device);
      const gpuOps = createGpuOps({} as Ort, gpu.device, gpuKernels);
      const want = await sample(cpuOps);
      const before = gpuOps.readbacks;
      const got = await sample(gpuOps);
      expect(gpuOps.readbacks - before, 'read-backs: only the final read').toBe(1);
      expectClose(got, want, (i) => 1e-5 * Math.max(1, Math.abs(want[i]!)), `seed ${SEED}`);
      gpuOps.destroy();
    });
  }
});
