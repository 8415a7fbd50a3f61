/**
 * The cloud backend behind createVideoGenerator: the same request, sent through the user's kinema proxy,
 * returned in the same result shape as a local generation. Loaded on demand (its own chunk).
 */
import { generateInCloud } from '../cloud';
import type { CallOptions, CloudOptions, GenerateRequest, GenerateResult } from './types';
import { randomSeed } from './validate';

export async function generateWithCloud(request: GenerateRequest, cloud: CloudOptions, call: CallOptions): Promise<GenerateResult> {
  if (request.format === 'frames' || request.format === 'webm') {
    throw new RangeError(`format '${request.format}' is not available from cloud providers, which return MP4; use format 'mp4'`);
  }
  const started = performance.now();
  // Always send a seed, so the result can report it and the clip can be reproduced.
  const seed = request.seed ?? randomSeed() % 2147483648;
  const result = await generateInCloud(
    {
      prompt: request.prompt,
      seed,
      ...(request.negativePrompt ? { negativePrompt: request.negativePrompt } : {}),
      ...(request.width !== undefined ? { width: request.width } : {}),
      ...(request.height !== undefined ? { height: request.height } : {}),
      ...(request.numFrames !== undefined ? { numFrames: request.numFrames } : {}),
      ...(request.fps !== undefined ? { fps: request.fps } : {}),
      ...(request.providerOptions ? { providerOptions: request.providerOptions } : {}),
    },
    {
      provider: cloud.provider,
      proxyUrl: cloud.proxyUrl,
      ...(cloud.proxyToken ? { proxyToken: cloud.proxyToken } : {}),
      ...(cloud.model ? { model: cloud.model } : {}),
      ...(cloud.timeoutMs ? { timeoutMs: cloud.timeoutMs } : {}),
      ...(call.signal ? { signal: call.signal } : {}),
      ...(call.onProgress ? { onProgress: call.onProgress } : {}),
    },
  );
  call.onProgress?.({ type: 'done', overall: 1 });
  const totalMs = performance.now() - started;
  return {
    video: result.video,
    format: 'mp4',
    mimeType: result.mimeType,
    codec: result.codec ?? null,
    width: result.width,
    height: result.height,
    numFrames: result.numFrames ?? Math.round(result.durationSeconds * (result.fps ?? 0)),
    fps: result.fps ?? 0,
    seed: result.seed ?? seed,
    backend: 'cloud',
    provider: result.provider,
    model: result.model,
    timings: { loadMs: 0, encodeTextMs: 0, denoiseMs: result.timings.generateMs, decodeMs: 0, encodeMs: result.timings.downloadMs, totalMs },
    warnings: result.notes,
  };
}
