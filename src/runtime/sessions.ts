/**
 * onnxruntime sessions, one per graph of a model's components: created one at a time (on WebGPU each
 * creation compiles shaders, and one at a time keeps peak memory down), outputs left on the GPU
 * when the backend is WebGPU. A component's graphs run in sequence as a chain (chain.ts).
 */
import { KinemaError } from '../errors';
import type { ComponentName } from '../progress/events';
import type { InferenceSession } from 'onnxruntime-web';
import type { Ort } from './ort';

import type { LocalBackend } from '../contract';

export type { LocalBackend };

export interface ComponentFiles {
  /** The .onnx graph. */
  model: Uint8Array;
  /** ONNX external-data files, under the names the graph refers to. */
  externalData: { path: string; data: Uint8Array }[];
}

export type Session = InferenceSession;

/**
 * Whether an onnxruntime failure is running out of memory. wasm says `std::bad_alloc` (malloc past the
 * 4 GiB heap; seen in test/reliability/faults.test.ts), WebGPU and native builds say "out of memory" or
 * "Failed to allocate".
 */
export function isOutOfMemory(message: string): boolean {
  return /out of memory|bad_alloc|fail(?:ed)? to allocate|allocation failed|\bOOM\b/i.test(message);
}

/**
 * The session options kinema creates every session with (the bench's bare sessions use the same, so its
 * ratios compare like with like).
 */
export function sessionOptions(backend: LocalBackend, externalData: ComponentFiles['externalData'] = []): InferenceSession.SessionOptions {
  return {
    executionProviders: [backend],
    graphOptimizationLevel: 'all',
    // Keep every output where the next consumer is: on the GPU for WebGPU, so latents never round-trip.
    preferredOutputLocation: backend === 'webgpu' ? 'gpu-buffer' : 'cpu',
    ...(externalData.length > 0 ? { externalData: externalData.map(({ path, data }) => ({ path, data })) } : {}),
  };
}

/** `graph` names one graph of a component made of several (shards), for the error message. */
export async function createComponentSession(ort: Ort, backend: LocalBackend, component: ComponentName, files: ComponentFiles, graph?: string): Promise<Session> {
  const options = sessionOptions(backend, files.externalData);
  try {
    return await ort.InferenceSession.create(files.model, options);
  } catch (error) {
    const message = (error as Error)?.message ?? String(error);
    const code = isOutOfMemory(message) ? 'OUT_OF_MEMORY' : 'BACKEND_FAILED';
    const what = graph !== undefined ? `the ${component} graph "${graph}"` : `the ${component} session`;
    throw new KinemaError(code, `onnxruntime could not create ${what} on ${backend}: ${message}`, { cause: error, details: { component, backend, ...(graph !== undefined ? { graph } : {}) } });
  }
}

/** The GPU device onnxruntime created for its WebGPU backend; our kernels must run on the same device. */
export async function ortGpuDevice(ort: Ort): Promise<GPUDevice> {
  const device = await (ort.env.webgpu.device as unknown as Promise<GPUDevice>);
  if (!device) throw new KinemaError('WEBGPU_UNAVAILABLE', 'onnxruntime did not expose its WebGPU device');
  return device;
}
