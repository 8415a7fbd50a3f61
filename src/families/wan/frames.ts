/**
 * Sizes and frame conversion of the Wan family: latent dims from a request, the clip's frame count from
 * the latent frame count, and the decoder's float frames to RGBA bytes. Pure.
 */
import { toRgba } from '../../kernels/cpu';
import type { WanStreamingSpec } from './manifest';

export interface LatentLayout {
  readonly channels: number;
  readonly temporalCompression: number;
  readonly spatialCompression: number;
}

/**
 * [1, C, F, h, w] for a clip: F = (numFrames − 1)/4 + 1, h = height/8, w = width/8 (Wan2.1's VAE ratios).
 * `numFrames − 1` must be a multiple of the temporal ratio and the sides multiples of ratio × patch.
 */
export function wanLatentDims(
  layout: LatentLayout, patchSize: readonly [number, number, number], request: { numFrames: number; width: number; height: number },
): [number, number, number, number, number] {
  const { temporalCompression: tc, spatialCompression: sc, channels } = layout;
  const { numFrames, width, height } = request;
  if (!Number.isInteger(numFrames) || numFrames < 1 || (numFrames - 1) % tc !== 0) {
    throw new RangeError(`numFrames must be ${tc}k + 1 for this model (1, ${tc + 1}, ${2 * tc + 1}, …); got ${numFrames}`);
  }
  const frames = (numFrames - 1) / tc + 1;
  if (frames % patchSize[0] !== 0) throw new RangeError(`numFrames gives ${frames} latent frames, not a multiple of the model's temporal patch ${patchSize[0]}`);
  for (const [name, side, patch] of [['width', width, patchSize[2]], ['height', height, patchSize[1]]] as const) {
    const multiple = sc * patch;
    if (!Number.isInteger(side) || side < multiple || side % multiple !== 0) {
      throw new RangeError(`${name} must be a positive multiple of ${multiple} for this model (VAE ×${sc}, patch ${patch}); got ${side}`);
    }
  }
  return [1, channels, frames, height / sc, width / sc];
}

export function latentShape(channels: number, frames: number, height: number, width: number) {
  return { channels, frames, height, width } as const;
}

/** Frames a clip of `latentFrames` decodes to: framesPerLatent·T − trimFrames (4T − 3). */
export function frameCount(latentFrames: number, streaming: Pick<WanStreamingSpec, 'framesPerLatent' | 'trimFrames'>): number {
  return streaming.framesPerLatent * latentFrames - streaming.trimFrames;
}

/**
 * One decoder frame [3, H, W] in [0, 1] → RGBA8 [H·s, W·s], through the CPU twin of the to-rgba kernel
 * (it takes [−1, 1]; bytes are round(255·x) clamped, as floor((2x − 1 + 1)·127.5 + 0.5)).
 */
export function cpuToRgba(rgb: Float32Array, height: number, width: number, scale: number, filter: 'nearest' | 'bilinear'): Uint8Array {
  const signed = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i++) signed[i] = rgb[i]! * 2 - 1;
  return toRgba(signed, null, { frames: 1, height, width, scale, filter });
}
