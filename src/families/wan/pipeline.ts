/**
 * One Wan2.1 generation, read top to bottom as diffusers' WanPipeline.__call__: tokens → embedding gather →
 * umT5 encoder chain (prompt_embeds) → the denoiser's per-prompt context graph (once) → the denoising loop
 * (per-step denoiser chain with RoPE tables, classifier-free guidance, the sampler's update) → the streaming
 * TAEHV decoder, one latent frame per call, frames handed on as they are made. Backend-neutral: tensors
 * are LoopOps tensors, so on WebGPU the latents, the text states and the decoder's memories stay on the GPU,
 * and the loop reads nothing back.
 *
 * Batch order with guidance is [unconditional (negative prompt), conditional], the order LoopOps.cfg
 * (src/kernels/cfg) takes: guided = u + g·(c − u), as diffusers' `noise_uncond + g·(noise_pred − noise_uncond)`.
 *
 * Previews: none. A preview would need the predicted x0 through the decoder (a whole clip's decode per
 * preview, too expensive) or a latent→RGB projection the checkpoint does not define; `previewEvery` is
 * ignored and no preview events are sent for this family.
 */
import { throwIfAborted } from '../../errors';
import type { ChainFeeds, GraphChain } from '../../runtime/chain';
import { cpuToRgba, frameCount, latentShape } from './frames';
import { yieldToEventLoop } from '../../pipeline/loop';
import { cpuFeed, elementCount, type LoopOps, type Tensor } from '../../pipeline/ops';
import { gatherEmbeddings, type EmbeddingSpec } from './embedding';
import type { WanDenoiserConfig, WanStreamingSpec } from './manifest';
import { ropeTables } from './rope';
import type { WanTokens } from './tokenizer';

/** The sampler surface this pipeline uses (src/schedulers/sampler.ts's Sampler, over LoopOps tensors). */
export interface WanSampler {
  readonly steps: number;
  readonly timesteps: readonly number[];
  /** The starting noise's standard deviation (1, except rCM's TrigFlow start: see src/schedulers/rcm.ts). */
  readonly initNoiseSigma: number;
  step(algebra: WanAlgebra, i: number, sample: Tensor, modelOutput: Tensor): { next: Tensor; x0: Tensor };
  dispose(algebra: WanAlgebra): void;
}

/** src/schedulers/sampler.ts's TensorAlgebra over LoopOps tensors. */
export interface WanAlgebra {
  combine(terms: readonly { readonly tensor: Tensor; readonly coef: number }[]): Tensor;
  noise(seed: number): Tensor;
  dispose(tensor: Tensor): void;
}

export interface WanChains {
  readonly textEncoder: GraphChain;
  /** `denoiser_context` (perPrompt) then the per-step graph(s). */
  readonly denoiser: GraphChain;
  /** `vae_decoder_step`. */
  readonly vaeDecoder: GraphChain;
}

export interface WanPipelineInput {
  readonly ops: LoopOps;
  readonly chains: WanChains;
  /** Batch 2 = [negative, prompt] when guided, else batch 1 = [prompt]. */
  readonly tokens: WanTokens;
  readonly embedding: { readonly table: Uint8Array; readonly spec: EmbeddingSpec };
  readonly denoiser: WanDenoiserConfig;
  readonly streaming: WanStreamingSpec;
  readonly sampler: WanSampler;
  /** Built on `ops` for the latent's shape (noise(seed) gives a tensor of latentDims). */
  readonly algebra: WanAlgebra;
  /** Guidance scale; only used when `tokens.batch` is 2. */
  readonly guidanceScale: number;
  readonly seed: number;
  /** [1, C, F, h, w] */
  readonly latentDims: readonly [number, number, number, number, number];
  /** Start from these latents (a PyTorch run's noise) instead of the seeded noise. */
  readonly initialLatents?: Float32Array;
  readonly outputScale: number;
  readonly outputFilter: 'nearest' | 'bilinear';
  readonly signal?: AbortSignal;
  onEncoded?(): void;
  onStep?(step: number, total: number): void;
  /** Each RGBA frame as soon as it exists, in order; awaited, so the consumer sets the pace. */
  onFrame?(frame: Uint8Array, index: number): Promise<void> | void;
}

export interface WanPipelineTimings {
  encodeTextMs: number;
  denoiseMs: number;
  decodeMs: number;
  sessionRunMs: number;
  /** GPU read-backs while denoising: 0 on WebGPU (and always 0 on wasm). */
  readbacksDuringDenoise: number;
  /** Frames handed to onFrame. */
  frames: number;
}

export async function runWanPipeline(input: WanPipelineInput): Promise<WanPipelineTimings> {
  const { ops, chains, tokens, signal } = input;
  const batch = tokens.batch;
  const guided = batch === 2;
  if (batch !== 1 && batch !== 2) throw new RangeError(`wan pipeline: expected 1 or 2 tokenized prompts, got ${batch}`);
  const [, channels, frames, height, width] = input.latentDims;
  if (input.initialLatents && input.initialLatents.length !== elementCount(input.latentDims)) {
    throw new RangeError(`initialLatents has ${input.initialLatents.length} values; the latent [${input.latentDims.join(', ')}] needs ${elementCount(input.latentDims)}`);
  }
  const timings: WanPipelineTimings = { encodeTextMs: 0, denoiseMs: 0, decodeMs: 0, sessionRunMs: 0, readbacksDuringDenoise: 0, frames: 0 };
  const held = new Set<Tensor>();
  const hold = <T extends Tensor>(tensor: T): T => {
    held.add(tensor);
    return tensor;
  };
  const drop = (tensor: Tensor | undefined) => {
    if (!tensor) return;
    held.delete(tensor);
    tensor.dispose();
  };
  const run = async (chain: GraphChain, feeds: ChainFeeds, outputs: readonly string[], only?: 'perPrompt' | 'perStep') => {
    const start = performance.now();
    const result = await chain.run(ops, feeds, outputs, only ? { only } : undefined);
    timings.sessionRunMs += performance.now() - start;
    for (const tensor of Object.values(result)) hold(tensor);
    return result;
  };

  try {
    // 1. Encode the prompt(s): the table's rows for the ids, then the umT5 encoder graphs.
    throwIfAborted(signal, 'generation');
    let start = performance.now();
    const L = tokens.maxLength;
    const hidden = gatherEmbeddings(input.embedding.table, input.embedding.spec, tokens.inputIds);
    const { prompt_embeds: promptEmbeds } = await run(chains.textEncoder, {
      hidden_states: cpuFeed('float32', hidden, [batch, L, input.embedding.spec.dim]),
      attention_mask: cpuFeed('int64', tokens.attentionMask, [batch, L]),
    }, ['prompt_embeds']);
    // The text projection depends only on the prompt: once per generation, not once per step.
    const { context } = await run(chains.denoiser, { encoder_hidden_states: promptEmbeds! }, ['context'], 'perPrompt');
    drop(promptEmbeds);
    timings.encodeTextMs = performance.now() - start;
    input.onEncoded?.();

    // 2. Latents and the position tables (uploaded once; the same for every step).
    start = performance.now();
    const rope = ropeTables(input.denoiser, { frames, height, width });
    const ropeCos = hold(ops.upload(rope.cos, [rope.tokens, rope.pairs]));
    const ropeSin = hold(ops.upload(rope.sin, [rope.tokens, rope.pairs]));
    const readbacksBefore = ops.readbacks;
    // initialLatents are used as given (diffusers' `latents`); seeded noise is scaled to the sampler's start.
    let latent: Tensor | undefined = hold(input.initialLatents ? ops.upload(input.initialLatents, input.latentDims) : ops.noise(input.latentDims, input.seed));
    if (!input.initialLatents && input.sampler.initNoiseSigma !== 1) {
      const scaled = hold(input.algebra.combine([{ tensor: latent, coef: input.sampler.initNoiseSigma }]));
      drop(latent);
      latent = scaled;
    }

    // 3. The denoising loop.
    const { sampler, algebra } = input;
    const total = sampler.timesteps.length;
    try {
      for (let i = 0; i < total; i++) {
        await yieldToEventLoop();
        throwIfAborted(signal, 'generation');
        const current: Tensor = latent;
        const modelInput: Tensor = guided ? hold(ops.repeatBatch(current, 2)) : current;
        const { sample: prediction } = await run(chains.denoiser, {
          hidden_states: modelInput,
          timestep: cpuFeed('float32', new Float32Array(batch).fill(sampler.timesteps[i]!), [batch]),
          context: context!,
          rope_cos: ropeCos,
          rope_sin: ropeSin,
        }, ['sample'], 'perStep');
        if (modelInput !== current) drop(modelInput);
        const velocity = guided ? hold(ops.cfg(prediction!, input.guidanceScale)) : prediction!;
        if (velocity !== prediction) drop(prediction);
        const { next, x0 } = sampler.step(algebra, i, current, velocity);
        if (x0 !== next) x0.dispose();
        drop(velocity);
        if (next !== current) drop(current);
        latent = hold(next);
        input.onStep?.(i + 1, total);
      }
    } finally {
      sampler.dispose(algebra);
    }
    await ops.settle();
    timings.readbacksDuringDenoise = ops.readbacks - readbacksBefore;
    timings.denoiseMs = performance.now() - start;
    drop(context);
    drop(ropeCos);
    drop(ropeSin);

    // 4. Decode one latent frame per call; frames go out as they are made.
    throwIfAborted(signal, 'generation');
    start = performance.now();
    // One read-back of the final latents (small: 16·F·h·w floats), then each frame is sliced on the CPU.
    const latents = await ops.read(latent);
    drop(latent);
    latent = undefined;
    timings.frames = await decodeStreaming({
      ops,
      decoder: chains.vaeDecoder,
      streaming: input.streaming,
      latents,
      shape: latentShape(channels, frames, height, width),
      outputScale: input.outputScale,
      outputFilter: input.outputFilter,
      ...(signal ? { signal } : {}),
      onRun: (ms) => { timings.sessionRunMs += ms; },
      ...(input.onFrame ? { onFrame: input.onFrame } : {}),
    });
    timings.decodeMs = performance.now() - start;
    if (timings.frames !== frameCount(frames, input.streaming)) {
      throw new RangeError(`the decoder made ${timings.frames} frames; ${frames} latent frames should give ${frameCount(frames, input.streaming)}`);
    }
    return timings;
  } finally {
    // On abort or failure, release what is still held (dispose is idempotent).
    for (const tensor of held) tensor.dispose();
    held.clear();
  }
}

export interface StreamingDecodeInput {
  readonly ops: LoopOps;
  readonly decoder: GraphChain;
  readonly streaming: WanStreamingSpec;
  /** The final latents [1, C, F, h, w] on the CPU (C order). */
  readonly latents: Float32Array;
  readonly shape: { readonly channels: number; readonly frames: number; readonly height: number; readonly width: number };
  readonly outputScale: number;
  readonly outputFilter: 'nearest' | 'bilinear';
  readonly signal?: AbortSignal;
  onRun?(ms: number): void;
  onFrame?(frame: Uint8Array, index: number): Promise<void> | void;
  /** The decoder's raw frames [framesPerLatent, 3, 8h, 8w] per call, before trimming (component runs). */
  onFrames?(frames: Float32Array, dims: readonly number[], latentIndex: number): void;
}

/**
 * Runs `vae_decoder_step` once per latent frame with its memories as explicit inputs and outputs (zeros
 * at the start, each call's `mem_out_i` fed back as `mem_i`), drops the first `trimFrames` frames of the
 * clip and hands every other frame to onFrame in order. Returns the number of frames handed on.
 */
export async function decodeStreaming(input: StreamingDecodeInput): Promise<number> {
  const { ops, decoder, streaming, latents, shape, signal } = input;
  const { channels, frames, height, width } = shape;
  const plane = height * width;
  if (latents.length !== channels * frames * plane) {
    throw new RangeError(`decoder: the latents have ${latents.length} values; [1, ${channels}, ${frames}, ${height}, ${width}] needs ${channels * frames * plane}`);
  }
  let memories: Record<string, Tensor | ReturnType<typeof cpuFeed>> = {};
  for (const m of streaming.memory) {
    const dims = [1, m.channels, height * m.scale, width * m.scale];
    memories[m.input] = cpuFeed('float32', new Float32Array(elementCount(dims)), dims);
  }
  const outputs = ['frames', ...streaming.memory.map((m) => m.output)];
  let emitted = 0;
  let produced = 0;
  try {
    for (let t = 0; t < frames; t++) {
      await yieldToEventLoop();
      throwIfAborted(signal, 'generation');
      // Latent frame t of [1, C, F, h, w]: channel c's plane sits at (c·F + t)·h·w.
      const slice = new Float32Array(channels * plane);
      for (let c = 0; c < channels; c++) slice.set(latents.subarray((c * frames + t) * plane, (c * frames + t + 1) * plane), c * plane);
      const start = performance.now();
      const result = await decoder.run(ops, { latent: cpuFeed('float32', slice, [1, channels, height, width]), ...memories }, outputs);
      input.onRun?.(performance.now() - start);
      for (const value of Object.values(memories)) if (!('cpu' in value)) value.dispose();
      memories = {};
      streaming.memory.forEach((m) => { memories[m.input] = result[m.output]!; });
      const framesTensor = result.frames!;
      const dims = framesTensor.dims;
      const frameHeight = dims[2]!;
      const frameWidth = dims[3]!;
      if (dims.length !== 4 || dims[0] !== streaming.framesPerLatent || dims[1] !== 3) {
        framesTensor.dispose();
        throw new RangeError(`the decoder's frames are [${dims.join(', ')}]; the Wan contract says [${streaming.framesPerLatent}, 3, H, W]`);
      }
      const rgb = await ops.read(framesTensor);
      framesTensor.dispose();
      input.onFrames?.(rgb, dims, t);
      for (let k = 0; k < streaming.framesPerLatent; k++, produced++) {
        if (produced < streaming.trimFrames) continue;
        const frame = cpuToRgba(rgb.subarray(k * 3 * frameHeight * frameWidth, (k + 1) * 3 * frameHeight * frameWidth), frameHeight, frameWidth, input.outputScale, input.outputFilter);
        // Counted outside the call: `onFrame?.(frame, emitted++)` would skip the increment with no hook.
        const index = emitted++;
        await input.onFrame?.(frame, index);
      }
    }
    return emitted;
  } finally {
    for (const value of Object.values(memories)) if (!('cpu' in value)) value.dispose();
  }
}
