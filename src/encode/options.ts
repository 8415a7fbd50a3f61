/**
 * The pure half of the encoder: option validation with messages that say how to fix the call, defaults in one
 * place, the codec/container choice and the file's metadata tags. Imports nothing from the platform, so it runs
 * in Node tests.
 */
import type { MetadataTags } from 'mediabunny';
import { KinemaError } from '../errors';
import { LIMITS as CONTRACT, checkInteger, checkLimit, checkOneOf, checkWatermark, show } from '../contract';
import type { ClipCodec, ClipEncoderOptions, ClipFormat, ClipMetadata, CodecProbe, CodecSupport } from './types';

/** Preference per container: H.264 first for MP4 because it plays everywhere (Safari, QuickTime, phones). */
export const MP4_CODECS: readonly ClipCodec[] = ['avc', 'vp9', 'av1'];
export const WEBM_CODECS: readonly ClipCodec[] = ['vp9', 'vp8', 'av1'];

export const GENERATOR = 'kinema';
export { DEFAULT_WATERMARK_TEXT } from '../contract';

/** The frame and container limits come from the contract's table, so the API never passes what the encoder refuses. */
export const LIMITS = {
  minSide: CONTRACT.width.min,
  maxSide: CONTRACT.width.max,
  maxFps: CONTRACT.fps.max,
  maxFrames: CONTRACT.numFrames.max,
  // Below ~160 kbit/s Chromium's H.264 encoder writes level 1b (avc1.640c09) for small frames, which Chromium's
  // own decoder then refuses; nothing that low would keep a clip's colours anyway.
  minBitrate: 250_000,
  maxBitrate: 200_000_000,
} as const;

/**
 * Bits per pixel per frame for the default bitrate: a generous ceiling, since clips are tiny and short and
 * colour fidelity matters more than bytes. Measured in Chromium on a 32×32 random clip upscaled to 128×128:
 * H.264 and VP9 in VBR mode use far less than asked from 250 kbit/s up (mean abs error ~1.2–2.2 either way),
 * while a binding budget hurts (60 kbit/s → error ~4.3, 20 kbit/s → ~9). Scaling with pixels keeps larger or
 * busier clips from being starved.
 */
const BITS_PER_PIXEL = 1;
const MIN_DEFAULT_BITRATE = 1_000_000;
const MAX_DEFAULT_BITRATE = 20_000_000;

export function defaultBitrate(width: number, height: number, fps: number): number {
  const wanted = Math.round(width * height * fps * BITS_PER_PIXEL);
  return Math.min(MAX_DEFAULT_BITRATE, Math.max(MIN_DEFAULT_BITRATE, wanted));
}

export interface ResolvedOptions {
  format: ClipFormat;
  width: number;
  height: number;
  fps: number;
  numFrames: number;
  metadata: ClipMetadata;
  /** The watermark text, or null for none. */
  watermark: string | null;
  signal: AbortSignal | undefined;
  bitrate: number;
  probe: CodecProbe | undefined;
}

const FORMATS: readonly ClipFormat[] = ['mp4', 'webm'];

/** Throws TypeError/RangeError for a bad call; returns the options with defaults filled in. */
export function resolveClipEncoderOptions(options: ClipEncoderOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new TypeError('createClipEncoder needs an options object');
  const { format, width, height, fps, numFrames } = options;
  checkOneOf('format', format, FORMATS);
  checkLimit('width', width, CONTRACT.width);
  checkLimit('height', height, CONTRACT.height);
  if (format === 'mp4') {
    // H.264 (and our 4:2:0 encoders generally) need even sides; MP4 is for H.264, so say so up front rather
    // than silently writing VP9-in-MP4 that Safari cannot play.
    for (const [name, value] of [['width', width], ['height', height]] as const) {
      if (value % 2 !== 0) {
        throw new RangeError(
          `${name} must be even for H.264; got ${value}. Use outputScale or an even ${name}, or format: 'webm'`,
        );
      }
    }
  }
  checkLimit('fps', fps, CONTRACT.fps);
  checkLimit('numFrames', numFrames, CONTRACT.numFrames);
  const metadata = checkMetadata(options.metadata);
  // The one watermark rule (contract/request.ts): true → kinema's mark, a string → its trimmed text.
  const watermark = checkWatermark(options.watermark);

  const signal = options.signal;
  if (signal !== undefined && (typeof signal !== 'object' || signal === null || typeof signal.addEventListener !== 'function')) {
    throw new TypeError(`signal must be an AbortSignal; got ${show(signal)}`);
  }
  let bitrate = defaultBitrate(width, height, fps);
  if (options.bitrate !== undefined) {
    checkInteger('bitrate', options.bitrate, LIMITS.minBitrate, LIMITS.maxBitrate);
    bitrate = options.bitrate;
  }
  if (options.probe !== undefined && typeof options.probe !== 'function') {
    throw new TypeError(`probe must be a function like probeCodecs; got ${show(options.probe)}`);
  }
  return { format, width, height, fps, numFrames, metadata, watermark, signal, bitrate, probe: options.probe };
}

function checkMetadata(metadata: unknown): ClipMetadata {
  if (typeof metadata !== 'object' || metadata === null) {
    throw new TypeError('metadata must be an object { prompt, seed, modelId, modelVersion, negativePrompt? }');
  }
  const m = metadata as Record<string, unknown>;
  if (typeof m.prompt !== 'string') throw new TypeError('metadata.prompt must be a string');
  if (m.negativePrompt !== undefined && typeof m.negativePrompt !== 'string') {
    throw new TypeError('metadata.negativePrompt must be a string when given');
  }
  if (typeof m.seed !== 'number' || !Number.isSafeInteger(m.seed) || m.seed < 0) {
    throw new RangeError(`metadata.seed must be a non-negative safe integer (got ${String(m.seed)})`);
  }
  for (const key of ['modelId', 'modelVersion'] as const) {
    if (typeof m[key] !== 'string' || (m[key] as string).length === 0) {
      throw new TypeError(`metadata.${key} must be a non-empty string`);
    }
  }
  const result: ClipMetadata = {
    prompt: m.prompt,
    seed: m.seed,
    modelId: m.modelId as string,
    modelVersion: m.modelVersion as string,
  };
  if (typeof m.negativePrompt === 'string' && m.negativePrompt.length > 0) result.negativePrompt = m.negativePrompt;
  return result;
}

export interface CodecChoice {
  format: ClipFormat;
  codec: ClipCodec;
  fellBackToWebm: boolean;
}

/** The container and codec to write, or null when nothing can encode here. */
export function chooseCodec(format: ClipFormat, support: CodecSupport): CodecChoice | null {
  const first = (list: readonly ClipCodec[], available: readonly ClipCodec[]) => list.find((c) => available.includes(c));
  if (format === 'mp4') {
    const codec = first(MP4_CODECS, support.mp4);
    if (codec) return { format: 'mp4', codec, fellBackToWebm: false };
  }
  const codec = first(WEBM_CODECS, support.webm);
  return codec ? { format: 'webm', codec, fellBackToWebm: format === 'mp4' } : null;
}

/** What was tried, for the ENCODER_UNSUPPORTED message: "mp4 (avc, vp9, av1), webm (vp9, vp8, av1)". */
export function describeTried(format: ClipFormat): string {
  const webm = `webm (${WEBM_CODECS.join(', ')})`;
  return format === 'mp4' ? `mp4 (${MP4_CODECS.join(', ')}), ${webm}` : webm;
}

/**
 * The tags that say where a file came from. Human-readable title/description, a JSON comment for machines,
 * and the container's software tag (MP4 `©too`, shown by ffprobe as `encoder`; Matroska `ENCODER`).
 */
export function buildMetadataTags(metadata: ClipMetadata, format: ClipFormat): MetadataTags {
  const model = `${metadata.modelId} ${metadata.modelVersion}`;
  const negative = metadata.negativePrompt ? `; negative prompt: ${metadata.negativePrompt}` : '';
  const comment = JSON.stringify({
    generator: GENERATOR,
    prompt: metadata.prompt,
    ...(metadata.negativePrompt ? { negativePrompt: metadata.negativePrompt } : {}),
    seed: metadata.seed,
    modelId: metadata.modelId,
    modelVersion: metadata.modelVersion,
  });
  const description = `Generated by ${GENERATOR} with ${model}, seed ${metadata.seed}. Prompt: ${metadata.prompt}${negative}`;
  return {
    title: metadata.prompt,
    description,
    comment,
    // MP4: mediabunny writes `description` as ©des, which ffmpeg ignores; iTunes' `desc` is what ffprobe and
    // Apple's apps show, so write both.
    raw: format === 'mp4' ? { '©too': GENERATOR, desc: description } : { ENCODER: GENERATOR },
  };
}

/** `video/mp4; codecs="avc1.42c00b"` → `avc1.42c00b`. */
export function codecFromMimeType(mimeType: string): string | null {
  const match = /codecs="?([^",]+)/i.exec(mimeType);
  return match ? match[1]!.trim() : null;
}

/** `avc1.PPCCLL` from an AVCDecoderConfigurationRecord (bytes 1–3: profile, constraint flags, level). */
export function avcCodecStringFromAvcC(description: AllowSharedBufferSource | undefined): string | null {
  if (!description) return null;
  const bytes = ArrayBuffer.isView(description)
    ? new Uint8Array(description.buffer, description.byteOffset, description.byteLength)
    : new Uint8Array(description);
  if (bytes.length < 4 || bytes[0] !== 1) return null;
  const hex = (b: number) => b.toString(16).padStart(2, '0');
  return `avc1.${hex(bytes[1]!)}${hex(bytes[2]!)}${hex(bytes[3]!)}`;
}

/**
 * Whether a flushed WebCodecs encoder really encoded every frame: one output chunk per frame handed to it and no
 * error callback. Checked after `flush()` resolves instead of trusting that promise, because Chromium can report
 * an encoding error only after flush() has resolved (https://issues.chromium.org/issues/529852980) and a frame
 * that failed that way has no chunk, so counting catches it without waiting for the late error. Returns the
 * ENCODE_FAILED to reject finalize() with, or null when the clip is whole.
 */
export function checkEncodedAll(codec: ClipCodec, framesEncoded: number, chunksOut: number, encoderError: unknown): KinemaError | null {
  const details = { codec, framesEncoded, chunksOut };
  if (encoderError != null) {
    const message = encoderError instanceof Error ? encoderError.message : String(encoderError);
    return new KinemaError('ENCODE_FAILED', `the ${codec} encoder failed after ${chunksOut} of ${framesEncoded} frames: ${message}`, { cause: encoderError, details });
  }
  if (chunksOut !== framesEncoded) {
    return new KinemaError(
      'ENCODE_FAILED',
      `the ${codec} encoder returned ${chunksOut} encoded frames for the ${framesEncoded} frames it was given, with no error; the clip would be incomplete`,
      { details },
    );
  }
  return null;
}
