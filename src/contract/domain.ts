/**
 * The domain types shared by the page, the worker, the encoder and the cloud path. Each is defined here
 * once; other modules re-export them. Pure declarations: no imports beyond other pure declarations.
 */
import type { CloudState } from '../progress/events';

/** What the caller asks for: 'auto' tries WebGPU, then wasm, then the cloud (when configured). */
export type BackendChoice = 'auto' | 'webgpu' | 'wasm' | 'cloud';
/** Where a model runs inside this browser. */
export type LocalBackend = 'webgpu' | 'wasm';
/** Where a generation actually ran. */
export type UsedBackend = LocalBackend | 'cloud';
export type OutputFormat = 'mp4' | 'webm' | 'frames';
export type UpscaleFilter = 'nearest' | 'bilinear';
export type WeightPreference = 'auto' | 'fp32' | 'fp16' | 'int8';
export type CloudProvider = 'dashscope' | 'modelslab';
export type SchedulerType = 'flow-match-euler' | 'ddim' | 'unipc' | 'rcm';
export type CacheKind = 'cache-api' | 'memory';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'cloud'];
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['mp4', 'webm', 'frames'];
export const UPSCALE_FILTERS: readonly UpscaleFilter[] = ['nearest', 'bilinear'];
export const WEIGHT_PREFERENCES: readonly WeightPreference[] = ['auto', 'fp32', 'fp16', 'int8'];
export const CLOUD_PROVIDER_NAMES: readonly CloudProvider[] = ['dashscope', 'modelslab'];
export const SCHEDULER_TYPES: readonly SchedulerType[] = ['flow-match-euler', 'ddim', 'unipc', 'rcm'];
export const CACHE_KINDS: readonly CacheKind[] = ['cache-api', 'memory'];

export type { CloudState };

/** What this browser can do for kinema, probed without creating an onnxruntime session. */
export interface WebGpuInfo {
  available: boolean;
  /** Why not, when unavailable. */
  reason?: string;
  isFallbackAdapter?: boolean;
  vendor?: string;
  architecture?: string;
  description?: string;
  shaderF16?: boolean;
  limits?: { maxBufferSize: number; maxStorageBufferBindingSize: number; maxComputeWorkgroupStorageSize: number; maxComputeInvocationsPerWorkgroup: number };
}

export interface Capabilities {
  webgpu: WebGpuInfo;
  wasm: { available: boolean; threads: number; simd: boolean; crossOriginIsolated: boolean };
  webcodecs: { videoEncoder: boolean };
  cacheStorage: boolean;
  hardwareConcurrency: number;
}

/** A model version kept in the cache. */
export interface CachedModelInfo {
  id: string;
  version: string;
  /** Sum of the stored files' sizes. */
  bytes: number;
}
