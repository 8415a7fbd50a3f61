// Part of the revisit trace: what onnxruntime's graph optimisation costs when a session is created, per
// level, on kinema-micro's fp32 graphs (onnxruntime-web's wasm build in Node, one thread, after one warm-up
// creation of each), and whether a lighter level gives the same outputs as 'all', bit for bit.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const LEVELS = ['all', 'extended', 'basic', 'disabled'];

export async function graphLevels({ root, rounds = 3 }) {
  const ort = await import('onnxruntime-web/wasm');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const dir = resolve(root, 'public/models/kinema-micro');
  const json = JSON.parse(readFileSync(resolve(dir, 'manifest.json'), 'utf8'));
  const L = json.tokenizer.maxLength;
  const C = json.latent.channels;
  const mask = new ort.Tensor('int64', new BigInt64Array(2 * L).fill(1n), [2, L]);
  const feeds = (session) => ({
    textEncoder: () => ({ input_ids: new ort.Tensor('int64', BigInt64Array.from({ length: 2 * L }, (_, i) => BigInt(1 + ((i * 7) % 50))), [2, L]), attention_mask: mask }),
    denoiser: () => {
      const dim = session.inputMetadata.find((m) => m.name === 'encoder_hidden_states').shape.at(-1);
      return {
        hidden_states: new ort.Tensor('float32', Float32Array.from({ length: 2 * C * 512 }, (_, i) => Math.sin(i)), [2, C, 8, 8, 8]),
        timestep: new ort.Tensor('float32', new Float32Array([500, 500]), [2]),
        encoder_hidden_states: new ort.Tensor('float32', Float32Array.from({ length: 2 * L * dim }, (_, i) => Math.cos(i)), [2, L, dim]),
        encoder_attention_mask: mask,
      };
    },
    vaeDecoder: () => ({ latent_sample: new ort.Tensor('float32', Float32Array.from({ length: C * 512 }, (_, i) => Math.sin(3 * i)), [1, C, 8, 8, 8]) }),
  });
  const rows = [];
  for (const component of ['textEncoder', 'denoiser', 'vaeDecoder']) {
    const bytes = readFileSync(resolve(dir, json.components[component].variants.find((v) => v.dtype === 'fp32').files[0].path));
    const createMs = Object.fromEntries(LEVELS.map((level) => [level, []]));
    const outputs = {};
    for (let r = 0; r <= rounds; r++) {
      for (const level of LEVELS) {
        const t = performance.now();
        const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'], graphOptimizationLevel: level });
        if (r > 0) createMs[level].push(performance.now() - t); // round 0 warms the runtime up
        if (r === 0) outputs[level] = Object.values(await session.run(feeds(session)[component]()))[0].data;
        await session.release();
      }
    }
    const differ = Object.fromEntries(LEVELS.map((level) => {
      let count = 0;
      let max = 0;
      for (let i = 0; i < outputs.all.length; i++) { const d = Math.abs(outputs[level][i] - outputs.all[i]); if (d > 0) { count++; max = Math.max(max, d); } }
      return [level, { count, max, of: outputs.all.length }];
    }));
    rows.push({ component, createMs, differ });
  }
  return rows;
}
