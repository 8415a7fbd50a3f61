/**
 * onnxruntime-web's plain wasm build with nothing of kinema's around it: the three kinema-micro sessions,
 * created with kinema's own session options, then the same sequence of session.run calls as one
 * generation (text encoder, `steps` denoiser calls at batch 2, the decoder), `count` times; with
 * `warmUp`, first one such sequence of a single step, as kinema's load ends (its warm-up). Driven by
 * bench/cold-start.ts in a fresh page, so its first sequence is a fresh runtime's first, like a page's
 * first generation. It reports times only.
 */
import { loadOrt } from '../src/runtime/ort';
import { sessionOptions } from '../src/runtime/sessions';

interface Request { manifestUrl: string; steps: number; count: number; numThreads: number; level?: 'all' | 'disabled'; warmUp?: boolean }
type Manifest = { tokenizer: { maxLength: number }; latent: { channels: number }; components: Record<string, { variants: { dtype: string; files: { path: string }[] }[] }> };

self.onmessage = async (event: MessageEvent<Request>) => {
  const { manifestUrl, steps, count, numThreads, level, warmUp = false } = event.data;
  try {
    const t0 = performance.now();
    const ort = await loadOrt('wasm', { numThreads });
    const runtimeMs = performance.now() - t0; // import, wasm fetch, compile and start (loadOrt's warm-up)
    const json: Manifest = await (await fetch(manifestUrl)).json();
    const graph = async (name: string) => {
      const path = json.components[name]!.variants.find((v) => v.dtype === 'fp32')!.files[0]!.path;
      return new Uint8Array(await (await fetch(new URL(path, manifestUrl))).arrayBuffer());
    };
    const bytes = { text: await graph('textEncoder'), denoiser: await graph('denoiser'), vae: await graph('vaeDecoder') };
    const options = { ...sessionOptions('wasm'), ...(level ? { graphOptimizationLevel: level } : {}) };
    const createMs: number[] = [];
    const create = async (model: Uint8Array) => { const t = performance.now(); const s = await ort.InferenceSession.create(model, options); createMs.push(performance.now() - t); return s; };
    const sessions = { text: await create(bytes.text), denoiser: await create(bytes.denoiser), vae: await create(bytes.vae) };
    const L = json.tokenizer.maxLength;
    const C = json.latent.channels;
    const ids = new ort.Tensor('int64', new BigInt64Array(2 * L).fill(1n), [2, L]);
    const mask = new ort.Tensor('int64', new BigInt64Array(2 * L).fill(1n), [2, L]);
    const sequence = async (steps: number) => {
      const t = performance.now();
      const states = (await sessions.text.run({ input_ids: ids, attention_mask: mask })).last_hidden_state!;
      const latent = new ort.Tensor('float32', new Float32Array(2 * C * 8 * 8 * 8).fill(0.1), [2, C, 8, 8, 8]);
      let last: Float32Array | undefined;
      for (let i = 0; i < steps; i++) {
        const timestep = new ort.Tensor('float32', new Float32Array([1000 - i * 100, 1000 - i * 100]), [2]);
        const out = await sessions.denoiser.run({ hidden_states: latent, timestep, encoder_hidden_states: states, encoder_attention_mask: mask });
        last = Object.values(out)[0]!.data as Float32Array;
      }
      const frames = await sessions.vae.run({ latent_sample: new ort.Tensor('float32', new Float32Array(C * 8 * 8 * 8).fill(0.1), [1, C, 8, 8, 8]) });
      return { ms: performance.now() - t, check: (last?.[0] ?? 0) + ((Object.values(frames)[0]!.data as Float32Array)[0] ?? 0) };
    };
    const warmUpMs = warmUp ? (await sequence(1)).ms : undefined;
    const runs: number[] = [];
    const checks: number[] = [];
    for (let i = 0; i < count; i++) { const { ms, check } = await sequence(steps); runs.push(ms); checks.push(check); }
    for (const s of Object.values(sessions)) await s.release();
    postMessage({ ok: true, warmUpMs, runtimeMs, createMs, runs, threads: ort.env.wasm.numThreads, checks });
  } catch (error) {
    postMessage({ ok: false, error: String((error as Error)?.stack ?? error) });
  }
};
