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
  // Each colour plane is bound over just the frames in range (read-only bindings may overlap).
  const plane = o.height * o.width;
  const planes = [0, 1, 2].map((ch) => manager.bind({ buffer: video, offset: o.inputOffset + (ch * o.frames + o.frameStart) * plane, count: o.frameCount * plane }));
  const output = manager.bind({ buffer: out, offset: o.outputOffset, count: o.count });
  const [r, g, b] = planes as [(typeof planes)[0], (typeof planes)[0], (typeof planes)[0]];
  const params = packParams([
    ['u32', o.count], ['u32', o.height], ['u32', o.width], ['u32', o.scale], ['u32', o.filter === 'nearest' ? 0 : 1],
    ['u32', r.shift], ['u32', g.shift], ['u32', b.shift], ['u32', output.shift],
  ]);
  manager.encode(encoder, kernel, params, [r.entry, g.entry, b.entry, output.entry], o.count);
}
