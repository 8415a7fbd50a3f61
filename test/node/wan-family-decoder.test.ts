// The Wan family's streaming decoder glue on onnxruntime-web (wasm): a hand-built `vae_decoder_step`
// whose frames encode the call index (from its memory), the frame within the call and the latent frame it
// was given, so the test sees exactly which frames come out, in which order, from which latent, and that
// each memory output is fed back as the next call's input (zeros at the start).
import { beforeAll, describe, expect, it } from 'vitest';
import { decodeStreaming } from '../../src/families/wan/pipeline';
import { createCpuOps } from '../../src/pipeline/cpu-ops';
import type { Ort } from '../../src/runtime/ort';
import { createGraphChain, type GraphChain } from '../../src/runtime/chain';
import type { WanStreamingSpec } from '../../src/families/wan/manifest';
import { onnxModel } from './wan-family-onnx';

const FRAME = 8; // 8·h for a 1×1 latent

/** frames[k] = [R: 4·calls + k + 100·(mean(mem_1) − mem_0), G: latent[0], B: latent[1]] / 255, broadcast to 8×8. */
function decoderStepGraph(): Uint8Array {
  return onnxModel({
    name: 'vae_decoder_step',
    inputs: [
      { name: 'latent', type: 'float32', dims: [1, 2, 1, 1] },
      { name: 'mem_0', type: 'float32', dims: [1, 1, 1, 1] },
      { name: 'mem_1', type: 'float32', dims: [1, 1, 2, 2] },
    ],
    outputs: [
      { name: 'frames', type: 'float32', dims: [4, 3, FRAME, FRAME] },
      { name: 'mem_out_0', type: 'float32', dims: [1, 1, 1, 1] },
      { name: 'mem_out_1', type: 'float32', dims: [1, 1, 2, 2] },
    ],
    initializers: [
      { name: 'k', type: 'float32', dims: [4, 1, 1, 1], values: [0, 1, 2, 3] },
      { name: 'zeros', type: 'float32', dims: [4, 1, FRAME, FRAME], values: new Array(4 * FRAME * FRAME).fill(0) },
      { name: 'four', type: 'float32', dims: [1], values: [4] },
      { name: 'one', type: 'float32', dims: [1], values: [1] },
      { name: 'hundred', type: 'float32', dims: [1], values: [100] },
      { name: 'inv255', type: 'float32', dims: [1], values: [1 / 255] },
    ],
    nodes: [
      { op: 'Split', inputs: ['latent'], outputs: ['l0', 'l1'], attributes: { axis: 1 } },
      { op: 'Mul', inputs: ['mem_0', 'four'], outputs: ['m4'] },
      { op: 'Add', inputs: ['m4', 'k'], outputs: ['a0'] },
      { op: 'ReduceMean', inputs: ['mem_1'], outputs: ['mean1'], attributes: { axes: [1, 2, 3], keepdims: 1 } },
      { op: 'Sub', inputs: ['mean1', 'mem_0'], outputs: ['drift'] },
      { op: 'Mul', inputs: ['drift', 'hundred'], outputs: ['drift100'] },
      { op: 'Add', inputs: ['a0', 'drift100'], outputs: ['a1'] },
      { op: 'Add', inputs: ['a1', 'zeros'], outputs: ['red'] },
      { op: 'Add', inputs: ['l0', 'zeros'], outputs: ['green'] },
      { op: 'Add', inputs: ['l1', 'zeros'], outputs: ['blue'] },
      { op: 'Concat', inputs: ['red', 'green', 'blue'], outputs: ['rgb'], attributes: { axis: 1 } },
      { op: 'Mul', inputs: ['rgb', 'inv255'], outputs: ['frames'] },
      { op: 'Add', inputs: ['mem_0', 'one'], outputs: ['mem_out_0'] },
      { op: 'Add', inputs: ['mem_1', 'one'], outputs: ['mem_out_1'] },
    ],
  });
}

const streaming: WanStreamingSpec = {
  memory: [
    { input: 'mem_0', output: 'mem_out_0', channels: 1, scale: 1 },
    { input: 'mem_1', output: 'mem_out_1', channels: 1, scale: 2 },
  ],
  framesPerLatent: 4,
  trimFrames: 3,
};

describe('wan streaming decoder', () => {
  let ort: Ort;
  let chain: GraphChain;
  beforeAll(async () => {
    ort = (await import('onnxruntime-web')) as unknown as Ort;
    ort.env.wasm.numThreads = 1;
    chain = await createGraphChain(ort, 'wasm', 'vaeDecoder', [{ name: 'vae_decoder_step', model: decoderStepGraph(), externalData: [] }]);
  });

  // latents [1, 2, T, 1, 1]: channel 0 holds 5 + t, channel 1 holds 15 + t.
  const latentsFor = (frames: number) => Float32Array.from({ length: 2 * frames }, (_, i) => (i < frames ? 5 + i : 15 + i - frames));

  it('gives 4T − 3 frames in order, each from its latent frame, memories fed back from zeros', async () => {
    for (const frames of [1, 3]) {
      const got: { index: number; rgba: Uint8Array }[] = [];
      const raw: number[] = [];
      const count = await decodeStreaming({
        ops: createCpuOps(ort), decoder: chain, streaming, latents: latentsFor(frames),
        shape: { channels: 2, frames, height: 1, width: 1 }, outputScale: 1, outputFilter: 'nearest',
        onFrame: (rgba, index) => { got.push({ index, rgba }); },
        onFrames: (_rgb, dims, t) => { expect(dims).toEqual([4, 3, FRAME, FRAME]); raw.push(t); },
      });
      expect(count).toBe(4 * frames - 3);
      expect(raw).toEqual([...Array(frames).keys()]);
      expect(got.map((f) => f.index)).toEqual([...Array(4 * frames - 3).keys()]);
      for (const { index, rgba } of got) {
        const g = index + 3; // the first 3 frames of the clip are dropped
        const t = Math.floor(g / 4);
        expect(rgba).toHaveLength(FRAME * FRAME * 4);
        // Every pixel is the same: check the first and the last.
        for (const p of [0, FRAME * FRAME - 1]) expect([...rgba.subarray(4 * p, 4 * p + 4)]).toEqual([g, 5 + t, 15 + t, 255]);
      }
    }
  });

  it('counts the frames it makes with no onFrame hook too (a generation whose frames nobody takes, as the load\'s warm-up)', async () => {
    const count = await decodeStreaming({
      ops: createCpuOps(ort), decoder: chain, streaming, latents: latentsFor(3),
      shape: { channels: 2, frames: 3, height: 1, width: 1 }, outputScale: 1, outputFilter: 'nearest',
    });
    expect(count).toBe(9);
  });

  it('upscales frames by outputScale', async () => {
    const sizes: number[] = [];
    await decodeStreaming({
      ops: createCpuOps(ort), decoder: chain, streaming, latents: latentsFor(2),
      shape: { channels: 2, frames: 2, height: 1, width: 1 }, outputScale: 2, outputFilter: 'bilinear',
      onFrame: (rgba) => { sizes.push(rgba.length); },
    });
    expect(sizes).toEqual(Array(5).fill(4 * (2 * FRAME) ** 2));
  });

  it('stops at an aborted signal and refuses latents of the wrong size', async () => {
    const controller = new AbortController();
    let seen = 0;
    const run = decodeStreaming({
      ops: createCpuOps(ort), decoder: chain, streaming, latents: latentsFor(3),
      shape: { channels: 2, frames: 3, height: 1, width: 1 }, outputScale: 1, outputFilter: 'nearest',
      signal: controller.signal,
      onFrame: () => { seen++; controller.abort(); },
    });
    await expect(run).rejects.toMatchObject({ code: 'ABORTED' });
    expect(seen).toBe(1);
    await expect(decodeStreaming({
      ops: createCpuOps(ort), decoder: chain, streaming, latents: new Float32Array(5),
      shape: { channels: 2, frames: 3, height: 1, width: 1 }, outputScale: 1, outputFilter: 'nearest',
    })).rejects.toThrow('decoder: the latents have 5 values; [1, 2, 3, 1, 1] needs 6');
  });
});
