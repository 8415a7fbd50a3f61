import source from './noise.wgsl?raw';
import { packParams, type KernelDescription, type KernelManager } from './manager';
import type { NoiseOptions } from './types';
import { resolveNoise } from './validate';

export function noiseKernel(workgroupSize: number): KernelDescription {
  return { name: 'noise', source, entryPoint: 'main', constants: { WORKGROUP_SIZE: workgroupSize } };
}

export function encodeNoise(manager: KernelManager, kernel: KernelDescription, encoder: GPUCommandEncoder, out: GPUBuffer, options: NoiseOptions): void {
  const o = resolveNoise(options, Math.floor(out.size / 4));
  if (o.count === 0) return;
  const target = manager.bind({ buffer: out, offset: o.offset, count: o.count });
  const params = packParams([['u32', o.count], ['u32', target.shift], ['u32', o.counterOffset], ['u32', o.seedLo], ['u32', o.seedHi]]);
  manager.encode(encoder, kernel, params, [target.entry], o.count);
}
