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

/** Philox-4x32 with 10 rounds; returns four u32 words. */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    [c0, c1, c2, c3] = [(hi1 ^ c1 ^ k0) >>> 0, lo1, (hi0 ^ c3 ^ k1) >>> 0, lo0];
  }
  return [c0, c1, c2, c3];
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
  const [r0, r1] = philox4x32([index, 0, 0, 0], [seedLo, seedHi]);
  return [((r0 >>> 8) + 1) * INV_2_24, (r1 >>> 8) * INV_2_24];
}

/**
 * ln(n·2^−24) for an integer n in [1, 2^24], from f32 additions and multiplications only, so a GPU gives
 * the same value up to a few ulp (WGSL's built-in log and cos may be far less accurate on some
 * implementations: SwiftShader's cos is off by ~2e−4). n = m·2^e with m in [√½, √2] exactly (so ln u
 * near u = 1 keeps its relative accuracy), then ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172,
 * by its odd series to s^13 (truncation < 1e−12).
 */
export function lnUnit(n: number): number {
  let e = 31 - Math.clz32(n);
  let m = n / 2 ** e;
  if (m > SQRT2) {
    m /= 2;
    e += 1;
  }
  const s = f32(f32(m - 1) / f32(m + 1));
  const s2 = f32(s * s);
  let p = f32(1 / 13);
  for (const k of [11, 9, 7, 5, 3]) p = f32(f32(p * s2) + f32(1 / k));
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
  let p = f32(1 / 20922789888000); // 1/16!
  for (const k of [14, 12, 10, 8, 6, 4, 2]) p = f32(f32(p * a2) + f32(((k / 2) % 2 === 0 ? 1 : -1) / factorial(k)));
  p = f32(f32(p * a2) + 1);
  return sign * p;
}

function factorial(k: number): number {
  let r = 1;
  for (let i = 2; i <= k; i++) r *= i;
  return r;
}

/** The standard normal value `index` of a seed, with each f32 operation rounded as on the GPU. */
export function normalAt(index: number, seedLo: number, seedHi: number): number {
  const [r0, r1] = philox4x32([index, 0, 0, 0], [seedLo, seedHi]);
  const n = (r0 >>> 8) + 1;
  const u2 = (r1 >>> 8) * INV_2_24;
  const radius = f32(Math.sqrt(f32(-2 * lnUnit(n))));
  const theta = f32(f32(TWO_PI * u2) - PI);
  return f32(radius * cosFolded(theta));
}
