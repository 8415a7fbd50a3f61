import source from './cfg.wgsl?raw';
import { packParams, type KernelDescription, type KernelManager } from './manager';
import type { CfgOptions } from './types';
import { checkAliasing, resolveCfg } from './validate';

export function cfgKernel(workgroupSize: number): KernelDescription {
  return { name: 'cfg', source, entryPoint: 'main', constants: { WORKGROUP_SIZE: workgroupSize } };
}

export function encodeCfg(manager: KernelManager, kernel: KernelDescription, encoder: GPUCommandEncoder, modelOutput: GPUBuffer, out: GPUBuffer, options: CfgOptions): void {
  const o = resolveCfg(options, Math.floor(modelOutput.size / 4), Math.floor(out.size / 4));
  checkAliasing('cfg', [
    { name: 'modelOutput (unconditional)', store: modelOutput, start: o.inputOffset, count: o.count, written: false },
    { name: 'modelOutput (conditional)', store: modelOutput, start: o.inputOffset + o.count, count: o.count, written: false },
    { name: 'out', store: out, start: o.outputOffset, count: o.count, written: true },
  ]);
  if (o.count === 0) return;
  const { entries, refs } = manager.bindSlots([
    { buffer: modelOutput, offset: o.inputOffset, count: 2 * o.count },
    { buffer: out, offset: o.outputOffset, count: o.count },
  ], 2);
  const [input, output] = refs as [(typeof refs)[0], (typeof refs)[0]];
  const params = packParams([
    ['u32', o.count], ['u32', input.slot], ['u32', input.offset], ['u32', output.slot], ['u32', output.offset], ['f32', o.guidanceScale],
  ]);
  manager.encode(encoder, kernel, params, entries, o.count);
}
