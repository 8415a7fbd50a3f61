// Cross-language verification on random weights: the Python converter's tiny random checkpoints are
// converted to ONNX (fp32 and fp16 weights), each component runs through kinema's own TypeScript (the
// component runner: manifest, sessions, chains, family glue, onnxruntime-web wasm), and its outputs are
// held to the converter's PyTorch modules run on the same checkpoints (test/convert/reference.py).
// fp32: max abs error ≤ 1e-4 × max |reference|. fp16 weights: the measured bound is printed, and held to 1e-2.
// Needs /usr/bin/python3 with torch, onnx and numpy (Debian's python3-torch, python3-onnx, python3-numpy).
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/node/component';
import { formatNpy, readNpy, type NpyArray } from '../../src/node/npy';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = '/usr/bin/python3';
const probe = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' });
const hasTorch = probe.status === 0;
if (!hasTorch) {
  console.warn(`\n${'*'.repeat(100)}\n*** test/convert/wan-components: ${PYTHON} lacks torch/onnx/numpy (${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}):\n*** the converter → component runner → PyTorch comparisons are SKIPPED. Install python3-torch python3-onnx python3-numpy.\n${'*'.repeat(100)}\n`);
}

const dir = mkdtempSync(join(tmpdir(), 'kinema-wan-components-'));
const raw = join(dir, 'raw');
const model = join(dir, 'model');
const ref = join(dir, 'ref');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function python(args: string[]): string {
  const run = spawnSync(PYTHON, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed (${run.status}):\n${run.stdout}\n${run.stderr}`);
  return run.stdout;
}

async function runner(argv: string[]) {
  let out = '';
  let err = '';
  const code = await main(argv, { stdout: { write: (t: string) => { out += t; } }, stderr: { write: (t: string) => { err += t; } } });
  return { code, out, err };
}

/** max |a − b| and max |b| over two arrays of one shape. */
function compare(actual: NpyArray, expected: NpyArray): { maxError: number; maxRef: number; relative: number } {
  expect(actual.dtype).toBe(expected.dtype);
  expect(actual.shape).toEqual(expected.shape);
  let maxError = 0;
  let maxRef = 0;
  for (let i = 0; i < expected.data.length; i++) {
    const a = Number(actual.data[i]);
    const b = Number(expected.data[i]);
    expect(Number.isFinite(a), `element ${i} is ${a}`).toBe(true);
    maxError = Math.max(maxError, Math.abs(a - b));
    maxRef = Math.max(maxRef, Math.abs(b));
  }
  return { maxError, maxRef, relative: maxError / maxRef };
}

const CASES = [
  { component: 'text-encoder', output: 'prompt_embeds' },
  { component: 'denoiser', output: 'sample' },
  { component: 'decoder', output: 'frames' },
] as const;

describe.skipIf(!hasTorch)('Wan components on random weights: converter → component runner → PyTorch', () => {
  beforeAll(() => {
    python(['convert/convert.py', 'make-random', '--tiny', '--out', raw]);
    python(['convert/convert.py', 'wan', '--transformer', join(raw, 'transformer'), '--text-encoder', join(raw, 'text_encoder'),
      '--tokenizer', join(raw, 'tokenizer'), '--decoder', join(raw, 'taehv.safetensors'), '--scheduler', join(raw, 'scheduler'),
      '--out', model, '--weights', 'fp32,fp16']);
    python(['test/convert/reference.py', raw, model, ref]);
  }, 600_000);

  for (const { component, output } of CASES) {
    it(`${component}, fp32 weights: within 1e-4 of the output's largest magnitude`, async () => {
      const out = join(dir, `out-${component}-fp32`);
      const run = await runner([component, '--model', model, '--in', join(ref, component, 'in'), '--out', out, '--weights', 'fp32']);
      expect(run.code, run.err).toBe(0);
      expect(run.out).toContain(`${output}.npy`);
      const expected = await readNpy(join(ref, component, 'ref', `${output}.npy`));
      const { maxError, maxRef, relative } = compare(await readNpy(join(out, `${output}.npy`)), expected);
      console.info(`${component} fp32: max abs error ${maxError.toExponential(2)}, max |ref| ${maxRef.toFixed(3)}, ratio ${relative.toExponential(2)}`);
      expect(maxRef).toBeGreaterThan(0.1); // a reference of zeros would prove nothing
      expect(maxError).toBeLessThanOrEqual(1e-4 * maxRef);
    });

    it(`${component}, fp16 weights: bounded (reported)`, async () => {
      const out = join(dir, `out-${component}-fp16`);
      const run = await runner([component, '--model', model, '--in', join(ref, component, 'in'), '--out', out, '--weights', 'fp16']);
      expect(run.code, run.err).toBe(0);
      const { maxError, maxRef, relative } = compare(await readNpy(join(out, `${output}.npy`)), await readNpy(join(ref, component, 'ref', `${output}.npy`)));
      console.info(`${component} fp16 weights: max abs error ${maxError.toExponential(2)}, max |ref| ${maxRef.toFixed(3)}, ratio ${relative.toExponential(2)} (bound asserted: 1e-2)`);
      expect(relative).toBeGreaterThan(0); // the fp16 graphs really hold rounded weights
      expect(relative).toBeLessThanOrEqual(1e-2);
    });
  }

  it('text-encoder --prompt tokenizes as generate does, writes the ids it used, and embeds them as --in would', async () => {
    const viaPrompt = join(dir, 'out-prompt');
    const run = await runner(['text-encoder', '--model', model, '--prompt', 'a red cat running on the sky', '--out', viaPrompt]);
    expect(run.code, run.err).toBe(0);
    const ids = await readNpy(join(viaPrompt, 'input_ids.npy'), { dtype: 'int64', shape: [1, 512] });
    const mask = await readNpy(join(viaPrompt, 'attention_mask.npy'), { dtype: 'int64', shape: [1, 512] });
    const length = Number(mask.data.reduce((a, b) => a + b, 0n));
    expect(length).toBeGreaterThan(1);
    expect(ids.data[length - 1]).toBe(1n); // </s>
    expect(Array.from(ids.data.subarray(length))).toEqual(new Array(512 - length).fill(0n)); // <pad>
    const viaIn = join(dir, 'out-prompt-in');
    const again = await runner(['text-encoder', '--model', model, '--in', viaPrompt, '--out', viaIn]);
    expect(again.code, again.err).toBe(0);
    const a = await readNpy(join(viaPrompt, 'prompt_embeds.npy'));
    expect(a.shape).toEqual([1, 512, 16]);
    expect(compare(await readNpy(join(viaIn, 'prompt_embeds.npy')), a).maxError).toBe(0);
    // Zero past the prompt's tokens, as diffusers builds prompt_embeds.
    expect((a.data as Float32Array).subarray(length * 16).every((v) => v === 0)).toBe(true);
  });

  it('refuses inputs that do not fit the model, and a model without the component, with exit code 2', async () => {
    const bad = join(dir, 'in-bad');
    cpSync(join(ref, 'denoiser', 'in'), bad, { recursive: true });
    writeFileSync(join(bad, 'hidden_states.npy'), formatNpy({ dtype: 'float32', shape: [1, 8, 2, 4, 6], data: new Float32Array(384) }));
    const channels = await runner(['denoiser', '--model', model, '--in', bad, '--out', join(dir, 'o')]);
    expect(channels.code).toBe(2);
    expect(channels.err).toMatch(/hidden_states\.npy must have shape \(1, 16, \?, \?, \?\); got \(1, 8, 2, 4, 6\)/);
    writeFileSync(join(bad, 'hidden_states.npy'), formatNpy({ dtype: 'float32', shape: [1, 16, 2, 3, 6], data: new Float32Array(576) }));
    const odd = await runner(['denoiser', '--model', model, '--in', bad, '--out', join(dir, 'o')]);
    expect(odd.code).toBe(2);
    expect(odd.err).toMatch(/H must be a positive multiple of the patch size 2/);

    const partial = join(dir, 'model-decoder-only');
    python(['convert/convert.py', 'wan', '--decoder', join(raw, 'taehv.safetensors'), '--out', partial]);
    const none = await runner(['denoiser', '--model', partial, '--in', join(ref, 'denoiser', 'in'), '--out', join(dir, 'o')]);
    expect(none.code, none.err).toBe(2);
    expect(none.err).toMatch(/has no denoiser \(its manifest lists vaeDecoder\): convert it with --transformer DIR to run denoiser/);
    // That manifest still runs the component it has.
    const decoded = await runner(['decoder', '--model', partial, '--in', join(ref, 'decoder', 'in'), '--out', join(dir, 'out-partial')]);
    expect(decoded.code, decoded.err).toBe(0);

    const tampered = join(dir, 'model-tampered');
    cpSync(model, tampered, { recursive: true });
    const data = join(tampered, 'vae_decoder', 'vae_decoder_step.onnx.data');
    const bytes = readFileSync(data);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    writeFileSync(data, bytes);
    const changed = await runner(['decoder', '--model', tampered, '--in', join(ref, 'decoder', 'in'), '--out', join(dir, 'o'), '--weights', 'fp32']);
    expect(changed.code).toBe(1);
    expect(changed.err).toMatch(/INTEGRITY_MISMATCH: .*vae_decoder_step\.onnx\.data has SHA-256 [0-9a-f]{64}; the manifest says/);
  });

  // The converter at real size splits components into graphs by the file limit and exports each graph in
  // pieces (a few layers each, so RAM stays bounded) chained into one; int8/int4 variants rewrite MatMuls as
  // MatMulNBits. Tiny limits force every path on the tiny model; the chain's outputs must equal PyTorch's.
  describe('sharded, piece-exported and quantized conversions', () => {
    const LAYOUTS = [
      // umT5 in 2 graphs of 1 layer; DiT in 2 graphs (its blocks do not fit 100 kB together)
      { tag: 'split', flags: ['--max-file-bytes', '100000', '--max-export-bytes', '10000'], components: ['text-encoder'],
        graphs: { textEncoder: ['text_encoder_0', 'text_encoder_1'] } },
      // umT5 in 1 graph of 2 pieces; DiT in 2 graphs
      { tag: 'pieces', flags: ['--max-file-bytes', '130000', '--max-export-bytes', '10000'], components: ['text-encoder', 'denoiser'],
        graphs: { textEncoder: ['text_encoder'], denoiser: ['denoiser_context', 'denoiser_0', 'denoiser_1'] } },
      // DiT in 1 graph of 2 pieces
      { tag: 'dit-pieces', flags: ['--max-file-bytes', '400000', '--max-export-bytes', '10000'], components: ['denoiser'],
        graphs: { denoiser: ['denoiser_context', 'denoiser'] } },
    ] as const;
    const models = new Map<string, string>();
    const files = new Map<string, number[]>();
    beforeAll(() => {
      for (const layout of LAYOUTS) {
        const out = join(dir, `model-${layout.tag}`);
        const inputs = layout.components.flatMap((c) => (c === 'denoiser' ? ['--transformer', join(raw, 'transformer')]
          : ['--text-encoder', join(raw, 'text_encoder'), '--tokenizer', join(raw, 'tokenizer')]));
        python(['convert/convert.py', 'wan', ...inputs, '--out', out, '--weights', 'fp32', ...layout.flags]);
        models.set(layout.tag, out);
      }
      // one variant per folder: the component runner's --weights offers fp32/fp16 only, and picks a lone variant
      for (const weights of ['int8', 'int4']) {
        const q = join(dir, `model-${weights}`);
        python(['convert/convert.py', 'wan', '--transformer', join(raw, 'transformer'), '--text-encoder', join(raw, 'text_encoder'),
          '--tokenizer', join(raw, 'tokenizer'), '--out', q, '--weights', weights, '--embedding-weights', 'fp32',
          '--quant-min-elements', '0', '--block-size', '16', '--max-export-bytes', '10000']);
        models.set(weights, q);
      }
      const dq = join(dir, 'model-int8-dq');
      python(['convert/convert.py', 'wan', '--transformer', join(raw, 'transformer'), '--text-encoder', join(raw, 'text_encoder'),
        '--tokenizer', join(raw, 'tokenizer'), '--out', dq, '--weights', 'int8', '--int8-op', 'DequantizeLinear',
        '--embedding-weights', 'fp32', '--quant-min-elements', '0', '--max-export-bytes', '10000']);
      models.set('int8-dq', dq);
      // fp32 graphs, the token table quantized (codes + fp16 scales, dequantized per looked-up row)
      for (const table of ['int8', 'int4']) {
        const q = join(dir, `model-table-${table}`);
        python(['convert/convert.py', 'wan', '--text-encoder', join(raw, 'text_encoder'), '--tokenizer', join(raw, 'tokenizer'),
          '--out', q, '--weights', 'fp32', '--embedding-weights', table, '--block-size', '16']);
        models.set(`table-${table}`, q);
      }
    }, 600_000);

    for (const layout of LAYOUTS) {
      it(`${layout.tag}: the graphs are as planned, every file under the limit, memory declared`, () => {
        const manifest = JSON.parse(readFileSync(join(models.get(layout.tag)!, 'manifest.json'), 'utf8'));
        const limit = Number(layout.flags[1]);
        for (const [component, names] of Object.entries(layout.graphs)) {
          const variant = manifest.components[component].variants[0];
          expect(variant.graphs.map((g: { name: string }) => g.name)).toEqual(names);
          const sizes = variant.graphs.flatMap((g: { files: { bytes: number }[] }) => g.files.map((f) => f.bytes));
          files.set(`${layout.tag}/${component}`, sizes);
          for (const bytes of sizes) expect(bytes).toBeLessThanOrEqual(limit);
          // the bytes the sessions hold (graph + external data); the token table (variant data) is JS memory
          expect(variant.memory.weightsBytes).toBe(sizes.reduce((a: number, b: number) => a + b, 0));
          expect(variant.memory.activationBytes).toBeGreaterThan(0);
        }
      });
      for (const component of layout.components) {
        const output = component === 'text-encoder' ? 'prompt_embeds' : 'sample';
        it(`${layout.tag}: ${component} equals the PyTorch run within 1e-4 of its largest magnitude`, async () => {
          const out = join(dir, `out-${layout.tag}-${component}`);
          const run = await runner([component, '--model', models.get(layout.tag)!, '--in', join(ref, component, 'in'), '--out', out, '--weights', 'fp32']);
          expect(run.code, run.err).toBe(0);
          const { maxError, maxRef } = compare(await readNpy(join(out, `${output}.npy`)), await readNpy(join(ref, component, 'ref', `${output}.npy`)));
          expect(maxRef).toBeGreaterThan(0.1);
          expect(maxError).toBeLessThanOrEqual(1e-4 * maxRef);
        });
      }
    }

    for (const [table, bound] of [['int8', 5e-2], ['int4', 5e-1]] as const) {
      it(`an ${table} token table (fp32 graphs): the text encoder bounded (reported)`, async () => {
        const model = models.get(`table-${table}`)!;
        const manifest = JSON.parse(readFileSync(join(model, 'manifest.json'), 'utf8'));
        expect(manifest.components.textEncoder.embedding).toEqual({ vocabSize: 64, dim: 16, dtype: table, blockSize: 16 });
        const out = join(dir, `out-table-${table}`);
        const run = await runner(['text-encoder', '--model', model, '--in', join(ref, 'text-encoder', 'in'), '--out', out]);
        expect(run.code, run.err).toBe(0);
        const { maxError, maxRef, relative } = compare(await readNpy(join(out, 'prompt_embeds.npy')), await readNpy(join(ref, 'text-encoder', 'ref', 'prompt_embeds.npy')));
        console.info(`text-encoder with an ${table} table (block 16): max abs error ${maxError.toExponential(2)}, max |ref| ${maxRef.toFixed(3)}, ratio ${relative.toExponential(2)} (bound asserted: ${bound})`);
        expect(relative).toBeGreaterThan(0);
        expect(relative).toBeLessThanOrEqual(bound);
      });
    }

    // Bounds from the runs on this tiny model (block 16, every MatMul quantized): printed, and held loosely.
    for (const [weights, bound, form] of [['int8', 5e-2, 'MatMulNBits'], ['int4', 5e-1, 'MatMulNBits'],
      ['int8', 5e-2, 'DequantizeLinear']] as const) {
      for (const component of ['text-encoder', 'denoiser'] as const) {
        const output = component === 'text-encoder' ? 'prompt_embeds' : 'sample';
        it(`${weights} weights (${form}): ${component} bounded (reported)`, async () => {
          const model = models.get(form === 'MatMulNBits' ? weights : 'int8-dq')!;
          const manifest = JSON.parse(readFileSync(join(model, 'manifest.json'), 'utf8'));
          const key = component === 'text-encoder' ? 'textEncoder' : 'denoiser';
          const variant = manifest.components[key].variants.find((v: { dtype: string }) => v.dtype === weights);
          expect(variant.compute).toBe('fp32');
          const graph = readFileSync(join(model, variant.graphs[variant.graphs.length - 1].files[0].path));
          expect(graph.includes(Buffer.from('MatMulNBits'))).toBe(form === 'MatMulNBits');
          expect(graph.includes(Buffer.from('DequantizeLinear'))).toBe(form === 'DequantizeLinear');
          const out = join(dir, `out-quant-${weights}-${form}-${component}`);
          const run = await runner([component, '--model', model, '--in', join(ref, component, 'in'), '--out', out]);
          expect(run.code, run.err).toBe(0);
          const { maxError, maxRef, relative } = compare(await readNpy(join(out, `${output}.npy`)), await readNpy(join(ref, component, 'ref', `${output}.npy`)));
          console.info(`${component} ${weights} weights (${form}${form === 'MatMulNBits' ? ', block 16' : ', per column'}): max abs error ${maxError.toExponential(2)}, max |ref| ${maxRef.toFixed(3)}, ratio ${relative.toExponential(2)} (bound asserted: ${bound})`);
          expect(relative).toBeGreaterThan(0);
          expect(relative).toBeLessThanOrEqual(bound);
        });
      }
    }
  });

  it('npm run component runs the same from the command line', () => {
    expect(existsSync(join(root, 'package.json'))).toBe(true);
    const out = join(dir, 'out-npm');
    const run = spawnSync('npm', ['run', '--silent', 'component', '--', 'decoder', '--model', model, '--in', join(ref, 'decoder', 'in'), '--out', out], { cwd: root, encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/wrote .*frames\.npy \(9, 24, 40, 3\) float32/);
    const usage = spawnSync('npm', ['run', '--silent', 'component', '--', 'decoder', '--model', model, '--out', out], { cwd: root, encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/component: --in <folder> is required for decoder/);
  }, 120_000);
});
