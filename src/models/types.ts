/**
 * The parsed, validated form of a `kinema-model/1` manifest (docs/model-manifest.md). Everything here
 * has been checked by `parseManifest`; optional JSON fields are filled with their defaults so the engine
 * never re-checks them.
 */
import type { ComponentName } from '../progress/events';
import { SCHEDULER_TYPES, type SchedulerType } from '../contract/domain';

export { SCHEDULER_TYPES, type SchedulerType };

export type { ComponentName };

export const MANIFEST_FORMAT = 'kinema-model/1';
export const COMPONENT_NAMES: readonly ComponentName[] = ['textEncoder', 'denoiser', 'vaeDecoder'];

/** How weights are stored. */
export type Dtype = 'fp32' | 'fp16' | 'int8' | 'int4';
export const DTYPES: readonly Dtype[] = ['fp32', 'fp16', 'int8', 'int4'];

/** Arithmetic precision of the graph; `fp16` needs the WebGPU feature `shader-f16`. */
export type ComputePrecision = 'fp32' | 'fp16';
export const COMPUTE_PRECISIONS: readonly ComputePrecision[] = ['fp32', 'fp16'];


export type FileRole = 'external-data';

export interface FileSpec {
  /** Relative name: the cache key, the key of `loadFiles`' result, and the name onnxruntime sees for external data. */
  readonly path: string;
  /** Absolute URL to download from: `path` resolved against the manifest URL, or the manifest's `url`. */
  readonly url: string;
  /** Exact size in bytes. */
  readonly bytes: number;
  /** 64 lowercase hex digits. */
  readonly sha256: string;
  readonly role?: FileRole;
}

export interface VariantSpec {
  readonly dtype: Dtype;
  readonly compute: ComputePrecision;
  /** Exactly one file without a role (the ONNX graph), plus any external-data files. */
  readonly files: readonly FileSpec[];
  /** Sum of `files[].bytes`. */
  readonly bytes: number;
}

export interface ComponentSpec {
  readonly variants: readonly VariantSpec[];
}

export interface TextEncoderSpec extends ComponentSpec {
  readonly hiddenSize: number;
}

export interface TokenizerSpec {
  readonly files: readonly FileSpec[];
  readonly maxLength: number;
}

export interface LatentSpec {
  readonly channels: number;
  readonly temporalCompression: number;
  readonly spatialCompression: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface SchedulerSpec {
  readonly type: SchedulerType;
  /** diffusers `scheduler_config.json` fields, passed through as given (plain JSON). */
  readonly config: Readonly<Record<string, unknown>>;
}

export interface GenerationDefaults {
  readonly steps: number;
  readonly guidanceScale: number;
  readonly numFrames: number;
  readonly fps: number;
  readonly width: number;
  readonly height: number;
}

export interface Range {
  readonly min: number;
  readonly max: number;
}

export interface Size {
  readonly width: number;
  readonly height: number;
}

export interface GenerationLimits {
  readonly steps: Range;
  readonly guidanceScale: Range;
  readonly numFrames: Range;
  readonly sizes: readonly Size[];
}

export interface WebGpuRequirements {
  readonly maxBufferSize?: number;
  readonly maxStorageBufferBindingSize?: number;
}

export interface ModelManifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly id: string;
  readonly version: string;
  readonly name: string;
  readonly description: string;
  readonly license: string;
  readonly languages: readonly string[];
  /** The absolute URL the manifest was read from; file paths were resolved against it. */
  readonly manifestUrl: string;
  readonly tokenizer: TokenizerSpec;
  readonly components: {
    readonly textEncoder: TextEncoderSpec;
    readonly denoiser: ComponentSpec;
    readonly vaeDecoder: ComponentSpec;
  };
  readonly releaseOrder: readonly ComponentName[];
  readonly latent: LatentSpec;
  readonly scheduler: SchedulerSpec;
  readonly defaults: GenerationDefaults;
  readonly limits: GenerationLimits;
  readonly requirements: { readonly webgpu?: WebGpuRequirements };
  /** language → category → words. Empty when the manifest has none. */
  readonly vocabulary: Readonly<Record<string, Readonly<Record<string, readonly string[]>>>>;
  /** language → example prompts. Empty when the manifest has none. */
  readonly examples: Readonly<Record<string, readonly string[]>>;
}

/** One chosen variant per component. */
export type SelectedVariants = Readonly<Record<ComponentName, VariantSpec>>;
