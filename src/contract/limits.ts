/**
 * The one table of limits. The API's validation, the engine's re-check of the spec it receives, the
 * encoder, the cloud adapters' common check and the CLI's flag parser all read these numbers, so a
 * request the API accepts is never refused later for a limit of kinema's own (a model's manifest and
 * a provider's model may narrow them further, and say so in their own message).
 */

export interface NumberLimit {
  /** Whole numbers only. */
  readonly integer: boolean;
  readonly min: number;
  readonly max: number;
}

export interface TextLimit {
  /** Characters counted as code points (what a person counts), after trimming when `trim` is set. */
  readonly minChars: number;
  readonly maxChars: number;
  /** Leading and trailing spaces do not count and are not drawn. */
  readonly trim: boolean;
}

/**
 * Why these ranges:
 * - seed 0..2^31−1: both cloud providers accept only that range, and the local engine any 32-bit seed;
 *   one range that every backend accepts keeps a seed reproducible wherever the request runs (including
 *   the cloud fallback), so the API refuses what the cloud cannot.
 * - width/height 2..4096 and outputSide 4096: the encoders' frame limit. `width × outputScale` (and
 *   height) is what reaches the encoder, so the API checks the product, not only the side.
 * - numFrames 1..10 000, fps 1..120: the encoder's container limits.
 */
export const LIMITS = {
  seed: { integer: true, min: 0, max: 2 ** 31 - 1 },
  steps: { integer: true, min: 1, max: 1000 },
  guidanceScale: { integer: false, min: 0, max: 100 },
  numFrames: { integer: true, min: 1, max: 10_000 },
  fps: { integer: false, min: 1, max: 120 },
  width: { integer: true, min: 2, max: 4096 },
  height: { integer: true, min: 2, max: 4096 },
  outputScale: { integer: true, min: 1, max: 16 },
  previewEvery: { integer: true, min: 0, max: 1000 },
  wasmThreads: { integer: true, min: 1, max: 16 },
  /**
   * memoryLimits (load option): ceilings the memory plan uses instead of the platform's, to refuse early
   * on a device known to be smaller (or to test a refusal). The wasm heap can only be lowered: a wasm32
   * heap stops at 4 GiB. Bytes; no floor beyond 1, so a test can refuse even a tiny model.
   */
  wasmHeapBytes: { integer: true, min: 1, max: 4 * 1024 ** 3 },
  gpuMemoryBytes: { integer: true, min: 1, max: Number.MAX_SAFE_INTEGER },
  /** One cloud generation's overall bound (GeneratorOptions.cloud.timeoutMs): 1 s to 1 h. */
  cloudTimeoutMs: { integer: true, min: 1000, max: 3_600_000 },
} as const satisfies Record<string, NumberLimit>;

export type LimitName = keyof typeof LIMITS;

/** The largest side of a frame the encoders accept: `width × outputScale` and `height × outputScale`. */
export const MAX_OUTPUT_SIDE = 4096;

export const TEXT_LIMITS = {
  prompt: { minChars: 1, maxChars: 2000, trim: false },
  negativePrompt: { minChars: 0, maxChars: 2000, trim: false },
  /** The visible mark's text: trimmed, as it is drawn. */
  watermark: { minChars: 1, maxChars: 40, trim: true },
} as const satisfies Record<string, TextLimit>;

export const DEFAULT_WATERMARK_TEXT = 'kinema';
