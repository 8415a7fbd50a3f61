import source from './scheduler-step.wgsl?raw';
import { packParams, type KernelDescription, type KernelManager } from './manager';
import type { SchedulerStepBuffers, SchedulerStepOptions } from './types';
import { checkAliasing, resolveSchedulerStep } from './validate';

export function schedulerStepKernel(workgroupSize: number): KernelDescription {
  return { name: 'scheduler-step', source, entryPoint: 'main', constants: { WORKGROUP_SIZE: workgroupSize } };
}

export function encodeSchedulerStep(
  manager: KernelManager,
  kernel: KernelDescription,
  encoder: GPUCommandEncoder,
  buffers: SchedulerStepBuffers<GPUBuffer>,
  options: SchedulerStepOptions,
): void {
  const elements = (b: GPUBuffer) => Math.floor(b.size / 4);
  const capacity = {
    x: elements(buffers.x),
    modelOutput: elements(buffers.modelOutput),
    xNext: elements(buffers.xNext),
    ...(buffers.x0 ? { x0: elements(buffers.x0) } : {}),
  };
  const o = resolveSchedulerStep(options, capacity);
  const slices = [
    { name: 'x', buffer: buffers.x, offset: o.xOffset, written: false },
    { name: 'modelOutput', buffer: buffers.modelOutput, offset: o.modelOutputOffset, written: false },
    { name: 'xNext', buffer: buffers.xNext, offset: o.xNextOffset, written: true },
    ...(buffers.x0 ? [{ name: 'x0', buffer: buffers.x0, offset: o.x0Offset, written: true }] : []),
  ];
  checkAliasing('schedulerStep', slices.map((s) => ({ name: s.name, store: s.buffer, start: s.offset, count: o.count, written: s.written })));
  if (o.count === 0) return;
  const { entries, refs } = manager.bindSlots(slices.map((s) => ({ buffer: s.buffer, offset: s.offset, count: o.count })), 4);
  const ref = (k: number) => refs[k] ?? { slot: 0, offset: 0 };
  const { c, d, e, f, g } = o.update;
  const params = packParams([
    ['u32', o.count],
    ['u32', ref(0).slot], ['u32', ref(0).offset],
    ['u32', ref(1).slot], ['u32', ref(1).offset],
    ['u32', ref(2).slot], ['u32', ref(2).offset],
    ['u32', ref(3).slot], ['u32', ref(3).offset],
    ['u32', buffers.x0 ? 1 : 0],
    ['u32', o.clipRange === null ? 0 : 1], ['f32', o.clipRange ?? 0],
    ['f32', c], ['f32', d], ['f32', e], ['f32', f], ['f32', g],
  ]);
  manager.encode(encoder, kernel, params, entries, o.count);
}
