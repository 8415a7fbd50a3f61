import source from './affine.wgsl?raw';
import { packParams, type KernelDescription, type KernelManager } from './manager';
import type { AffineOptions } from './types';
import { checkAliasing, resolveAffine } from './validate';

export function affineKernel(workgroupSize: number): KernelDescription {
  return { name: 'affine', source, entryPoint: 'main', constants: { WORKGROUP_SIZE: workgroupSize } };
}

export function encodeAffine(manager: KernelManager, kernel: KernelDescription, encoder: GPUCommandEncoder, input: GPUBuffer, out: GPUBuffer, options: AffineOptions): void {
  const o = resolveAffine(options, Math.floor(input.size / 4), Math.floor(out.size / 4));
  checkAliasing('affine', [
    { name: 'input', store: input, start: o.inputOffset, count: o.count, written: false },
    { name: 'out', store: out, start: o.outputOffset, count: o.count, written: true },
  ]);
  if (o.count === 0) return;
  const { entries, refs } = manager.bindSlots([
    { buffer: input, offset: o.inputOffset, count: o.count },
    { buffer: out, offset: o.outputOffset, count: o.count },
  ], 2);
  const [src, dst] = refs as [(typeof refs)[0], (typeof refs)[0]];
  const coefficients = manager.transient(Float32Array.from([...o.scale, ...o.bias]).buffer, GPUBufferUsage.STORAGE);
  const params = packParams([
    ['u32', o.count], ['u32', o.channels], ['u32', o.channelLength], ['u32', src.slot], ['u32', src.offset], ['u32', dst.slot], ['u32', dst.offset],
  ]);
  manager.encode(encoder, kernel, params, [...entries, { buffer: coefficients }], o.count);
}
