/**
 * The text-to-video pipeline, read top to bottom: encode prompt → seeded noise → denoising loop with
 * classifier-free guidance → de-normalize → VAE decode → RGBA frames. Backend-neutral (see ops.ts).
 */
import { throwIfAborted } from '../errors';
import type { Session } from '../runtime/sessions';
import { cpuFeed, type LoopOps, type StepCoefficients, type Tensor } from './ops';

export interface Schedule {
  /** The denoiser's `timestep` input for each step. */
  timesteps: readonly number[];
  coefficients: readonly StepCoefficients[];
}

export interface PipelineInput {
  ops: LoopOps;
  sessions: { textEncoder: Session; denoiser: Session; vaeDecoder: Session };
  /** Token ids and mask, [batch, L]: batch 2 = [negative, prompt] when guiding, else batch 1 = [prompt]. */
  tokens: { inputIds: BigInt64Array; attentionMask: BigInt64Array; batch: number; maxLength: number };
  /** [1, C, T, h, w] */
  latentDims: readonly number[];
  schedule: Schedule;
  guidanceScale: number;
  seed: number;
  /** Initial latents to start from instead of seeded noise (diffusers' `latents`), e.g. a PyTorch run's noise. */
  initialLatents?: Float32Array;
  latentMean: readonly number[];
  latentStd: readonly number[];
  numFrames: number;
  outputScale: number;
  outputFilter: 'nearest' | 'bilinear';
  previewEvery: number;
  signal?: AbortSignal;
  onEncoded?(): void;
  onStep?(step: number, total: number): void;
  onPreview?(step: number, frames: Uint8Array[]): void;
  /** Called with each frame as soon as it exists, in order. Awaited: the consumer sets the pace. */
  onFrame?(frame: Uint8Array, index: number): Promise<void> | void;
}

export interface PipelineTimings {
  encodeTextMs: number;
  denoiseMs: number;
  decodeMs: number;
  sessionRunMs: number;
  /** Read-backs while denoising (must be 0 on WebGPU with previews off). */
  readbacksDuringDenoise: number;
}

export const usesGuidance = (guidanceScale: number) => guidanceScale > 1;

/**
 * Lets the event loop run once. onnxruntime's wasm runs resolve as microtasks, so without this a worker
 * never reads its messages (an abort from the page, say) until the whole clip is done.
 */
export function yieldToEventLoop(): Promise<void> {
  // A message round trip queues behind messages already waiting. (scheduler.yield() would not do: its
  // continuation is meant to run ahead of queued tasks.)
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
    port2.close();
  });
}

/** Between decoded frames, the longest the loop runs without letting the worker read its messages. */
const FRAME_YIELD_SLICE_MS = 16;

export async function runPipeline(input: PipelineInput): Promise<PipelineTimings> {
  const { ops, sessions, tokens, schedule, signal } = input;
  const guided = usesGuidance(input.guidanceScale);
  const batch = guided ? 2 : 1;
  if (tokens.batch !== batch) throw new Error(`pipeline: expected ${batch} tokenized prompts, got ${tokens.batch}`);
  const owned: Tensor[] = [];
  const timings: PipelineTimings = { encodeTextMs: 0, denoiseMs: 0, decodeMs: 0, sessionRunMs: 0, readbacksDuringDenoise: 0 };
  const run = async (session: Session, feeds: Parameters<LoopOps['run']>[1], output: string) => {
    const start = performance.now();
    const result = await ops.run(session, feeds, output);
    timings.sessionRunMs += performance.now() - start;
    return result;
  };

  let previewReadbacks = 0;
  let latent: Tensor | undefined;
  // Previews decode the predicted clean latents at the model's size. Their read-backs are not the loop's.
  async function decodeFrames(denoisedLatent: Tensor, scale: number, filter: 'nearest' | 'bilinear'): Promise<Uint8Array[]> {
    const before = ops.readbacks;
    const z = ops.denormalize(denoisedLatent, input.latentMean, input.latentStd);
    const video = await run(sessions.vaeDecoder, { latent_sample: z }, 'sample');
    z.dispose();
    try {
      return await ops.toRgbaFrames(video, 0, input.numFrames, scale, filter);
    } finally {
      video.dispose();
      previewReadbacks += ops.readbacks - before;
    }
  }

  try {
    throwIfAborted(signal, 'generation');
    let start = performance.now();
    const mask = cpuFeed('int64', tokens.attentionMask, [batch, tokens.maxLength]);
    const textStates = await run(sessions.textEncoder, { input_ids: cpuFeed('int64', tokens.inputIds, [batch, tokens.maxLength]), attention_mask: mask }, 'last_hidden_state');
    owned.push(textStates);
    timings.encodeTextMs = performance.now() - start;
    input.onEncoded?.();

    start = performance.now();
    const readbacksBefore = ops.readbacks;
    latent = input.initialLatents ? ops.upload(input.initialLatents, input.latentDims) : ops.noise(input.latentDims, input.seed);
    const total = schedule.timesteps.length;
    for (let i = 0; i < total; i++) {
      await yieldToEventLoop();
      throwIfAborted(signal, 'generation');
      const wantPreview = input.previewEvery > 0 && ((i + 1) % input.previewEvery === 0) && i + 1 < total;
      const modelInput = guided ? ops.repeatBatch(latent, 2) : latent;
      const timestep = cpuFeed('float32', new Float32Array(batch).fill(schedule.timesteps[i]!), [batch]);
      const prediction = await run(sessions.denoiser, {
        hidden_states: modelInput,
        timestep,
        encoder_hidden_states: textStates,
        encoder_attention_mask: mask,
      }, 'sample');
      if (modelInput !== latent) modelInput.dispose();
      const velocity = guided ? ops.cfg(prediction, input.guidanceScale) : prediction;
      const { next, denoised } = ops.step(latent!, velocity, schedule.coefficients[i]!, wantPreview);
      if (velocity !== prediction) velocity.dispose();
      prediction.dispose();
      latent.dispose();
      latent = next;
      input.onStep?.(i + 1, total);
      if (wantPreview && denoised) {
        const frames = await decodeFrames(denoised, 1, 'nearest');
        denoised.dispose();
        input.onPreview?.(i + 1, frames);
      } else {
        denoised?.dispose();
      }
    }
    await ops.settle();
    timings.readbacksDuringDenoise = ops.readbacks - readbacksBefore - previewReadbacks;
    timings.denoiseMs = performance.now() - start;
    textStates.dispose();
    owned.length = 0;

    throwIfAborted(signal, 'generation');
    start = performance.now();
    const z = ops.denormalize(latent, input.latentMean, input.latentStd);
    latent.dispose();
    latent = undefined;
    const video = await run(sessions.vaeDecoder, { latent_sample: z }, 'sample');
    z.dispose();
    try {
      // Frames leave the GPU one at a time, so encoding starts with the first while the rest wait.
      // Small frames take microseconds each, and a yield costs a message round trip (about a
      // millisecond on a busy machine, BENCHMARKS.md (a)): after the decode's first, yield only once
      // a slice has passed, so an abort is still seen within a slice plus one frame.
      let lastYield = -Infinity;
      for (let f = 0; f < input.numFrames; f++) {
        if (performance.now() - lastYield >= FRAME_YIELD_SLICE_MS) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
        throwIfAborted(signal, 'generation');
        const [frame] = await ops.toRgbaFrames(video, f, 1, input.outputScale, input.outputFilter);
        await input.onFrame?.(frame!, f);
      }
    } finally {
      video.dispose();
    }
    timings.decodeMs = performance.now() - start;
    return timings;
  } finally {
    // On abort or failure mid-loop, release what is still held (dispose is idempotent).
    latent?.dispose();
    for (const tensor of owned) tensor.dispose();
  }

}
