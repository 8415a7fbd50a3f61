/**
 * Shared by the WGSL kernel tests: a WebGPU device with the kernels on it, buffer upload and read-back,
 * validation-checked submission, an elementwise closeness check, and reproducible random inputs.
 * Call `useGpu()` and `seededRandom()` at the top of a test file: they register that file's hooks.
 */
import { afterAll, beforeAll, beforeEach, expect } from 'vitest';
import { createKernels, type Kernels } from '../../../src/kernels';

export interface GpuFixture {
  /** The device and kernels exist from the file's beforeAll on; reading them earlier throws. */
  readonly device: GPUDevice;
  readonly kernels: Kernels;
  /** A storage buffer (at least 16 bytes) holding `data`, readable back and writable again. */
  upload(data: Float32Array<ArrayBuffer> | Uint32Array<ArrayBuffer>): GPUBuffer;
  /** The first `bytes` bytes of `buffer`, copied back to the CPU. */
  download(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer>;
  /** The first `count` floats of `buffer`, copied back to the CPU. */
  downloadFloats(buffer: GPUBuffer, count: number): Promise<Float32Array<ArrayBuffer>>;
  /** Records with `record`, submits through `using` (the fixture's kernels by default), and fails on any WebGPU validation error. */
  run(record: (encoder: GPUCommandEncoder) => void, using?: Kernels): Promise<void>;
}

/** Opens a device and kernels before the file's tests and destroys both after them. */
export function useGpu(): GpuFixture {
  let device: GPUDevice | undefined;
  let kernels: Kernels | undefined;

  beforeAll(async () => {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter: is --enable-unsafe-webgpu set?');
    device = await adapter.requestDevice();
    kernels = await createKernels(device);
  });

  afterAll(() => {
    kernels?.destroy();
    device?.destroy();
  });

  const ready = (): { device: GPUDevice; kernels: Kernels } => {
    if (!device || !kernels) throw new Error('useGpu: the device is opened in beforeAll; use it inside a test or hook');
    return { device, kernels };
  };

  async function download(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const { device } = ready();
    const read = device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, 0, read, 0, bytes);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const copy = read.getMappedRange().slice(0);
    read.destroy();
    return copy;
  }

  return {
    get device() { return ready().device; },
    get kernels() { return ready().kernels; },
    upload(data) {
      const { device } = ready();
      const buffer = device.createBuffer({ size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(buffer, 0, data);
      return buffer;
    },
    download,
    async downloadFloats(buffer, count) {
      return new Float32Array(await download(buffer, count * 4));
    },
    async run(record, using) {
      const { device, kernels } = ready();
      device.pushErrorScope('validation');
      const encoder = device.createCommandEncoder();
      record(encoder);
      (using ?? kernels).submit(encoder);
      const error = await device.popErrorScope();
      expect(error?.message ?? null).toBeNull();
    },
  };
}

export interface SeededRandom {
  /** This file's seed: VITE_KINEMA_TEST_SEED when set, else fresh for each run. */
  readonly seed: number;
  /** Uniform in [0, 1). */
  rand(): number;
  /** `n` floats uniform in (−scale, scale). */
  random(n: number, scale?: number): Float32Array<ArrayBuffer>;
}

/**
 * Inputs are random but reproducible: one seed per run (VITE_KINEMA_TEST_SEED=<n> replays a run), the
 * stream restarted from it before each test so a failing test replays alone, and printed on failure
 * under `label`. Draws made while the file's cases are collected come from the start of the stream.
 */
export function seededRandom(label: string): SeededRandom {
  const fromEnv = import.meta.env.VITE_KINEMA_TEST_SEED as string | undefined;
  const seed = (fromEnv !== undefined ? Number(fromEnv) : Math.floor(Math.random() * 2 ** 32)) >>> 0;
  let state = seed;
  /** mulberry32: small, fast, and good enough for test inputs. */
  const rand = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  beforeEach(({ task, onTestFailed }) => {
    state = seed;
    onTestFailed(() => console.error(`${label}: "${task.name}" failed with seed ${seed}; replay with VITE_KINEMA_TEST_SEED=${seed}`));
  });
  return {
    seed,
    rand,
    random: (n, scale = 1) => Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale),
  };
}

/** Fills output buffers so that a write out of range shows as a changed sentinel. */
export const SENTINEL = -12345.5;
export const filled = (n: number, value = SENTINEL): Float32Array<ArrayBuffer> => new Float32Array(n).fill(value);

/** Elementwise |got − want| ≤ tolerance(i) (a GPU may fuse multiply-adds); exact matches always pass; reports the worst index. */
export function expectClose(got: Float32Array, want: Float32Array, tolerance: (i: number) => number, what: string): void {
  expect(got.length).toBe(want.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < want.length; i++) {
    const excess = Math.abs(got[i]! - want[i]!) - tolerance(i);
    if (!(excess <= worstExcess) && got[i] !== want[i]) {
      worst = i;
      worstExcess = Number.isNaN(excess) ? Infinity : excess;
    }
  }
  expect(worst, worst < 0 ? what : `${what}[${worst}]: gpu ${got[worst]}, cpu ${want[worst]}`).toBe(-1);
}
