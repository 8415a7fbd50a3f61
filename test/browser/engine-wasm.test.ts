// The engine on onnxruntime-web's wasm backend, in-process in real Chromium, on the embedded model.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { detect } from '../../training/eval/detector.mjs';
import { parseCaption } from '../../training/eval/captions.mjs';
import { KinemaError } from '../../src/errors';
import { createEngine } from '../../src/engine/engine';
import type { Engine } from '../../src/contract';
import type { ProgressEvent } from '../../src/progress/events';
import { concatFrames, generateSpec, loadSpec, psnr, referenceIndex, referenceTensor, rgbOf } from './support/model';

let engine: Engine;
const loadEvents: ProgressEvent[] = [];

beforeAll(async () => {
  engine = createEngine();
  await engine.load(loadSpec('wasm'), (e) => loadEvents.push(e));
});
afterAll(() => engine?.dispose());

function expectMonotonicProgress(events: ProgressEvent[]) {
  for (let i = 1; i < events.length; i++) expect(events[i]!.overall, `event ${i} (${events[i]!.type})`).toBeGreaterThanOrEqual(events[i - 1]!.overall);
  expect(events.at(-1)).toEqual({ type: 'done', overall: 1 });
  expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
}

describe('engine on wasm', () => {
  it('loads with byte progress whose total is known from the first event', () => {
    const downloads = loadEvents.filter((e): e is Extract<ProgressEvent, { type: 'download' }> => e.type === 'download');
    expect(downloads.length).toBeGreaterThan(0);
    const total = downloads[0]!.total;
    expect(downloads.every((e) => e.total === total)).toBe(true);
    expect(downloads.at(-1)!.loaded).toBe(total);
    expect(loadEvents.filter((e) => e.type === 'compile')).toHaveLength(3);
    expectMonotonicProgress(loadEvents);
  });

  it('matches the PyTorch reference frames (≥ 35 dB PSNR) when fed the reference noise', async () => {
    const index = await referenceIndex();
    expect(index.cases.length).toBeGreaterThanOrEqual(4);
    for (const c of index.cases) {
      const noise = (await referenceTensor(c.tensors.noise)) as Float32Array;
      const expected = (await referenceTensor(c.tensors.frames)) as Uint8Array;
      const result = await engine.generate(generateSpec({
        prompt: c.prompt, negativePrompt: c.negativePrompt, seed: c.seed, steps: index.steps, guidanceScale: index.guidanceScale, initialLatents: noise,
      }));
      expect(psnr(rgbOf(result.frames!), expected), `${c.name}: ${c.prompt}`).toBeGreaterThanOrEqual(35);
    }
  });

  it('shows what the prompt says, in English and Chinese', async () => {
    const prompts = ['a green square moving left on a white background', '灰色背景上一个黄色的圆形变大'];
    for (const [i, prompt] of prompts.entries()) {
      const result = await engine.generate(generateSpec({ prompt, seed: 11 + i }));
      const found = detect(concatFrames(result.frames!), 32, 32, 8);
      const wanted = parseCaption(prompt);
      expect({ color: found.color, shape: found.shape, motion: found.motion, background: found.background }, prompt)
        .toEqual({ color: wanted.color, shape: wanted.shape, motion: wanted.motion, background: wanted.background });
    }
  });

  it('gives identical frames for the same seed, different frames for another, and reports progress monotonically', async () => {
    const events: ProgressEvent[] = [];
    const spec = generateSpec({ prompt: 'a blue triangle moving up on a black background', seed: 99, steps: 4, previewEvery: 2 });
    const a = await engine.generate(spec, (e) => events.push(e));
    const b = await engine.generate(spec);
    const c = await engine.generate({ ...spec, seed: 100 });
    expect(concatFrames(b.frames!)).toEqual(concatFrames(a.frames!));
    expect(psnr(concatFrames(c.frames!), concatFrames(a.frames!))).toBeLessThan(60);
    expect(a.readbacksDuringDenoise).toBe(0);
    expectMonotonicProgress(events);
    expect(events.filter((e) => e.type === 'denoise').map((e) => (e as { step: number }).step)).toEqual([1, 2, 3, 4]);
    const previews = events.filter((e) => e.type === 'preview');
    expect(previews).toHaveLength(1); // after step 2 (none after the last step: the result follows)
    expect((previews[0] as { rgba: Uint8Array }).rgba.length).toBe(8 * 32 * 32 * 4);
  });

  it('cancels within a step with ABORTED, and the next generation succeeds', async () => {
    const controller = new AbortController();
    const spec = generateSpec({ prompt: 'a red square shrinking on a gray background', steps: 20 });
    let abortedAtStep = 0;
    let stepsAfterAbort = 0;
    const pending = engine.generate(spec, (e) => {
      if (e.type !== 'denoise') return;
      if (controller.signal.aborted) stepsAfterAbort++;
      else if (e.step === 2) { abortedAtStep = e.step; controller.abort(); }
    }, controller.signal);
    const error = await pending.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('ABORTED');
    expect(abortedAtStep).toBe(2);
    expect(stepsAfterAbort).toBeLessThanOrEqual(1);
    const next = await engine.generate(generateSpec({ prompt: 'a red square shrinking on a gray background', steps: 2 }));
    expect(next.frames).toHaveLength(8);
  });

  it('an encoder that cannot open ends the generation with ENCODER_UNSUPPORTED (not ABORTED: it opens while the generation runs), before the decoder', async () => {
    // No codec is supported here for the length of this test (this page's VideoEncoder, which the
    // in-page engine's encoder asks); mediabunny's own check is not reached once this says no.
    const original = VideoEncoder.isConfigSupported;
    VideoEncoder.isConfigSupported = async (config: VideoEncoderConfig) => ({ supported: false, config });
    const events: string[] = [];
    try {
      const error = await engine.generate(generateSpec({ prompt: 'a red square shrinking on a gray background', steps: 20, format: 'mp4' }), (e) => events.push(e.type))
        .then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(KinemaError);
      expect((error as KinemaError).code, String(error)).toBe('ENCODER_UNSUPPORTED');
    } finally {
      VideoEncoder.isConfigSupported = original;
    }
    expect(events.filter((type) => type === 'denoise').length, 'stopped long before 20 steps').toBeLessThan(20);
    expect(events).not.toContain('decode');
    const next = await engine.generate(generateSpec({ prompt: 'a red square shrinking on a gray background', steps: 2, format: 'mp4' }));
    expect(next.video?.size).toBeGreaterThan(0);
  });

  it('upscales frames for viewing', async () => {
    const small = await engine.generate(generateSpec({ prompt: 'a cyan circle moving down on a black background', steps: 2 }));
    const big = await engine.generate(generateSpec({ prompt: 'a cyan circle moving down on a black background', steps: 2, outputScale: 4 }));
    expect(big.width).toBe(128);
    expect(big.frames![0]!.length).toBe(128 * 128 * 4);
    // Nearest-neighbour: pixel (x, y) of the small frame is the 4×4 block at (4x, 4y).
    const s = small.frames![3]!;
    const b = big.frames![3]!;
    for (const [x, y] of [[0, 0], [17, 9], [31, 31]] as const) {
      expect([...b.subarray(((4 * y + 2) * 128 + 4 * x + 1) * 4, ((4 * y + 2) * 128 + 4 * x + 1) * 4 + 4)]).toEqual([...s.subarray((y * 32 + x) * 4, (y * 32 + x) * 4 + 4)]);
    }
  });
});
