/**
 * CPU twins of the WGSL kernels, for the wasm backend and as the tests' reference. Each takes the same
 * options as its GPU kernel and mirrors its f32 arithmetic (Math.fround after every operation), so the
 * two differ only where a GPU fuses a multiply-add or rounds a transcendental differently.
 * Imports nothing GPU: safe in Node.
 */
import { fillNormals } from './philox';
import type { AffineOptions, CfgOptions, CombineOptions, CombineTerm, NoiseOptions, SchedulerStepBuffers, SchedulerStepOptions, ToRgbaOptions } from './types';
import { checkAliasing, checkCombineAliasing, resolveAffine, resolveCfg, resolveCombine, resolveNoise, resolveSchedulerStep, resolveToRgba } from './validate';

/** An argument's memory for the aliasing check: views of one ArrayBuffer are one store. */
const arg = (name: string, array: Float32Array, offset: number, count: number, written = false) => ({
  name,
  store: array.buffer,
  start: array.byteOffset / 4 + offset,
  count,
  written,
});

const f32 = Math.fround;

/** out[offset + j] = N(0, 1) value (counterOffset + j) of `seed`. */
export function noise(out: Float32Array, options: NoiseOptions): void {
  const o = resolveNoise(options, out.length);
  fillNormals(out, o.offset, o.count, o.counterOffset, o.seedLo, o.seedHi);
}

/** guided = u + g·(c − u) over a [2, N] model output (batch 0 unconditional, batch 1 conditional). */
export function cfg(modelOutput: Float32Array, out: Float32Array, options: CfgOptions): void {
  const o = resolveCfg(options, modelOutput.length, out.length);
  checkAliasing('cfg', [
    arg('modelOutput (unconditional)', modelOutput, o.inputOffset, o.count),
    arg('modelOutput (conditional)', modelOutput, o.inputOffset + o.count, o.count),
    arg('out', out, o.outputOffset, o.count, true),
  ]);
  const g = f32(o.guidanceScale);
  for (let j = 0; j < o.count; j++) {
    const u = modelOutput[o.inputOffset + j]!;
    const c = modelOutput[o.inputOffset + o.count + j]!;
    out[o.outputOffset + j] = f32(u + f32(g * f32(c - u)));
  }
}

/** x0 = clamp(c·x + d·m), xNext = e·x0 + f·m + g·x (see schedulers' LinearUpdate). */
export function schedulerStep(buffers: SchedulerStepBuffers<Float32Array>, options: SchedulerStepOptions): void {
  const { x, modelOutput, xNext, x0 } = buffers;
  const capacity = { x: x.length, modelOutput: modelOutput.length, xNext: xNext.length, ...(x0 ? { x0: x0.length } : {}) };
  const o = resolveSchedulerStep(options, capacity);
  checkAliasing('schedulerStep', [
    arg('x', x, o.xOffset, o.count),
    arg('modelOutput', modelOutput, o.modelOutputOffset, o.count),
    arg('xNext', xNext, o.xNextOffset, o.count, true),
    ...(x0 ? [arg('x0', x0, o.x0Offset, o.count, true)] : []),
  ]);
  const [c, d, e, f, g] = [o.update.c, o.update.d, o.update.e, o.update.f, o.update.g].map(f32) as [number, number, number, number, number];
  const clip = o.clipRange === null ? null : f32(o.clipRange);
  for (let j = 0; j < o.count; j++) {
    const xv = x[o.xOffset + j]!;
    const m = modelOutput[o.modelOutputOffset + j]!;
    let p = f32(f32(c * xv) + f32(d * m));
    if (clip !== null) p = Math.min(Math.max(p, -clip), clip);
    if (x0) x0[o.x0Offset + j] = p;
    xNext[o.xNextOffset + j] = f32(f32(f32(e * p) + f32(f * m)) + f32(g * xv));
  }
}

/**
 * out = Σ coef_k·input_k over slices of `count` elements, as the WGSL kernel sums: left to right in f32,
 * in dispatches of up to 4 terms, each later dispatch adding up to 3 terms to the output in place.
 */
export function combine(terms: readonly CombineTerm<Float32Array>[], out: Float32Array, options: CombineOptions): void {
  const o = resolveCombine(terms, options, (input) => {
    if (!(input instanceof Float32Array)) throw new TypeError('combine inputs must be Float32Arrays');
    return input.length;
  }, out.length);
  checkCombineAliasing(o.terms.map((t, k) => arg(`terms[${k}]`, t.input, t.offset, o.count)), arg('out', out, o.outputOffset, o.count, true));
  o.chunks.forEach((chunk, c) => {
    const coefs = chunk.map((t) => f32(t.coef));
    for (let j = 0; j < o.count; j++) {
      let acc = c === 0 ? f32(coefs[0]! * chunk[0]!.input[chunk[0]!.offset + j]!) : out[o.outputOffset + j]!;
      for (let k = c === 0 ? 1 : 0; k < chunk.length; k++) acc = f32(acc + f32(coefs[k]! * chunk[k]!.input[chunk[k]!.offset + j]!));
      out[o.outputOffset + j] = acc;
    }
  });
}

/** out[c, k] = x[c, k]·scale[c] + bias[c] over a [C, channelLength] tensor. */
export function affine(input: Float32Array, out: Float32Array, options: AffineOptions): void {
  const o = resolveAffine(options, input.length, out.length);
  checkAliasing('affine', [arg('input', input, o.inputOffset, o.count), arg('out', out, o.outputOffset, o.count, true)]);
  for (let ch = 0; ch < o.channels; ch++) {
    const s = f32(o.scale[ch]!);
    const b = f32(o.bias[ch]!);
    const base = ch * o.channelLength;
    for (let k = 0; k < o.channelLength; k++) out[o.outputOffset + base + k] = f32(f32(input[o.inputOffset + base + k]! * s) + b);
  }
}

/**
 * [3, F, H, W] floats in [−1, 1] → RGBA8 bytes, frame-major [frameCount, H·s, W·s], A = 255.
 * Writes into `out` at `outputOffset` pixels (allocating when out is null) and returns it.
 */
export function toRgba(video: Float32Array, out: Uint8Array | null, options: ToRgbaOptions): Uint8Array {
  const pixels = out ? Math.floor(out.length / 4) : Number.MAX_SAFE_INTEGER;
  const o = resolveToRgba(options, video.length, pixels);
  const target = out ?? new Uint8Array(4 * (o.outputOffset + o.count));
  if (target.buffer === video.buffer) throw new RangeError('toRgba: video and out must not share memory');
  const plane = o.height * o.width;
  const channelStride = o.frames * plane;
  const axis = (outCoord: number, size: number): [number, number, number] => {
    if (o.filter === 'nearest') {
      const i = Math.floor(outCoord / o.scale);
      return [i, i, 0];
    }
    // Source coordinate (outCoord + ½)/s − ½ as the exact fraction num / 2s, clamped at both edges.
    const num = 2 * outCoord + 1 - o.scale;
    if (num <= 0) return [0, 0, 0];
    const i0 = Math.floor(num / (2 * o.scale));
    if (i0 >= size - 1) return [size - 1, size - 1, 0];
    return [i0, i0 + 1, f32((num - i0 * 2 * o.scale) / (2 * o.scale))];
  };
  for (let fl = 0; fl < o.frameCount; fl++) {
    const frameBase = o.inputOffset + (o.frameStart + fl) * plane;
    for (let oy = 0; oy < o.outHeight; oy++) {
      const [y0, y1, wy] = axis(oy, o.height);
      for (let ox = 0; ox < o.outWidth; ox++) {
        const [x0, x1, wx] = axis(ox, o.width);
        const pixel = o.outputOffset + (fl * o.outHeight + oy) * o.outWidth + ox;
        for (let ch = 0; ch < 3; ch++) {
          const base = frameBase + ch * channelStride;
          const p00 = video[base + y0 * o.width + x0]!;
          const p01 = video[base + y0 * o.width + x1]!;
          const p10 = video[base + y1 * o.width + x0]!;
          const p11 = video[base + y1 * o.width + x1]!;
          const top = f32(p00 + f32(wx * f32(p01 - p00)));
          const bottom = f32(p10 + f32(wx * f32(p11 - p10)));
          const v = f32(top + f32(wy * f32(bottom - top)));
          target[4 * pixel + ch] = toByte(v);
        }
        target[4 * pixel + 3] = 255;
      }
    }
  }
  return target;
}

/** round((v + 1)·127.5) clamped to 0..255, rounding halves up; NaN becomes 0. */
export function toByte(v: number): number {
  const scaled = Math.floor(f32(f32(f32(v + 1) * 127.5) + 0.5));
  return scaled > 255 ? 255 : scaled > 0 ? scaled : 0;
}

/** The CPU twins under the same names as the GPU kernels (without the command encoder). */
export const cpuKernels = { noise, cfg, schedulerStep, combine, affine, toRgba } as const;
