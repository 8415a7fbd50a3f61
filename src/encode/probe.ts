/**
 * Asks WebCodecs which of kinema's codecs can encode a clip of this size here, with the exact VideoEncoderConfig
 * the clip encoder will configure (codec-config.ts), so "supported" here means that configure is expected to work.
 */
import { canEncodeVideo } from 'mediabunny';
import { codecFitsSides, videoEncoderConfig } from './codec-config';
import { MP4_CODECS, WEBM_CODECS, defaultBitrate } from './options';
import type { ClipCodec, CodecSupport, ProbeRequest } from './types';

export async function probeCodecs(request: ProbeRequest): Promise<CodecSupport> {
  const { width, height, fps } = request;
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer (got ${value})`);
  }
  if (!Number.isFinite(fps) || fps <= 0) throw new RangeError(`fps must be a positive number (got ${fps})`);
  const bitrate = request.bitrate ?? defaultBitrate(width, height, fps);
  const supported = new Set<ClipCodec>();
  if (typeof VideoEncoder !== 'undefined') {
    // One at a time: software encoders answer in well under a millisecond each.
    for (const codec of new Set<ClipCodec>([...MP4_CODECS, ...WEBM_CODECS])) {
      if (!codecFitsSides(codec, width, height)) continue;
      const config = videoEncoderConfig(codec, { width, height, fps, bitrate });
      // A TypeError (a config this browser cannot even parse) counts as "no".
      const answer = await VideoEncoder.isConfigSupported(config).catch(() => null);
      if (!answer?.supported) continue;
      // mediabunny's check too: where a browser's isConfigSupported is known to say yes too readily
      // (Firefox), it encodes a test frame; on Chromium it is the same question, memoized.
      if (await canEncodeVideo(codec, { width, height, frameRate: fps, bitrate }).catch(() => false)) supported.add(codec);
    }
  }
  return {
    mp4: MP4_CODECS.filter((c) => supported.has(c)),
    webm: WEBM_CODECS.filter((c) => supported.has(c)),
  };
}
