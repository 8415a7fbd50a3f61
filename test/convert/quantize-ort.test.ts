// The MatMulNBits layout quantize.py writes, held to onnxruntime's own kernels: small graphs built by
// bench/quant_report.py (layout) run in onnxruntime-web's wasm backend (the one the browser uses) and in
// onnxruntime-node, and each output must equal A @ dequantize(B) (+ bias) from quantize.py's numpy reference
// to 1e-5 of its largest value: 4 and 8 bits, with and without zero points, block sizes 16 to 128, K not a
// multiple of the block, 2-D and 3-D A, the bias folded in, fp16 weights behind a Cast. For 4 bits the same
// codes read high nibble first must disagree with the kernel, so the test can tell the two orders apart.
// Needs /usr/bin/python3 with onnx and numpy (Debian's python3-onnx, python3-numpy).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type * as OrtWeb from 'onnxruntime-web';
import { loadNodeOrt } from '../../src/node/model-folder';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import onnx, numpy'], { encoding: 'utf8' });
const hasPython = probe.status === 0;
if (!hasPython) {
  console.warn(`\n*** SKIPPED: test/convert/quantize-ort — ${PYTHON} cannot import onnx and numpy (install python3-onnx python3-numpy) ***\n`);
}

interface Array32 { file: string; shape: number[] }
interface Case {
  name: string; bits: number; blockSize: number; zeroPoints: boolean; K: number; N: number; bias: boolean; fp16: boolean;
  model: string; input: Array32; expected: Array32; wrongNibbleOrder?: Array32;
}

const dir = mkdtempSync(join(tmpdir(), 'kinema-quantize-ort-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let cases: Case[] = [];

beforeAll(() => {
  if (!hasPython) return;
  const run = spawnSync(PYTHON, ['bench/quant_report.py', 'layout', '--out', dir], { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`bench/quant_report.py layout failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  cases = (JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8')) as { cases: Case[] }).cases;
}, 120_000);

function read(array: Array32): Float32Array {
  const bytes = readFileSync(join(dir, array.file));
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** max |actual − expected| ÷ max |expected|. */
function relativeMax(actual: Float32Array, expected: Float32Array): number {
  expect(actual.length).toBe(expected.length);
  let error = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    expect(Number.isFinite(actual[i]!), `element ${i} is ${actual[i]}`).toBe(true);
    error = Math.max(error, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return error / scale;
}

type Runtime = Pick<typeof OrtWeb, 'InferenceSession' | 'Tensor'>;

async function runCase(ort: Runtime, c: Case): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(readFileSync(join(dir, c.model)));
  try {
    const out = await session.run({ A: new ort.Tensor('float32', read(c.input), c.input.shape) });
    expect(out.Y!.dims).toEqual(c.expected.shape);
    return out.Y!.data as Float32Array;
  } finally {
    await session.release();
  }
}

const runtimes: [string, () => Promise<Runtime>][] = [
  ['onnxruntime-web (wasm)', async () => (await loadNodeOrt()) as unknown as Runtime],
  ['onnxruntime-node', async () => (await import('onnxruntime-node')) as unknown as Runtime],
];

describe.skipIf(!hasPython)('MatMulNBits from quantize.py in onnxruntime', () => {
  for (const [label, load] of runtimes) {
    it(`${label}: every case equals A @ dequantize(B) (+ bias); 4-bit codes are low nibble first`, async () => {
      const ort = await load();
      expect(cases.length).toBeGreaterThanOrEqual(10);
      const seen = new Set<string>();
      for (const c of cases) {
        const y = await runCase(ort, c);
        const expected = read(c.expected);
        const error = relativeMax(y, expected);
        expect(error, `${c.name}: ${c.bits} bits, block ${c.blockSize}, zero points ${c.zeroPoints}, K ${c.K}`).toBeLessThan(1e-5);
        if (c.wrongNibbleOrder) {
          expect(relativeMax(y, read(c.wrongNibbleOrder)), `${c.name}: high nibble first must not match`).toBeGreaterThan(1e-2);
        }
        seen.add(`${c.bits}/${c.zeroPoints}/${c.K % c.blockSize !== 0}/${c.input.shape.length}/${c.bias}/${c.fp16}`);
      }
      // the grid the cases claim to cover really is there
      for (const bits of [4, 8]) for (const zp of [false, true]) expect([...seen].some((s) => s.startsWith(`${bits}/${zp}/`))).toBe(true);
      expect([...seen].some((s) => s.split('/')[2] === 'true')).toBe(true);
      expect([...seen].some((s) => s.split('/')[3] === '2') && [...seen].some((s) => s.split('/')[3] === '3')).toBe(true);
      expect([...seen].some((s) => s.endsWith('/true/true'))).toBe(true);
    }, 120_000);
  }
});
