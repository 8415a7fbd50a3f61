/**
 * kinema's clip encoder (worker side; no DOM: WebCodecs and OffscreenCanvas only).
 *
 *   probeCodecs({ width, height, fps, bitrate? }) → Promise<{ mp4: ClipCodec[]; webm: ClipCodec[] }>
 *     What can encode here, in preference order: MP4 avc → vp9 → av1; WebM vp9 → vp8 → av1.
 *
 *   createClipEncoder({ format: 'mp4' | 'webm', width, height, fps, numFrames,
 *                       metadata: { prompt, negativePrompt?, seed, modelId, modelVersion },
 *                       watermark?: boolean | string, signal?, bitrate?, probe? }) → Promise<ClipEncoder>
 *     Throws TypeError/RangeError synchronously for a bad call (e.g. an odd width for MP4/H.264).
 *     Rejects KinemaError('ENCODER_UNSUPPORTED') when neither container has a codec; MP4 with no MP4 codec
 *     falls back to WebM (`fellBackToWebm: true`).
 *
 *   encoder.addFrame(rgba, index) → Promise<void>   RGBA8 frames in order 0..numFrames-1; await it (backpressure).
 *                                                    Frame i is stamped i/fps, lasting 1/fps; frame 0 is a keyframe.
 *   encoder.finalize()            → Promise<EncodedClip>  { blob, format, codec ('avc1.…'), mimeType, width, height,
 *                                                    numFrames, fps, durationSeconds, bytes, fellBackToWebm, watermarked }
 *   encoder.cancel()              → Promise<void>   Frees the WebCodecs encoder; idempotent. `signal` abort does this.
 *   encoder.state                 'started' | 'finalizing' | 'finalized' | 'canceled' | 'failed'
 *
 * Files carry where they came from: title = prompt; description = model, seed and prompt in words; comment = the
 * same as JSON ({ generator: 'kinema', prompt, negativePrompt?, seed, modelId, modelVersion }); the software tag
 * (MP4 ©too / Matroska ENCODER) = 'kinema'. Failures while encoding reject with KinemaError('ENCODE_FAILED').
 */
export { createClipEncoder } from './clip-encoder';
export { probeCodecs } from './probe';
export { MP4_CODECS, WEBM_CODECS, buildMetadataTags, chooseCodec, defaultBitrate } from './options';
export type {
  ClipCodec, ClipEncoder, ClipEncoderOptions, ClipEncoderState, ClipFormat, ClipMetadata, CodecProbe, CodecSupport,
  EncodedClip, ProbeRequest,
} from './types';
