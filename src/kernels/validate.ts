/**
 * Argument checks shared by the GPU kernels and their CPU twins: both resolve defaults here and throw the
 * same TypeError/RangeError for the same mistake. `capacity` is the buffer's length in elements.
 */
import type { AffineOptions, CfgOptions, CombineOptions, CombineTerm, NoiseOptions, SchedulerStepOptions, ToRgbaOptions } from './types';

const U32_LIMIT = 2 ** 32;

function int(name: string, value: unknown, fallback: number | undefined, min = 0, max = U32_LIMIT - 1): number {
  const v = value === undefined ? fallback : value;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer from ${min} to ${max}, got ${String(v)}`);
  if (v < min || v > max) throw new RangeError(`${name} must be from ${min} to ${max}, got ${v}`);
  return v;
}

function finite(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`${name} must be a finite number, got ${String(value)}`);
  return value;
}

export function checkRange(what: string, offset: number, count: number, capacity: number): void {
  if (offset + count > capacity) {
    throw new RangeError(`${what}: offset ${offset} + ${count} elements exceeds the buffer (${capacity} elements)`);
  }
}

export function resolveNoise(options: NoiseOptions, capacity: number) {
  const count = int('noise count', options.count, undefined);
  const offset = int('noise offset', options.offset, 0);
  const counterOffset = int('noise counterOffset', options.counterOffset, 0);
  const seed = int('noise seed', options.seed, undefined, 0, Number.MAX_SAFE_INTEGER);
  if (counterOffset + count > U32_LIMIT) throw new RangeError(`noise counterOffset + count must be at most 2^32, got ${counterOffset + count}`);
  checkRange('noise out', offset, count, capacity);
  return { count, offset, counterOffset, seedLo: seed % U32_LIMIT, seedHi: Math.floor(seed / U32_LIMIT) };
}

export function resolveCfg(options: CfgOptions, inputCapacity: number, outputCapacity: number) {
  const count = int('cfg count', options.count, undefined);
  const inputOffset = int('cfg inputOffset', options.inputOffset, 0);
  const outputOffset = int('cfg outputOffset', options.outputOffset, 0);
  const guidanceScale = finite('cfg guidanceScale', options.guidanceScale);
  checkRange('cfg modelOutput ([2, count])', inputOffset, 2 * count, inputCapacity);
  checkRange('cfg out', outputOffset, count, outputCapacity);
  return { count, inputOffset, outputOffset, guidanceScale };
}

export function resolveSchedulerStep(options: SchedulerStepOptions, capacity: { x: number; modelOutput: number; xNext: number; x0?: number }) {
  const count = int('schedulerStep count', options.count, undefined);
  const xOffset = int('schedulerStep xOffset', options.xOffset, 0);
  const modelOutputOffset = int('schedulerStep modelOutputOffset', options.modelOutputOffset, 0);
  const xNextOffset = int('schedulerStep xNextOffset', options.xNextOffset, 0);
  const x0Offset = int('schedulerStep x0Offset', options.x0Offset, 0);
  const u = options.update;
  if (u === null || typeof u !== 'object') throw new TypeError('schedulerStep update must be a LinearUpdate { c, d, e, f, g } from a scheduler plan');
  const update = { c: finite('update.c', u.c), d: finite('update.d', u.d), e: finite('update.e', u.e), f: finite('update.f', u.f), g: finite('update.g', u.g) };
  const clip = options.clipRange ?? null;
  if (clip !== null && !(typeof clip === 'number' && clip > 0)) throw new RangeError(`schedulerStep clipRange must be null or a number > 0, got ${String(clip)}`);
  checkRange('schedulerStep x', xOffset, count, capacity.x);
  checkRange('schedulerStep modelOutput', modelOutputOffset, count, capacity.modelOutput);
  checkRange('schedulerStep xNext', xNextOffset, count, capacity.xNext);
  if (capacity.x0 !== undefined) checkRange('schedulerStep x0', x0Offset, count, capacity.x0);
  return { count, xOffset, modelOutputOffset, xNextOffset, x0Offset, update, clipRange: clip };
}

/** Inputs per combine dispatch; longer sums are chained in place over the output. */
export const COMBINE_TERMS_PER_DISPATCH = 4;

/**
 * `combine`'s arguments: 1 or more terms over slices of `count` elements. `capacity(input)` is an input's
 * length in elements. The terms come back in summation order, split into dispatches of up to 4 inputs;
 * every dispatch after the first adds to the output in place (1·out + up to 3 more terms).
 */
export function resolveCombine<B>(terms: readonly CombineTerm<B>[], options: CombineOptions, capacity: (input: B) => number, outputCapacity: number) {
  const count = int('combine count', options.count, undefined);
  const outputOffset = int('combine outputOffset', options.outputOffset, 0);
  if (!Array.isArray(terms) || terms.length === 0) throw new TypeError('combine needs a non-empty array of terms { input, coef, offset? }');
  const resolved = terms.map((t, k) => {
    if (t === null || typeof t !== 'object' || t.input === undefined || t.input === null) throw new TypeError(`combine terms[${k}] must be { input, coef, offset? }`);
    const offset = int(`combine terms[${k}].offset`, t.offset, 0);
    const coef = finite(`combine terms[${k}].coef`, t.coef);
    checkRange(`combine terms[${k}]`, offset, count, capacity(t.input));
    return { input: t.input, coef, offset };
  });
  checkRange('combine out', outputOffset, count, outputCapacity);
  const chunks: (typeof resolved)[] = [resolved.slice(0, COMBINE_TERMS_PER_DISPATCH)];
  for (let k = COMBINE_TERMS_PER_DISPATCH; k < resolved.length; k += COMBINE_TERMS_PER_DISPATCH - 1) chunks.push(resolved.slice(k, k + COMBINE_TERMS_PER_DISPATCH - 1));
  return { count, outputOffset, terms: resolved, chunks };
}

/**
 * combine's aliasing rule: with one dispatch (≤ 4 terms) the output may be exactly an input's range (in
 * place); a chained sum re-reads the output, so then the output must be apart from every input.
 */
export function checkCombineAliasing(inputs: readonly ArgumentRange[], out: ArgumentRange): void {
  if (inputs.length > COMBINE_TERMS_PER_DISPATCH) {
    for (const input of inputs) {
      if (input.store === out.store && input.count > 0 && !(out.start + out.count <= input.start || input.start + input.count <= out.start)) {
        throw new RangeError(`combine: out overlaps ${input.name}; with more than ${COMBINE_TERMS_PER_DISPATCH} terms the output must be apart from every input`);
      }
    }
  }
  checkAliasing('combine', [...inputs, out]);
}

export function resolveAffine(options: AffineOptions, inputCapacity: number, outputCapacity: number) {
  const channels = int('affine channels', options.channels, undefined, 1);
  const channelLength = int('affine channelLength', options.channelLength, undefined);
  const inputOffset = int('affine inputOffset', options.inputOffset, 0);
  const outputOffset = int('affine outputOffset', options.outputOffset, 0);
  for (const key of ['scale', 'bias'] as const) {
    const values = options[key];
    if (!values || values.length !== channels) throw new RangeError(`affine ${key} must have one value per channel (${channels}), got ${values?.length}`);
    for (let i = 0; i < channels; i++) finite(`affine ${key}[${i}]`, values[i]);
  }
  const count = channels * channelLength;
  if (count >= U32_LIMIT) throw new RangeError(`affine channels × channelLength must be below 2^32, got ${count}`);
  checkRange('affine input', inputOffset, count, inputCapacity);
  checkRange('affine out', outputOffset, count, outputCapacity);
  return { channels, channelLength, count, inputOffset, outputOffset, scale: Array.from(options.scale), bias: Array.from(options.bias) };
}

export function resolveToRgba(options: ToRgbaOptions, inputCapacity: number, outputPixels: number) {
  const frames = int('toRgba frames', options.frames, undefined, 1);
  const height = int('toRgba height', options.height, undefined, 1);
  const width = int('toRgba width', options.width, undefined, 1);
  const scale = int('toRgba scale', options.scale, 1, 1, 64);
  const filter = options.filter ?? 'nearest';
  if (filter !== 'nearest' && filter !== 'bilinear') throw new RangeError(`toRgba filter must be 'nearest' or 'bilinear', got ${String(filter)}`);
  const frameStart = int('toRgba frameStart', options.frameStart, 0, 0, frames - 1);
  const frameCount = int('toRgba frameCount', options.frameCount, frames - frameStart, 1, frames - frameStart);
  const inputOffset = int('toRgba inputOffset', options.inputOffset, 0);
  const outputOffset = int('toRgba outputOffset', options.outputOffset, 0);
  const outHeight = height * scale;
  const outWidth = width * scale;
  const count = frameCount * outHeight * outWidth;
  if (3 * frames * height * width >= U32_LIMIT || count >= U32_LIMIT) throw new RangeError('toRgba: the video and its output must each have fewer than 2^32 elements');
  checkRange('toRgba video ([3, frames, height, width])', inputOffset, 3 * frames * height * width, inputCapacity);
  checkRange('toRgba out (pixels)', outputOffset, count, outputPixels);
  return { frames, height, width, scale, filter, frameStart, frameCount, inputOffset, outputOffset, outHeight, outWidth, count };
}

/** One argument of a kernel call, for the aliasing check: `store` identifies the underlying memory. */
export interface ArgumentRange {
  readonly name: string;
  readonly store: unknown;
  readonly start: number;
  readonly count: number;
  readonly written: boolean;
}

/**
 * Kernels are elementwise, so an output may be exactly the same range as an input (in place) but must
 * not partly overlap any other argument, and two outputs must not share memory.
 */
export function checkAliasing(kernel: string, args: readonly ArgumentRange[]): void {
  for (const w of args) {
    if (!w.written || w.count === 0) continue;
    for (const other of args) {
      if (other === w || other.store !== w.store || other.count === 0) continue;
      const disjoint = w.start + w.count <= other.start || other.start + other.count <= w.start;
      const identical = w.start === other.start && w.count === other.count && !other.written;
      if (!disjoint && !identical) {
        throw new RangeError(`${kernel}: ${w.name} overlaps ${other.name}; an output may be exactly an input's range (in place) or apart from it, nothing in between`);
      }
    }
  }
}
