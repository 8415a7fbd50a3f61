/**
 * The progress events kinema emits, as one tagged union. Every event carries `overall`, a fraction in
 * [0, 1] that never decreases within one `load` or `generate` call and ends at exactly 1.
 */
export type ComponentName = 'textEncoder' | 'denoiser' | 'vaeDecoder';
export type Stage = 'download' | 'compile' | 'encode-text' | 'denoise' | 'decode' | 'encode' | 'cloud';
export type CloudState = 'submitting' | 'queued' | 'running' | 'downloading' | 'succeeded' | 'failed' | 'canceled' | 'expired';

export type ProgressEvent =
  /** Bytes of model files: `loaded`/`total` over all files of this load; `total` is known before the first byte. */
  | { type: 'download'; file: string; loaded: number; total: number; fromCache: boolean; overall: number }
  /** Something degraded but the work goes on (e.g. the Cache API is missing or full: files kept in memory). */
  | { type: 'warning'; code: 'CACHE_UNAVAILABLE' | 'CACHE_QUOTA_EXCEEDED' | 'UNKNOWN_WORDS' | 'VARIANT_FALLBACK' | 'WASM_THREADS_NOT_APPLIED' | 'MANIFEST_FROM_CACHE' | 'GUIDANCE_IGNORED' | 'PREVIEWS_UNAVAILABLE'; message: string; details?: Record<string, unknown>; overall: number }
  /** An onnxruntime session being created (shader compilation on WebGPU). */
  | { type: 'compile'; component: ComponentName; index: number; total: number; overall: number }
  | { type: 'encode-text'; overall: number }
  | { type: 'denoise'; step: number; total: number; overall: number }
  /** A cheap look at the predicted clean clip while denoising (RGBA8, frame-major). */
  | { type: 'preview'; step: number; width: number; height: number; numFrames: number; rgba: Uint8Array; overall: number }
  | { type: 'decode'; frame: number; total: number; overall: number }
  | { type: 'encode'; frame: number; total: number; overall: number }
  /** The automatic backend choice moved on: why, and to what. */
  | { type: 'fallback'; from: string; to: string; reason: string; code?: string; overall: number }
  /** A cloud job's state and time since submission. */
  | { type: 'cloud'; provider: string; state: CloudState; elapsedMs: number; overall: number }
  | { type: 'done'; overall: 1 };

export type ProgressListener = (event: ProgressEvent) => void;
