/**
 * Pins the exact bits of kinema's seeded noise. The expected hashes were computed with the first
 * philox.ts (the one that allocated per value) before its hot path was rewritten, so any change in a
 * single bit of any value — in Philox, the uniforms, lnUnit, cosFolded or the fill loop — fails here.
 * The GPU twin (noise.wgsl) is held to the same CPU code in test/browser/kernels.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { noise } from '../../src/kernels/cpu';
import { cosFolded, fillNormals, lnUnit, normalAt, noiseUniforms, philox4x32 } from '../../src/kernels/philox';

/** FNV-1a over the little-endian bytes of u32 words. */
function fnv1a(words: ArrayLike<number>): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    for (let b = 0; b < 32; b += 8) {
      h ^= (w >>> b) & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h.toString(16).padStart(8, '0');
}

const bitsOf = (values: Float32Array) => new Uint32Array(values.buffer, values.byteOffset, values.length);
const hex = (words: Uint32Array) => Array.from(words, (w) => w.toString(16).padStart(8, '0'));

const COUNT = 4096;

/** seed, first counter, then FNV-1a of the f32 bits of COUNT normals, the first four normals' bits, of the 2·COUNT uniforms and of the 4·COUNT Philox words. */
const PINNED = [
  { seed: 42, start: 0, normals: 'c36b482d', first: ['3f785e5a', '3d95e015', '3eac8648', '3ec26cf4'], uniforms: '2d6c9281', words: '3787ce34' },
  { seed: 2 ** 32 * 1234567 + 89, start: 0, normals: 'b0a0d321', first: ['3f8709b3', '3f96031b', '3fa30ce8', '3ee4f449'], uniforms: 'b566a19d', words: '1ee27b65' },
  // The last counters a seed has (counterOffset + count ≤ 2^32): indices ≥ 2^31 must stay unsigned.
  { seed: 7, start: 2 ** 32 - COUNT, normals: '077207ba', first: ['3f00da16', 'bf88f97f', '3fc97ad3', '3f273d09'], uniforms: 'ae1389d7', words: '926d1829' },
  { seed: Number.MAX_SAFE_INTEGER, start: 0, normals: '4a111c39', first: ['3fb07428', '3f73b2e4', '3e54c461', 'bfa8b3f5'], uniforms: 'e868dcf1', words: '8627c944' },
];

describe('philox noise, pinned bit for bit', () => {
  for (const p of PINNED) {
    const seedLo = p.seed % 2 ** 32;
    const seedHi = Math.floor(p.seed / 2 ** 32);

    it(`seed ${p.seed}, counters ${p.start}…${p.start + COUNT - 1}: noise(), fillNormals and normalAt`, () => {
      const out = new Float32Array(COUNT + 3).fill(-9);
      noise(out, { count: COUNT, seed: p.seed, offset: 2, counterOffset: p.start });
      expect([out[0], out[1], out[COUNT + 2]]).toEqual([-9, -9, -9]); // nothing written outside the range
      const filled = out.subarray(2, 2 + COUNT);
      expect(fnv1a(bitsOf(filled))).toBe(p.normals);
      expect(hex(bitsOf(filled.subarray(0, 4)))).toEqual(p.first);
      const direct = new Float32Array(COUNT);
      fillNormals(direct, 0, COUNT, p.start, seedLo, seedHi);
      expect(fnv1a(bitsOf(direct))).toBe(p.normals);
      // normalAt goes through the other copy of the Philox rounds (philoxInto), so this also holds the two copies equal.
      const single = new Float32Array(COUNT);
      for (let i = 0; i < COUNT; i++) single[i] = normalAt(p.start + i, seedLo, seedHi);
      expect(fnv1a(bitsOf(single))).toBe(p.normals);
    });

    it(`seed ${p.seed}: a fill split into uneven chunks gives the same bits`, () => {
      const out = new Float32Array(COUNT);
      for (const [from, to] of [[0, 1], [1, 1000], [1000, 1001], [1001, COUNT]] as const) {
        noise(out, { count: to - from, seed: p.seed, offset: from, counterOffset: p.start + from });
      }
      expect(fnv1a(bitsOf(out))).toBe(p.normals);
    });

    it(`seed ${p.seed}: noiseUniforms and philox4x32`, () => {
      const uniforms = new Float32Array(2 * COUNT);
      const words = new Uint32Array(4 * COUNT);
      for (let i = 0; i < COUNT; i++) {
        const [u1, u2] = noiseUniforms(p.start + i, seedLo, seedHi);
        uniforms[2 * i] = u1;
        uniforms[2 * i + 1] = u2;
        words.set(philox4x32([p.start + i, 0, 0, 0], [seedLo, seedHi]), 4 * i);
      }
      expect(fnv1a(bitsOf(uniforms))).toBe(p.uniforms);
      expect(fnv1a(words)).toBe(p.words);
    });
  }

  it('lnUnit on every 97th n in [1, 2^24] and at 2^24; cosFolded on 100001 angles across [−π, π]', () => {
    const ln: number[] = [];
    for (let n = 1; n <= 2 ** 24; n += 97) ln.push(lnUnit(n));
    ln.push(lnUnit(2 ** 24));
    expect(ln.length).toBe(172962);
    expect(fnv1a(bitsOf(Float32Array.from(ln)))).toBe('75395af1');
    const cos: number[] = [];
    for (let k = 0; k <= 100_000; k++) cos.push(cosFolded(Math.fround(-Math.PI + (2 * Math.PI * k) / 100_000)));
    expect(fnv1a(bitsOf(Float32Array.from(cos)))).toBe('40e12174');
  });
});
