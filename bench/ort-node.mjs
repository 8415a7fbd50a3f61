// onnxruntime-node (native, the same 1.30 release as onnxruntime-web) on kinema-micro's fp32 graphs: the
// same session.run sequence as bench/bare.worker.ts (text encoder, the denoiser at batch 2 per step, the
// decoder) on the same number of threads, for (b)'s kinema wasm ÷ native ratio. Times only.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export async function ortNodeRuns({ root, steps, count, threads }) {
  const ort = await import('onnxruntime-node');
  const dir = resolve(root, 'public/models/kinema-micro');
  const json = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8'));
  const path = (name) => resolve(dir, json.components[name].variants.find((v) => v.dtype === 'fp32').files[0].path);
  // kinema's session options (src/runtime/sessions.ts sessionOptions), with the thread count pinned.
  const options = { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential' };
  const sessions = {
    text: await ort.InferenceSession.create(path('textEncoder'), options),
    denoiser: await ort.InferenceSession.create(path('denoiser'), options),
    vae: await ort.InferenceSession.create(path('vaeDecoder'), options),
  };
  const L = json.tokenizer.maxLength;
  const C = json.latent.channels;
  const ids = new ort.Tensor('int64', new BigInt64Array(2 * L).fill(1n), [2, L]);
  const mask = new ort.Tensor('int64', new BigInt64Array(2 * L).fill(1n), [2, L]);
  const runs = [];
  for (let r = 0; r < count; r++) {
    const t = performance.now();
    const states = (await sessions.text.run({ input_ids: ids, attention_mask: mask })).last_hidden_state;
    const latent = new ort.Tensor('float32', new Float32Array(2 * C * 8 * 8 * 8).fill(0.1), [2, C, 8, 8, 8]);
    for (let i = 0; i < steps; i++) {
      const timestep = new ort.Tensor('float32', new Float32Array([1000 - i * 100, 1000 - i * 100]), [2]);
      await sessions.denoiser.run({ hidden_states: latent, timestep, encoder_hidden_states: states, encoder_attention_mask: mask });
    }
    await sessions.vae.run({ latent_sample: new ort.Tensor('float32', new Float32Array(C * 8 * 8 * 8).fill(0.1), [1, C, 8, 8, 8]) });
    runs.push(performance.now() - t);
  }
  for (const s of Object.values(sessions)) await s.release();
  return { runs, threads, version: JSON.parse(readFileSync(resolve(root, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version };
}
