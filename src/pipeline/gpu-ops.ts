/**
 * LoopOps for WebGPU: every tensor is a GPUBuffer on onnxruntime's own device, our WGSL kernels do the
 * loop's arithmetic, and nothing is read back to the CPU until frames exist. Read-backs are counted so
 * tests can prove it.
 */
import { KinemaError } from '../errors';
import type { Kernels } from '../kernels';
import type { Ort } from '../runtime/ort';
import { isOutOfMemory, type Session } from '../runtime/sessions';
import { checkCombineTerms, elementCount, isCpuFeed, type CpuFeed, type LoopOps, type StepCoefficients, type Tensor } from './ops';

type OrtTensor = InstanceType<Ort['Tensor']>;

const BUFFER_USAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

class GpuTensor implements Tensor {
  private released = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly dims: readonly number[],
    /** Set when onnxruntime owns the buffer: dispose returns it to onnxruntime. */
    private readonly ortTensor?: OrtTensor,
    private readonly recycle?: (buffer: GPUBuffer) => void,
  ) {}
  get length(): number {
    return elementCount(this.dims);
  }
  dispose(): void {
    if (this.released) return;
    this.released = true;
    if (this.ortTensor) this.ortTensor.dispose();
    else this.recycle?.(this.buffer);
  }
}

/** `kernels` must be compiled on `device`, which must be onnxruntime's (buffers cannot cross devices). */
export function createGpuOps(ort: Ort, device: GPUDevice, kernels: Kernels): LoopOps {
  let readbacks = 0;
  let lost: string | undefined;
  device.lost.then((info) => { lost = info.message || info.reason; });
  // Buffers of our own, recycled by size: the loop allocates the same few shapes every step.
  const pool = new Map<number, GPUBuffer[]>();
  const take = (floats: number): GPUBuffer => {
    const bytes = Math.max(16, floats * 4);
    return pool.get(bytes)?.pop() ?? device.createBuffer({ size: bytes, usage: BUFFER_USAGE });
  };
  const recycle = (buffer: GPUBuffer) => {
    const list = pool.get(buffer.size) ?? [];
    list.push(buffer);
    pool.set(buffer.size, list);
  };
  const fresh = (dims: readonly number[]) => new GpuTensor(take(elementCount(dims)), dims, undefined, recycle);
  const asGpu = (tensor: Tensor): GpuTensor => {
    if (!(tensor instanceof GpuTensor)) throw new KinemaError('INTERNAL', 'WebGPU ops were given a tensor from another backend');
    return tensor;
  };
  const checkDevice = () => {
    if (lost !== undefined) throw new KinemaError('DEVICE_LOST', `the GPU device was lost (${lost}); create a new generator to continue`);
  };
  const submit = (record: (encoder: GPUCommandEncoder) => void) => {
    checkDevice();
    const encoder = device.createCommandEncoder();
    record(encoder);
    kernels.submit(encoder);
  };

  async function runOutputs(session: Session, feeds: Record<string, Tensor | CpuFeed>, outputNames: readonly string[]): Promise<Record<string, Tensor>> {
    checkDevice();
    const ortFeeds: Record<string, OrtTensor> = {};
    for (const [name, value] of Object.entries(feeds)) {
      ortFeeds[name] = isCpuFeed(value)
        ? new ort.Tensor(value.type, value.data, [...value.dims])
        : ort.Tensor.fromGpuBuffer(asGpu(value).buffer, { dataType: 'float32', dims: [...value.dims] });
    }
    let outputs: Awaited<ReturnType<Session['run']>>;
    try {
      outputs = await session.run(ortFeeds, [...outputNames]);
    } catch (error) {
      checkDevice();
      const message = (error as Error).message ?? String(error);
      throw new KinemaError(isOutOfMemory(message) ? 'OUT_OF_MEMORY' : 'BACKEND_FAILED', `onnxruntime (webgpu) failed: ${message}`, { cause: error });
    }
    const result: Record<string, Tensor> = {};
    for (const name of outputNames) {
      const out = outputs[name]!;
      if (out.location !== 'gpu-buffer') throw new KinemaError('INTERNAL', `expected ${name} on the GPU, got it in ${out.location}`);
      result[name] = new GpuTensor(out.gpuBuffer as GPUBuffer, out.dims, out);
    }
    return result;
  }

  return {
    backend: 'webgpu',
    get readbacks() {
      return readbacks;
    },

    async run(session: Session, feeds: Record<string, Tensor | CpuFeed>, outputName: string): Promise<Tensor> {
      return (await runOutputs(session, feeds, [outputName]))[outputName]!;
    },

    runOutputs,

    async read(tensor) {
      const src = asGpu(tensor);
      const bytes = src.length * 4;
      const staging = device.createBuffer({ size: Math.max(4, bytes), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      submit((encoder) => encoder.copyBufferToBuffer(src.buffer, 0, staging, 0, bytes));
      readbacks++;
      try {
        await staging.mapAsync(GPUMapMode.READ);
        const values = new Float32Array(staging.getMappedRange(0, bytes).slice(0));
        staging.unmap();
        return values;
      } catch (error) {
        checkDevice();
        throw new KinemaError('BACKEND_FAILED', `reading a tensor from the GPU failed: ${(error as Error).message}`, { cause: error });
      } finally {
        staging.destroy();
      }
    },

    noise(dims, seed) {
      const out = fresh(dims);
      submit((encoder) => kernels.noise(encoder, out.buffer, { count: out.length, seed }));
      return out;
    },

    upload(data, dims) {
      checkDevice();
      const out = fresh(dims);
      device.queue.writeBuffer(out.buffer, 0, data as Float32Array<ArrayBuffer>, 0, out.length);
      return out;
    },

    repeatBatch(latent, batch) {
      const src = asGpu(latent);
      const out = fresh([batch, ...latent.dims.slice(1)]);
      const bytes = src.length * 4;
      submit((encoder) => {
        for (let b = 0; b < batch; b++) encoder.copyBufferToBuffer(src.buffer, 0, out.buffer, b * bytes, bytes);
      });
      return out;
    },

    cfg(prediction, guidanceScale) {
      const pred = asGpu(prediction);
      const out = fresh([1, ...prediction.dims.slice(1)]);
      submit((encoder) => kernels.cfg(encoder, pred.buffer, out.buffer, { count: out.length, guidanceScale }));
      return out;
    },

    step(sample, modelOutput, { update, clipRange }: StepCoefficients, wantDenoised) {
      const x = asGpu(sample);
      const next = fresh(sample.dims);
      const denoised = wantDenoised ? fresh(sample.dims) : undefined;
      submit((encoder) => kernels.schedulerStep(
        encoder,
        { x: x.buffer, modelOutput: asGpu(modelOutput).buffer, xNext: next.buffer, ...(denoised ? { x0: denoised.buffer } : {}) },
        { count: x.length, update, clipRange },
      ));
      return { next, ...(denoised ? { denoised } : {}) };
    },

    combine(terms) {
      const first = checkCombineTerms(terms);
      const out = fresh(first.dims);
      const inputs = terms.map((t) => ({ input: asGpu(t.tensor).buffer, coef: t.coef }));
      submit((encoder) => kernels.combine(encoder, inputs, out.buffer, { count: out.length }));
      return out;
    },

    denormalize(latent, mean, std) {
      const src = asGpu(latent);
      const out = fresh(latent.dims);
      const channels = latent.dims[1]!;
      submit((encoder) => kernels.affine(encoder, src.buffer, out.buffer, { channels, channelLength: src.length / channels, scale: std, bias: mean }));
      return out;
    },

    async toRgbaFrames(video, first, count, scale, filter) {
      const src = asGpu(video);
      const [, , frames, height, width] = video.dims as [number, number, number, number, number];
      const frameBytes = width * scale * height * scale * 4;
      const out = take((frameBytes * count) / 4);
      const staging = device.createBuffer({ size: frameBytes * count, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      submit((encoder) => {
        kernels.toRgba(encoder, src.buffer, out, { frames, height, width, scale, filter, frameStart: first, frameCount: count });
        encoder.copyBufferToBuffer(out, 0, staging, 0, frameBytes * count);
      });
      readbacks++;
      try {
        await staging.mapAsync(GPUMapMode.READ);
        const bytes = new Uint8Array(staging.getMappedRange().slice(0));
        staging.unmap();
        return Array.from({ length: count }, (_, i) => bytes.subarray(i * frameBytes, (i + 1) * frameBytes));
      } catch (error) {
        checkDevice();
        throw new KinemaError('BACKEND_FAILED', `reading frames from the GPU failed: ${(error as Error).message}`, { cause: error });
      } finally {
        staging.destroy();
        recycle(out);
      }
    },

    async settle() {
      checkDevice();
      await device.queue.onSubmittedWorkDone();
    },

    destroy() {
      for (const list of pool.values()) for (const buffer of list) buffer.destroy();
      pool.clear();
      kernels.destroy();
    },
  };
}
