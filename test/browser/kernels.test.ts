/**
 * Each WGSL kernel against its CPU twin on fresh random inputs: odd sizes (not multiples of the
 * workgroup size), element offsets that are and are not multiples of the 256-byte binding alignment,
 * and sentinels around every output slice to catch writes out of range. Cases are data, in the manner
 * of onnxruntime-web's kernel tests: inputs, dims, tolerance.
 */
import { describe, expect, it } from 'vitest';
import { createKernels } from '../../src/kernels';
import * as cpu from '../../src/kernels/cpu';
import { createScheduler, step, type LinearUpdate } from '../../src/schedulers';
import { expectClose, filled, seededRandom, useGpu } from './support/gpu';

const gpu = useGpu();
const { upload, download, downloadFloats, run } = gpu;
const { rand, random } = seededRandom('kernels');

/** Sizes straddle the workgroup size (64) and offsets straddle the 64-element binding alignment. */
const SHAPES = [
  { count: 1, offset: 0 },
  { count: 63, offset: 5 },
  { count: 65, offset: 64 },
  { count: 1000, offset: 67 },
  { count: 4099, offset: 301 },
];

describe('noise kernel vs CPU twin', () => {
  const cases = SHAPES.flatMap((s, k) => [{ ...s, seed: Math.floor(rand() * 2 ** 32), counterOffset: k * 1000 }]).concat([
    { count: 777, offset: 3, seed: 2 ** 53 - 1 - Math.floor(rand() * 1000), counterOffset: 2 ** 32 - 777 },
  ]);
  for (const c of cases) {
    it(`count ${c.count} at offset ${c.offset}, counter ${c.counterOffset}`, async () => {
      const length = c.offset + c.count + 7;
      const want = filled(length);
      cpu.noise(want, c);
      const out = upload(filled(length));
      await run((encoder) => gpu.kernels.noise(encoder, out, c));
      const got = await downloadFloats(out, length);
      expectClose(got, want, (i) => 1e-5 * Math.max(1, Math.abs(want[i]!)), `seed ${c.seed}`);
      out.destroy();
    });
  }
});

describe('cfg kernel vs CPU twin', () => {
  const cases = SHAPES.map((s) => ({ count: s.count, inputOffset: s.offset, outputOffset: (s.offset * 7) % 97, guidanceScale: 1 + rand() * 9 }));
  for (const c of cases) {
    it(`N ${c.count}, offsets ${c.inputOffset}/${c.outputOffset}, g ${c.guidanceScale.toFixed(2)}`, async () => {
      const input = random(c.inputOffset + 2 * c.count + 3, 3);
      const want = filled(c.outputOffset + c.count + 5);
      cpu.cfg(input, want, c);
      const modelOutput = upload(input);
      const out = upload(filled(want.length));
      await run((encoder) => gpu.kernels.cfg(encoder, modelOutput, out, c));
      const got = await downloadFloats(out, want.length);
      const scale = (i: number) => 1 + Math.abs(input[c.inputOffset + i - c.outputOffset] ?? 0) * (1 + c.guidanceScale) * 3;
      expectClose(got, want, (i) => 4e-7 * scale(i), 'guided');
      modelOutput.destroy();
      out.destroy();
    });
  }

  it('in place over the unconditional half of the model output buffer', async () => {
    const n = 333;
    const input = random(2 * n + 10);
    const want = input.slice();
    cpu.cfg(input, want, { count: n, guidanceScale: 7.5, inputOffset: 10, outputOffset: 10 });
    const buffer = upload(input);
    await run((encoder) => gpu.kernels.cfg(encoder, buffer, buffer, { count: n, guidanceScale: 7.5, inputOffset: 10, outputOffset: 10 }));
    expectClose(await downloadFloats(buffer, input.length), want, () => 1e-5, 'in place');
    buffer.destroy();
  });
});

describe('schedulerStep kernel vs CPU twin', () => {
  const updates: [string, LinearUpdate, number | null][] = [
    ['flow Euler', { c: 1, d: -0.83, e: 1, f: 0.71, g: 0 }, null],
    ['DDIM epsilon, clipped', { c: 14.6, d: -14.56, e: 0.0726, f: 0.997, g: 0 }, 1],
    ['DDIM v_prediction', { c: 0.3, d: -0.95, e: 0.4, f: 0.27, g: 0.87 }, null],
    ['DDIM sample, clipped', { c: 0, d: 1, e: 0.5, f: -0.3, g: 0.9 }, 0.5],
  ];
  const cases = SHAPES.flatMap((s, k) => {
    const [name, update, clipRange] = updates[k % updates.length]!;
    return [{ name, update, clipRange, count: s.count, xOffset: s.offset, modelOutputOffset: (s.offset * 3) % 71, xNextOffset: (s.offset * 5) % 83, x0Offset: s.offset + 1, withX0: k % 2 === 1 }];
  });
  for (const c of cases) {
    it(`${c.name}: count ${c.count}, offsets ${c.xOffset}/${c.modelOutputOffset}/${c.xNextOffset}, x0 ${c.withX0}`, async () => {
      const x = random(c.xOffset + c.count + 2, 2);
      const m = random(c.modelOutputOffset + c.count + 2, 2);
      const wantNext = filled(c.xNextOffset + c.count + 2);
      const wantX0 = filled(c.x0Offset + c.count + 2);
      cpu.schedulerStep({ x, modelOutput: m, xNext: wantNext, ...(c.withX0 ? { x0: wantX0 } : {}) }, c);
      const gx = upload(x);
      const gm = upload(m);
      const gNext = upload(filled(wantNext.length));
      const gX0 = upload(filled(wantX0.length));
      await run((encoder) => gpu.kernels.schedulerStep(encoder, { x: gx, modelOutput: gm, xNext: gNext, ...(c.withX0 ? { x0: gX0 } : {}) }, c));
      const { c: cc, d, e, f, g } = c.update;
      const size = (i: number, offset: number) => {
        const xv = Math.abs(x[c.xOffset + i - offset] ?? 0);
        const mv = Math.abs(m[c.modelOutputOffset + i - offset] ?? 0);
        return 1 + Math.abs(cc) * xv + Math.abs(d) * mv + Math.abs(e) * (Math.abs(cc) * xv + Math.abs(d) * mv) + Math.abs(f) * mv + Math.abs(g) * xv;
      };
      expectClose(await downloadFloats(gNext, wantNext.length), wantNext, (i) => 1e-6 * size(i, c.xNextOffset), 'xNext');
      expectClose(await downloadFloats(gX0, wantX0.length), wantX0, (i) => 1e-6 * size(i, c.x0Offset), 'x0');
      if (c.clipRange !== null) expect(wantX0.some((v) => Math.abs(v) === c.clipRange)).toBe(true);
      for (const b of [gx, gm, gNext, gX0]) b.destroy();
    });
  }

  it('in place (xNext = x), with x, the model output and x0 as close slices of one buffer', async () => {
    const n = 517;
    const data = random(3 * n + 80, 2); // x at 3, m at n + 5 (same 256-byte block as x's end), x0 at 2n + 80
    const options = { count: n, update: { c: 1, d: -0.5, e: 1, f: 0.25, g: 0 }, clipRange: 0.9, xOffset: 3, xNextOffset: 3, modelOutputOffset: n + 5, x0Offset: 2 * n + 80 - 1 };
    const want = data.slice();
    cpu.schedulerStep({ x: want, modelOutput: want, xNext: want, x0: want }, options);
    const buffer = upload(data);
    await run((encoder) => gpu.kernels.schedulerStep(encoder, { x: buffer, modelOutput: buffer, xNext: buffer, x0: buffer }, options));
    expectClose(await downloadFloats(buffer, data.length), want, () => 1e-5, 'in place');
    buffer.destroy();
  });
});

describe('schedulerStep kernel driven by real plans equals the schedulers\' direct step()', () => {
  const plans = [
    createScheduler({ type: 'flow-match-euler', config: { shift: 5 } }).plan(7),
    createScheduler({ type: 'ddim', config: { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1, set_alpha_to_one: false, clip_sample: false } }).plan(9),
    createScheduler({ type: 'ddim', config: { prediction_type: 'v_prediction', timestep_spacing: 'trailing', clip_sample: true } }).plan(5),
  ];
  for (const plan of plans) {
    it(`${plan.type} × ${plan.steps} steps, chained on the GPU in place`, async () => {
      const n = 203;
      let x = random(n, 2);
      const gx = upload(x.slice());
      const gm = upload(new Float32Array(n));
      const gx0 = upload(new Float32Array(n));
      let worst = 0;
      for (let i = 0; i < plan.steps; i++) {
        const m = random(n, 2);
        gpu.device.queue.writeBuffer(gm, 0, m);
        const want = step(plan, i, x, m);
        await run((encoder) => gpu.kernels.schedulerStep(encoder, { x: gx, modelOutput: gm, xNext: gx, x0: gx0 }, { count: n, update: plan.updates[i]!, clipRange: plan.clipRange }));
        const got = await downloadFloats(gx, n);
        const gotX0 = await downloadFloats(gx0, n);
        for (let k = 0; k < n; k++) {
          worst = Math.max(worst, Math.abs(got[k]! - want.prevSample[k]!) / (1 + Math.abs(want.prevSample[k]!)));
          worst = Math.max(worst, Math.abs(gotX0[k]! - want.predOriginal[k]!) / (1 + Math.abs(want.predOriginal[k]!)));
        }
        x = got; // continue from the GPU's own result, as the engine does
      }
      expect(worst).toBeLessThan(2e-5);
      for (const b of [gx, gm, gx0]) b.destroy();
    });
  }
});

describe('affine kernel vs CPU twin', () => {
  const cases = [
    { channels: 1, channelLength: 1, inputOffset: 0, outputOffset: 0 },
    { channels: 16, channelLength: 63, inputOffset: 5, outputOffset: 70 },
    { channels: 3, channelLength: 1001, inputOffset: 300, outputOffset: 1 },
    { channels: 4, channelLength: 5 * 7 * 9, inputOffset: 64, outputOffset: 64 },
  ];
  for (const c of cases) {
    it(`[${c.channels}, ${c.channelLength}] offsets ${c.inputOffset}/${c.outputOffset}`, async () => {
      const options = { ...c, scale: Array.from(random(c.channels, 2)), bias: Array.from(random(c.channels, 1)) };
      const count = c.channels * c.channelLength;
      const input = random(c.inputOffset + count + 4, 3);
      const want = filled(c.outputOffset + count + 4);
      cpu.affine(input, want, options);
      const gi = upload(input);
      const go = upload(filled(want.length));
      await run((encoder) => gpu.kernels.affine(encoder, gi, go, options));
      expectClose(await downloadFloats(go, want.length), want, (i) => 1e-6 * (1 + Math.abs(want[i]!) * 4), 'affine');
      gi.destroy();
      go.destroy();
    });
  }
});

describe('toRgba kernel vs CPU twin', () => {
  const cases = [
    { frames: 1, height: 1, width: 1, scale: 1, filter: 'nearest' as const },
    { frames: 3, height: 5, width: 7, scale: 3, filter: 'bilinear' as const, inputOffset: 11, outputOffset: 9 },
    { frames: 4, height: 9, width: 13, scale: 2, filter: 'nearest' as const, frameStart: 1, frameCount: 2, inputOffset: 64 },
    { frames: 5, height: 6, width: 11, scale: 4, filter: 'bilinear' as const, frameStart: 4, frameCount: 1 },
    { frames: 2, height: 17, width: 3, scale: 1, filter: 'bilinear' as const, outputOffset: 70 },
  ];
  for (const c of cases) {
    it(`${c.frames}×${c.height}×${c.width} ×${c.scale} ${c.filter}, frames from ${c.frameStart ?? 0}`, async () => {
      const inputOffset = c.inputOffset ?? 0;
      const outputOffset = c.outputOffset ?? 0;
      const video = random(inputOffset + 3 * c.frames * c.height * c.width + 3, 1.1); // a little outside [−1, 1]
      const frameCount = c.frameCount ?? c.frames - (c.frameStart ?? 0);
      const pixels = outputOffset + frameCount * c.height * c.scale * c.width * c.scale + 2;
      const want = new Uint8Array(4 * pixels).fill(7);
      cpu.toRgba(video, want, c);
      const gv = upload(video);
      const go = upload(new Uint32Array(pixels).fill(0x07070707));
      await run((encoder) => gpu.kernels.toRgba(encoder, gv, go, c));
      const got = new Uint8Array(await download(go, 4 * pixels));
      let off = 0;
      let maxDiff = 0;
      for (let i = 0; i < got.length; i++) {
        const diff = Math.abs(got[i]! - want[i]!);
        if (diff) off++;
        maxDiff = Math.max(maxDiff, diff);
      }
      expect(maxDiff, 'bytes differ by at most one level').toBeLessThanOrEqual(1);
      expect(off, 'rounding-boundary differences are rare').toBeLessThanOrEqual(Math.max(2, got.length / 500));
      for (let p = outputOffset; p < pixels - 2; p++) expect(got[4 * p + 3]).toBe(255);
      gv.destroy();
      go.destroy();
    });
  }
});

describe('dispatch beyond one grid row', () => {
  it('uses a 2-D grid when workgroups exceed maxComputeWorkgroupsPerDimension (workgroup size 1)', async () => {
    const tiny = await createKernels(gpu.device, { workgroupSize: 1 });
    const n = gpu.device.limits.maxComputeWorkgroupsPerDimension + 1001;
    const input = random(2 * n);
    const want = new Float32Array(n);
    cpu.cfg(input, want, { count: n, guidanceScale: 3 });
    const gi = upload(input);
    const go = upload(filled(n));
    await run((encoder) => tiny.cfg(encoder, gi, go, { count: n, guidanceScale: 3 }), tiny);
    expectClose(await downloadFloats(go, n), want, () => 1e-5, '2-D grid');
    tiny.destroy();
    gi.destroy();
    go.destroy();
  });

  it('rejects slices past the end of a buffer and partial overlaps before touching the GPU', () => {
    const small = upload(new Float32Array(8));
    const encoder = gpu.device.createCommandEncoder();
    expect(() => gpu.kernels.noise(encoder, small, { count: 8, seed: 1, offset: 1 })).toThrow(/exceeds the buffer/);
    expect(() => gpu.kernels.cfg(encoder, small, small, { count: 5, guidanceScale: 1 })).toThrow(RangeError);
    expect(() => gpu.kernels.cfg(encoder, small, small, { count: 2, guidanceScale: 1, outputOffset: 1 })).toThrow(/out overlaps modelOutput/);
    const update = { c: 1, d: 0, e: 1, f: 0, g: 0 };
    expect(() => gpu.kernels.schedulerStep(encoder, { x: small, modelOutput: small, xNext: small }, { count: 4, update, xNextOffset: 2, modelOutputOffset: 4 })).toThrow(/xNext overlaps x/);
    expect(() => gpu.kernels.schedulerStep(encoder, { x: small, modelOutput: small, xNext: small, x0: small }, { count: 2, update, modelOutputOffset: 2, xNextOffset: 4, x0Offset: 4 })).toThrow(/overlaps/);
    expect(() => gpu.kernels.toRgba(encoder, small, small, { frames: 1, height: 1, width: 1 })).toThrow(/different buffers/);
    small.destroy();
  });
});
