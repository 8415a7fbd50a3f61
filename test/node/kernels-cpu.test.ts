import { describe, expect, it } from 'vitest';
import { affine, cfg, noise, schedulerStep, toByte, toRgba } from '../../src/kernels/cpu';
import { cosFolded, lnUnit, mulhi32, normalAt, philox4x32 } from '../../src/kernels/philox';

const hex = (words: number[]) => words.map((v) => v.toString(16).padStart(8, '0'));

describe('Philox-4x32-10', () => {
  it('matches the Random123 known-answer vectors', () => {
    expect(hex(philox4x32([0, 0, 0, 0], [0, 0]))).toEqual(['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']);
    expect(hex(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toEqual(['408f276d', '41c83b0e', 'a20bc7c6', '6d5451fd']);
    expect(hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toEqual(['d16cfe09', '94fdcceb', '5001e420', '24126ea1']);
  });

  it('mulhi32 equals the BigInt product', () => {
    const values = [0, 1, 0xffff, 0x10000, 0xd2511f53, 0xcd9e8d57, 0xffffffff, 0x80000000, 12345678];
    for (const a of values) for (const b of values) expect(mulhi32(a, b)).toBe(Number((BigInt(a) * BigInt(b)) >> 32n));
  });
});

describe('noise (CPU twin)', () => {
  it('is N(0, 1): mean ≈ 0, std ≈ 1, tails present but bounded, over 1e5 values', () => {
    const out = new Float32Array(100_000);
    noise(out, { count: out.length, seed: 42 });
    let sum = 0;
    let sq = 0;
    let beyond3 = 0;
    let largest = 0;
    for (const v of out) {
      sum += v;
      sq += v * v;
      if (Math.abs(v) > 3) beyond3++;
      largest = Math.max(largest, Math.abs(v));
    }
    const mean = sum / out.length;
    const std = Math.sqrt(sq / out.length - mean * mean);
    expect(Math.abs(mean)).toBeLessThan(0.015); // 4.7 standard errors
    expect(Math.abs(std - 1)).toBeLessThan(0.01);
    expect(beyond3 / out.length).toBeGreaterThan(0.0018); // P(|z| > 3) = 0.0027
    expect(beyond3 / out.length).toBeLessThan(0.0036);
    expect(largest).toBeLessThanOrEqual(5.78); // also catches NaN/Infinity
  });

  it('value i depends only on (seed, i): chunks, offsets and seeds', () => {
    const whole = new Float32Array(1000);
    noise(whole, { count: 1000, seed: 7 });
    const pieces = new Float32Array(1010);
    noise(pieces, { count: 333, seed: 7, offset: 10 });
    noise(pieces, { count: 667, seed: 7, offset: 343, counterOffset: 333 });
    expect(pieces.subarray(10)).toEqual(whole);
    expect(whole[5]).toBe(normalAt(5, 7, 0));
    expect(lnUnit(1 << 24)).toBe(0);
    for (const n of [1, 2, 3, 1000, 123456, 8388609, 11863283, 16777215]) {
      const want = Math.log(n / 2 ** 24);
      expect(Math.abs(lnUnit(n) - want) / Math.abs(want)).toBeLessThan(3e-7); // relative, even next to u = 1
    }
    for (let t = -Math.PI; t <= Math.PI; t += 0.01) expect(Math.abs(cosFolded(Math.fround(t)) - Math.cos(Math.fround(t)))).toBeLessThan(3e-7);
    const other = new Float32Array(1000);
    noise(other, { count: 1000, seed: 8 });
    expect(other.filter((v, i) => v === whole[i]).length).toBeLessThan(3);
    // Seeds above 2^32 use the high key word: 2^32 + 7 is not seed 7.
    const high = new Float32Array(1000);
    noise(high, { count: 1000, seed: 2 ** 32 + 7 });
    expect(high.filter((v, i) => v === whole[i]).length).toBeLessThan(3);
  });

  it('rejects bad seeds and ranges', () => {
    const out = new Float32Array(10);
    expect(() => noise(out, { count: 10, seed: -1 })).toThrow(/seed must be from 0 to 9007199254740991/);
    expect(() => noise(out, { count: 10, seed: 1.5 })).toThrow(TypeError);
    expect(() => noise(out, { count: 10, seed: 1, offset: 1 })).toThrow(/exceeds the buffer/);
  });
});

describe('cfg, schedulerStep, affine (CPU twins)', () => {
  it('cfg: u + g·(c − u) with offsets', () => {
    const input = Float32Array.from([9, 1, 2, 3, 5, 2, 0]); // offset 1: u = [1,2,3], c = [5,2,0]
    const out = new Float32Array(4);
    cfg(input, out, { count: 3, guidanceScale: 2.5, inputOffset: 1, outputOffset: 1 });
    expect(Array.from(out)).toEqual([0, 11, 2, -4.5]);
    expect(() => cfg(input, out, { count: 4, guidanceScale: 1 })).toThrow(/\[2, count\]/);
  });

  it('schedulerStep: known values, clamp, in place', () => {
    const x = Float32Array.from([1, -2, 4]);
    const m = Float32Array.from([0.5, 1, -1]);
    const x0 = new Float32Array(3);
    schedulerStep({ x, modelOutput: m, xNext: x, x0 }, { count: 3, update: { c: 2, d: 1, e: 0.5, f: 1, g: 0.25 }, clipRange: 3 });
    // x0 = clamp(2x + m) = [2.5, −3, 3]; xNext = 0.5·x0 + m + 0.25·x
    expect(Array.from(x0)).toEqual([2.5, -3, 3]);
    expect(Array.from(x)).toEqual([2, -1, 1.5]);
    expect(() => schedulerStep({ x, modelOutput: m, xNext: x }, { count: 2, xNextOffset: 1, update: { c: 1, d: 0, e: 1, f: 0, g: 0 } })).toThrow(/xNext overlaps x/);
  });

  it('affine: per-channel x·scale + bias (latent de-normalization)', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
    const out = new Float32Array(6);
    affine(x, out, { channels: 2, channelLength: 3, scale: [2, -1], bias: [0.5, 10] });
    expect(Array.from(out)).toEqual([2.5, 4.5, 6.5, 6, 5, 4]);
    expect(() => affine(x, out, { channels: 3, channelLength: 2, scale: [1, 1], bias: [0, 0, 0] })).toThrow(/scale must have one value per channel \(3\)/);
  });
});

describe('toRgba (CPU twin)', () => {
  it('maps [−1, 1] to 0..255 with rounding and clamping', () => {
    expect([-2, -1, 0, 1, 2, 0.5 / 127.5 - 1, Number.NaN].map(toByte)).toEqual([0, 0, 128, 255, 255, 1, 0]);
  });

  it('packs [3, F, H, W] frame-major as RGBA with A = 255, honouring a frame range', () => {
    // 2 frames of 1×2 pixels; R = −1, G = 0, B = 1 in frame 0, and inverted in frame 1.
    const video = Float32Array.from([-1, -1, 1, 1, 0, 0, 0, 0, 1, 1, -1, -1]);
    expect(Array.from(toRgba(video, null, { frames: 2, height: 1, width: 2 }))).toEqual([0, 128, 255, 255, 0, 128, 255, 255, 255, 128, 0, 255, 255, 128, 0, 255]);
    expect(Array.from(toRgba(video, null, { frames: 2, height: 1, width: 2, frameStart: 1 }))).toEqual([255, 128, 0, 255, 255, 128, 0, 255]);
  });

  it('upscales a known 2×2 image: nearest replicates, bilinear interpolates at pixel centres', () => {
    // One channel carries the pattern (R), G and B are −1. Values chosen so bytes are exact.
    const r = [-1, 1, 1, -1]; // [[0, 255], [255, 0]] in bytes
    const video = Float32Array.from([...r, -1, -1, -1, -1, -1, -1, -1, -1]);
    const red = (bytes: Uint8Array) => Array.from(bytes.filter((_, i) => i % 4 === 0));
    expect(red(toRgba(video, null, { frames: 1, height: 2, width: 2, scale: 2, filter: 'nearest' }))).toEqual([
      0, 0, 255, 255, //
      0, 0, 255, 255,
      255, 255, 0, 0,
      255, 255, 0, 0,
    ]);
    // Scale 2: output centres map to source −0.25, 0.25, 0.75, 1.25 → clamped 0, then weights ¼ and ¾.
    // Row 0 (source y clamped to 0): [0, 63.75, 191.25, 255]; row 1 (y = 0.25): mixes ¼ of row 1.
    const v = (a: number) => Math.floor(a + 0.5);
    const row = (top: number[], bottom: number[], wy: number) => top.map((t, i) => v(t + wy * (bottom[i]! - t)));
    const top = [0, 63.75, 191.25, 255];
    const bottom = [255, 191.25, 63.75, 0];
    expect(red(toRgba(video, null, { frames: 1, height: 2, width: 2, scale: 2, filter: 'bilinear' }))).toEqual([
      ...row(top, bottom, 0),
      ...row(top, bottom, 0.25),
      ...row(top, bottom, 0.75),
      ...row(top, bottom, 1),
    ]);
  });

  it('rejects impossible shapes with the argument name', () => {
    const video = new Float32Array(12);
    expect(() => toRgba(video, null, { frames: 2, height: 1, width: 2, frameStart: 2 })).toThrow(/frameStart must be from 0 to 1/);
    expect(() => toRgba(video, null, { frames: 2, height: 2, width: 2 })).toThrow(/exceeds the buffer/);
    expect(() => toRgba(video, null, { frames: 2, height: 1, width: 2, filter: 'cubic' as never })).toThrow(/filter must be/);
    expect(() => toRgba(video, new Uint8Array(8), { frames: 2, height: 1, width: 2 })).toThrow(/out \(pixels\)/);
  });
});

describe('kernel manager (fake device)', () => {
  it('keys pipelines deterministically and compiles each key once', async () => {
    const { KernelManager, kernelKey } = await import('../../src/kernels/manager');
    const a = { name: 'cfg', source: 'x', entryPoint: 'main', constants: { WORKGROUP_SIZE: 64, B: 1 } };
    const b = { ...a, constants: { B: 1, WORKGROUP_SIZE: 64 } };
    expect(kernelKey(a)).toBe(kernelKey(b));
    expect(kernelKey(a)).toBe('cfg#main(B=1,WORKGROUP_SIZE=64)');
    expect(kernelKey({ ...a, constants: { WORKGROUP_SIZE: 32, B: 1 } })).not.toBe(kernelKey(a));
    let modules = 0;
    let pipelines = 0;
    const device = {
      createShaderModule: () => ({ modules: ++modules }),
      createComputePipelineAsync: async () => ({ pipelines: ++pipelines }),
    } as unknown as GPUDevice;
    const manager = new KernelManager(device);
    const [p1, p2] = await Promise.all([manager.prepare(a), manager.prepare(b)]);
    expect(p1).toBe(p2);
    await manager.prepare({ ...a, entryPoint: 'other' });
    expect({ modules, pipelines }).toEqual({ modules: 1, pipelines: 2 });
  });

  it('turns a compile failure into a BACKEND_FAILED KinemaError and allows a retry', async () => {
    const { KernelManager } = await import('../../src/kernels/manager');
    let attempts = 0;
    const device = {
      createShaderModule: () => ({}),
      createComputePipelineAsync: async () => {
        if (++attempts === 1) throw new Error('bad WGSL');
        return {};
      },
    } as unknown as GPUDevice;
    const manager = new KernelManager(device);
    const kernel = { name: 'k', source: '', entryPoint: 'main', constants: {} };
    await expect(manager.prepare(kernel)).rejects.toMatchObject({ code: 'BACKEND_FAILED', message: expect.stringContaining('bad WGSL') });
    await expect(manager.prepare(kernel)).resolves.toBeDefined();
  });
});
