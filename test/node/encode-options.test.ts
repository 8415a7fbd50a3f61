import { describe, expect, it } from 'vitest';
import {
  LIMITS, avcCodecStringFromAvcC, buildMetadataTags, chooseCodec, codecFromMimeType, defaultBitrate, describeTried,
  resolveClipEncoderOptions,
} from '../../src/encode/options';
import type { ClipEncoderOptions } from '../../src/encode/types';

const base: ClipEncoderOptions = {
  format: 'mp4',
  width: 128,
  height: 96,
  fps: 8,
  numFrames: 16,
  metadata: { prompt: 'a red fox in snow', seed: 42, modelId: 'tiny-t2v', modelVersion: '1.0.0' },
};

const resolve = (patch: Record<string, unknown>) => () => resolveClipEncoderOptions({ ...base, ...patch } as ClipEncoderOptions);

describe('resolveClipEncoderOptions', () => {
  it('fills defaults: no watermark, the default bitrate, no probe', () => {
    const o = resolveClipEncoderOptions(base);
    expect(o.watermark).toBeNull();
    expect(o.bitrate).toBe(defaultBitrate(128, 96, 8));
    expect(o.probe).toBeUndefined();
    expect(o.metadata).toEqual(base.metadata);
  });

  it('says how to fix an odd side for MP4, and allows it for WebM', () => {
    expect(resolve({ width: 33 })).toThrow(RangeError);
    expect(resolve({ width: 33 })).toThrow('width must be even for H.264; got 33. Use outputScale or an even width');
    expect(resolve({ height: 95 })).toThrow('height must be even for H.264; got 95');
    expect(resolve({ width: 33, format: 'webm' })).not.toThrow();
  });

  it.each([
    [{ format: 'mov' }, TypeError, `format must be one of 'mp4', 'webm'; got "mov"`],
    [{ width: 12.5 }, RangeError, `width must be an integer from ${LIMITS.minSide} to ${LIMITS.maxSide}; got 12.5`],
    [{ width: '32' }, TypeError, 'width must be an integer from'],
    [{ width: 0 }, RangeError, `width must be an integer from ${LIMITS.minSide} to ${LIMITS.maxSide}; got 0`],
    [{ height: 8192 }, RangeError, 'height must be an integer from 2 to 4096; got 8192'],
    [{ fps: 0 }, RangeError, 'fps must be a number from 1 to 120; got 0'],
    [{ fps: Number.NaN }, RangeError, 'fps must be'],
    [{ numFrames: 0 }, RangeError, 'numFrames must be an integer from 1 to 10000; got 0'],
    [{ numFrames: '8' }, TypeError, 'numFrames must be an integer'],
    [{ metadata: undefined }, TypeError, 'metadata must be an object'],
    [{ metadata: { ...base.metadata, prompt: 3 } }, TypeError, 'metadata.prompt must be a string'],
    [{ metadata: { ...base.metadata, seed: -1 } }, RangeError, 'metadata.seed must be a non-negative safe integer'],
    [{ metadata: { ...base.metadata, seed: 1.5 } }, RangeError, 'metadata.seed'],
    [{ metadata: { ...base.metadata, modelId: '' } }, TypeError, 'metadata.modelId must be a non-empty string'],
    [{ metadata: { ...base.metadata, negativePrompt: 7 } }, TypeError, 'metadata.negativePrompt'],
    [{ watermark: '   ' }, RangeError, 'watermark must be text of 1 to 40 characters (spaces at either end not counted); got 0 characters'],
    [{ watermark: 1 }, TypeError, 'watermark must be true, false or the text to draw; got 1'],
    [{ bitrate: 100_000 }, RangeError, `bitrate must be an integer from ${LIMITS.minBitrate} to`],
    [{ signal: {} }, TypeError, 'signal must be an AbortSignal'],
    [{ probe: 'avc' }, TypeError, 'probe must be a function'],
  ] as const)('rejects %j', (patch, type, message) => {
    expect(resolve(patch)).toThrow(type);
    expect(resolve(patch)).toThrow(message);
  });

  it('turns watermark true into "kinema" and keeps custom text trimmed', () => {
    expect(resolveClipEncoderOptions({ ...base, watermark: true }).watermark).toBe('kinema');
    expect(resolveClipEncoderOptions({ ...base, watermark: ' made by me ' }).watermark).toBe('made by me');
    expect(resolveClipEncoderOptions({ ...base, watermark: false }).watermark).toBeNull();
  });

  it('drops an empty negative prompt', () => {
    const o = resolveClipEncoderOptions({ ...base, metadata: { ...base.metadata, negativePrompt: '' } });
    expect('negativePrompt' in o.metadata).toBe(false);
  });
});

describe('defaultBitrate', () => {
  it('is about 1 bit per pixel per frame, at least 1 Mbit/s, at most 20 Mbit/s', () => {
    expect(defaultBitrate(128, 128, 8)).toBe(1_000_000);
    expect(defaultBitrate(512, 512, 8)).toBe(512 * 512 * 8);
    expect(defaultBitrate(4096, 4096, 60)).toBe(20_000_000);
  });
});

describe('chooseCodec', () => {
  const all = { mp4: ['avc', 'vp9', 'av1'], webm: ['vp9', 'vp8', 'av1'] } as const;

  it('prefers H.264 for MP4 and VP9 for WebM', () => {
    expect(chooseCodec('mp4', { mp4: [...all.mp4], webm: [...all.webm] })).toEqual({ format: 'mp4', codec: 'avc', fellBackToWebm: false });
    expect(chooseCodec('webm', { mp4: [...all.mp4], webm: [...all.webm] })).toEqual({ format: 'webm', codec: 'vp9', fellBackToWebm: false });
  });

  it('takes VP9-in-MP4 before giving up on MP4, regardless of the probe list order', () => {
    expect(chooseCodec('mp4', { mp4: ['av1', 'vp9'], webm: ['vp8'] })).toEqual({ format: 'mp4', codec: 'vp9', fellBackToWebm: false });
  });

  it('falls back to WebM when MP4 has no codec, and says so', () => {
    expect(chooseCodec('mp4', { mp4: [], webm: ['vp8'] })).toEqual({ format: 'webm', codec: 'vp8', fellBackToWebm: true });
  });

  it('returns null when nothing encodes, and never falls "back" from WebM to MP4', () => {
    expect(chooseCodec('mp4', { mp4: [], webm: [] })).toBeNull();
    expect(chooseCodec('webm', { mp4: ['avc'], webm: [] })).toBeNull();
  });

  it('names what was tried', () => {
    expect(describeTried('mp4')).toBe('mp4 (avc, vp9, av1), webm (vp9, vp8, av1)');
    expect(describeTried('webm')).toBe('webm (vp9, vp8, av1)');
  });
});

describe('buildMetadataTags', () => {
  const metadata = { ...base.metadata, negativePrompt: 'blurry' };

  it('puts the prompt in the title, everything in words in the description and as JSON in the comment', () => {
    const tags = buildMetadataTags(metadata, 'mp4');
    expect(tags.title).toBe('a red fox in snow');
    expect(tags.description).toContain('Generated by kinema');
    expect(tags.description).toContain('tiny-t2v 1.0.0');
    expect(tags.description).toContain('seed 42');
    expect(tags.description).toContain('negative prompt: blurry');
    expect(JSON.parse(tags.comment!)).toEqual({ generator: 'kinema', ...metadata });
  });

  it('uses each container\'s software tag', () => {
    const mp4 = buildMetadataTags(metadata, 'mp4');
    expect(mp4.raw).toEqual({ '©too': 'kinema', desc: mp4.description });
    expect(buildMetadataTags(metadata, 'webm').raw).toEqual({ ENCODER: 'kinema' });
  });
});

describe('codec strings', () => {
  it('reads avc1.PPCCLL from an avcC record', () => {
    expect(avcCodecStringFromAvcC(new Uint8Array([1, 0x64, 0x0c, 0x14, 0xff]))).toBe('avc1.640c14');
    expect(avcCodecStringFromAvcC(new Uint8Array([1, 0x42, 0xc0, 0x1f]).buffer)).toBe('avc1.42c01f');
    expect(avcCodecStringFromAvcC(new Uint8Array([0, 0, 0, 1, 0x67]))).toBeNull(); // Annex B, not avcC
    expect(avcCodecStringFromAvcC(undefined)).toBeNull();
  });

  it('takes the codecs parameter from a MIME type', () => {
    expect(codecFromMimeType('video/mp4; codecs="avc1.640c14"')).toBe('avc1.640c14');
    expect(codecFromMimeType('video/webm')).toBeNull();
  });
});
