// The shipped fp32 ONNX files reproduce the PyTorch reference vectors on onnxruntime-web (wasm),
// and the JS scheduler gives the reference sigmas.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createSession, flowSigmas, loadOrt, readBin } from '../../training/eval/runtime.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(root, 'public/models/kinema-micro');
const refDir = path.join(dir, 'reference');
const index = JSON.parse(fs.readFileSync(path.join(refDir, 'index.json'), 'utf8'));
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

describe('kinema-micro ONNX parity with PyTorch', () => {
  it('flow-match sigmas match the reference schedule', () => {
    const s = flowSigmas(index.steps, index.scheduler.config.shift);
    expect(maxDiff(s, index.sigmas)).toBeLessThan(1e-6);
    expect(index.scheduler.config.shift).toBe(manifest.scheduler.config.shift);
  });

  it('text encoder, first and last denoiser steps and VAE decoder match within 1e-4', async () => {
    const rt = await loadOrt('web');
    const { ort } = rt;
    const file = (comp: string) => manifest.components[comp].variants.find((v: { dtype: string }) => v.dtype === 'fp32').files[0].path;
    const te = await createSession(rt, path.join(dir, file('textEncoder')));
    const dn = await createSession(rt, path.join(dir, file('denoiser')));
    const vd = await createSession(rt, path.join(dir, file('vaeDecoder')));
    for (const c of index.cases) {
      const t = c.tensors;
      const ids = new ort.Tensor('int64', readBin(refDir, t.input_ids), t.input_ids.shape);
      const mask = new ort.Tensor('int64', readBin(refDir, t.attention_mask), t.attention_mask.shape);
      const h = await te.run({ input_ids: ids, attention_mask: mask });
      expect(maxDiff(h.last_hidden_state!.data as Float32Array, readBin(refDir, t.last_hidden_state))).toBeLessThan(1e-4);
      for (const s of [c.steps[0], c.steps[c.steps.length - 1]]) {
        const x = readBin(refDir, s.latent_in);
        const xin = new Float32Array(2 * x.length);
        xin.set(x);
        xin.set(x, x.length);
        const out = await dn.run({
          hidden_states: new ort.Tensor('float32', xin, [2, ...s.latent_in.shape.slice(1)]),
          timestep: new ort.Tensor('float32', Float32Array.from([s.timestep, s.timestep]), [2]),
          encoder_hidden_states: new ort.Tensor('float32', readBin(refDir, t.last_hidden_state), t.last_hidden_state.shape),
          encoder_attention_mask: mask,
        });
        expect(maxDiff(out.sample!.data as Float32Array, readBin(refDir, s.sample))).toBeLessThan(1e-4);
      }
      const dec = await vd.run({ latent_sample: new ort.Tensor('float32', readBin(refDir, t.latent_sample), t.latent_sample.shape) });
      expect(maxDiff(dec.sample!.data as Float32Array, readBin(refDir, t.decoded))).toBeLessThan(1e-4);
    }
  });
});
