/**
 * The small kernel manager: a kernel is a plain description (name, WGSL source, entry point, override
 * constants); pipelines are compiled with createComputePipelineAsync once per deterministic key and
 * recorded into a caller's command encoder. Per-dispatch parameters go into a tiny uniform buffer made
 * with mappedAtCreation (so several dispatches of one kernel can share an encoder without a
 * queue.writeBuffer race); those buffers are destroyed by the next `releaseTransients()`, which is
 * safe once the command buffer using them has been submitted.
 * Shaders index a 2-D grid as id.x + id.y · num_workgroups.x · WORKGROUP_SIZE.
 */
import { KinemaError } from '../errors';

export interface KernelDescription {
  readonly name: string;
  readonly source: string;
  readonly entryPoint: string;
  readonly constants: Readonly<Record<string, number>>;
}

/** A slice of a buffer to bind, in elements of `bytesPerElement` bytes (4 for f32 and u32). */
export interface BufferSlice {
  readonly buffer: GPUBuffer;
  readonly offset: number;
  readonly count: number;
}

/** A bound slice: the binding starts at an aligned byte offset, `shift` elements before the data. */
export interface BoundSlice {
  readonly entry: GPUBufferBinding;
  readonly shift: number;
}

/** Where each slice landed among a kernel's interchangeable f32 bindings ("slots"). */
export interface SlotBinding {
  readonly entries: GPUBufferBinding[];
  readonly refs: { readonly slot: number; readonly offset: number }[];
}

export function kernelKey(kernel: KernelDescription): string {
  const constants = Object.keys(kernel.constants)
    .sort()
    .map((k) => `${k}=${kernel.constants[k]}`)
    .join(',');
  return `${kernel.name}#${kernel.entryPoint}(${constants})`;
}

export class KernelManager {
  readonly device: GPUDevice;
  private readonly compiling = new Map<string, Promise<GPUComputePipeline>>();
  private readonly ready = new Map<string, GPUComputePipeline>();
  private readonly modules = new Map<string, GPUShaderModule>();
  private transients: GPUBuffer[] = [];

  constructor(device: GPUDevice) {
    this.device = device;
  }

  /** Compiles (once per key) and remembers the pipeline so `encode` can record synchronously. */
  prepare(kernel: KernelDescription): Promise<GPUComputePipeline> {
    const key = kernelKey(kernel);
    let pending = this.compiling.get(key);
    if (!pending) {
      let module = this.modules.get(kernel.name);
      if (!module) {
        module = this.device.createShaderModule({ label: `kinema:${kernel.name}`, code: kernel.source });
        this.modules.set(kernel.name, module);
      }
      pending = this.device
        .createComputePipelineAsync({
          label: `kinema:${key}`,
          layout: 'auto',
          compute: { module, entryPoint: kernel.entryPoint, constants: { ...kernel.constants } },
        })
        .then(
          (pipeline) => {
            this.ready.set(key, pipeline);
            return pipeline;
          },
          (cause: unknown) => {
            this.compiling.delete(key);
            throw new KinemaError('BACKEND_FAILED', `compiling kernel ${key} failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
          },
        );
      this.compiling.set(key, pending);
    }
    return pending;
  }

  /** Binds a slice, rounding its start down to minStorageBufferOffsetAlignment. */
  bind(slice: BufferSlice, bytesPerElement = 4): BoundSlice {
    const alignment = this.device.limits.minStorageBufferOffsetAlignment;
    const start = slice.offset * bytesPerElement;
    const end = start + Math.max(slice.count, 1) * bytesPerElement;
    if (end > slice.buffer.size) {
      throw new RangeError(`buffer ${slice.buffer.label || '(unlabelled)'} has ${slice.buffer.size} bytes, the kernel needs ${end}`);
    }
    const aligned = Math.floor(start / alignment) * alignment;
    return { entry: { buffer: slice.buffer, offset: aligned, size: end - aligned }, shift: (start - aligned) / bytesPerElement };
  }

  /**
   * Binds slices to `slotCount` f32 bindings, one binding per distinct buffer over the union of its
   * slices, because WebGPU rejects two writable bindings with overlapping ranges of one buffer and
   * binding offsets must be aligned (so even disjoint slices can overlap once rounded). Shaders load and
   * store through (slot, offset) pairs; unused slots get a small placeholder buffer.
   */
  bindSlots(slices: readonly BufferSlice[], slotCount: number): SlotBinding {
    const ranges = new Map<GPUBuffer, { start: number; end: number }>();
    for (const slice of slices) {
      const start = slice.offset * 4;
      const end = start + Math.max(slice.count, 1) * 4;
      if (end > slice.buffer.size) {
        throw new RangeError(`buffer ${slice.buffer.label || '(unlabelled)'} has ${slice.buffer.size} bytes, the kernel needs ${end}`);
      }
      const range = ranges.get(slice.buffer);
      if (range) {
        range.start = Math.min(range.start, start);
        range.end = Math.max(range.end, end);
      } else ranges.set(slice.buffer, { start, end });
    }
    const alignment = this.device.limits.minStorageBufferOffsetAlignment;
    const buffers = [...ranges.keys()];
    const entries = buffers.map((buffer): GPUBufferBinding => {
      const { start, end } = ranges.get(buffer)!;
      const aligned = Math.floor(start / alignment) * alignment;
      return { buffer, offset: aligned, size: end - aligned };
    });
    const refs = slices.map((slice) => {
      const slot = buffers.indexOf(slice.buffer);
      return { slot, offset: (slice.offset * 4 - entries[slot]!.offset!) / 4 };
    });
    while (entries.length < slotCount) entries.push({ buffer: this.placeholder(entries.length) });
    return { entries, refs };
  }

  /** One per slot: a shared placeholder would itself be writable aliasing. */
  private readonly placeholders = new Map<number, GPUBuffer>();
  private placeholder(slot: number): GPUBuffer {
    let buffer = this.placeholders.get(slot);
    if (!buffer) {
      buffer = this.device.createBuffer({ label: `kinema:placeholder${slot}`, size: 16, usage: GPUBufferUsage.STORAGE });
      this.placeholders.set(slot, buffer);
    }
    return buffer;
  }

  /** A small buffer holding `data`, destroyed by the next releaseTransients(). */
  transient(data: ArrayBuffer, usage: GPUBufferUsageFlags): GPUBuffer {
    const size = Math.max(16, Math.ceil(data.byteLength / 16) * 16);
    const buffer = this.device.createBuffer({ label: 'kinema:params', size, usage, mappedAtCreation: true });
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data));
    buffer.unmap();
    this.transients.push(buffer);
    return buffer;
  }

  /**
   * Records one dispatch of `invocations` threads (one per output element). The grid is 2-D when one
   * dimension would exceed maxComputeWorkgroupsPerDimension; shaders linearise it as
   * id.x + id.y · num_workgroups.x · WORKGROUP_SIZE.
   */
  encode(encoder: GPUCommandEncoder, kernel: KernelDescription, params: ArrayBuffer, bindings: readonly GPUBufferBinding[], invocations: number): void {
    if (invocations === 0) return;
    const key = kernelKey(kernel);
    const pipeline = this.ready.get(key);
    if (!pipeline) throw new Error(`kernel ${key} was not prepared; await prepare() first`);
    const uniform = this.transient(params, GPUBufferUsage.UNIFORM);
    const bindGroup = this.device.createBindGroup({
      label: `kinema:${kernel.name}`,
      layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: uniform } }, ...bindings.map((resource, i) => ({ binding: i + 1, resource }))],
    });
    const groups = Math.ceil(invocations / workgroupSizeOf(kernel));
    const maxPerDimension = this.device.limits.maxComputeWorkgroupsPerDimension;
    const x = Math.min(groups, maxPerDimension);
    const y = Math.ceil(groups / x);
    if (y > maxPerDimension) throw new RangeError(`${invocations} invocations exceed the device's dispatch limits`);
    const pass = encoder.beginComputePass({ label: `kinema:${kernel.name}` });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
    pass.end();
  }

  /** Destroys parameter buffers recorded so far; call after submitting the encoders that use them. */
  releaseTransients(): void {
    for (const buffer of this.transients) buffer.destroy();
    this.transients = [];
  }

  destroy(): void {
    this.releaseTransients();
    for (const buffer of this.placeholders.values()) buffer.destroy();
    this.placeholders.clear();
    this.compiling.clear();
    this.ready.clear();
    this.modules.clear();
  }
}

export function workgroupSizeOf(kernel: KernelDescription): number {
  return kernel.constants.WORKGROUP_SIZE ?? 64;
}

/** Packs u32/f32 scalars into a uniform's bytes in declaration order. */
export function packParams(fields: readonly (readonly ['u32' | 'f32', number])[]): ArrayBuffer {
  const bytes = new ArrayBuffer(fields.length * 4);
  const view = new DataView(bytes);
  fields.forEach(([type, value], i) => {
    if (type === 'u32') view.setUint32(i * 4, value, true);
    else view.setFloat32(i * 4, value, true);
  });
  return bytes;
}
