/**
 * Round trips of the clip encoder in real Chromium: encode synthetic frames, read the file back with mediabunny,
 * assert container, codec, timing, tags and pixels; plus the fallback, failure and cancel paths.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ALL_FORMATS, BlobSource, EncodedPacketSink, Input, VideoSampleSink } from 'mediabunny';
import { createClipEncoder, probeCodecs, type ClipEncoderOptions, type CodecSupport, type EncodedClip } from '../../src/encode';
import { KinemaError, isKinemaError } from '../../src/errors';

const METADATA = { prompt: 'a red square drifting over a lake', negativePrompt: 'blurry', seed: 1234, modelId: 'tiny-t2v', modelVersion: '0.3.1' };
const SQUARE: [number, number, number] = [230, 60, 40];

interface Rect { x0: number; y0: number; x1: number; y1: number }
interface Clip { width: number; height: number; frames: Uint8Array[]; squares: Rect[] }

/** Flat background whose colour drifts per frame, with a saturated square moving left to right. */
function makeClip(width: number, height: number, numFrames: number): Clip {
  const side = Math.round(Math.min(width, height) / 4);
  const step = Math.floor((width - side - 8) / Math.max(1, numFrames - 1));
  const frames: Uint8Array[] = [];
  const squares: Rect[] = [];
  for (let i = 0; i < numFrames; i++) {
    const background = [40 + 6 * i, 120, 200 - 5 * i];
    const x0 = 4 + i * step;
    const y0 = Math.round((height - side) / 2);
    const square = { x0, y0, x1: x0 + side, y1: y0 + side };
    const rgba = new Uint8Array(width * height * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 4;
        const inside = x >= square.x0 && x < square.x1 && y >= square.y0 && y < square.y1;
        const c = inside ? SQUARE : background;
        rgba[o] = c[0]!;
        rgba[o + 1] = c[1]!;
        rgba[o + 2] = c[2]!;
        rgba[o + 3] = 255;
      }
    }
    frames.push(rgba);
    squares.push(square);
  }
  return { width, height, frames, squares };
}

/** Pixels at least `margin` away from the square's edges: where a codec has no excuse for error. */
function isFlat(x: number, y: number, r: Rect, margin = 4): boolean {
  const nearX = x >= r.x0 - margin && x < r.x1 + margin;
  const nearY = y >= r.y0 - margin && y < r.y1 + margin;
  const deepInside = x >= r.x0 + margin && x < r.x1 - margin && y >= r.y0 + margin && y < r.y1 - margin;
  return !(nearX && nearY) || deepInside;
}

function meanAbsError(a: ArrayLike<number>, b: ArrayLike<number>, width: number, keep: (x: number, y: number) => boolean): number {
  let sum = 0;
  let count = 0;
  for (let p = 0; p < a.length / 4; p++) {
    if (!keep(p % width, Math.floor(p / width))) continue;
    for (let c = 0; c < 3; c++) sum += Math.abs(a[p * 4 + c]! - b[p * 4 + c]!);
    count += 3;
  }
  expect(count, 'the region compared is not empty').toBeGreaterThan(0);
  return sum / count;
}

async function encodeClip(clip: Clip, options: Partial<ClipEncoderOptions> & Pick<ClipEncoderOptions, 'format'>): Promise<EncodedClip> {
  const encoder = await createClipEncoder({
    width: clip.width, height: clip.height, fps: 8, numFrames: clip.frames.length, metadata: METADATA, ...options,
  });
  for (const [i, rgba] of clip.frames.entries()) await encoder.addFrame(rgba, i);
  const result = await encoder.finalize();
  expect(encoder.state).toBe('finalized');
  return result;
}

async function readBack(blob: Blob) {
  const input = new Input({ source: new BlobSource(blob), formats: ALL_FORMATS });
  try {
    const track = await input.getPrimaryVideoTrack();
    if (!track) throw new Error('no video track');
    const packets: { type: string; timestamp: number; duration: number }[] = [];
    for await (const p of new EncodedPacketSink(track).packets()) packets.push({ type: p.type, timestamp: p.timestamp, duration: p.duration });
    const width = await track.getDisplayWidth();
    const height = await track.getDisplayHeight();
    const canvas = new OffscreenCanvas(width, height);
    const context = canvas.getContext('2d', { willReadFrequently: true })!;
    const frames: Uint8ClampedArray[] = [];
    for await (const sample of new VideoSampleSink(track).samples()) {
      sample.draw(context, 0, 0);
      sample.close();
      frames.push(context.getImageData(0, 0, width, height).data);
    }
    return {
      mimeType: await input.getMimeType(),
      codec: await track.getCodec(),
      codecString: await track.getCodecParameterString(),
      width,
      height,
      stats: await track.computePacketStats(),
      duration: await input.computeDuration(),
      tags: await input.getMetadataTags(),
      packets,
      frames,
    };
  } finally {
    input.dispose();
  }
}

/** Counts the WebCodecs encoders created while installed, to prove none is left open. */
function trackEncoders() {
  const Original = globalThis.VideoEncoder;
  const instances: VideoEncoder[] = [];
  globalThis.VideoEncoder = class extends Original {
    constructor(init: VideoEncoderInit) {
      super(init);
      instances.push(this);
    }
  };
  return { instances, restore: () => { globalThis.VideoEncoder = Original; } };
}

let restoreEncoder: (() => void) | undefined;
afterEach(() => {
  restoreEncoder?.();
  restoreEncoder = undefined;
});

const fixedProbe = (support: CodecSupport) => async () => support;

describe('probeCodecs', () => {
  it('lists H.264 first for MP4 and VP9 first for WebM in this Chromium', async () => {
    const support = await probeCodecs({ width: 128, height: 128, fps: 8 });
    expect(support.mp4).toEqual(['avc', 'vp9', 'av1']);
    expect(support.webm).toEqual(['vp9', 'vp8', 'av1']);
  });

  it('leaves H.264 out for odd sides', async () => {
    const support = await probeCodecs({ width: 33, height: 32, fps: 8 });
    expect(support.mp4).not.toContain('avc');
    expect(support.mp4).toContain('vp9');
  });
});

describe('round trip through mediabunny', () => {
  it.each([
    { format: 'mp4', width: 64, height: 64, numFrames: 8, codec: 'avc', codecString: /^avc1\.[0-9a-f]{6}$/, mime: 'video/mp4' },
    { format: 'mp4', width: 128, height: 96, numFrames: 16, codec: 'avc', codecString: /^avc1\.[0-9a-f]{6}$/, mime: 'video/mp4' },
    { format: 'webm', width: 64, height: 64, numFrames: 8, codec: 'vp9', codecString: /^vp09\./, mime: 'video/webm' },
    { format: 'webm', width: 128, height: 96, numFrames: 16, codec: 'vp9', codecString: /^vp09\./, mime: 'video/webm' },
  ] as const)('$format $width×$height, $numFrames frames at 8 fps', async ({ format, width, height, numFrames, codec, codecString, mime }) => {
    const clip = makeClip(width, height, numFrames);
    const result = await encodeClip(clip, { format });

    expect(result).toMatchObject({ format, width, height, numFrames, fps: 8, durationSeconds: numFrames / 8, fellBackToWebm: false, watermarked: false });
    expect(result.codec).toMatch(codecString);
    expect(result.mimeType).toBe(`${mime}; codecs="${result.codec}"`);
    expect(result.blob.type).toBe(mime);
    expect(result.bytes).toBe(result.blob.size);

    const back = await readBack(result.blob);
    expect(back.mimeType.startsWith(mime)).toBe(true);
    expect(back.codec).toBe(codec);
    if (codec === 'avc') expect(back.codecString).toBe(result.codec); // the string we report is the file's
    expect([back.width, back.height]).toEqual([width, height]);
    expect(back.stats.packetCount).toBe(numFrames);
    expect(back.stats.averagePacketRate).toBeCloseTo(8, 6);
    expect(back.duration).toBeCloseTo(numFrames / 8, 6);
    expect(back.packets.map((p) => p.timestamp)).toEqual(Array.from({ length: numFrames }, (_, i) => i / 8));
    expect(back.packets.every((p) => Math.abs(p.duration - 1 / 8) < 1e-6)).toBe(true);
    expect(back.packets[0]!.type).toBe('key');

    expect(back.tags.title).toBe(METADATA.prompt);
    expect(back.tags.description).toContain('Generated by kinema');
    expect(back.tags.description).toContain('seed 1234');
    expect(JSON.parse(back.tags.comment!)).toEqual({ generator: 'kinema', ...METADATA });
    expect(back.tags.raw?.[format === 'mp4' ? '©too' : 'ENCODER']).toBe('kinema');
    if (format === 'mp4') expect(back.tags.raw?.desc).toBe(back.tags.description);

    expect(back.frames).toHaveLength(numFrames);
    back.frames.forEach((decoded, i) => {
      const square = clip.squares[i]!;
      const flat = meanAbsError(decoded, clip.frames[i]!, width, (x, y) => isFlat(x, y, square));
      const all = meanAbsError(decoded, clip.frames[i]!, width, () => true);
      expect(flat, `frame ${i}: mean abs error on flat regions`).toBeLessThan(8);
      expect(all, `frame ${i}: mean abs error over the frame`).toBeLessThan(12);
    });
    // The moving square is where it should be in the last frame, in its colour.
    const last = clip.squares.at(-1)!;
    const cx = Math.floor((last.x0 + last.x1) / 2);
    const cy = Math.floor((last.y0 + last.y1) / 2);
    const o = (cy * width + cx) * 4;
    const pixel = Array.from(back.frames.at(-1)!.slice(o, o + 3));
    pixel.forEach((v, c) => expect(Math.abs(v - SQUARE[c]!), `square centre channel ${c}`).toBeLessThan(12));
  });

  it('writes VP9 in MP4 when H.264 is missing', async () => {
    const result = await encodeClip(makeClip(64, 64, 8), { format: 'mp4', probe: fixedProbe({ mp4: ['vp9'], webm: ['vp9'] }) });
    expect(result).toMatchObject({ format: 'mp4', fellBackToWebm: false });
    const back = await readBack(result.blob);
    expect(back.mimeType.startsWith('video/mp4')).toBe(true);
    expect(back.codec).toBe('vp9');
    expect(back.stats.packetCount).toBe(8);
  });

  it('falls back to WebM when MP4 has no encoder, and says so', async () => {
    const clip = makeClip(64, 64, 8);
    const result = await encodeClip(clip, { format: 'mp4', probe: fixedProbe({ mp4: [], webm: ['vp8'] }) });
    expect(result).toMatchObject({ format: 'webm', fellBackToWebm: true, codec: 'vp8' });
    expect(result.blob.type).toBe('video/webm');
    const back = await readBack(result.blob);
    expect(back.codec).toBe('vp8');
    expect(back.stats.packetCount).toBe(8);
    expect(back.duration).toBeCloseTo(1, 6);
    expect(back.tags.raw?.ENCODER).toBe('kinema');
    expect(meanAbsError(back.frames[3]!, clip.frames[3]!, 64, (x, y) => isFlat(x, y, clip.squares[3]!))).toBeLessThan(8);
  });

  it('encodes AV1 when it is the only codec', async () => {
    const result = await encodeClip(makeClip(64, 64, 8), { format: 'webm', probe: fixedProbe({ mp4: [], webm: ['av1'] }) });
    expect(result.codec).toMatch(/^av01\./);
    const back = await readBack(result.blob);
    expect(back.codec).toBe('av1');
    expect(back.stats.packetCount).toBe(8);
  });

  it('accepts all frames queued without awaiting, in order', async () => {
    const clip = makeClip(64, 64, 8);
    const encoder = await createClipEncoder({ format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA });
    const pending = clip.frames.map((rgba, i) => encoder.addFrame(rgba, i));
    expect(encoder.framesAdded).toBe(8);
    const [result] = await Promise.all([encoder.finalize(), ...pending]);
    const back = await readBack(result!.blob);
    expect(back.stats.packetCount).toBe(8);
    back.frames.forEach((decoded, i) => {
      expect(meanAbsError(decoded, clip.frames[i]!, 64, (x, y) => isFlat(x, y, clip.squares[i]!))).toBeLessThan(8);
    });
  });

  it.each(['mp4', 'webm'] as const)('keeps the colours of a 32×32 clip upscaled 4× (%s, default bitrate)', async (format) => {
    // Nearest-upscaled random saturated pixels: the hardest realistic input (sharp edges every 4 px).
    const side = 32;
    const factor = 4;
    const size = side * factor;
    let state = 12345;
    const random = () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 8) & 0xff;
    const palette = Array.from({ length: (side + 8) * side }, () => [random(), random(), random()]);
    const frames = Array.from({ length: 8 }, (_, i) => {
      const rgba = new Uint8Array(size * size * 4);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          const c = palette[Math.floor(y / factor) * (side + 8) + Math.floor(x / factor) + i]!;
          rgba.set([c[0]!, c[1]!, c[2]!, 255], (y * size + x) * 4);
        }
      }
      return rgba;
    });
    const encoder = await createClipEncoder({ format, width: size, height: size, fps: 8, numFrames: 8, metadata: METADATA });
    for (const [i, rgba] of frames.entries()) await encoder.addFrame(rgba, i);
    const back = await readBack((await encoder.finalize()).blob);
    const errors = back.frames.map((decoded, i) => meanAbsError(decoded, frames[i]!, size, () => true));
    console.info(`${format} 32×32→128×128 noise: mean abs error per frame ${errors.map((e) => e.toFixed(2)).join(' ')}`);
    for (const e of errors) expect(e).toBeLessThan(6);
  });

  it('encodes 8 frames of 128×128 quickly enough to not matter next to generation', async () => {
    const clip = makeClip(128, 128, 8);
    const started = performance.now();
    const result = await encodeClip(clip, { format: 'mp4' });
    const ms = performance.now() - started;
    console.info(`encode 8 × 128×128 → ${result.codec}, ${result.bytes} bytes in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(10_000);
  });
});

describe('own WebCodecs encoder, mediabunny as muxer', () => {
  it('configures the encoder when the clip encoder is created, with a config the probe found supported', async () => {
    const Original = globalThis.VideoEncoder;
    const probed: { config: VideoEncoderConfig; supported: boolean }[] = [];
    const configured: VideoEncoderConfig[] = [];
    const instances: VideoEncoder[] = [];
    restoreEncoder = () => { globalThis.VideoEncoder = Original; };
    globalThis.VideoEncoder = class extends Original {
      static override async isConfigSupported(config: VideoEncoderConfig): Promise<VideoEncoderSupport> {
        const answer = await Original.isConfigSupported(config);
        probed.push({ config, supported: answer.supported === true });
        return answer;
      }
      constructor(init: VideoEncoderInit) {
        super(init);
        instances.push(this);
      }
      override configure(config: VideoEncoderConfig): void {
        configured.push(config);
        super.configure(config);
      }
    };
    const encoder = await createClipEncoder({ format: 'mp4', width: 64, height: 48, fps: 8, numFrames: 8, metadata: METADATA });
    // Before any frame: the encoder exists and is configured, so its setup overlaps the denoiser.
    expect(instances).toHaveLength(1);
    expect(instances[0]!.state).toBe('configured');
    expect(configured).toHaveLength(1);
    const config = configured[0]!;
    expect(config.codec).toMatch(/^avc1\.6400[0-9a-f]{2}$/);
    expect(probed.some((p) => p.supported && JSON.stringify(p.config) === JSON.stringify(config))).toBe(true);
    const clip = makeClip(64, 48, 8);
    for (const [i, rgba] of clip.frames.entries()) await encoder.addFrame(rgba, i);
    const back = await readBack((await encoder.finalize()).blob);
    expect(back.stats.packetCount).toBe(8);
    expect(instances[0]!.state).toBe('closed');
  });

  it.each(['mp4', 'webm'] as const)('keeps a key frame every 2 s, exact i/fps timestamps and the duration (%s, 24 frames at 8 fps)', async (format) => {
    const result = await encodeClip(makeClip(32, 32, 24), { format });
    const back = await readBack(result.blob);
    expect(back.stats.packetCount).toBe(24);
    expect(back.duration).toBeCloseTo(3, 6);
    expect(back.packets.map((p) => p.timestamp)).toEqual(Array.from({ length: 24 }, (_, i) => i / 8));
    expect(back.packets[0]!.type).toBe('key');
    expect(back.packets[16]!.type).toBe('key');
  });

  it('addFrame resolves only when the encoder has room (backpressure on encodeQueueSize and dequeue)', async () => {
    const Original = globalThis.VideoEncoder;
    const held: HeldEncoder[] = [];
    class HeldEncoder extends Original {
      readonly waiting: [VideoFrame, VideoEncoderEncodeOptions | undefined][] = [];
      constructor(init: VideoEncoderInit) {
        super(init);
        held.push(this);
      }
      override get encodeQueueSize(): number {
        return this.waiting.length + super.encodeQueueSize;
      }
      override encode(frame: VideoFrame, options?: VideoEncoderEncodeOptions): void {
        this.waiting.push([frame.clone(), options]);
      }
      release(): void {
        const [frame, options] = this.waiting.shift()!;
        super.encode(frame, options);
        frame.close();
        this.dispatchEvent(new Event('dequeue'));
      }
    }
    restoreEncoder = () => { globalThis.VideoEncoder = Original; };
    globalThis.VideoEncoder = HeldEncoder;
    const clip = makeClip(32, 32, 8);
    const encoder = await createClipEncoder({ format: 'webm', width: 32, height: 32, fps: 8, numFrames: 8, metadata: METADATA });
    for (let i = 0; i < 3; i++) await encoder.addFrame(clip.frames[i]!, i); // 3 held: still room
    let fourthDone = false;
    const fourth = encoder.addFrame(clip.frames[3]!, 3).then(() => { fourthDone = true; });
    while (held[0]!.waiting.length < 4) await new Promise((r) => setTimeout(r, 0));
    for (let turn = 0; turn < 5; turn++) await new Promise((r) => setTimeout(r, 0));
    expect(fourthDone, 'the 4th frame fills the queue, so its addFrame waits').toBe(false);
    held[0]!.release();
    await fourth;
    expect(held[0]!.encodeQueueSize).toBeLessThan(4);
    while (held[0]!.waiting.length > 0) held[0]!.release();
    for (let i = 4; i < 8; i++) {
      await encoder.addFrame(clip.frames[i]!, i); // one held at a time: room left, so it resolves at once
      held[0]!.release();
    }
    const back = await readBack((await encoder.finalize()).blob);
    expect(back.stats.packetCount).toBe(8);
  });
  it('opens a fresh encoder when the browser reclaims the idle one (a long denoise) and still writes the whole clip', async () => {
    const Original = globalThis.VideoEncoder;
    const instances: { encoder: VideoEncoder; reportError: (error: DOMException) => void }[] = [];
    restoreEncoder = () => { globalThis.VideoEncoder = Original; };
    globalThis.VideoEncoder = class extends Original {
      constructor(init: VideoEncoderInit) {
        super(init);
        instances.push({ encoder: this, reportError: init.error });
      }
    };
    const clip = makeClip(64, 64, 8);
    const encoder = await createClipEncoder({ format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA });
    // What Chromium does to an inactive codec: closes it and reports a QuotaExceededError.
    instances[0]!.encoder.close();
    instances[0]!.reportError(new DOMException('Codec reclaimed due to inactivity.', 'QuotaExceededError'));
    for (const [i, rgba] of clip.frames.entries()) await encoder.addFrame(rgba, i);
    const back = await readBack((await encoder.finalize()).blob);
    expect(instances).toHaveLength(2);
    expect(back.stats.packetCount).toBe(8);
    expect(back.packets[0]!.type).toBe('key');
  });
});

describe('finalize checks the flushed encoder (no sleep for late errors)', () => {
  /** A VideoEncoder whose output drops the chunk of frame `drop`, and optionally reports an error after flush. */
  function installDroppingEncoder(drop: number, lateError: 'none' | 'before-flush-resolves' | 'after-flush-resolves') {
    const Original = globalThis.VideoEncoder;
    const instances: VideoEncoder[] = [];
    restoreEncoder = () => { globalThis.VideoEncoder = Original; };
    globalThis.VideoEncoder = class extends Original {
      readonly #reportError: (error: DOMException) => void;
      constructor(init: VideoEncoderInit) {
        let seen = 0;
        super({ ...init, output: (chunk, meta) => { if (seen++ !== drop) init.output(chunk, meta); } });
        this.#reportError = init.error;
        instances.push(this);
      }
      override async flush(): Promise<void> {
        await super.flush();
        const error = new DOMException(`frame ${drop} failed to encode`, 'EncodingError');
        if (lateError === 'before-flush-resolves') this.#reportError(error);
        if (lateError === 'after-flush-resolves') setTimeout(() => this.#reportError(error), 0);
      }
    };
    return instances;
  }

  it.each(['none', 'after-flush-resolves'] as const)('rejects ENCODE_FAILED naming the frame count when a chunk is missing (late error: %s)', async (lateError) => {
    const instances = installDroppingEncoder(5, lateError);
    const clip = makeClip(64, 64, 8);
    const encoder = await createClipEncoder({ format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA });
    for (const [i, rgba] of clip.frames.entries()) await encoder.addFrame(rgba, i);
    const error = await encoder.finalize().catch((e: unknown) => e);
    expect(isKinemaError(error, 'ENCODE_FAILED')).toBe(true);
    expect((error as Error).message).toBe('the avc encoder returned 7 encoded frames for the 8 frames it was given, with no error; the clip would be incomplete');
    expect((error as KinemaError).details).toMatchObject({ codec: 'avc', framesEncoded: 8, chunksOut: 7 });
    expect(encoder.state).toBe('failed');
    expect(instances.every((e) => e.state === 'closed')).toBe(true);
    await expect(encoder.finalize()).rejects.toBe(error);
  });

  it('rejects ENCODE_FAILED with the encoder\'s error when it fires as flush resolves', async () => {
    installDroppingEncoder(2, 'before-flush-resolves');
    const clip = makeClip(64, 64, 8);
    const encoder = await createClipEncoder({ format: 'webm', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA });
    for (const [i, rgba] of clip.frames.entries()) await encoder.addFrame(rgba, i);
    const error = await encoder.finalize().catch((e: unknown) => e);
    expect(isKinemaError(error, 'ENCODE_FAILED')).toBe(true);
    expect((error as Error).message).toBe('the vp9 encoder failed after 7 of 8 frames: frame 2 failed to encode');
    expect(encoder.state).toBe('failed');
  });

  it('rejects ENCODE_FAILED when the WebCodecs encoder is closed under it before finalize', async () => {
    const tracked = trackEncoders();
    restoreEncoder = tracked.restore;
    const clip = makeClip(64, 64, 8);
    const encoder = await createClipEncoder({ format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA });
    for (const [i, rgba] of clip.frames.entries()) await encoder.addFrame(rgba, i);
    tracked.instances[0]!.close();
    const error = await encoder.finalize().catch((e: unknown) => e);
    expect(isKinemaError(error, 'ENCODE_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/^avc encoding failed at finalize: /);
    expect(encoder.state).toBe('failed');
    await encoder.cancel();
    expect(encoder.state).toBe('canceled');
  });
});

describe('watermark', () => {
  it('draws a mark in the bottom-right corner only', async () => {
    const clip = makeClip(128, 96, 8);
    const result = await encodeClip(clip, { format: 'mp4', watermark: true });
    expect(result.watermarked).toBe(true);
    const back = await readBack(result.blob);
    for (const i of [0, 7]) {
      const decoded = back.frames[i]!;
      const square = clip.squares[i]!;
      const corner = (x: number, y: number) => x >= 128 * 0.6 && y >= 96 * 0.8;
      const away = (x: number, y: number) => x < 128 * 0.5 && y < 96 * 0.6 && isFlat(x, y, square);
      expect(meanAbsError(decoded, clip.frames[i]!, 128, corner), `frame ${i}: the corner carries the mark`).toBeGreaterThan(6);
      expect(meanAbsError(decoded, clip.frames[i]!, 128, away), `frame ${i}: the rest is untouched`).toBeLessThan(8);
    }
  });

  it('is off by default', async () => {
    const clip = makeClip(128, 96, 8);
    const back = await readBack((await encodeClip(clip, { format: 'webm' })).blob);
    const corner = (x: number, y: number) => x >= 128 * 0.6 && y >= 96 * 0.8;
    expect(meanAbsError(back.frames[0]!, clip.frames[0]!, 128, corner)).toBeLessThan(4);
  });
});

describe('failures and lifecycle', () => {
  it('rejects with ENCODER_UNSUPPORTED naming what was tried, creating no encoder', async () => {
    const tracked = trackEncoders();
    restoreEncoder = tracked.restore;
    const error = await createClipEncoder({
      format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA, probe: fixedProbe({ mp4: [], webm: [] }),
    }).catch((e: unknown) => e);
    expect(isKinemaError(error, 'ENCODER_UNSUPPORTED')).toBe(true);
    expect((error as KinemaError).message).toContain('mp4 (avc, vp9, av1), webm (vp9, vp8, av1)');
    expect((error as KinemaError).details).toMatchObject({ width: 64, height: 64, fps: 8 });
    expect(tracked.instances).toHaveLength(0);
  });

  it('turns a failing probe into ENCODER_UNSUPPORTED', async () => {
    const error = await createClipEncoder({
      format: 'webm', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA,
      probe: async () => { throw new Error('isConfigSupported exploded'); },
    }).catch((e: unknown) => e);
    expect(isKinemaError(error, 'ENCODER_UNSUPPORTED')).toBe(true);
    expect((error as Error).message).toContain('isConfigSupported exploded');
  });

  it('an encoder that fails mid-way rejects with ENCODE_FAILED and stays failed', async () => {
    const Original = globalThis.VideoEncoder;
    restoreEncoder = () => { globalThis.VideoEncoder = Original; };
    globalThis.VideoEncoder = class extends Original {
      override encode(frame: VideoFrame, options?: VideoEncoderEncodeOptions): void {
        if (frame.timestamp > 0) throw new DOMException('simulated encoder crash', 'EncodingError');
        super.encode(frame, options);
      }
    };
    const clip = makeClip(64, 64, 8);
    const encoder = await createClipEncoder({ format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA });
    await encoder.addFrame(clip.frames[0]!, 0);
    const error = await encoder.addFrame(clip.frames[1]!, 1).catch((e: unknown) => e);
    expect(isKinemaError(error, 'ENCODE_FAILED')).toBe(true);
    expect((error as Error).message).toContain('simulated encoder crash');
    expect(encoder.state).toBe('failed');
    await expect(encoder.addFrame(clip.frames[2]!, 2)).rejects.toBe(error);
    await expect(encoder.finalize()).rejects.toBe(error);
    await encoder.cancel();
    expect(encoder.state).toBe('canceled');
  });

  it('throws argument errors at once, before probing or encoding', () => {
    let probed = false;
    const probe = async () => { probed = true; return { mp4: [], webm: [] }; };
    const call = (patch: Partial<ClipEncoderOptions>) => () =>
      createClipEncoder({ format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA, probe, ...patch });
    expect(call({ width: 33 })).toThrow(new RangeError("width must be even for H.264; got 33. Use outputScale or an even width, or format: 'webm'"));
    expect(call({ numFrames: 0 })).toThrow(RangeError);
    expect(call({ fps: -1 })).toThrow(RangeError);
    expect(call({ metadata: { ...METADATA, seed: Number.NaN } })).toThrow(RangeError);
    expect(call({ watermark: 3 as unknown as boolean })).toThrow(TypeError);
    expect(probed).toBe(false);
  });

  it('checks each frame and the call order at once', async () => {
    const encoder = await createClipEncoder({ format: 'webm', width: 32, height: 32, fps: 8, numFrames: 2, metadata: METADATA });
    const frame = new Uint8Array(32 * 32 * 4).fill(255);
    expect(() => encoder.addFrame(new Uint8Array(10), 0)).toThrow(new RangeError('frame must be width*height*4 = 4096 bytes for 32×32 RGBA (got 10)'));
    expect(() => encoder.addFrame([1, 2, 3] as unknown as Uint8Array, 0)).toThrow(TypeError);
    expect(() => encoder.addFrame(frame, 1)).toThrow('frames must be added in order: expected index 0 (got 1)');
    await encoder.addFrame(frame, 0);
    expect(() => encoder.finalize()).toThrow('finalize() after 1 of 2 frames; add the rest or call cancel()');
    await encoder.addFrame(frame, 1);
    expect(() => encoder.addFrame(frame, 2)).toThrow('numFrames is 2; frame 2 is one too many');
    await encoder.finalize();
    await expect(encoder.addFrame(frame, 2)).rejects.toThrow(TypeError);
    await expect(encoder.finalize()).rejects.toThrow('the clip encoder is finalized');
  });

  it('cancel mid-way closes the WebCodecs encoder and refuses more frames', async () => {
    const tracked = trackEncoders();
    restoreEncoder = tracked.restore;
    const clip = makeClip(64, 64, 8);
    const encoder = await createClipEncoder({ format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA });
    for (let i = 0; i < 3; i++) await encoder.addFrame(clip.frames[i]!, i);
    expect(tracked.instances.length).toBeGreaterThan(0);
    expect(tracked.instances.some((e) => e.state === 'configured')).toBe(true);
    await encoder.cancel();
    expect(encoder.state).toBe('canceled');
    expect(tracked.instances.map((e) => e.state)).toEqual(tracked.instances.map(() => 'closed'));
    await expect(encoder.addFrame(clip.frames[3]!, 3)).rejects.toSatisfy((e: unknown) => isKinemaError(e, 'ABORTED'));
    await expect(encoder.finalize()).rejects.toSatisfy((e: unknown) => isKinemaError(e, 'ABORTED'));
    await encoder.cancel(); // idempotent
  });

  it('cancel while frames are still queued rejects them with ABORTED', async () => {
    const tracked = trackEncoders();
    restoreEncoder = tracked.restore;
    const clip = makeClip(64, 64, 8);
    const encoder = await createClipEncoder({ format: 'webm', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA });
    await encoder.addFrame(clip.frames[0]!, 0); // the WebCodecs encoder now exists
    const pending = clip.frames.slice(1).map((rgba, i) => encoder.addFrame(rgba, i + 1).then(() => 'ok', (e: unknown) => e));
    await encoder.cancel();
    expect(tracked.instances.length).toBeGreaterThan(0);
    const outcomes = await Promise.all(pending);
    expect(outcomes.some((o) => isKinemaError(o, 'ABORTED'))).toBe(true);
    expect(outcomes.every((o) => o === 'ok' || isKinemaError(o, 'ABORTED'))).toBe(true);
    expect(tracked.instances.every((e) => e.state === 'closed')).toBe(true);
  });

  it('an aborted signal cancels the encoder, keeping the reason', async () => {
    const tracked = trackEncoders();
    restoreEncoder = tracked.restore;
    const clip = makeClip(64, 64, 8);
    const controller = new AbortController();
    const encoder = await createClipEncoder({ format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA, signal: controller.signal });
    await encoder.addFrame(clip.frames[0]!, 0);
    controller.abort('user pressed stop');
    const error = await encoder.addFrame(clip.frames[1]!, 1).catch((e: unknown) => e);
    expect(isKinemaError(error, 'ABORTED')).toBe(true);
    expect((error as Error).message).toContain('user pressed stop');
    expect(encoder.state).toBe('canceled');
    await encoder.cancel(); // resolves once the abort's own cancel has released everything
    expect(tracked.instances.length).toBeGreaterThan(0);
    expect(tracked.instances.every((e) => e.state === 'closed')).toBe(true);
  });

  it('an already-aborted signal rejects before probing', async () => {
    let probed = false;
    const error = await createClipEncoder({
      format: 'mp4', width: 64, height: 64, fps: 8, numFrames: 8, metadata: METADATA, signal: AbortSignal.abort(),
      probe: async () => { probed = true; return { mp4: ['avc'], webm: [] }; },
    }).catch((e: unknown) => e);
    expect(isKinemaError(error, 'ABORTED')).toBe(true);
    expect(probed).toBe(false);
  });
});
