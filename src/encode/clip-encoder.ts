/**
 * The clip encoder: mediabunny's Output + VideoSampleSource + BufferTarget, fed one RGBA frame at a time as the
 * VAE decodes them. Worker-safe: uses only WebCodecs and (for the watermark) OffscreenCanvas.
 */
import { BufferTarget, Mp4OutputFormat, Output, Quality, VideoSample, VideoSampleSource, WebMOutputFormat } from 'mediabunny';
import { KinemaError, abortError } from '../errors';
import {
  avcCodecStringFromAvcC, buildMetadataTags, chooseCodec, codecFromMimeType, describeTried, resolveClipEncoderOptions,
  type CodecChoice, type ResolvedOptions,
} from './options';
import { probeCodecs } from './probe';
import type { ClipCodec, ClipEncoder, ClipEncoderOptions, ClipEncoderState, ClipFormat, CodecSupport, EncodedClip } from './types';
import { createWatermarker, type Watermarker } from './watermark';

/**
 * Validates `options` synchronously (a bad call throws TypeError/RangeError before any work), then probes the
 * encoders, picks container and codec, and opens the output. Rejects with `ENCODER_UNSUPPORTED` when nothing
 * can encode here, or `ABORTED` when `signal` fires first.
 */
export function createClipEncoder(options: ClipEncoderOptions): Promise<ClipEncoder> {
  const resolved = resolveClipEncoderOptions(options);
  return openClipEncoder(resolved);
}

async function openClipEncoder(options: ResolvedOptions): Promise<ClipEncoder> {
  const { width, height, fps, bitrate, signal, format } = options;
  if (signal?.aborted) throw abortError(signal, 'encoding');
  let support: CodecSupport;
  try {
    support = await (options.probe ?? probeCodecs)({ width, height, fps, bitrate });
  } catch (cause) {
    throw new KinemaError('ENCODER_UNSUPPORTED', `could not probe video encoders: ${messageOf(cause)}`, { cause });
  }
  if (signal?.aborted) throw abortError(signal, 'encoding');
  const choice = chooseCodec(format, support);
  if (!choice) {
    throw new KinemaError(
      'ENCODER_UNSUPPORTED',
      `no WebCodecs video encoder here can write a ${width}×${height} clip at ${fps} fps; tried ${describeTried(format)}`,
      { details: { tried: describeTried(format), width, height, fps, bitrate } },
    );
  }
  const watermarker = options.watermark === null ? null : createWatermarker(width, height, options.watermark);
  const encoder = new MediabunnyClipEncoder(options, choice, watermarker);
  await encoder.start();
  return encoder;
}

class MediabunnyClipEncoder implements ClipEncoder {
  readonly format: ClipFormat;
  readonly codec: ClipCodec;
  readonly fellBackToWebm: boolean;
  #state: ClipEncoderState = 'started';
  #framesAdded = 0;
  #queue: Promise<void> = Promise.resolve();
  #failure: KinemaError | null = null;
  #codecString: string | null = null;
  #canceling: Promise<void> | null = null;
  readonly #options: ResolvedOptions;
  readonly #watermarker: Watermarker | null;
  readonly #target = new BufferTarget();
  readonly #output: Output;
  readonly #source: VideoSampleSource;
  readonly #onAbort = () => void this.cancel();

  constructor(options: ResolvedOptions, choice: CodecChoice, watermarker: Watermarker | null) {
    this.#options = options;
    this.format = choice.format;
    this.codec = choice.codec;
    this.fellBackToWebm = choice.fellBackToWebm;
    this.#watermarker = watermarker;
    this.#output = new Output({
      format: choice.format === 'mp4' ? new Mp4OutputFormat() : new WebMOutputFormat(),
      target: this.#target,
    });
    this.#source = new VideoSampleSource({
      codec: choice.codec,
      quality: new Quality({ bitrate: options.bitrate }),
      latencyMode: 'quality',
      onEncodedPacket: (_packet, meta) => {
        const config = meta?.decoderConfig;
        if (!config) return;
        // For H.264 the configured string (e.g. avc1.640014) need not match the SPS the encoder wrote; the avcC
        // record is what players read, so report that.
        this.#codecString = (choice.codec === 'avc' && avcCodecStringFromAvcC(config.description)) || config.codec;
      },
    });
    // frameRate makes mediabunny snap every timestamp to i/fps exactly, whatever the container's timescale.
    this.#output.addVideoTrack(this.#source, { frameRate: options.fps });
    this.#output.setMetadataTags(buildMetadataTags(options.metadata, choice.format));
  }

  get state(): ClipEncoderState {
    return this.#state;
  }

  get framesAdded(): number {
    return this.#framesAdded;
  }

  async start(): Promise<void> {
    this.#options.signal?.addEventListener('abort', this.#onAbort, { once: true });
    try {
      await this.#output.start();
    } catch (cause) {
      await this.cancel();
      throw new KinemaError('ENCODE_FAILED', `could not start the ${this.format} output: ${messageOf(cause)}`, { cause });
    }
  }

  addFrame(rgba: Uint8Array | Uint8ClampedArray, index: number): Promise<void> {
    const { width, height, numFrames, fps } = this.#options;
    if (!(rgba instanceof Uint8Array || rgba instanceof Uint8ClampedArray)) {
      throw new TypeError('addFrame needs RGBA8 pixels as a Uint8Array or Uint8ClampedArray');
    }
    if (rgba.length !== width * height * 4) {
      throw new RangeError(`frame must be width*height*4 = ${width * height * 4} bytes for ${width}×${height} RGBA (got ${rgba.length})`);
    }
    if (this.#state !== 'started') return Promise.reject(this.#notOpenError('addFrame'));
    if (index !== this.#framesAdded) {
      throw new RangeError(`frames must be added in order: expected index ${this.#framesAdded} (got ${index})`);
    }
    if (index >= numFrames) throw new RangeError(`numFrames is ${numFrames}; frame ${index} is one too many`);
    this.#framesAdded++;

    return this.#enqueue(async () => {
      const timestamp = index / fps;
      const duration = 1 / fps;
      const sample = this.#watermarker
        ? new VideoSample(this.#watermarker.draw(rgba), { timestamp, duration })
        : new VideoSample(rgba, { format: 'RGBA', codedWidth: width, codedHeight: height, timestamp, duration });
      try {
        // Resolves when the encoder and writer can take more: that is the backpressure the caller awaits.
        await this.#source.add(sample, index === 0 ? { keyFrame: true } : undefined);
      } finally {
        sample.close();
      }
    }, `frame ${index}`);
  }

  finalize(): Promise<EncodedClip> {
    if (this.#state !== 'started') return Promise.reject(this.#notOpenError('finalize'));
    const { numFrames, width, height, fps } = this.#options;
    if (this.#framesAdded !== numFrames) {
      throw new RangeError(`finalize() after ${this.#framesAdded} of ${numFrames} frames; add the rest or call cancel()`);
    }
    this.#state = 'finalizing';
    let result: EncodedClip | undefined;
    return this.#enqueue(async () => {
      await this.#output.finalize();
      const buffer = this.#target.buffer;
      if (!buffer) throw new Error('the output produced no bytes');
      this.#state = 'finalized';
      this.#detach();
      const codec = this.#codecString ?? codecFromMimeType(await this.#output.getMimeType()) ?? this.codec;
      const baseType = this.format === 'mp4' ? 'video/mp4' : 'video/webm';
      result = {
        blob: new Blob([buffer], { type: baseType }),
        format: this.format,
        codec,
        mimeType: `${baseType}; codecs="${codec}"`,
        width,
        height,
        numFrames,
        fps,
        durationSeconds: numFrames / fps,
        bytes: buffer.byteLength,
        fellBackToWebm: this.fellBackToWebm,
        watermarked: this.#watermarker !== null,
      };
    }, 'finalize').then(() => result!);
  }

  cancel(): Promise<void> {
    if (this.#canceling) return this.#canceling; // a second call waits for the same release
    if (this.#state === 'finalized') return Promise.resolve();
    const wasFailed = this.#state === 'failed';
    this.#state = 'canceled';
    this.#detach();
    // Closes the WebCodecs encoder and drops queued frames; nothing lingers after this resolves.
    this.#canceling = wasFailed ? Promise.resolve() : this.#output.cancel().catch(() => undefined);
    return this.#canceling;
  }

  /** Runs `work` after everything queued before it; failures become KinemaErrors and close the encoder. */
  #enqueue(work: () => Promise<void>, what: string): Promise<void> {
    const run = this.#queue.then(async () => {
      // Frames queued before finalize() still run while finalizing; only cancel or failure stops them.
      if (this.#stopped()) throw this.#notOpenError(what);
      try {
        await work();
      } catch (cause) {
        // cancel() (or the signal) ran while this was in flight: report that, not the encoder's complaint.
        if (this.#stopped()) throw this.#notOpenError(what);
        const failure = cause instanceof KinemaError
          ? cause
          : new KinemaError('ENCODE_FAILED', `${this.codec} encoding failed at ${what}: ${messageOf(cause)}`, { cause, details: { codec: this.codec, format: this.format } });
        this.#failure = failure;
        this.#state = 'failed';
        this.#detach();
        await this.#output.cancel().catch(() => undefined);
        throw failure;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** A method, not an inline check, so TypeScript does not keep a narrowing of #state across awaits. */
  #stopped(): boolean {
    return this.#state === 'canceled' || this.#state === 'failed';
  }

  #notOpenError(what: string): Error {
    switch (this.#state) {
      case 'canceled':
        return this.#options.signal?.aborted
          ? abortError(this.#options.signal, 'encoding')
          : new KinemaError('ABORTED', `${what}: the clip encoder was canceled`);
      case 'failed':
        return this.#failure!;
      default:
        return new TypeError(`${what}: the clip encoder is ${this.#state}; create a new one`);
    }
  }

  #detach(): void {
    this.#options.signal?.removeEventListener('abort', this.#onAbort);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
