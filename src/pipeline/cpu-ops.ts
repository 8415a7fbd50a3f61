/**
 * LoopOps for the wasm backend: tensors are Float32Arrays and the arithmetic is the WGSL kernels' CPU
 * twins, so both backends compute the same thing.
 */
import { KinemaError } from '../errors';
import * as twins from '../kernels/cpu';
import type { Ort } from '../runtime/ort';
import { isOutOfMemory, type Session } from '../runtime/sessions';
import { checkCombineTerms, elementCount, isCpuFeed, type CpuFeed, type LoopOps, type StepCoefficients, type Tensor } from './ops';

class CpuTensor implements Tensor {
  constructor(readonly data: Float32Array, readonly dims: readonly number[]) {}
  dispose(): void {
    // Garbage-collected.
  }
}

const asCpu = (tensor: Tensor): CpuTensor => {
  if (!(tensor instanceof CpuTensor)) throw new KinemaError('INTERNAL', 'wasm ops were given a tensor from another backend');
  return tensor;
};

export function createCpuOps(ort: Ort): LoopOps {
  async function runOutputs(session: Session, feeds: Record<string, Tensor | CpuFeed>, outputNames: readonly string[]): Promise<Record<string, Tensor>> {
    const ortFeeds: Record<string, InstanceType<Ort['Tensor']>> = {};
    for (const [name, value] of Object.entries(feeds)) {
      ortFeeds[name] = isCpuFeed(value)
        ? new ort.Tensor(value.type, value.data, [...value.dims])
        : new ort.Tensor('float32', asCpu(value).data, [...value.dims]);
    }
    let outputs: Awaited<ReturnType<Session['run']>>;
    try {
      outputs = await session.run(ortFeeds, [...outputNames]);
    } catch (error) {
      const message = (error as Error)?.message ?? String(error);
      throw new KinemaError(isOutOfMemory(message) ? 'OUT_OF_MEMORY' : 'BACKEND_FAILED', `onnxruntime (wasm) failed: ${message}`, { cause: error });
    }
    const result: Record<string, Tensor> = {};
    for (const name of outputNames) {
      const out = outputs[name]!;
      result[name] = new CpuTensor(out.data as Float32Array, out.dims);
    }
    return result;
  }

  return {
    backend: 'wasm',
    readbacks: 0,

    async run(session: Session, feeds: Record<string, Tensor | CpuFeed>, outputName: string): Promise<Tensor> {
      return (await runOutputs(session, feeds, [outputName]))[outputName]!;
    },

    runOutputs,

    async read(tensor) {
      return Float32Array.from(asCpu(tensor).data);
    },

    noise(dims, seed) {
      const out = new Float32Array(elementCount(dims));
      twins.noise(out, { count: out.length, seed });
      return new CpuTensor(out, dims);
    },

    upload(data, dims) {
      return new CpuTensor(Float32Array.from(data), dims);
    },

    repeatBatch(latent, batch) {
      const src = asCpu(latent).data;
      const out = new Float32Array(src.length * batch);
      for (let b = 0; b < batch; b++) out.set(src, b * src.length);
      return new CpuTensor(out, [batch, ...latent.dims.slice(1)]);
    },

    cfg(prediction, guidanceScale) {
      const data = asCpu(prediction).data;
      const out = new Float32Array(data.length / 2);
      twins.cfg(data, out, { count: out.length, guidanceScale });
      return new CpuTensor(out, [1, ...prediction.dims.slice(1)]);
    },

    step(sample, modelOutput, { update, clipRange }: StepCoefficients, wantDenoised) {
      const x = asCpu(sample).data;
      const next = new Float32Array(x.length);
      const denoised = wantDenoised ? new Float32Array(x.length) : undefined;
      twins.schedulerStep({ x, modelOutput: asCpu(modelOutput).data, xNext: next, ...(denoised ? { x0: denoised } : {}) }, { count: x.length, update, clipRange });
      return { next: new CpuTensor(next, sample.dims), ...(denoised ? { denoised: new CpuTensor(denoised, sample.dims) } : {}) };
    },

    combine(terms) {
      const first = checkCombineTerms(terms);
      const out = new Float32Array(elementCount(first.dims));
      twins.combine(terms.map((t) => ({ input: asCpu(t.tensor).data, coef: t.coef })), out, { count: out.length });
      return new CpuTensor(out, first.dims);
    },

    denormalize(latent, mean, std) {
      const x = asCpu(latent).data;
      const channels = latent.dims[1]!;
      const out = new Float32Array(x.length);
      twins.affine(x, out, { channels, channelLength: x.length / channels, scale: std, bias: mean });
      return new CpuTensor(out, latent.dims);
    },

    async toRgbaFrames(video, first, count, scale, filter) {
      const [, , frames, height, width] = video.dims as [number, number, number, number, number];
      const data = asCpu(video).data;
      const out: Uint8Array[] = [];
      for (let f = first; f < first + count; f++) {
        out.push(twins.toRgba(data, null, { frames, height, width, scale, filter, frameStart: f, frameCount: 1 }));
      }
      return out;
    },

    settle: async () => undefined,
    destroy: () => undefined,
  };
}
