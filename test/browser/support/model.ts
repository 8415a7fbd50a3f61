/** Shared by the engine's browser tests: where the model is, its reference vectors, and image metrics. */
import type { EngineGenerateSpec, EngineLoadSpec } from '../../../src/contract';

/** The embedded model (override with VITE_KINEMA_TEST_MODEL=<folder under public/models> for a local export). */
export const MODEL_DIR: string = (import.meta.env.VITE_KINEMA_TEST_MODEL as string | undefined) ?? 'kinema-micro';
export const manifestUrl = new URL(`/models/${MODEL_DIR}/manifest.json`, location.href).href;

export const loadSpec = (backend: 'wasm' | 'webgpu'): EngineLoadSpec => ({ manifestUrl, backend, allowWasm: false, weights: 'fp32', cache: 'memory' });

export function generateSpec(overrides: Partial<EngineGenerateSpec> & { prompt: string }): EngineGenerateSpec {
  return {
    negativePrompt: '', seed: 1, steps: 8, guidanceScale: 4, numFrames: 8, fps: 8, width: 32, height: 32,
    format: 'frames', outputScale: 1, outputFilter: 'nearest', previewEvery: 0, returnFrames: true, watermark: false,
    ...overrides,
  };
}

interface TensorRef { file: string; dtype: 'float32' | 'int64' | 'uint8'; shape: number[] }
export interface ReferenceCase {
  name: string; language: string; prompt: string; negativePrompt: string; seed: number;
  tensors: Record<'noise' | 'frames' | 'final_latents' | 'decoded', TensorRef>;
}
export interface ReferenceIndex { steps: number; guidanceScale: number; cases: ReferenceCase[] }

const base = new URL(`/models/${MODEL_DIR}/reference/`, location.href);

export async function referenceIndex(): Promise<ReferenceIndex> {
  const response = await fetch(new URL('index.json', base));
  if (!response.ok) throw new Error(`reference vectors missing at ${base.href} (HTTP ${response.status})`);
  return response.json() as Promise<ReferenceIndex>;
}

export async function referenceTensor(ref: TensorRef): Promise<Float32Array | Uint8Array> {
  const bytes = await (await fetch(new URL(ref.file, base))).arrayBuffer();
  return ref.dtype === 'uint8' ? new Uint8Array(bytes) : new Float32Array(bytes);
}

/** One clip's RGBA frames (frame-major) as one packed RGB array [F, H, W, 3]. */
export function rgbOf(frames: readonly Uint8Array[]): Uint8Array {
  const pixels = frames.reduce((n, f) => n + f.length / 4, 0);
  const out = new Uint8Array(pixels * 3);
  let o = 0;
  for (const frame of frames) for (let i = 0; i < frame.length; i += 4) { out[o++] = frame[i]!; out[o++] = frame[i + 1]!; out[o++] = frame[i + 2]!; }
  return out;
}

export function concatFrames(frames: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((n, f) => n + f.length, 0));
  let o = 0;
  for (const f of frames) { out.set(f, o); o += f.length; }
  return out;
}

/** Peak signal-to-noise ratio of two 8-bit images, in dB (Infinity when identical). */
export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`psnr: lengths differ (${a.length} vs ${b.length})`);
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += (a[i]! - b[i]!) ** 2;
  const mse = sum / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}
