/**
 * The parsed, validated form of a `kinema-model/2` (or `/1`) manifest (docs/model-manifest.md). Everything
 * here has been checked by `parseManifest`; optional JSON fields are filled with their defaults so the
 * engine never re-checks them. A `/1` manifest parses to the same form (pipeline `kinema-micro`, each
 * variant's files one graph). Fields only one family reads stay in `json` for that family's validator.
 */
import type { ComponentName } from '../progress/events';
import { SCHEDULER_TYPES, type SchedulerType } from '../contract/domain';

export { SCHEDULER_TYPES, type SchedulerType };

export type { ComponentName };

/** The format converters write. */
export const MANIFEST_FORMAT = 'kinema-model/2';
/** Every format `parseManifest` reads: `/1` (kinema-micro's first manifests) still loads. */
export const MANIFEST_FORMATS = ['kinema-model/1', 'kinema-model/2'] as const;
export type ManifestFormat = (typeof MANIFEST_FORMATS)[number];
export const COMPONENT_NAMES: readonly ComponentName[] = ['textEncoder', 'denoiser', 'vaeDecoder'];

/** How weights are stored. */
export type Dtype = 'fp32' | 'fp16' | 'int8' | 'int4';
export const DTYPES: readonly Dtype[] = ['fp32', 'fp16', 'int8', 'int4'];

/** Arithmetic precision of the graph; `fp16` needs the WebGPU feature `shader-f16`. */
export type ComputePrecision = 'fp32' | 'fp16';
export const COMPUTE_PRECISIONS: readonly ComputePrecision[] = ['fp32', 'fp16'];


/** `external-data` within a graph; a variant's `data` files may carry a label of the family's (`embedding`). */
export type FileRole = 'external-data' | (string & {});

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

/** One ONNX graph of a component: the .onnx and its external data. */
export interface GraphSpec {
  /** Unique within the variant (`text_encoder_0`, `denoiser_context`); a `/1` variant's graph is named after its file. */
  readonly name: string;
  /** The .onnx file (the graph's one file without a role). */
  readonly model: FileSpec;
  /** Its `external-data` files, passed to onnxruntime under their `path`. */
  readonly externalData: readonly FileSpec[];
  /** Runs once per prompt, before the per-step graphs (Wan's text projection). */
  readonly perPrompt: boolean;
}

/**
 * What a variant holds in memory while it runs, as its converter declared it (docs/model-manifest.md,
 * "Memory"). The memory planner (memory.ts) reads it; without it the planner counts the variant's
 * download bytes as its weights and no activations.
 */
export interface VariantMemory {
  /** Bytes the variant's sessions hold: its graphs' .onnx and external-data bytes (weights as stored). */
  readonly weightsBytes: number;
  /** The converter's estimate of the peak activation bytes of one run at the manifest's largest size and frame count. */
  readonly activationBytes: number;
}

export interface VariantSpec {
  readonly dtype: Dtype;
  readonly compute: ComputePrecision;
  /** Run in this order; each graph's inputs come from the caller or an earlier graph, by name. */
  readonly graphs: readonly GraphSpec[];
  /** Files the family reads itself (not graphs), e.g. a token-embedding table. */
  readonly data: readonly FileSpec[];
  /** Every file of the variant, each path once: the graphs' files in order, then `data`. */
  readonly files: readonly FileSpec[];
  /** Sum of `files[].bytes`. */
  readonly bytes: number;
  /** As the manifest declares it; absent when it does not (the planner then assumes `bytes` of weights, no activations). */
  readonly memory?: VariantMemory;
}

export interface ComponentSpec {
  readonly variants: readonly VariantSpec[];
  /** The component's JSON as published, for the family's own fields (`config`, `streaming`, `embedding`). */
  readonly json: Readonly<Record<string, unknown>>;
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
  readonly format: ManifestFormat;
  /** The family that runs the model (src/families): `kinema-micro` for every `/1` manifest. */
  readonly pipeline: string;
  readonly id: string;
  readonly version: string;
  readonly name: string;
  readonly description: string;
  readonly license: string;
  readonly languages: readonly string[];
  /** The absolute URL the manifest was read from; file paths were resolved against it. */
  readonly manifestUrl: string;
  /** Absent only in a `/2` manifest converted without its text encoder (generate() then refuses it). */
  readonly tokenizer?: TokenizerSpec;
  /**
   * The components the manifest has. `/1` has all three; a `/2` manifest may leave some out (a converter
   * given only some): it loads for component runs, and `generate()` refuses it with MODEL_INCOMPLETE.
   */
  readonly components: {
    readonly textEncoder?: TextEncoderSpec;
    readonly denoiser?: ComponentSpec;
    readonly vaeDecoder?: ComponentSpec;
  };
  /** Each present component once. */
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
  /** The manifest's JSON as published (a copy), for the family's own fields (Wan's `guidance`). */
  readonly json: Readonly<Record<string, unknown>>;
}

/** One chosen variant per component the manifest has. */
export type SelectedVariants = Readonly<Partial<Record<ComponentName, VariantSpec>>>;

/** The components a manifest has, in the canonical order (textEncoder, denoiser, vaeDecoder). */
export function presentComponents(manifest: Pick<ModelManifest, 'components'>): ComponentName[] {
  return COMPONENT_NAMES.filter((name) => manifest.components[name] !== undefined);
}
