// The engine on onnxruntime-web's WebGPU backend, in real Chromium. Here that is SwiftShader, where one
// denoiser call takes ~10 s and a VAE decode ~15 s, so every generation counts: 2 steps each, and the
// run after the cancel doubles as the same-seed determinism check.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { createEngine } from '../../src/engine/engine';
import type { Engine } from '../../src/contract';
import type { ProgressEvent } from '../../src/progress/events';
import { concatFrames, generateSpec, loadSpec, psnr } from './support/model';

// Every GPU→CPU read-back goes through GPUBuffer.mapAsync, ours and onnxruntime's alike: count them all.
let mapAsyncCalls = 0;
const originalMapAsync = GPUBuffer.prototype.mapAsync;
GPUBuffer.prototype.mapAsync = function (this: GPUBuffer, ...args: Parameters<GPUBuffer['mapAsync']>) {
  mapAsyncCalls++;
  return originalMapAsync.apply(this, args);
};

let gpu: Engine;
beforeAll(async () => {
  gpu = createEngine();
  const info = await gpu.load(loadSpec('webgpu'));
  expect(info.backend).toBe('webgpu');
});
afterAll(() => gpu?.dispose());

const prompt = 'a magenta circle moving right on a gray background';
const spec = generateSpec({ prompt, seed: 2024, steps: 2 });

describe('engine on WebGPU', () => {
  let first: Awaited<ReturnType<Engine['generate']>>;

  it('keeps latents on the GPU: no read-back at all until frames exist', async () => {
    let atLastStep = -1;
    const before = mapAsyncCalls;
    first = await gpu.generate(spec, (e: ProgressEvent) => {
      if (e.type === 'denoise' && e.step === e.total) atLastStep = mapAsyncCalls - before;
    });
    expect(first.backend).toBe('webgpu');
    expect(atLastStep).toBe(0);
    expect(first.readbacksDuringDenoise).toBe(0);
    expect(first.frames).toHaveLength(8);
  });

  it('cancels mid-loop with ABORTED; the next generation with the same seed gives identical frames', async () => {
    const controller = new AbortController();
    const error = await gpu.generate(generateSpec({ prompt, steps: 30 }), (e) => {
      if (e.type === 'denoise' && e.step === 1) controller.abort();
    }, controller.signal).then(() => null, (e: unknown) => e);
    expect((error as KinemaError).code).toBe('ABORTED');
    const again = await gpu.generate(spec);
    expect(concatFrames(again.frames!)).toEqual(concatFrames(first.frames!));
  });

  it('matches the wasm backend (≥ 35 dB PSNR)', async () => {
    const cpu = createEngine();
    try {
      await cpu.load(loadSpec('wasm'));
      const wasm = await cpu.generate(spec);
      expect(psnr(concatFrames(first.frames!), concatFrames(wasm.frames!))).toBeGreaterThanOrEqual(35);
    } finally {
      await cpu.dispose();
    }
  });
});
