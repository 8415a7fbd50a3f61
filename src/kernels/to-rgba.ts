import source from './to-rgba.wgsl?raw';
import { packParams, type KernelDescription, type KernelManager } from './manager';
import type { ToRgbaOptions } from './types';
import { resolveToRgba } from './validate';

export function toRgbaKernel(workgroupSize: number): KernelDescription {
  return { name: 'to-rgba', source, entryPoint: 'main', constants: { WORKGROUP_SIZE: workgroupSize } };
}

/** `out` holds one u32 per pixel; `outputOffset` counts pixels. */
export function encodeToRgba(manager: KernelManager, kernel: KernelDescription, encoder: GPUCommandEncoder, video: GPUBuffer, out: GPUBuffer, options: ToRgbaOptions): void {
  const o = resolveToRgba(options, Math.floor(video.size / 4), Math.floor(out.size / 4));
  if (video === out) throw new RangeError('toRgba: video and out must be different buffers');
  // Bind only the frames in range, so one frame of a long video stays under the binding-size limit.
  const plane = o.height * o.width;
  const input = manager.bind({ buffer: video, offset: o.inputOffset + o.frameStart * plane, count: (2 * o.frames + o.frameCount) * plane });
  const output = manager.bind({ buffer: out, offset: o.outputOffset, count: o.count });
  const params = packParams([
    ['u32', o.count], ['u32', o.frames], ['u32', o.height], ['u32', o.width], ['u32', o.scale],
    ['u32', o.filter === 'nearest' ? 0 : 1], ['u32', 0], ['u32', input.shift], ['u32', output.shift],
  ]);
  manager.encode(encoder, kernel, params, [input.entry, output.entry], o.count);
}
