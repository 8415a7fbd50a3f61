/**
 * The denoiser's 3-D rotary position tables (`rope_cos`, `rope_sin`), built here rather than in the graph
 * so the graph is the same for every latent size. They follow diffusers' `WanRotaryPosEmbed` exactly:
 *
 * - The head's `headDim` channels form `headDim/2` pairs (x[2i], x[2i+1]); pair i is rotated by
 *   cos_i = rope_cos[n, i], sin_i = rope_sin[n, i] for token n (x'₀ = x₀·cos − x₁·sin, x'₁ = x₀·sin + x₁·cos).
 * - Frequencies: the channels are split into a time, a height and a width part of sizes
 *   t = headDim − 2·h, h = w = 2·⌊headDim/6⌋; in a part of size d, channels 2j and 2j+1 share the frequency
 *   θ^(−2j/d). Positions: channel c takes its position from the frame, row or column of the token by a
 *   second split, [headDim − 2·⌊headDim/3⌋, ⌊headDim/3⌋, ⌊headDim/3⌋]. For headDim 128 (Wan2.1) both splits
 *   are 44/42/42 channels = 22/21/21 pairs; where they differ (headDim 16, 64, …) diffusers' quirk is kept:
 *   the cosine of pair i comes from channel 2i and the sine from channel 2i+1.
 * - Tokens are the patches in (frame, row, column) row-major order: N = F·(H/pH)·(W/pW) for a latent
 *   F×H×W and patch (pT, pH, pW).
 * - Angles and their cos/sin are computed in float64 (as diffusers does off MPS), then rounded to float32.
 * Pure.
 */

export interface RopeConfig {
  readonly headDim: number;
  readonly patchSize: readonly [number, number, number];
  readonly ropeTheta: number;
  /** diffusers' `rope_max_seq_len` (1024 for Wan2.1): more patches along an axis are refused. Default: no limit. */
  readonly maxPositions?: number;
}

export interface RopeTables {
  /** [tokens, headDim/2] float32, row-major. */
  readonly cos: Float32Array;
  readonly sin: Float32Array;
  readonly tokens: number;
  readonly pairs: number;
  /** Token grid (frames, rows, columns) after patching. */
  readonly grid: readonly [number, number, number];
}

/** Per channel c of a head: the frequency (float64) and which axis (0 frame, 1 row, 2 column) gives the position. */
export function ropeChannels(headDim: number, theta: number): { frequency: Float64Array; axis: Uint8Array } {
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) {
    throw new RangeError(`rope: headDim must be an even integer ≥ 2; got ${headDim}`);
  }
  const hw = 2 * Math.floor(headDim / 6);
  const parts = [headDim - 2 * hw, hw, hw];
  const frequency = new Float64Array(headDim);
  let start = 0;
  for (const size of parts) {
    for (let k = 0; k < size; k++) {
      const j = k >> 1;
      // diffusers: 1 / θ^(arange(0, d, 2) / d), computed in float64.
      frequency[start + k] = 1 / Math.pow(theta, (2 * j) / size);
    }
    start += size;
  }
  const third = Math.floor(headDim / 3);
  const split = [headDim - 2 * third, third, third];
  const axis = new Uint8Array(headDim);
  let c = 0;
  split.forEach((size, a) => {
    for (let k = 0; k < size; k++) axis[c++] = a;
  });
  return { frequency, axis };
}

export function ropeTables(config: RopeConfig, latent: { frames: number; height: number; width: number }): RopeTables {
  const { headDim, patchSize, ropeTheta } = config;
  const maxPositions = config.maxPositions ?? Number.POSITIVE_INFINITY;
  const dims = [latent.frames, latent.height, latent.width];
  const grid = dims.map((size, a) => Math.floor(size / patchSize[a]!)) as [number, number, number];
  dims.forEach((size, a) => {
    const p = patchSize[a]!;
    if (!Number.isInteger(size) || size < p || size % p !== 0) {
      const name = ['frames', 'height', 'width'][a];
      throw new RangeError(`rope: the latent ${name} must be a positive multiple of the patch size ${p}; got ${size}`);
    }
    if (grid[a]! > maxPositions) {
      throw new RangeError(`rope: ${grid[a]} patches along the latent ${['frames', 'height', 'width'][a]} exceed the model's ${maxPositions} rotary positions`);
    }
  });
  const { frequency, axis } = ropeChannels(headDim, ropeTheta);
  const pairs = headDim / 2;
  const tokens = grid[0] * grid[1] * grid[2];
  const cos = new Float32Array(tokens * pairs);
  const sin = new Float32Array(tokens * pairs);
  let n = 0;
  const position = [0, 0, 0];
  for (let f = 0; f < grid[0]; f++) {
    position[0] = f;
    for (let y = 0; y < grid[1]; y++) {
      position[1] = y;
      for (let x = 0; x < grid[2]; x++, n++) {
        position[2] = x;
        const row = n * pairs;
        for (let i = 0; i < pairs; i++) {
          const even = 2 * i;
          const odd = even + 1;
          cos[row + i] = Math.cos(position[axis[even]!]! * frequency[even]!);
          sin[row + i] = Math.sin(position[axis[odd]!]! * frequency[odd]!);
        }
      }
    }
  }
  return { cos, sin, tokens, pairs, grid };
}
