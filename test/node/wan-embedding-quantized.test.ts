// The int8/int4 umT5 embedding table (src/families/wan/embedding.ts): a table written by hand checks the
// byte format on its own, and tables written by the converter's quantize.write_embedding are gathered here
// and held to quantize.dequantize_rows (numpy) exactly, bit for bit (float16 scales → the same float32).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkEmbeddingTable, embeddingTableBytes, gatherEmbeddings, type EmbeddingSpec } from '../../src/families/wan/embedding';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = '/usr/bin/python3';
const hasNumpy = spawnSync(PYTHON, ['-c', 'import numpy, onnx'], { encoding: 'utf8' }).status === 0;
if (!hasNumpy) console.warn(`\n*** SKIPPED: the numpy half of test/node/wan-embedding-quantized — ${PYTHON} cannot import numpy and onnx ***\n`);

/** float16 bits of a few exact values. */
const HALF: Record<number, number> = { 1: 0x3c00, 0.5: 0x3800, 0.25: 0x3400, 2: 0x4000, 0: 0x0000 };

/** codes then float16 scales (little-endian), as the file stores them. */
function file(codes: number[], scales: number[], offset = 0): Uint8Array {
  const bytes = new Uint8Array(offset + codes.length + scales.length * 2);
  bytes.set(codes, offset);
  const view = new DataView(bytes.buffer);
  scales.forEach((s, i) => view.setUint16(offset + codes.length + i * 2, HALF[s]!, true));
  return bytes.subarray(offset);
}

describe('quantized embedding table, by hand', () => {
  // 3 rows × 4 values, blocks of 2: row r block b has scale scales[r * 2 + b]
  const scales = [1, 0.5, 2, 0.25, 0, 1];

  it('int8: value = (code − 128) · scale of its block', () => {
    const spec: EmbeddingSpec = { vocabSize: 3, dim: 4, dtype: 'int8', blockSize: 2 };
    const codes = [128, 129, 126, 130, 0, 255, 127, 132, 1, 2, 128, 120];
    for (const offset of [0, 1]) {
      const out = gatherEmbeddings(file(codes, scales, offset), spec, BigInt64Array.from([1n, 0n, 2n, 1n]));
      expect([...out]).toEqual([-256, 254, -0.25, 1, 0, 1, -1, 1, -0, -0, 0, -8, -256, 254, -0.25, 1]); // (1 − 128) · 0 is −0, as in numpy
    }
  });

  it('int4: two codes per byte, the low nibble first; value = (code − 8) · scale', () => {
    const spec: EmbeddingSpec = { vocabSize: 3, dim: 4, dtype: 'int4', blockSize: 2 };
    // row 0 codes 8, 9 | 6, 10; row 1: 0, 15 | 7, 12; row 2: 1, 2 | 8, 0
    const codes = [8 | (9 << 4), 6 | (10 << 4), 0 | (15 << 4), 7 | (12 << 4), 1 | (2 << 4), 8 | (0 << 4)];
    const out = gatherEmbeddings(file(codes, scales), spec, [2, 0, 1]);
    expect([...out]).toEqual([-0, -0, 0, -8, 0, 1, -1, 1, -16, 14, -0.25, 1]);
  });

  it('checks the size (codes + float16 scales) and the block size', () => {
    const spec: EmbeddingSpec = { vocabSize: 3, dim: 4, dtype: 'int4', blockSize: 2 };
    expect(embeddingTableBytes(spec)).toBe(6 + 12);
    expect(embeddingTableBytes({ vocabSize: 256384, dim: 4096, dtype: 'int4', blockSize: 32 })).toBe(256384 * 2048 + 256384 * 128 * 2);
    expect(() => checkEmbeddingTable(new Uint8Array(17), spec)).toThrow(/has 17 bytes; \[3, 4\] int4 \(block 2: codes \+ float16 scales\) needs 18/);
    expect(() => gatherEmbeddings(new Uint8Array(18), { vocabSize: 3, dim: 4, dtype: 'int4' }, [0])).toThrow(/needs blockSize, a positive integer that divides dim \(4\); got undefined/);
    expect(() => embeddingTableBytes({ vocabSize: 3, dim: 4, dtype: 'int8', blockSize: 3 })).toThrow(RangeError);
    expect(() => gatherEmbeddings(file([0, 0, 0, 0, 0, 0], scales), spec, [3])).toThrow('token id 3 at position 0 is outside the embedding table (ids 0 … 2)');
  });
});

describe.skipIf(!hasNumpy)('quantized embedding table, written by quantize.py', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kinema-embedding-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const V = 37;
  const D = 128;
  const ids = [0, 36, 5, 5, 17, 1];
  const formats: [EmbeddingSpec['dtype'], number][] = [['int8', 16], ['int8', 128], ['int4', 32], ['int4', 16]];
  const script = `
import sys, numpy as np
sys.path.insert(0, 'convert')
from kinema_convert import quantize as qz
out = sys.argv[1]
rng = np.random.default_rng(7)
table = rng.standard_normal((${V}, ${D})).astype(np.float32) * np.exp(rng.standard_normal((${V}, 1))).astype(np.float32)
table[3] = 0  # an all-zero row: scale 0
for bits, block in ${JSON.stringify(formats.map(([d, b]) => [d === 'int8' ? 8 : 4, b]))}:
    path = f"{out}/int{bits}.{block}.bin"
    qz.write_embedding(path, table, bits, block)
    data = open(path, 'rb').read()
    codes_len = ${V} * ${D} * bits // 8
    scales = np.frombuffer(data[codes_len:], dtype='<f2')
    rows = qz.dequantize_rows(data[:codes_len], scales, ${V}, ${D}, bits, block, rows=${JSON.stringify(ids)})
    open(f"{path}.expected", 'wb').write(rows.astype('<f4').tobytes())
    err = np.abs(qz.dequantize_rows(data[:codes_len], scales, ${V}, ${D}, bits, block) - table).max()
    print(f"int{bits}/{block} max abs error {err:.4g}")
`;

  it('gathers exactly what dequantize_rows gives, for int8 and int4 at several block sizes', () => {
    const run = spawnSync(PYTHON, ['-c', script, dir], { cwd: root, encoding: 'utf8' });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    for (const [dtype, blockSize] of formats) {
      const name = `${dtype}.${blockSize}.bin`;
      const table = new Uint8Array(readFileSync(join(dir, name)));
      const spec: EmbeddingSpec = { vocabSize: V, dim: D, dtype, blockSize };
      checkEmbeddingTable(table, spec);
      const raw = readFileSync(join(dir, `${name}.expected`));
      const expected = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const actual = gatherEmbeddings(table, spec, BigInt64Array.from(ids.map(BigInt)));
      expect(actual.length).toBe(ids.length * D);
      let mismatches = 0;
      for (let i = 0; i < expected.length; i++) if (!Object.is(actual[i], expected[i])) mismatches++;
      expect(mismatches, `${name}: elements that differ from numpy`).toBe(0);
      // the rows are not trivially zero: the test can tell a wrong layout from a right one
      expect(expected.some((v) => Math.abs(v) > 0.1)).toBe(true);
    }
  }, 60_000);
});
