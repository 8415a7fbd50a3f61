// A complete kinema-micro sampling loop on the exported ONNX files, as the engine runs it:
// tokenize -> text encoder (prompt and empty prompt) -> seeded noise -> Euler flow-match steps
// with classifier-free guidance -> de-normalize -> VAE decode -> uint8 RGB frames.
import fs from 'node:fs';
import path from 'node:path';
import { createSession, flowSigmas, gaussian, loadOrt, loadTokenizer, tokenize } from './runtime.mjs';

/**
 * @param {object} o
 * @param {string} o.modelDir  folder holding manifest.json
 * @param {'web'|'node'} [o.backend]
 * @param {{textEncoder?:string, denoiser?:string, vaeDecoder?:string}} [o.dtypes]  variant per component
 */
export async function loadPipeline({ modelDir, backend = 'web', dtypes = {} }) {
  const manifest = JSON.parse(fs.readFileSync(path.join(modelDir, 'manifest.json'), 'utf8'));
  const rt = await loadOrt(backend);
  const sessions = {};
  for (const comp of ['textEncoder', 'denoiser', 'vaeDecoder']) {
    const want = dtypes[comp] ?? 'fp32';
    const v = manifest.components[comp].variants.find((x) => x.dtype === want);
    if (!v) throw new RangeError(`${comp} has no ${want} variant`);
    sessions[comp] = await createSession(rt, path.join(modelDir, v.files[0].path));
  }
  const tokenizer = await loadTokenizer(modelDir);
  return { manifest, rt, sessions, tokenizer };
}

export async function releasePipeline(p) {
  for (const s of Object.values(p.sessions)) await s.release?.();
}

/**
 * Generate clips for several (prompt, seed) pairs in one batch.
 * Returns an array of { frames: Uint8Array [F][H][W][3] } in input order.
 */
export async function generate(p, items, { steps, guidanceScale, shift } = {}) {
  const { manifest, rt, sessions, tokenizer } = p;
  const { ort } = rt;
  const L = manifest.tokenizer.maxLength;
  const D = manifest.components.textEncoder.hiddenSize;
  const C = manifest.latent.channels;
  const T = manifest.defaults.numFrames;
  const h = manifest.defaults.height / manifest.latent.spatialCompression;
  const w = manifest.defaults.width / manifest.latent.spatialCompression;
  steps ??= manifest.defaults.steps;
  guidanceScale ??= manifest.defaults.guidanceScale;
  shift ??= manifest.scheduler.config.shift;
  const n = items.length;
  // Conditional rows first, then the unconditional (empty prompt) rows.
  const texts = [...items.map((it) => it.prompt), ...items.map(() => manifest.defaults.negativePrompt ?? '')];
  const { ids, mask } = tokenize(tokenizer, texts, L);
  const enc = await sessions.textEncoder.run({
    input_ids: new ort.Tensor('int64', ids, [2 * n, L]),
    attention_mask: new ort.Tensor('int64', mask, [2 * n, L]),
  });
  const ctx = enc.last_hidden_state;
  const N = C * T * h * w;
  const x = new Float32Array(n * N);
  items.forEach((it, i) => x.set(gaussian(it.seed, N), i * N));
  const sig = flowSigmas(steps, shift, manifest.scheduler.config.num_train_timesteps ?? 1000);
  const maskT = new ort.Tensor('int64', mask, [2 * n, L]);
  const ctxT = new ort.Tensor('float32', ctx.data, [2 * n, L, D]);
  for (let i = 0; i < steps; i++) {
    const xin = new Float32Array(2 * n * N);
    xin.set(x);
    xin.set(x, n * N);
    const t = new Float32Array(2 * n).fill(sig[i] * 1000);
    const out = await sessions.denoiser.run({
      hidden_states: new ort.Tensor('float32', xin, [2 * n, C, T, h, w]),
      timestep: new ort.Tensor('float32', t, [2 * n]),
      encoder_hidden_states: ctxT,
      encoder_attention_mask: maskT,
    });
    const v = out.sample.data;
    const dt = sig[i + 1] - sig[i];
    for (let j = 0; j < n * N; j++) {
      const vc = v[j];
      const vu = v[j + n * N];
      x[j] += dt * (vu + guidanceScale * (vc - vu));
    }
  }
  // De-normalize: z = x * std + mean, per channel.
  const { mean, std } = manifest.latent;
  const per = T * h * w;
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < C; c++) {
      const o = b * N + c * per;
      for (let k = 0; k < per; k++) x[o + k] = x[o + k] * std[c] + mean[c];
    }
  }
  const dec = await sessions.vaeDecoder.run({ latent_sample: new ort.Tensor('float32', x, [n, C, T, h, w]) });
  const [, , F, H, W] = dec.sample.dims;
  const y = dec.sample.data;
  const results = [];
  for (let b = 0; b < n; b++) {
    const frames = new Uint8Array(F * H * W * 3);
    for (let c = 0; c < 3; c++) {
      for (let f = 0; f < F; f++) {
        for (let k = 0; k < H * W; k++) {
          const val = y[(((b * 3 + c) * F + f) * H * W) + k];
          frames[(f * H * W + k) * 3 + c] = Math.max(0, Math.min(255, Math.round((val + 1) * 127.5)));
        }
      }
    }
    results.push({ frames, width: W, height: H, numFrames: F });
  }
  return results;
}
