/**
 * What the denoising loop needs from a backend. The WebGPU implementation keeps every tensor in GPU
 * buffers and runs our WGSL kernels; the wasm implementation works on Float32Arrays with the kernels'
 * CPU twins. The loop itself (`loop.ts`) is written once against this interface.
 */
import type { Session } from '../runtime/sessions';
import type { LinearUpdate } from '../schedulers/types';

/** A backend-owned tensor: a GPU buffer or a CPU array, with its shape. */
export interface Tensor {
  readonly dims: readonly number[];
  dispose(): void;
}

/** One scheduler step as the general linear update (see src/schedulers/types.ts), plus the x0 clamp. */
export interface StepCoefficients {
  update: LinearUpdate;
  clipRange: number | null;
}

export interface LoopOps {
  readonly backend: 'webgpu' | 'wasm';
  /** Runs a session; inputs may be our tensors or CPU arrays; outputs stay where the backend keeps them. */
  run(session: Session, feeds: Record<string, Tensor | CpuFeed>, outputName: string): Promise<Tensor>;
  /** `run` for several outputs of one session run (a graph chain's shards, a streaming decoder's frames and memories). */
  runOutputs(session: Session, feeds: Record<string, Tensor | CpuFeed>, outputNames: readonly string[]): Promise<Record<string, Tensor>>;
  /** The tensor's values on the CPU (one read-back on WebGPU): for component runs and tests, never inside the loop. */
  read(tensor: Tensor): Promise<Float32Array>;
  /** Seeded N(0,1) latents of the given shape. */
  noise(dims: readonly number[], seed: number): Tensor;
  /** A tensor holding the given values (caller-supplied initial latents). */
  upload(data: Float32Array, dims: readonly number[]): Tensor;
  /** The latent repeated `batch` times along dim 0 (CFG runs batch 2). */
  repeatBatch(latent: Tensor, batch: number): Tensor;
  /** guided = u + g·(c − u) from a batch-2 prediction [uncond; cond]. */
  cfg(prediction: Tensor, guidanceScale: number): Tensor;
  /** One scheduler update; returns the next sample and (when asked) the predicted clean sample. */
  step(sample: Tensor, modelOutput: Tensor, coefficients: StepCoefficients, wantDenoised: boolean): { next: Tensor; denoised?: Tensor };
  /**
   * Σ coef·tensor over tensors of one element count: a new tensor with the first term's dims, the inputs
   * untouched (WGSL `combine` on WebGPU, its CPU twin on wasm; no read-back). The samplers' algebra.
   */
  combine(terms: readonly { readonly tensor: Tensor; readonly coef: number }[]): Tensor;
  /** z = x·std[c] + mean[c] over a [1, C, …] latent. */
  denormalize(latent: Tensor, mean: readonly number[], std: readonly number[]): Tensor;
  /** RGBA8 frames [first, first+count) of a [1, 3, F, H, W] video in [−1, 1], upscaled. One read-back on WebGPU. */
  toRgbaFrames(video: Tensor, first: number, count: number, scale: number, filter: 'nearest' | 'bilinear'): Promise<Uint8Array[]>;
  /** GPU→CPU read-backs so far (always 0 on wasm). */
  readonly readbacks: number;
  /** Waits for queued GPU work (no read-back); resolves at once on wasm. */
  settle(): Promise<void>;
  destroy(): void;
}

/** A small input made on the CPU (token ids, masks, timesteps); backends upload it as needed. */
export interface CpuFeed {
  readonly cpu: true;
  readonly type: 'float32' | 'int64';
  readonly data: Float32Array | BigInt64Array;
  readonly dims: readonly number[];
}

export function cpuFeed(type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]): CpuFeed {
  return { cpu: true, type, data, dims };
}

export function isCpuFeed(value: Tensor | CpuFeed): value is CpuFeed {
  return (value as CpuFeed).cpu === true;
}

export function elementCount(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** LoopOps.combine's argument check, shared by both backends: ≥ 1 term, finite coefficients, one element count. */
export function checkCombineTerms(terms: readonly { readonly tensor: Tensor; readonly coef: number }[]): Tensor {
  if (!Array.isArray(terms) || terms.length === 0) throw new TypeError('combine needs a non-empty array of { tensor, coef } terms');
  const first = terms[0]!.tensor;
  const count = elementCount(first.dims);
  terms.forEach((t, k) => {
    if (typeof t.coef !== 'number' || !Number.isFinite(t.coef)) throw new TypeError(`combine terms[${k}].coef must be a finite number, got ${String(t.coef)}`);
    const n = elementCount(t.tensor.dims);
    if (n !== count) throw new RangeError(`combine terms must have one shape: terms[0] is [${first.dims.join(', ')}], terms[${k}] is [${t.tensor.dims.join(', ')}]`);
  });
  return first;
}
