/**
 * Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11) and the
 * Box–Muller transform that noise.wgsl uses, in plain TypeScript with the same u32 operations:
 * 32×32→64-bit products are built from 16-bit halves because WGSL has no 64-bit integers.
 *
 * Value i of seed s: Philox(counter = (i, 0, 0, 0), key = (s mod 2^32, ⌊s / 2^32⌋)) → words r0, r1;
 *   u1 = ((r0 >> 8) + 1)·2^−24 ∈ (0, 1]   (never 0, so log is finite; |z| ≤ 5.77)
 *   u2 = (r1 >> 8)·2^−24      ∈ [0, 1)
 *   z  = √(−2·ln u1) · cos(2π·u2 − π)
 * u1 and u2 are exact in f32, and ln and cos are computed from f32 + and × (see lnUnit, cosFolded)
 * rather than WGSL's built-ins, so GPU and CPU agree to a few ulp, not just to WGSL's loose bounds.
 *
 * The wasm backend draws every generation's initial noise through fillNormals, so the hot path keeps
 * its state in plain number locals: a fill allocates nothing per value (no tuples, no array literals).
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32. */
export function mulhi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const p00 = a0 * b0;
  const p01 = a0 * b1;
  const p10 = a1 * b0;
  const p11 = a1 * b1;
  const mid = (p00 >>> 16) + (p01 & 0xffff) + (p10 & 0xffff);
  return (p11 + (p01 >>> 16) + (p10 >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * Philox-4x32-10 of counter (c0, c1, c2, c3) and key (k0, k1), all u32; writes the four output words
 * to words[at … at + 3]. Behind philox4x32, noiseUniforms and normalAt; fillNormals repeats its rounds.
 */
function philoxInto(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, words: Uint32Array | number[], at: number): void {
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
  }
  words[at] = c0;
  words[at + 1] = c1;
  words[at + 2] = c2;
  words[at + 3] = c3;
}

/** Philox-4x32 with 10 rounds; returns four u32 words. */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  const words: [number, number, number, number] = [0, 0, 0, 0];
  philoxInto(counter[0] >>> 0, counter[1] >>> 0, counter[2] >>> 0, counter[3] >>> 0, key[0] >>> 0, key[1] >>> 0, words, 0);
  return words;
}

const f32 = Math.fround;
const INV_2_24 = 2 ** -24;
const TWO_PI = f32(2 * Math.PI);
const PI = f32(Math.PI);
const HALF_PI = f32(Math.PI / 2);
const LN2 = f32(Math.LN2);
const SQRT2 = f32(Math.SQRT2);

/** The uniforms (u1, u2) for value `index` of a seed; exact, shared with the GPU. */
export function noiseUniforms(index: number, seedLo: number, seedHi: number): [number, number] {
  const words = new Uint32Array(4);
  philoxInto(index >>> 0, 0, 0, 0, seedLo >>> 0, seedHi >>> 0, words, 0);
  return [((words[0]! >>> 8) + 1) * INV_2_24, (words[1]! >>> 8) * INV_2_24];
}

// The series coefficients as f32, as noise.wgsl spells them: 1/k for ln's atanh series, ±1/k! for cos.
const LN_C13 = f32(1 / 13);
const LN_C11 = f32(1 / 11);
const LN_C9 = f32(1 / 9);
const LN_C7 = f32(1 / 7);
const LN_C5 = f32(1 / 5);
const LN_C3 = f32(1 / 3);
const COS_C16 = f32(1 / 20922789888000);
const COS_C14 = f32(-1 / 87178291200);
const COS_C12 = f32(1 / 479001600);
const COS_C10 = f32(-1 / 3628800);
const COS_C8 = f32(1 / 40320);
const COS_C6 = f32(-1 / 720);
const COS_C4 = f32(1 / 24);
const COS_C2 = f32(-1 / 2);

/**
 * ln(n·2^−24) for an integer n in [1, 2^24], from f32 additions and multiplications only, so a GPU gives
 * the same value up to a few ulp (WGSL's built-in log and cos may be far less accurate on some
 * implementations: SwiftShader's cos is off by ~2e−4). n = m·2^e with m in [√½, √2] exactly (so ln u
 * near u = 1 keeps its relative accuracy), then ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172,
 * by its odd series to s^13 (truncation < 1e−12).
 */
export function lnUnit(n: number): number {
  let e = 31 - Math.clz32(n);
  // 2^e as a shift, not 2 ** e: the same exact power of two (e ≤ 31), and lnUnit runs 3× faster in V8.
  let m = n / ((1 << e) >>> 0);
  if (m > SQRT2) {
    m /= 2;
    e += 1;
  }
  const s = f32(f32(m - 1) / f32(m + 1));
  const s2 = f32(s * s);
  let p = LN_C13;
  p = f32(f32(p * s2) + LN_C11);
  p = f32(f32(p * s2) + LN_C9);
  p = f32(f32(p * s2) + LN_C7);
  p = f32(f32(p * s2) + LN_C5);
  p = f32(f32(p * s2) + LN_C3);
  p = f32(f32(p * s2) + 1);
  return f32(f32(f32(2 * s) * p) + f32((e - 24) * LN2));
}

/** cos θ for θ in [−π, π], by folding to [0, π/2] and a Taylor polynomial to θ^16 (error < 1e−9). */
export function cosFolded(theta: number): number {
  let a = Math.abs(theta);
  let sign = 1;
  if (a > HALF_PI) {
    a = f32(PI - a);
    sign = -1;
  }
  const a2 = f32(a * a);
  let p = COS_C16;
  p = f32(f32(p * a2) + COS_C14);
  p = f32(f32(p * a2) + COS_C12);
  p = f32(f32(p * a2) + COS_C10);
  p = f32(f32(p * a2) + COS_C8);
  p = f32(f32(p * a2) + COS_C6);
  p = f32(f32(p * a2) + COS_C4);
  p = f32(f32(p * a2) + COS_C2);
  p = f32(f32(p * a2) + 1);
  return sign * p;
}

/** The standard normal value `index` of a seed, with each f32 operation rounded as on the GPU. */
export function normalAt(index: number, seedLo: number, seedHi: number): number {
  const words = new Uint32Array(4);
  philoxInto(index >>> 0, 0, 0, 0, seedLo >>> 0, seedHi >>> 0, words, 0);
  const n = (words[0]! >>> 8) + 1;
  const u2 = (words[1]! >>> 8) * INV_2_24;
  const radius = f32(Math.sqrt(f32(-2 * lnUnit(n))));
  const theta = f32(f32(TWO_PI * u2) - PI);
  return f32(radius * cosFolded(theta));
}

// The multipliers' 16-bit halves, for fillNormals' inline mulhi32.
const M0_LO = M0 & 0xffff;
const M0_HI = M0 >>> 16;
const M1_LO = M1 & 0xffff;
const M1_HI = M1 >>> 16;

/**
 * out[offset + j] = normalAt(counterOffset + j, seedLo, seedHi) for j in [0, count), bit for bit
 * (test/node/philox.test.ts pins both), allocating nothing per value. The Philox rounds are
 * philoxInto's, repeated in locals with mulhi32 written out, so that the loop's only calls are lnUnit
 * and cosFolded and V8 inlines both: in Node 20, with mulhi32 called as well its inlining budget ran
 * out before lnUnit, whose boxed f64 result then cost a heap allocation per value; a fill through
 * philoxInto and a reused 4-word scratch ran about a third slower. Ranges are the caller's to check
 * (cpu.ts's noise does, through resolveNoise): counterOffset + count at most 2^32, seeds u32.
 */
export function fillNormals(out: Float32Array, offset: number, count: number, counterOffset: number, seedLo: number, seedHi: number): void {
  const key0 = seedLo >>> 0;
  const key1 = seedHi >>> 0;
  for (let j = 0; j < count; j++) {
    let c0 = (counterOffset + j) >>> 0;
    let c1 = 0;
    let c2 = 0;
    let c3 = 0;
    let k0 = key0;
    let k1 = key1;
    for (let round = 0; round < 10; round++) {
      if (round > 0) {
        k0 = (k0 + W0) >>> 0;
        k1 = (k1 + W1) >>> 0;
      }
      // hi0 = mulhi32(M0, c0), hi1 = mulhi32(M1, c2), from 16-bit halves as there.
      const x0 = c0 & 0xffff;
      const x1 = c0 >>> 16;
      const p01 = M0_LO * x1;
      const p10 = M0_HI * x0;
      const hi0 = (M0_HI * x1 + (p01 >>> 16) + (p10 >>> 16) + ((((M0_LO * x0) >>> 16) + (p01 & 0xffff) + (p10 & 0xffff)) >>> 16)) >>> 0;
      const lo0 = Math.imul(M0, c0) >>> 0;
      const y0 = c2 & 0xffff;
      const y1 = c2 >>> 16;
      const q01 = M1_LO * y1;
      const q10 = M1_HI * y0;
      const hi1 = (M1_HI * y1 + (q01 >>> 16) + (q10 >>> 16) + ((((M1_LO * y0) >>> 16) + (q01 & 0xffff) + (q10 & 0xffff)) >>> 16)) >>> 0;
      const lo1 = Math.imul(M1, c2) >>> 0;
      c0 = (hi1 ^ c1 ^ k0) >>> 0;
      c1 = lo1;
      c2 = (hi0 ^ c3 ^ k1) >>> 0;
      c3 = lo0;
    }
    const radius = f32(Math.sqrt(f32(-2 * lnUnit((c0 >>> 8) + 1))));
    const theta = f32(f32(TWO_PI * ((c1 >>> 8) * INV_2_24)) - PI);
    out[offset + j] = f32(radius * cosFolded(theta));
  }
}
