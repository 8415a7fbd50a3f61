import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../../src/index';
import { capabilityFacts } from '../../demo/panels';

const base: Capabilities = {
  webgpu: {
    available: true, isFallbackAdapter: true, vendor: 'google', architecture: 'swiftshader', shaderF16: false,
    limits: { maxBufferSize: 1 << 30, maxStorageBufferBindingSize: 1 << 30, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256 },
  },
  wasm: { available: true, threads: 2, simd: true, crossOriginIsolated: true },
  webcodecs: { videoEncoder: true },
  cacheStorage: true,
  hardwareConcurrency: 2,
};
const facts = (caps: Capabilities, codecs = [{ label: 'H.264', supported: true }, { label: 'AV1', supported: false }]) =>
  Object.fromEntries(capabilityFacts(caps, codecs));

describe('capability panel facts', () => {
  it('names the adapter, says when it is a software fallback, and lists features, limits and codecs', () => {
    const f = facts(base);
    expect(f.WebGPU).toBe('google · swiftshader (software fallback: slow)');
    expect(f['shader-f16']).toMatch(/^no/);
    expect(f['Max buffer']).toBe('1024 MiB');
    expect(f.Workgroup).toBe('256 invocations, 32 KiB shared');
    expect(f['Video encoders']).toBe('H.264');
    expect(f.wasm).toBe('2 threads, SIMD');
    expect(f['Cross-origin isolated']).toMatch(/^yes/);
  });

  it('says why WebGPU is missing and when wasm runs single-threaded', () => {
    const f = facts({
      ...base,
      webgpu: { available: false, reason: 'navigator.gpu is missing' },
      wasm: { available: true, threads: 1, simd: false, crossOriginIsolated: false },
      webcodecs: { videoEncoder: false },
    });
    expect(f.WebGPU).toBe('unavailable: navigator.gpu is missing');
    expect(f['Max buffer']).toBeUndefined();
    expect(f.wasm).toBe('1 thread');
    expect(f['Cross-origin isolated']).toMatch(/^no/);
    expect(f['Video encoders']).toBe('no WebCodecs');
  });
});
