/** Asks WebCodecs (through mediabunny) which of kinema's codecs can encode a clip of this size here. */
import { canEncodeVideo } from 'mediabunny';
import { MP4_CODECS, WEBM_CODECS, defaultBitrate } from './options';
import type { ClipCodec, CodecSupport, ProbeRequest } from './types';

export async function probeCodecs(request: ProbeRequest): Promise<CodecSupport> {
  const { width, height, fps } = request;
  for (const [name, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer (got ${value})`);
  }
  if (!Number.isFinite(fps) || fps <= 0) throw new RangeError(`fps must be a positive number (got ${fps})`);
  const bitrate = request.bitrate ?? defaultBitrate(width, height, fps);
  const codecs = [...new Set<ClipCodec>([...MP4_CODECS, ...WEBM_CODECS])];
  // One at a time: software encoders are probed cheaply, and mediabunny memoizes the answers per config.
  const supported = new Set<ClipCodec>();
  for (const codec of codecs) {
    // mediabunny already answers false for odd sides with AVC; errors (exotic configs) count as "no".
    const ok = await canEncodeVideo(codec, { width, height, frameRate: fps, bitrate }).catch(() => false);
    if (ok) supported.add(codec);
  }
  return {
    mp4: MP4_CODECS.filter((c) => supported.has(c)),
    webm: WEBM_CODECS.filter((c) => supported.has(c)),
  };
}
