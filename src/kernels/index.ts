/**
 * kinema's WGSL kernels, each with a CPU twin in ./cpu (same options, same numbers within the
 * tolerances below) for the wasm backend.
 *
 *   const kernels = await createKernels(device);          // device: onnxruntime's GPUDevice
 *   const encoder = device.createCommandEncoder();
 *   kernels.cfg(encoder, denoiserOut, guided, { count: n, guidanceScale: 5 });
 *   kernels.schedulerStep(encoder, { x: latents, modelOutput: guided, xNext: latents, x0: preview },
 *                         { count: n, update: plan.updates[i], clipRange: plan.clipRange });
 *   kernels.submit(encoder);                              // one submit per step; frees parameter buffers
 *   …
 *   kernels.destroy();                                    // frees kinema's own objects, never the device
 *
 * - Every method validates its arguments (TypeError/RangeError naming the option), records a compute pass
 *   into the caller's encoder and returns at once; nothing is read back. Call `submit(encoder)` (or submit
 *   yourself, then `releaseTransients()`); either frees the parameter buffers of everything recorded so
 *   far, so submit every encoder you recorded into before calling them.
 * - Buffers are f32 storage buffers (toRgba's output: one u32 per pixel) with STORAGE usage; offsets and
 *   counts are in elements, so slices of onnxruntime's output buffers can be used directly. Arguments may
 *   be slices of one buffer: an output may be exactly an input's range (in place: schedulerStep xNext = x,
 *   cfg out = either half, affine out = input) or apart from all other arguments; partial overlaps throw
 *   a RangeError (the CPU twins check the same, per ArrayBuffer).
 * - `noise(encoder, out, { count, seed, offset?, counterOffset? })`: N(0, 1) values from Philox-4x32-10 +
 *   Box–Muller; value i depends only on (seed, counterOffset + i). Seeds are integers 0 … 2^53 − 1 (two u32
 *   key words). The integer stage is bit-exact with the CPU twin. The float stage uses our own ln and cos
 *   from f32 + and × (WGSL's built-ins are too loose: SwiftShader's cos is off by ~2e−4), so the contract
 *   is |Δ| ≤ 1e−5·max(1, |z|) (WGSL division/sqrt are 2.5-ulp, a GPU may fuse multiply-adds); on
 *   SwiftShader the values are bit-identical.
 * - `cfg(encoder, modelOutput[2N], out[N], { count: N, guidanceScale })`: u + g·(c − u).
 * - `schedulerStep(encoder, { x, modelOutput, xNext, x0? }, { count, update, clipRange? })`.
 * - `combine(encoder, [{ input, coef, offset? }, …], out, { count, outputOffset? })`: Σ coef_k·input_k in f32,
 *   summed left to right, 4 inputs per dispatch (longer sums chain in place over out, so then out must be
 *   apart from every input). The samplers' updates (src/schedulers/sampler.ts) are all of this form.
 * - `affine(encoder, input[C·L], out[C·L], { channels, channelLength, scale, bias })`: x·scale[c] + bias[c].
 * - `toRgba(encoder, video[3·F·H·W], out[u32 pixels], { frames, height, width, scale?, filter?,
 *   frameStart?, frameCount? })`: video and out must be different buffers. Bytes may differ from the CPU twin by 1 where a value lands on a
 *   rounding boundary (fused multiply-add, WGSL division accuracy).
 */
import { encodeAffine, affineKernel } from './affine';
import { cfgKernel, encodeCfg } from './cfg';
import { combineKernel, encodeCombine } from './combine';
import { KernelManager, type KernelDescription } from './manager';
import { encodeNoise, noiseKernel } from './noise';
import { encodeSchedulerStep, schedulerStepKernel } from './scheduler-step';
import { encodeToRgba, toRgbaKernel } from './to-rgba';
import type { AffineOptions, CfgOptions, CombineOptions, CombineTerm, NoiseOptions, SchedulerStepBuffers, SchedulerStepOptions, ToRgbaOptions } from './types';

export type * from './types';
export { KernelManager, kernelKey, type KernelDescription } from './manager';

export interface KernelsOptions {
  /** Threads per workgroup for every kernel (a WGSL override constant). Default 64. */
  readonly workgroupSize?: number;
}

export interface Kernels {
  readonly device: GPUDevice;
  noise(encoder: GPUCommandEncoder, out: GPUBuffer, options: NoiseOptions): void;
  cfg(encoder: GPUCommandEncoder, modelOutput: GPUBuffer, out: GPUBuffer, options: CfgOptions): void;
  schedulerStep(encoder: GPUCommandEncoder, buffers: SchedulerStepBuffers<GPUBuffer>, options: SchedulerStepOptions): void;
  combine(encoder: GPUCommandEncoder, terms: readonly CombineTerm<GPUBuffer>[], out: GPUBuffer, options: CombineOptions): void;
  affine(encoder: GPUCommandEncoder, input: GPUBuffer, out: GPUBuffer, options: AffineOptions): void;
  toRgba(encoder: GPUCommandEncoder, video: GPUBuffer, out: GPUBuffer, options: ToRgbaOptions): void;
  /** Finishes and submits the encoders in one queue submission, then frees their parameter buffers. */
  submit(...encoders: GPUCommandEncoder[]): void;
  /** Frees parameter buffers of everything recorded so far; only after those commands were submitted. */
  releaseTransients(): void;
  destroy(): void;
}

/** Compiles every kernel up front (asynchronously, in parallel), so recording is synchronous. */
export async function createKernels(device: GPUDevice, options: KernelsOptions = {}): Promise<Kernels> {
  const workgroupSize = options.workgroupSize ?? 64;
  const maxSize = Math.min(device.limits.maxComputeInvocationsPerWorkgroup, device.limits.maxComputeWorkgroupSizeX);
  if (!Number.isInteger(workgroupSize) || workgroupSize < 1 || workgroupSize > maxSize) {
    throw new RangeError(`workgroupSize must be an integer from 1 to ${maxSize} (this device's limit), got ${workgroupSize}`);
  }
  const manager = new KernelManager(device);
  const k = {
    step: schedulerStepKernel(workgroupSize),
    noise: noiseKernel(workgroupSize),
    cfg: cfgKernel(workgroupSize),
    combine: combineKernel(workgroupSize),
    affine: affineKernel(workgroupSize),
    toRgba: toRgbaKernel(workgroupSize),
  };
  const all: KernelDescription[] = Object.values(k);
  await Promise.all(all.map((kernel) => manager.prepare(kernel)));
  let destroyed = false;
  const live = () => {
    if (destroyed) throw new Error('these kernels were destroyed; create new ones with createKernels(device)');
  };

  return {
    device,
    noise: (encoder, out, o) => (live(), encodeNoise(manager, k.noise, encoder, out, o)),
    cfg: (encoder, modelOutput, out, o) => (live(), encodeCfg(manager, k.cfg, encoder, modelOutput, out, o)),
    schedulerStep: (encoder, buffers, o) => (live(), encodeSchedulerStep(manager, k.step, encoder, buffers, o)),
    combine: (encoder, terms, out, o) => (live(), encodeCombine(manager, k.combine, encoder, terms, out, o)),
    affine: (encoder, input, out, o) => (live(), encodeAffine(manager, k.affine, encoder, input, out, o)),
    toRgba: (encoder, video, out, o) => (live(), encodeToRgba(manager, k.toRgba, encoder, video, out, o)),
    submit(...encoders) {
      live();
      device.queue.submit(encoders.map((encoder) => encoder.finish()));
      manager.releaseTransients();
    },
    releaseTransients: () => manager.releaseTransients(),
    destroy() {
      destroyed = true;
      manager.destroy();
    },
  };
}
