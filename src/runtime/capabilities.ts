/** What this browser can do for kinema, probed without creating an onnxruntime session. */
import type { Capabilities, WebGpuInfo } from '../contract/domain';

export type { Capabilities, WebGpuInfo };

export async function probeWebGpu(gpu: GPU | undefined = (globalThis.navigator as Navigator | undefined)?.gpu): Promise<WebGpuInfo> {
  if (!gpu) return { available: false, reason: 'navigator.gpu is missing (this browser or context has no WebGPU)' };
  let adapter: GPUAdapter | null = null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { available: false, reason: `requestAdapter failed: ${(error as Error).message}` };
  }
  if (!adapter) return { available: false, reason: 'no WebGPU adapter (the GPU is blocklisted or WebGPU is disabled)' };
  const info = (adapter as GPUAdapter & { info?: GPUAdapterInfo }).info;
  return {
    available: true,
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter ?? false,
    vendor: info?.vendor,
    architecture: info?.architecture,
    description: info?.description,
    shaderF16: adapter.features.has('shader-f16'),
    limits: {
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: adapter.limits.maxComputeInvocationsPerWorkgroup,
    },
  };
}

function wasmSimd(): boolean {
  try {
    // (module (func (result v128) i32.const 0 i8x16.splat))
    return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 8, 1, 6, 0, 65, 0, 253, 15, 11]));
  } catch {
    return false;
  }
}

/**
 * The wasm backend's default thread count: half the cores (at most 4, as onnxruntime-web itself picks),
 * and 1 unless the page is cross-origin isolated (threads need SharedArrayBuffer). Half, not all: the
 * page needs a core too. Measured on 2 cores (test/e2e/demo.spec.ts, traced): during warm generations
 * the page's longest task was 198 ms with 2 threads (21 runs) and 77 ms with 1 (15 runs), and through
 * the worker 1 thread was not slower (BENCHMARKS.md (e)). A page's first generation, while V8
 * compiles the runtime's wasm, still keeps the page waiting up to ~1 s now and then with either count.
 */
export function defaultWasmThreads(cores: number, crossOriginIsolated: boolean): number {
  return crossOriginIsolated ? Math.max(1, Math.min(4, Math.ceil(cores / 2))) : 1;
}

export async function probeCapabilities(): Promise<Capabilities> {
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
  return {
    webgpu: await probeWebGpu(),
    wasm: { available: typeof WebAssembly === 'object', threads: defaultWasmThreads(cores, isolated), simd: wasmSimd(), crossOriginIsolated: isolated },
    webcodecs: { videoEncoder: typeof (globalThis as { VideoEncoder?: unknown }).VideoEncoder === 'function' },
    cacheStorage: typeof (globalThis as { caches?: unknown }).caches === 'object',
    hardwareConcurrency: cores,
  };
}
