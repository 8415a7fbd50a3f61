/** What a generation returns, on every backend. Pure declarations. */
import type { CloudProvider, UsedBackend } from './domain';

export interface StageTimings {
  loadMs: number;
  encodeTextMs: number;
  denoiseMs: number;
  decodeMs: number;
  encodeMs: number;
  totalMs: number;
  /** From the start of generate() to the first preview event, when previews were asked for. */
  firstPreviewMs?: number;
  /** Sum of the bare onnxruntime session.run times inside this generation. */
  sessionRunMs?: number;
}

interface GenerateResultBase {
  width: number;
  height: number;
  numFrames: number;
  fps: number;
  seed: number;
  /** Denoising steps and guidance used; absent for cloud results (providers do not report them). */
  steps?: number;
  guidanceScale?: number;
  backend: UsedBackend;
  model: string;
  modelVersion?: string;
  provider?: CloudProvider;
  timings: StageTimings;
  /** Things the caller should know: unknown words, a size snapped by a provider, a codec fallback. */
  warnings: string[];
  /** GPU→CPU read-backs during the denoising loop (0 on WebGPU: latents stay on the GPU). */
  readbacksDuringDenoise?: number;
}

/** An encoded clip; `frames` is set only when the request asked for `returnFrames`. */
export interface VideoResult extends GenerateResultBase {
  format: 'mp4' | 'webm';
  video: Blob;
  mimeType: string;
  /** Full codec string, e.g. 'avc1.42001f'; null when unknown. */
  codec: string | null;
  /** RGBA8 frames (width × height × 4 bytes each), only when returnFrames was set. */
  frames?: Uint8Array[];
}

/** Raw frames, no encoder involved. */
export interface FramesResult extends GenerateResultBase {
  format: 'frames';
  video: null;
  mimeType: null;
  codec: null;
  /** RGBA8 frames (width × height × 4 bytes each). */
  frames: Uint8Array[];
}

/** Narrow on `format`: 'frames' always has `frames`, 'mp4'/'webm' always have `video`. */
export type GenerateResult = VideoResult | FramesResult;
