/**
 * The one VideoEncoderConfig per codec that kinema both probes (probe.ts) and encodes with (clip-encoder.ts), so a
 * codec the probe accepted is exactly the configuration the encoder is given. Pure: runs in Node tests.
 *
 * mediabunny builds a full codec string internally but does not export it, so the strings are built here from the
 * codecs' level tables: the lowest level whose picture size, sample rate and bitrate limits hold the clip.
 * Chromium refuses a configure whose coded area exceeds what the string's level allows, so the level matters.
 */
import type { ClipCodec } from './types';

export interface EncodeShape {
  width: number;
  height: number;
  fps: number;
  bitrate: number;
}

interface Level {
  /** The value written into the codec string. */
  id: number;
  /** Largest picture: macroblocks for H.264, luma samples for VP9 and AV1. */
  maxPicture: number;
  /** Largest rate: macroblocks per second for H.264, luma samples per second for VP9 and AV1. */
  maxRate: number;
  /** Bits per second. */
  maxBitrate: number;
}

const level = (id: number, maxPicture: number, maxRate: number, kbps: number): Level => ({ id, maxPicture, maxRate, maxBitrate: kbps * 1000 });

// H.264 Table A-1 (MaxMBPS, MaxFS, MaxBR for Baseline/Main); High profile allows 1.25× the bitrate. Level 1b left out.
const AVC_LEVELS: readonly Level[] = [
  level(10, 99, 1_485, 64), level(11, 396, 3_000, 192), level(12, 396, 6_000, 384), level(13, 396, 11_880, 768),
  level(20, 396, 11_880, 2_000), level(21, 792, 19_800, 4_000), level(22, 1_620, 20_250, 4_000),
  level(30, 1_620, 40_500, 10_000), level(31, 3_600, 108_000, 14_000), level(32, 5_120, 216_000, 20_000),
  level(40, 8_192, 245_760, 20_000), level(41, 8_192, 245_760, 50_000), level(42, 8_704, 522_240, 50_000),
  level(50, 22_080, 589_824, 135_000), level(51, 36_864, 983_040, 240_000), level(52, 36_864, 2_073_600, 240_000),
  level(60, 139_264, 4_177_920, 240_000), level(61, 139_264, 8_355_840, 480_000), level(62, 139_264, 16_711_680, 800_000),
];
const AVC_HIGH_BITRATE_FACTOR = 1.25;

// VP9 levels (webmproject.org "VP9 Levels and Decoder Testing"): MaxLumaPictureSize, MaxLumaSampleRate, MaxBitrate.
const VP9_LEVELS: readonly Level[] = [
  level(10, 36_864, 829_440, 200), level(11, 73_728, 2_764_800, 800), level(20, 122_880, 4_608_000, 1_800),
  level(21, 245_760, 9_216_000, 3_600), level(30, 552_960, 20_736_000, 7_200), level(31, 983_040, 36_864_000, 12_000),
  level(40, 2_228_224, 83_558_400, 18_000), level(41, 2_228_224, 160_432_128, 30_000),
  level(50, 8_912_896, 311_951_360, 60_000), level(51, 8_912_896, 588_251_136, 120_000),
  level(52, 8_912_896, 1_176_502_272, 180_000), level(60, 35_651_584, 1_176_502_272, 180_000),
  level(61, 35_651_584, 2_353_004_544, 240_000), level(62, 35_651_584, 4_706_009_088, 480_000),
];

// AV1 Annex A (seq_level_idx = 4·(major−2) + minor): MaxPicSize, MaxDisplayRate, Main-tier MaxBitrate.
const AV1_LEVELS: readonly Level[] = [
  level(0, 147_456, 4_423_680, 1_500), level(1, 278_784, 8_363_520, 3_000), level(4, 665_856, 19_975_680, 6_000),
  level(5, 1_065_024, 31_950_720, 10_000), level(8, 2_359_296, 70_778_880, 12_000), level(9, 2_359_296, 141_557_760, 20_000),
  level(12, 8_912_896, 267_386_880, 30_000), level(13, 8_912_896, 534_773_760, 40_000),
  level(14, 8_912_896, 1_069_547_520, 60_000), level(15, 8_912_896, 1_069_547_520, 60_000),
  level(16, 35_651_584, 1_069_547_520, 60_000), level(17, 35_651_584, 2_139_095_040, 100_000),
  level(18, 35_651_584, 4_278_190_080, 160_000), level(19, 35_651_584, 4_278_190_080, 160_000),
];

/** The lowest level that holds `picture` at `rate` and `bitrate`; the highest when none does (huge or fast clips). */
function pickLevel(levels: readonly Level[], picture: number, rate: number, bitrate: number, bitrateFactor = 1): Level {
  return levels.find((l) => picture <= l.maxPicture && rate <= l.maxRate && bitrate <= l.maxBitrate * bitrateFactor) ?? levels.at(-1)!;
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');
const dec2 = (n: number) => n.toString().padStart(2, '0');

/**
 * The full WebCodecs codec string for one of kinema's codecs: H.264 High profile (`avc1.64 00 LL`), VP9 profile 0
 * 8-bit (`vp09.00.LL.08`), AV1 Main profile, Main tier, 8-bit (`av01.0.LLM.08`), VP8 (`vp8`).
 */
export function codecString(codec: ClipCodec, shape: EncodeShape): string {
  const { width, height, fps, bitrate } = shape;
  switch (codec) {
    case 'avc': {
      const macroblocks = Math.ceil(width / 16) * Math.ceil(height / 16);
      const l = pickLevel(AVC_LEVELS, macroblocks, macroblocks * fps, bitrate, AVC_HIGH_BITRATE_FACTOR);
      return `avc1.6400${hex2(l.id)}`;
    }
    case 'vp9': {
      const samples = width * height;
      return `vp09.00.${dec2(pickLevel(VP9_LEVELS, samples, samples * fps, bitrate).id)}.08`;
    }
    case 'av1': {
      const samples = width * height;
      return `av01.0.${dec2(pickLevel(AV1_LEVELS, samples, samples * fps, bitrate).id)}M.08`;
    }
    case 'vp8':
      return 'vp8';
  }
}

/**
 * What `VideoEncoder.configure` gets, and what the probe asks `isConfigSupported` about. A variable bitrate with
 * `latencyMode: 'quality'`, as the clip encoder asked mediabunny for before; H.264 in `avc` format (the parameter
 * sets in the decoder config's description, as MP4 wants), not Annex B.
 */
export function videoEncoderConfig(codec: ClipCodec, shape: EncodeShape): VideoEncoderConfig {
  const { width, height, fps, bitrate } = shape;
  return {
    codec: codecString(codec, shape),
    width,
    height,
    bitrate,
    bitrateMode: 'variable',
    framerate: fps,
    latencyMode: 'quality',
    alpha: 'discard',
    ...(codec === 'avc' ? { avc: { format: 'avc' as const } } : {}),
  };
}

/** H.264's 4:2:0 encoders need even sides; WebCodecs may still claim support for odd ones, so never offer them. */
export function codecFitsSides(codec: ClipCodec, width: number, height: number): boolean {
  return codec !== 'avc' || (width % 2 === 0 && height % 2 === 0);
}
