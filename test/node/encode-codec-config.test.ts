import { describe, expect, it } from 'vitest';
import { codecFitsSides, codecString, videoEncoderConfig } from '../../src/encode/codec-config';
import { checkEncodedAll } from '../../src/encode/options';
import { KinemaError, isKinemaError } from '../../src/errors';

describe('codecString: the lowest level that holds the clip', () => {
  it.each([
    // 16 macroblocks at 1 Mbit/s: level 1.3 allows 768 kbit/s × 1.25 for High, so level 2.0.
    ['avc', 64, 64, 8, 1_000_000, 'avc1.640014'],
    ['avc', 256, 256, 8, 1_000_000, 'avc1.640014'],
    // 3,600 macroblocks at 30 fps is exactly level 3.1's frame size and macroblock rate.
    ['avc', 1280, 720, 30, 5_000_000, 'avc1.64001f'],
    // 8,160 macroblocks × 30 fps = 244,800/s: level 4.0 (245,760/s), not 3.2 (5,120 per frame).
    ['avc', 1920, 1080, 30, 8_000_000, 'avc1.640028'],
    // 1,200 macroblocks fit level 3.0's frame size, but 72,000 macroblocks/s at 60 fps exceed its 40,500/s: 3.1.
    ['avc', 640, 480, 60, 2_000_000, 'avc1.64001f'],
    ['avc', 4096, 4096, 120, 200_000_000, 'avc1.64003d'],
    ['vp9', 64, 64, 8, 1_000_000, 'vp09.00.20.08'],
    ['vp9', 1920, 1080, 30, 8_000_000, 'vp09.00.40.08'],
    ['av1', 64, 64, 8, 1_000_000, 'av01.0.00M.08'],
    ['av1', 1920, 1080, 30, 8_000_000, 'av01.0.08M.08'],
    ['vp8', 1920, 1080, 30, 8_000_000, 'vp8'],
  ] as const)('%s %i×%i at %i fps, %i bit/s → %s', (codec, width, height, fps, bitrate, expected) => {
    expect(codecString(codec, { width, height, fps, bitrate })).toBe(expected);
  });

  it('falls back to the highest level when nothing holds the clip', () => {
    expect(codecString('vp9', { width: 4096, height: 4096, fps: 120, bitrate: 2_000_000_000 })).toBe('vp09.00.62.08');
    expect(codecString('av1', { width: 4096, height: 4096, fps: 120, bitrate: 2_000_000_000 })).toBe('av01.0.19M.08');
  });
});

describe('videoEncoderConfig', () => {
  it('asks for H.264 in avc format (parameter sets in the description, as MP4 wants)', () => {
    expect(videoEncoderConfig('avc', { width: 64, height: 48, fps: 8, bitrate: 1_000_000 })).toEqual({
      codec: 'avc1.640014', width: 64, height: 48, bitrate: 1_000_000, bitrateMode: 'variable', framerate: 8,
      latencyMode: 'quality', alpha: 'discard', avc: { format: 'avc' },
    });
  });

  it('adds no avc block for the other codecs', () => {
    const config = videoEncoderConfig('vp9', { width: 64, height: 48, fps: 8, bitrate: 1_000_000 });
    expect(config.codec).toBe('vp09.00.20.08');
    expect('avc' in config).toBe(false);
  });

  it('never offers H.264 for odd sides', () => {
    expect(codecFitsSides('avc', 33, 32)).toBe(false);
    expect(codecFitsSides('avc', 32, 31)).toBe(false);
    expect(codecFitsSides('avc', 32, 32)).toBe(true);
    expect(codecFitsSides('vp9', 33, 31)).toBe(true);
  });
});

describe('checkEncodedAll: the deterministic check after flush()', () => {
  it('passes a whole clip', () => {
    expect(checkEncodedAll('avc', 8, 8, null)).toBeNull();
  });

  it('fails when a chunk is missing, naming the frame counts', () => {
    const error = checkEncodedAll('vp9', 8, 7, null);
    expect(isKinemaError(error, 'ENCODE_FAILED')).toBe(true);
    expect(error!.message).toBe('the vp9 encoder returned 7 encoded frames for the 8 frames it was given, with no error; the clip would be incomplete');
    expect(error!.details).toEqual({ codec: 'vp9', framesEncoded: 8, chunksOut: 7 });
  });

  it('fails when the error callback fired, even with every chunk out', () => {
    const cause = new Error('EncodingError: bitstream overflow');
    const error = checkEncodedAll('avc', 8, 8, cause);
    expect(error).toBeInstanceOf(KinemaError);
    expect(error!.code).toBe('ENCODE_FAILED');
    expect(error!.message).toBe('the avc encoder failed after 8 of 8 frames: EncodingError: bitstream overflow');
    expect(error!.cause).toBe(cause);
  });
});
