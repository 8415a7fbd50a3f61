/**
 * The clip encoder: a WebCodecs VideoEncoder of its own, fed one RGBA frame at a time as the VAE decodes them,
 * with mediabunny as the muxer only (Output + EncodedVideoPacketSource + BufferTarget). Worker-safe: uses only
 * WebCodecs and (for the watermark) OffscreenCanvas.
 *
 * Why not mediabunny's VideoSampleSource: it configures its encoder when the first frame arrives (after
 * denoising, on the generation's tail) and sleeps 25 ms after every flush to let a late Chromium error surface,
 * which made finalize() cost ~30 ms whatever the clip. Here the encoder is configured as soon as the clip
 * encoder is created (the engine does that before denoising, so the setup overlaps it), and finalize() checks
 * the flushed encoder deterministically instead (checkEncodedAll in options.ts).
 */
import { BufferTarget, EncodedPacket, EncodedVideoPacketSource, Mp4OutputFormat, Output, WebMOutputFormat } from 'mediabunny';
import { KinemaError, abortError } from '../errors';
import { videoEncoderConfig } from './codec-config';
import {
  avcCodecStringFromAvcC, buildMetadataTags, checkEncodedAll, chooseCodec, codecFromMimeType, describeTried,
  resolveClipEncoderOptions, type CodecChoice, type ResolvedOptions,
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
  const encoder = new WebCodecsClipEncoder(options, choice, watermarker);
  await encoder.start();
  return encoder;
}

/** Frames WebCodecs may hold before addFrame waits: enough to keep it busy, few enough to bound memory. */
const MAX_ENCODE_QUEUE = 4;
/**
 * The longest a wait on the encoder (room in its queue, a flush) may go without any progress before it counts as
 * stalled. Software encoders take milliseconds per frame; this only keeps a wedged encoder from hanging forever.
 */
const STALL_MS = 60_000;
/** A key frame at least every 2 s (mediabunny's rhythm, kept so files seek the same as before). */
const KEY_FRAME_INTERVAL_S = 2;
/** RGBA from the VAE is sRGB; saying so keeps the RGB→YUV conversion the same as mediabunny's VideoSample did. */
const SRGB: VideoColorSpaceInit = { primaries: 'bt709', transfer: 'iec61966-2-1', matrix: 'rgb', fullRange: true };

class WebCodecsClipEncoder implements ClipEncoder {
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
  readonly #config: VideoEncoderConfig;
  readonly #watermarker: Watermarker | null;
  readonly #target = new BufferTarget();
  readonly #output: Output;
  readonly #source: EncodedVideoPacketSource;
  readonly #onAbort = () => void this.cancel();
  #encoder: VideoEncoder | null = null;
  /** What the WebCodecs error callback reported (a reclaim excepted); every later step fails with it. */
  #encoderError: unknown = null;
  /** The browser closed the idle encoder to free it; the next frame opens a fresh one. */
  #reclaimed = false;
  /** Frames handed to encode(), and chunks the encoder gave back: finalize() needs the two equal. */
  #framesEncoded = 0;
  #chunksOut = 0;
  #forceKeyFrame = true;
  /** Packets go to the muxer one after another, in the encoder's (decode) order. */
  #muxing: Promise<void> = Promise.resolve();
  #muxError: unknown = null;
  readonly #waiters = new Set<() => void>();
  readonly #wake = () => {
    for (const wake of [...this.#waiters]) wake();
  };

  constructor(options: ResolvedOptions, choice: CodecChoice, watermarker: Watermarker | null) {
    this.#options = options;
    this.format = choice.format;
    this.codec = choice.codec;
    this.fellBackToWebm = choice.fellBackToWebm;
    this.#watermarker = watermarker;
    const { width, height, fps, bitrate } = options;
    // The same config the probe asked isConfigSupported about (codec-config.ts), so probe and encoder agree.
    this.#config = videoEncoderConfig(choice.codec, { width, height, fps, bitrate });
    this.#output = new Output({
      format: choice.format === 'mp4' ? new Mp4OutputFormat() : new WebMOutputFormat(),
      target: this.#target,
    });
    this.#source = new EncodedVideoPacketSource(choice.codec);
    // frameRate gives MP4 a timescale in which every i/fps is exact.
    this.#output.addVideoTrack(this.#source, { frameRate: fps });
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
      this.#openEncoder();
      await this.#output.start();
    } catch (cause) {
      await this.cancel();
      throw new KinemaError('ENCODE_FAILED', `could not start the ${this.codec} encoder and ${this.format} output: ${messageOf(cause)}`, { cause });
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
      this.#throwIfBroken();
      if (this.#reclaimed) this.#openEncoder();
      const encoder = this.#encoder!;
      // Whole microseconds, as WebCodecs wants; packets get exact i/fps seconds back in #onChunk.
      const timestamp = Math.round((index * 1e6) / fps);
      const duration = Math.round(1e6 / fps);
      const frame = this.#watermarker
        ? new VideoFrame(this.#watermarker.draw(rgba), { timestamp, duration })
        : new VideoFrame(rgba, { format: 'RGBA', codedWidth: width, codedHeight: height, timestamp, duration, colorSpace: SRGB });
      try {
        encoder.encode(frame, { keyFrame: this.#keyFrameAt(index) });
      } finally {
        frame.close(); // encode() keeps its own reference; the pixels are copied, so the caller may reuse rgba
      }
      this.#framesEncoded++;
      // Backpressure: resolve once the encoder has room for the next frame.
      await this.#waitUntil(() => encoder.encodeQueueSize < MAX_ENCODE_QUEUE, `frame ${index}`);
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
      this.#throwIfBroken();
      // A reclaimed encoder was idle (everything it was given is out) and is closed already: nothing to flush.
      if (!this.#reclaimed) {
        try {
          await this.#bounded(this.#encoder!.flush(), 'finalize');
        } catch (cause) {
          throw this.#encoderError ?? cause;
        }
      }
      // No sleep for late errors here: a frame whose error would surface late has no chunk, so the count shows it.
      const incomplete = checkEncodedAll(this.codec, this.#framesEncoded, this.#chunksOut, this.#encoderError);
      if (incomplete) throw incomplete;
      this.#closeEncoder();
      await this.#muxing;
      if (this.#muxError != null) throw this.#muxError;
      await this.#output.finalize();
      const buffer = this.#target.buffer;
      if (!buffer) throw new Error('the output produced no bytes');
      this.#state = 'finalized';
      this.#detach();
      const codec = this.#codecString ?? codecFromMimeType(await this.#output.getMimeType()) ?? this.#config.codec;
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
    // Closes the WebCodecs encoder at once and drops queued frames; nothing lingers after this resolves.
    this.#canceling = wasFailed ? Promise.resolve() : this.#release();
    this.#wake(); // a frame waiting for room in the encoder's queue sees the cancel now
    return this.#canceling;
  }

  #openEncoder(): void {
    const encoder = new VideoEncoder({
      output: (chunk, meta) => this.#onChunk(chunk, meta),
      error: (error) => this.#onEncoderError(error),
    });
    encoder.addEventListener('dequeue', this.#wake);
    encoder.configure(this.#config);
    this.#encoder = encoder;
    this.#reclaimed = false;
    this.#forceKeyFrame = true; // a fresh encoder (first, or after a reclaim) starts with a key frame
  }

  #onChunk(chunk: EncodedVideoChunk, meta: EncodedVideoChunkMetadata | undefined): void {
    this.#chunksOut++;
    this.#wake();
    if (this.#stopped() || this.#muxError != null) return;
    const config = meta?.decoderConfig;
    if (config && this.#codecString === null) {
      // For H.264 the configured string (e.g. avc1.640014) need not match the SPS the encoder wrote; the avcC
      // record is what players read, so report that.
      this.#codecString = (this.codec === 'avc' && avcCodecStringFromAvcC(config.description)) || config.codec;
    }
    const { fps } = this.#options;
    let packet: EncodedPacket;
    try {
      const index = Math.round((chunk.timestamp * fps) / 1e6);
      packet = EncodedPacket.fromEncodedChunk(chunk).clone({ timestamp: index / fps, duration: 1 / fps });
    } catch (error) {
      this.#muxError = error;
      return;
    }
    this.#muxing = this.#muxing
      .then(() => (this.#muxError == null && !this.#stopped() ? this.#source.add(packet, meta) : undefined))
      .catch((error: unknown) => {
        this.#muxError ??= error;
      });
  }

  #onEncoderError(error: DOMException): void {
    // Browsers close codecs left idle for long (a long denoise in a background tab); an idle encoder has given
    // back every chunk, so nothing is lost: open a fresh one for the next frame.
    if (error.name === 'QuotaExceededError' && /reclaimed/i.test(error.message) && this.#chunksOut === this.#framesEncoded) {
      this.#reclaimed = true;
    } else {
      this.#encoderError ??= error;
    }
    this.#wake();
  }

  #keyFrameAt(index: number): boolean {
    const { fps } = this.#options;
    const period = (i: number) => Math.floor(i / fps / KEY_FRAME_INTERVAL_S);
    const key = this.#forceKeyFrame || index === 0 || period(index) !== period(index - 1);
    this.#forceKeyFrame = false;
    return key;
  }

  #throwIfBroken(): void {
    if (this.#encoderError != null) throw this.#encoderError;
    if (this.#muxError != null) throw this.#muxError;
  }

  /** Waits until `ready()`, waking on the encoder's dequeue, output, error and on cancel; bounded by STALL_MS. */
  async #waitUntil(ready: () => boolean, what: string): Promise<void> {
    while (!ready()) {
      if (this.#stopped()) throw this.#notOpenError(what);
      this.#throwIfBroken();
      await this.#bounded(new Promise<void>((resolve) => {
        const wake = () => {
          this.#waiters.delete(wake);
          resolve();
        };
        this.#waiters.add(wake);
      }), what);
    }
  }

  /** `work`, or ENCODE_FAILED when it settles neither way within STALL_MS. */
  #bounded<T>(work: Promise<T>, what: string): Promise<T> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stalled = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new KinemaError(
        'ENCODE_FAILED', `the ${this.codec} encoder made no progress for ${STALL_MS / 1000} s at ${what}`,
        { details: { codec: this.codec, format: this.format, framesEncoded: this.#framesEncoded, chunksOut: this.#chunksOut } },
      )), STALL_MS);
    });
    return Promise.race([work, stalled]).finally(() => clearTimeout(timer));
  }

  #closeEncoder(): void {
    const encoder = this.#encoder;
    if (!encoder) return;
    encoder.removeEventListener('dequeue', this.#wake);
    if (encoder.state !== 'closed') encoder.close();
  }

  #release(): Promise<void> {
    this.#closeEncoder();
    return this.#output.cancel().catch(() => undefined);
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
        await this.#release();
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
