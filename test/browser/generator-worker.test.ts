// The public API with the engine in its Web Worker: what a site gets.
import { afterAll, describe, expect, it } from 'vitest';
import { ALL_FORMATS, BlobSource, Input, VideoSampleSink } from 'mediabunny';
import { detect } from '../../training/eval/detector.mjs';
import { parseCaption } from '../../training/eval/captions.mjs';
import { createVideoGenerator, KinemaError, type ProgressEvent } from '../../src/index';
import { connectWorkerEngine, defaultWorker } from '../../src/api/worker-client';
import { MODEL_DIR, loadSpec } from './support/model';

const model = new URL(`/models/${MODEL_DIR}/manifest.json`, location.href).href;
const generator = createVideoGenerator({ model, backend: 'wasm', cache: 'memory' });
afterAll(() => generator.dispose());

async function decodeRgba(video: Blob): Promise<{ frames: Uint8Array; width: number; height: number; count: number; duration: number; codec: string | null }> {
  const input = new Input({ source: new BlobSource(video), formats: ALL_FORMATS });
  const track = (await input.getPrimaryVideoTrack())!;
  const width = track.displayWidth;
  const height = track.displayHeight;
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d')!;
  const parts: Uint8Array[] = [];
  for await (const sample of new VideoSampleSink(track).samples()) {
    sample.draw(context, 0, 0);
    parts.push(new Uint8Array(context.getImageData(0, 0, width, height).data));
    sample.close();
  }
  const frames = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.forEach((p, i) => frames.set(p, i * p.length));
  return { frames, width, height, count: parts.length, duration: await input.computeDuration(), codec: await track.getCodecParameterString() };
}

describe('createVideoGenerator with its worker', () => {
  it('turns a prompt into a playable H.264 MP4 that shows the prompt, and reports the seed', async () => {
    const prompt = 'a yellow square moving down on a black background';
    const events: ProgressEvent[] = [];
    const result = await generator.generate({ prompt, outputScale: 4 }, { onProgress: (e) => events.push(e) });
    expect(result.backend).toBe('wasm');
    expect(result.format).toBe('mp4');
    expect(result.video!.type).toMatch(/^video\/mp4/);
    expect(result.codec).toMatch(/^avc1\./);
    expect(Number.isInteger(result.seed)).toBe(true);
    expect(result.timings.loadMs).toBeGreaterThan(0);
    expect(generator.state).toBe('ready');
    for (let i = 1; i < events.length; i++) expect(events[i]!.overall).toBeGreaterThanOrEqual(events[i - 1]!.overall);
    expect(events.at(-1)).toEqual({ type: 'done', overall: 1 });
    expect(events.some((e) => e.type === 'download')).toBe(true);
    expect(events.filter((e) => e.type === 'encode')).toHaveLength(8);

    const decoded = await decodeRgba(result.video!);
    expect({ width: decoded.width, height: decoded.height, count: decoded.count, codec: decoded.codec }).toEqual({ width: 128, height: 128, count: 8, codec: result.codec });
    expect(decoded.duration).toBeCloseTo(1, 5);
    // Back to the model's 32×32 by sampling block centres, then ask the detector.
    const small = new Uint8Array(8 * 32 * 32 * 4);
    for (let f = 0; f < 8; f++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      small.set(decoded.frames.subarray(((f * 128 + y * 4 + 2) * 128 + x * 4 + 2) * 4, ((f * 128 + y * 4 + 2) * 128 + x * 4 + 2) * 4 + 4), ((f * 32 + y) * 32 + x) * 4);
    }
    const found = detect(small, 32, 32, 8);
    const wanted = parseCaption(prompt);
    expect({ color: found.color, shape: found.shape, motion: found.motion, background: found.background }).toEqual({ color: wanted.color, shape: wanted.shape, motion: wanted.motion, background: wanted.background });
  });

  it('reproduces a clip from its seed', async () => {
    const a = await generator.generate({ prompt: 'a white triangle growing on a gray background', seed: 321, format: 'frames', steps: 2 });
    const b = await generator.generate({ prompt: 'a white triangle growing on a gray background', seed: 321, format: 'frames', steps: 2 });
    expect(a.seed).toBe(321);
    expect(a.video).toBeNull();
    expect(b.frames).toEqual(a.frames);
  });

  it('throws caller mistakes at once, before any work', () => {
    expect(() => generator.generate({ prompt: '' })).toThrow(RangeError);
    expect(() => generator.generate({ prompt: 'x', steps: -3 })).toThrow(/steps must be an integer from 1/);
    expect(() => generator.generate({ prompt: 'x', format: 'gif' as never })).toThrow(TypeError);
  });

  it('rejects model-limit mistakes with the valid range, before generating', async () => {
    await expect(generator.generate({ prompt: 'x', numFrames: 99 })).rejects.toThrow(/numFrames must be from 8 to 8/);
    await expect(generator.generate({ prompt: 'x', width: 48, height: 48 })).rejects.toThrow(/use one of 32×32/);
  });

  it('carries an AbortSignal into the worker: ABORTED within a step, and the next call works', async () => {
    const controller = new AbortController();
    const pending = generator.generate({ prompt: 'a red circle moving left on a white background', steps: 30, format: 'frames' }, {
      signal: controller.signal,
      onProgress: (e) => { if (e.type === 'denoise' && e.step === 1) controller.abort(); },
    });
    const error = await pending.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('ABORTED');
    const next = await generator.generate({ prompt: 'a red circle moving left on a white background', steps: 1, format: 'frames' });
    expect(next.frames).toHaveLength(8);
  });

  it('dispose during a worker generation rejects it with DISPOSED, and no worker is ever started again', async () => {
    let workers = 0;
    const own = createVideoGenerator({ model, backend: 'wasm', cache: 'memory', worker: () => { workers++; return defaultWorker(); } });
    let disposing: Promise<void> | undefined;
    const running = own.generate({ prompt: 'a red circle moving left on a white background', steps: 30, format: 'frames' }, {
      onProgress: (e) => { if (e.type === 'denoise' && e.step === 1) disposing ??= own.dispose(); },
    });
    const error = await running.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('DISPOSED');
    await disposing;
    for (const call of [own.load(), own.generate({ prompt: 'x', format: 'frames' }), own.capabilities(), own.isCached(), own.clearCache()]) {
      expect(((await call.then(() => null, (e: unknown) => e)) as KinemaError).code).toBe('DISPOSED');
    }
    expect(workers).toBe(1);
    expect(own.state).toBe('disposed');
  });

  it('a disposed worker engine rejects pending and later calls with DISPOSED, not WORKER_CRASHED', async () => {
    const engine = connectWorkerEngine(defaultWorker());
    const pending = engine.load(loadSpec('wasm'));
    const disposing = engine.dispose();
    expect(((await pending.then(() => null, (e: unknown) => e)) as KinemaError).code).toBe('DISPOSED');
    await disposing;
    expect(((await engine.capabilities().then(() => null, (e: unknown) => e)) as KinemaError).code).toBe('DISPOSED');
  });

  it('keeps KinemaError codes across the worker boundary', async () => {
    const engine = connectWorkerEngine(defaultWorker());
    try {
      const error = await engine.load({ ...loadSpec('wasm'), manifestUrl: new URL('/models/no-such-model/manifest.json', location.href).href }).then(() => null, (e: unknown) => e);
      expect(error).toBeInstanceOf(KinemaError);
      expect((error as KinemaError).code).toBe('MODEL_NOT_FOUND');
    } finally {
      await engine.dispose();
    }
  });

  it('rejects pending calls promptly when the worker dies', async () => {
    const engine = connectWorkerEngine(defaultWorker());
    const pending = engine.load(loadSpec('wasm'));
    setTimeout(() => engine.terminate(), 50);
    // A terminated worker never answers, so without the client's own death handling this would wait
    // until the test times out; judged by outcome, not by a wall-clock bound a loaded machine could miss.
    const error = await pending.then(() => null, (e: unknown) => e);
    expect((error as KinemaError).code).toBe('WORKER_CRASHED');

    const crashing = new Worker(URL.createObjectURL(new Blob(['throw new Error("boom at start")'], { type: 'text/javascript' })), { type: 'module' });
    const crashed = connectWorkerEngine(crashing);
    const crashError = await crashed.capabilities().then(() => null, (e: unknown) => e);
    expect((crashError as KinemaError).code).toBe('WORKER_CRASHED');
  });
});
