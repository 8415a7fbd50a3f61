/** Public types of the clip encoder; the implementation lives beside them (clip-encoder.ts, probe.ts). */

/** The codecs kinema may write. HEVC is left out on purpose: patchy encoders and playback outside Apple. */
export type ClipCodec = 'avc' | 'vp9' | 'av1' | 'vp8';
export type ClipFormat = 'mp4' | 'webm';

export interface ProbeRequest {
  width: number;
  height: number;
  fps: number;
  /** Bits per second to ask the encoder for; defaults to the bitrate `createClipEncoder` would choose. */
  bitrate?: number;
}

/** What can be encoded here, per container, in kinema's order of preference. Empty list: nothing. */
export interface CodecSupport {
  mp4: ClipCodec[];
  webm: ClipCodec[];
}

/** Anything that answers like `probeCodecs`; tests inject a fake one to simulate other browsers. */
export type CodecProbe = (request: ProbeRequest) => Promise<CodecSupport>;

/** Where a clip came from; written into the file's title/description/comment tags. */
export interface ClipMetadata {
  prompt: string;
  negativePrompt?: string;
  seed: number;
  modelId: string;
  modelVersion: string;
}

export interface ClipEncoderOptions {
  /** The container asked for. MP4 falls back to WebM when no MP4 codec can encode here. */
  format: ClipFormat;
  width: number;
  height: number;
  fps: number;
  /** Exactly this many frames must be added before `finalize()`. */
  numFrames: number;
  metadata: ClipMetadata;
  /** Off by default. `true` draws a small "kinema" mark in the bottom-right corner; a string draws that text. */
  watermark?: boolean | string;
  /** Aborting cancels the encoder; pending and later calls reject with `KinemaError('ABORTED')`. */
  signal?: AbortSignal;
  /** Bits per second; the default (see `defaultBitrate`) is generous because clips are tiny and short. */
  bitrate?: number;
  /** Replaces `probeCodecs` (tests, or a host that already knows what it can encode). */
  probe?: CodecProbe;
}

export type ClipEncoderState = 'started' | 'finalizing' | 'finalized' | 'canceled' | 'failed';

export interface EncodedClip {
  blob: Blob;
  format: ClipFormat;
  /** The full codec string of the written track, e.g. `avc1.42c00b` or `vp09.00.10.08`. */
  codec: string;
  /** The container MIME type with its codecs parameter, e.g. `video/mp4; codecs="avc1.42c00b"`. */
  mimeType: string;
  width: number;
  height: number;
  numFrames: number;
  fps: number;
  durationSeconds: number;
  bytes: number;
  /** True when MP4 was asked for but no MP4 codec could encode here, so the clip is WebM. */
  fellBackToWebm: boolean;
  watermarked: boolean;
}

export interface ClipEncoder {
  readonly state: ClipEncoderState;
  readonly format: ClipFormat;
  /** The codec chosen by probing (the short name; the full string is in the result). */
  readonly codec: ClipCodec;
  readonly fellBackToWebm: boolean;
  /** Frames accepted so far (including ones still queued). */
  readonly framesAdded: number;
  /**
   * Adds frame `index` (RGBA8, width*height*4 bytes, row-major). Frames must come in order, 0 first.
   * The promise resolves when the encoder can take the next frame (backpressure): await it. The bytes are read
   * before it resolves; don't change them until then.
   */
  addFrame(rgba: Uint8Array | Uint8ClampedArray, index: number): Promise<void>;
  /** Flushes the encoder and writes the file. All `numFrames` frames must have been added. */
  finalize(): Promise<EncodedClip>;
  /** Stops encoding and frees the WebCodecs encoder; safe to call at any time, more than once. */
  cancel(): Promise<void>;
}
