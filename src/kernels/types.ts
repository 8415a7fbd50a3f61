/**
 * Options shared by each GPU kernel and its CPU twin, so the two are called the same way. Offsets and
 * counts are in elements of the buffer's type (f32, or u32 pixels for toRgba's output), not bytes.
 */
import type { LinearUpdate } from '../schedulers/types';
import type { UpscaleFilter } from '../contract/domain';

export type { UpscaleFilter };

export interface NoiseOptions {
  /** How many values to write. */
  readonly count: number;
  /** Any integer 0 … 2^53 − 1; it is split into two u32 words (the Philox key). */
  readonly seed: number;
  /** Where in `out` the first value goes. Default 0. */
  readonly offset?: number;
  /** Index in the seed's stream of the first value, so a tensor can be filled in pieces. Default 0. */
  readonly counterOffset?: number;
}

export interface CfgOptions {
  /** N: the model output is [2, N] (batch 0 unconditional/negative, batch 1 conditional), out is [N]. */
  readonly count: number;
  readonly guidanceScale: number;
  readonly inputOffset?: number;
  readonly outputOffset?: number;
}

export interface SchedulerStepBuffers<B> {
  /** The current sample. */
  readonly x: B;
  /** The (guided) model output. */
  readonly modelOutput: B;
  /** The next sample. May be `x` itself with the same offset (in place); no other overlap is allowed. */
  readonly xNext: B;
  /** Optional predicted clean sample (previews). */
  readonly x0?: B;
}

export interface SchedulerStepOptions {
  readonly count: number;
  readonly update: LinearUpdate;
  /** Clamp x0 to ±clipRange; null or undefined for none. */
  readonly clipRange?: number | null;
  readonly xOffset?: number;
  readonly modelOutputOffset?: number;
  readonly xNextOffset?: number;
  readonly x0Offset?: number;
}

export interface AffineOptions {
  /** C: the input is [C, channelLength]. */
  readonly channels: number;
  /** Elements per channel (T·h·w for a latent video). */
  readonly channelLength: number;
  /** out = x·scale[c] + bias[c]; both of length C. */
  readonly scale: ArrayLike<number>;
  readonly bias: ArrayLike<number>;
  readonly inputOffset?: number;
  readonly outputOffset?: number;
}


export interface ToRgbaOptions {
  /** The input video is [3, frames, height, width] in [−1, 1]. */
  readonly frames: number;
  readonly height: number;
  readonly width: number;
  /** Integer upscale factor ≥ 1. Default 1. */
  readonly scale?: number;
  /** Default 'nearest'. Bilinear samples at pixel centres and clamps at the edges. */
  readonly filter?: UpscaleFilter;
  /** Convert frames [frameStart, frameStart + frameCount) only; output starts with frameStart. */
  readonly frameStart?: number;
  readonly frameCount?: number;
  readonly inputOffset?: number;
  /** In pixels (u32 words on the GPU, 4 bytes each on the CPU). */
  readonly outputOffset?: number;
}

/** One input of `combine`: coef·input[offset + i]. */
export interface CombineTerm<B> {
  readonly input: B;
  readonly coef: number;
  /** Where this input's slice starts. Default 0. */
  readonly offset?: number;
}

export interface CombineOptions {
  /** Elements in every input slice and in the output. */
  readonly count: number;
  readonly outputOffset?: number;
}
