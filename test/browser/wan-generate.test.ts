// A tiny random-weight Wan-family model (converted by the Python converter in test/browser/wan-setup.ts),
// generated through the public API (createVideoGenerator, its worker) on wasm and on WebGPU: 4T−3 frames,
// the same frames for the same seed, wasm vs WebGPU ≥ 35 dB, no GPU read-back while denoising, and both
// ≥ 35 dB against the PyTorch sampling run (convert/kinema_convert/sample.py: the converter's modules, the
// Python UniPC, from kinema's seeded noise).
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createVideoGenerator, type GenerateResult, type VideoGenerator } from '../../src/index';
import { concatFrames, psnr, rgbOf } from './support/model';

const wan = inject('wanTiny');
const skipped = 'skipped' in wan ? wan.skipped : undefined;
if (skipped) console.warn(`\n*** test/browser/wan-generate: ${skipped}: SKIPPED ***\n`);

const generators: VideoGenerator[] = [];
afterAll(async () => {
  for (const g of generators) await g.dispose();
});

async function generate(backend: 'wasm' | 'webgpu', guidanceScale = 1): Promise<GenerateResult> {
  if (!('manifest' in wan)) throw new Error(`the tiny Wan model could not be prepared: ${'failed' in wan ? wan.failed : wan.skipped}`);
  const generator = createVideoGenerator({ model: new URL(wan.manifest, location.origin).href, backend, allowWasm: backend === 'wasm', weights: 'fp32', cache: 'memory' });
  generators.push(generator);
  return generator.generate({ prompt: wan.prompt, seed: wan.seed, steps: wan.steps, guidanceScale, numFrames: wan.numFrames, width: wan.width, height: wan.height, format: 'frames' });
}

/** The reference frames (float32 in [0, 1], [F, H, W, 3]) as 8-bit RGB, rounded as kinema's frames are. */
async function reference(which: 'reference' | 'referenceGuided' = 'reference'): Promise<Uint8Array> {
  if (!('reference' in wan)) throw new Error('no reference frames');
  const values = new Float32Array(await (await fetch(wan[which])).arrayBuffer());
  return Uint8Array.from(values, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255));
}

describe.skipIf(skipped !== undefined)('the wan2.1-t2v-1.3b preset\'s quantized graphs (int4 umT5 MatMulNBits, int8 DiT DequantizeLinear, rCM 4 steps)', () => {
  async function generatePreset(backend: 'wasm' | 'webgpu'): Promise<GenerateResult> {
    if (!('presetManifest' in wan)) throw new Error('the preset model could not be prepared');
    const generator = createVideoGenerator({ model: new URL(wan.presetManifest, location.origin).href, backend, allowWasm: backend === 'wasm', cache: 'memory' });
    generators.push(generator);
    return generator.generate({ prompt: wan.prompt, seed: wan.seed, numFrames: wan.numFrames, width: wan.width, height: wan.height, format: 'frames' });
  }

  it('run on wasm and on WebGPU (no read-back while denoising) and agree (≥ 35 dB)', async () => {
    const onWasm = await generatePreset('wasm');
    expect(onWasm.backend).toBe('wasm');
    expect(onWasm.steps).toBe(4);
    expect(onWasm.frames).toHaveLength(5);
    const rgb = rgbOf(onWasm.frames!);
    let low = 255, high = 0;
    for (const v of rgb) { low = Math.min(low, v); high = Math.max(high, v); }
    expect(high - low).toBeGreaterThan(16); // a picture, not a constant
    const onGpu = await generatePreset('webgpu');
    expect(onGpu.backend).toBe('webgpu');
    expect(onGpu.readbacksDuringDenoise).toBe(0);
    const db = psnr(rgbOf(onGpu.frames!), rgb);
    console.info(`wan tiny preset (int4/int8), WebGPU vs wasm: ${db.toFixed(1)} dB`);
    expect(db).toBeGreaterThanOrEqual(35);
  });
});

describe.skipIf(skipped !== undefined)('Wan family through the public API', () => {
  let wasm: GenerateResult;
  let gpu: GenerateResult;

  it('wasm: 4T−3 frames at the requested size, the same frames for the same seed, and the PyTorch run\'s frames (≥ 35 dB)', async () => {
    wasm = await generate('wasm');
    expect(wasm.backend).toBe('wasm');
    expect(wasm.frames).toHaveLength(5); // T = 2 latent frames → 4·2 − 3
    expect(wasm.frames![0]!.length).toBe(64 * 64 * 4);
    const again = await generate('wasm');
    expect(concatFrames(again.frames!)).toEqual(concatFrames(wasm.frames!));
    const ref = await reference();
    expect(new Set(ref).size, 'the reference frames are not flat').toBeGreaterThan(50); // else a high PSNR would prove nothing
    const db = psnr(rgbOf(wasm.frames!), ref);
    console.info(`wan tiny, wasm vs PyTorch sampling run: ${db.toFixed(1)} dB`);
    expect(db).toBeGreaterThanOrEqual(35);
  });

  it('wasm with classifier-free guidance (negative prompt "" from the manifest): the guided PyTorch run\'s frames (≥ 35 dB), not the unguided ones', async () => {
    const scale = 'guidanceScale' in wan ? wan.guidanceScale : 4;
    const guided = await generate('wasm', scale);
    expect(guided.frames).toHaveLength(5);
    const ref = await reference('referenceGuided');
    const db = psnr(rgbOf(guided.frames!), ref);
    const vsUnguided = psnr(rgbOf(guided.frames!), await reference());
    console.info(`wan tiny, guided (scale ${scale}) wasm vs guided PyTorch run: ${db.toFixed(1)} dB (vs the unguided run: ${vsUnguided.toFixed(1)} dB)`);
    expect(db).toBeGreaterThanOrEqual(35);
    // Guidance must change the frames, else this case would not test it.
    expect(vsUnguided).toBeLessThan(db - 10);
  });

  it('WebGPU: no read-back while denoising, same seed same frames, ≥ 35 dB against wasm and against PyTorch', async () => {
    gpu = await generate('webgpu');
    expect(gpu.backend).toBe('webgpu');
    expect(gpu.readbacksDuringDenoise).toBe(0);
    expect(gpu.frames).toHaveLength(5);
    const again = await generate('webgpu');
    expect(concatFrames(again.frames!)).toEqual(concatFrames(gpu.frames!));
    const vsWasm = psnr(rgbOf(gpu.frames!), rgbOf(wasm.frames!));
    const vsTorch = psnr(rgbOf(gpu.frames!), await reference());
    console.info(`wan tiny, WebGPU vs wasm: ${vsWasm.toFixed(1)} dB, WebGPU vs PyTorch: ${vsTorch.toFixed(1)} dB`);
    expect(vsWasm).toBeGreaterThanOrEqual(35);
    expect(vsTorch).toBeGreaterThanOrEqual(35);
  });
});
