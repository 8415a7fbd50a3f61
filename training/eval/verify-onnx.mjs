// Verify every ONNX variant in a model folder against the PyTorch reference vectors
// (reference/index.json) on onnxruntime-node and onnxruntime-web (wasm). Prints the max abs
// difference per component, variant and backend; exits 1 if an fp32 file differs by > 1e-4.
//
//   node training/eval/verify-onnx.mjs public/models/kinema-micro [--backend web|node|both]
import fs from 'node:fs';
import path from 'node:path';
import { createSession, loadOrt, readBin } from './runtime.mjs';

const args = process.argv.slice(2);
const dir = args.find((a) => !a.startsWith('--')) ?? 'public/models/kinema-micro';
const bi = args.indexOf('--backend');
const backends = bi >= 0 && args[bi + 1] !== 'both' ? [args[bi + 1]] : ['node', 'web'];
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const refDir = path.join(dir, 'reference');
const index = JSON.parse(fs.readFileSync(path.join(refDir, 'index.json'), 'utf8'));

function maxDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function concat(a, b) {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

async function checkComponent(rt, comp, file) {
  const { ort } = rt;
  const session = await createSession(rt, path.join(dir, file));
  let worst = 0;
  for (const c of index.cases) {
    const t = c.tensors;
    if (comp === 'textEncoder') {
      const out = await session.run({
        input_ids: new ort.Tensor('int64', readBin(refDir, t.input_ids), t.input_ids.shape),
        attention_mask: new ort.Tensor('int64', readBin(refDir, t.attention_mask), t.attention_mask.shape),
      });
      worst = Math.max(worst, maxDiff(out.last_hidden_state.data, readBin(refDir, t.last_hidden_state)));
    } else if (comp === 'denoiser') {
      const ctx = readBin(refDir, t.last_hidden_state);
      const mask = readBin(refDir, t.attention_mask);
      for (const s of c.steps) {
        const x = readBin(refDir, s.latent_in);
        const shape = [2, ...s.latent_in.shape.slice(1)];
        const out = await session.run({
          hidden_states: new ort.Tensor('float32', concat(x, x), shape),
          timestep: new ort.Tensor('float32', Float32Array.from([s.timestep, s.timestep]), [2]),
          encoder_hidden_states: new ort.Tensor('float32', ctx, t.last_hidden_state.shape),
          encoder_attention_mask: new ort.Tensor('int64', mask, t.attention_mask.shape),
        });
        worst = Math.max(worst, maxDiff(out.sample.data, readBin(refDir, s.sample)));
      }
    } else {
      const out = await session.run({
        latent_sample: new ort.Tensor('float32', readBin(refDir, t.latent_sample), t.latent_sample.shape),
      });
      worst = Math.max(worst, maxDiff(out.sample.data, readBin(refDir, t.decoded)));
    }
  }
  await session.release?.();
  return worst;
}

const report = [];
let failed = false;
for (const backend of backends) {
  const rt = await loadOrt(backend);
  for (const [comp, spec] of Object.entries(manifest.components)) {
    for (const v of spec.variants) {
      const file = v.files[0].path;
      const diff = await checkComponent(rt, comp, file);
      const limit = v.dtype === 'fp32' ? 1e-4 : Infinity;
      if (diff > limit) failed = true;
      report.push({ backend, component: comp, dtype: v.dtype, file, maxAbsDiff: diff });
      console.log(`${backend.padEnd(4)} ${comp.padEnd(11)} ${v.dtype.padEnd(4)} max|onnx - torch| = ${diff.toExponential(2)}`);
    }
  }
}
fs.mkdirSync('training/out', { recursive: true });
fs.writeFileSync('training/out/verify.json', JSON.stringify(report, null, 1));
if (failed) {
  console.error('fp32 ONNX output differs from PyTorch by more than 1e-4');
  process.exit(1);
}
