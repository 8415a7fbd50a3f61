/**
 * A model family: what one kind of model's graphs are and how one generation flows through them —
 * kinema's counterpart of a diffusers pipeline class. The manifest's `pipeline` names the family
 * (`"kinema-micro"`, `"wan2.1"`); `src/families/index.ts` looks it up.
 *
 * The engine does everything that is the same for every model and hands the family the rest:
 *
 *   engine                                   family
 *   ──────                                   ──────
 *   parse manifest ───────────────────────▶ validate(manifest)          its own manifest fields
 *   choose backend, variants; download
 *   and verify files; one session per
 *   graph (a GraphChain per component);
 *   LoopOps for the backend ─────────────▶ prepare(loaded) → state     tokenizer, tables, configs
 *   check the request against the limits;
 *   refuse a model missing a component
 *   (MODEL_INCOMPLETE); progress; the
 *   clip encoder ─────────────────────────▶ generate(state, spec, hooks) tokens → encode prompt →
 *                                                                        latents → loop → decode,
 *                                                                        frames out through hooks
 *   unload ───────────────────────────────▶ release(state); then the engine releases chains and ops
 *
 * A family knows its graphs' input and output names; nothing else does. It reuses the shared parts:
 * LoopOps (src/pipeline/ops.ts) for every tensor operation, so latents never leave the GPU; the
 * schedulers (src/schedulers/); the runtime's tokenizer. It never touches the loader, the cache, the
 * clip encoder or progress events.
 */
import type { EngineGenerateSpec, LocalBackend } from '../contract';
import type { ComponentName, ModelManifest, SelectedVariants } from '../models/types';
import type { LoopOps, Tensor } from '../pipeline/ops';
import type { ProgressEvent } from '../progress/events';
import type { GraphChain } from '../runtime/chain';

/** The warning codes progress events carry (src/progress/events.ts; a new one is added there). */
export type WarningCode = Extract<ProgressEvent, { type: 'warning' }>['code'];

export type { ComponentName, GraphChain, LoopOps, ModelManifest, Tensor };

/** What the engine has loaded for a family to prepare from. */
export interface FamilyLoad {
  readonly manifest: ModelManifest;
  readonly backend: LocalBackend;
  /** The variant chosen per present component (`variants.denoiser.dtype` says how its weights are stored). */
  readonly variants: SelectedVariants;
  /** The backend's tensor operations; every chain runs with these. */
  readonly ops: LoopOps;
  /**
   * One chain per component the manifest has, its sessions created in the variant's graph order.
   * A component the manifest leaves out is absent here (a converter given only some components).
   */
  readonly chains: Readonly<Partial<Record<ComponentName, GraphChain>>>;
  /**
   * Every verified file that is not a graph, by its manifest `path`: the tokenizer's files and the
   * chosen variants' `data` files (Wan's token-embedding table). Graph files are in the sessions.
   */
  readonly files: ReadonlyMap<string, Uint8Array>;
  /** Where the family says what it noticed while preparing; the engine adds these to the load's warnings. */
  warn(code: WarningCode, message: string): void;
}

/** What a generation reports back while it runs; every hook is optional and called in order. */
export interface FamilyHooks {
  readonly signal?: AbortSignal;
  /** The prompt is encoded (the text encoder and any per-prompt graphs have run). */
  onEncoded?(): void;
  /** Denoising step `step` of `total` finished (1-based). */
  onStep?(step: number, total: number): void;
  /** A preview of the whole clip: RGBA8 frames at the model's size (`spec.width × spec.height`). */
  onPreview?(step: number, frames: Uint8Array[]): void;
  /**
   * Frame `index` (0-based, in order), RGBA8 at `spec.width·spec.outputScale × spec.height·spec.outputScale`.
   * Awaited: the consumer (the clip encoder) sets the pace, so a streaming decoder's frames are encoded
   * as they are made.
   */
  onFrame?(frame: Uint8Array, index: number): Promise<void> | void;
  /** Something the caller should know that does not stop the generation (e.g. UNKNOWN_WORDS). */
  onWarning?(code: WarningCode, message: string, details?: Record<string, unknown>): void;
}

/** Where the time of one generation went. */
export interface FamilyTimings {
  encodeTextMs: number;
  denoiseMs: number;
  /** Decoding, including the time `onFrame` took (the engine subtracts its encoder's share). */
  decodeMs: number;
  /** Time inside onnxruntime session runs. */
  sessionRunMs: number;
  /** GPU→CPU read-backs while denoising, previews excluded (must be 0 on WebGPU). */
  readbacksDuringDenoise: number;
}

/** A tensor on the CPU, as the component runner reads and writes it (.npy, C order). */
export interface HostTensor {
  readonly data: Float32Array | BigInt64Array;
  readonly dims: readonly number[];
}

export interface Family<State = unknown> {
  /** The manifest's `pipeline` value this family serves. */
  readonly pipeline: string;
  /** The components `generate` needs, in the order a generation uses them. */
  readonly requiredComponents: readonly ComponentName[];
  /** Components the family can use but does without (none for the built-in families). */
  readonly optionalComponents?: readonly ComponentName[];
  /**
   * True when the family needs every component's sessions loaded at once, for the whole life of the
   * load: it takes sessions out of its chains once (kinema-micro hands them to runPipeline) instead of
   * calling `chain.run`, so a chain the memory plan releases while another component runs would leave
   * it holding a closed session. The engine then refuses a plan that stages the model (DEVICE_LIMITS,
   * before any download) rather than loading it broken. Absent or false: the family runs its graphs
   * only through `chain.run`, and the engine may release one component's chain while another runs.
   */
  readonly needsAllComponentsLoaded?: boolean;

  /**
   * The family's own manifest rules, on a manifest `parseManifest` already accepted (so the common
   * fields are checked): throws `KinemaError('INVALID_MANIFEST')` whose message names the field path
   * (`components.denoiser.config.numHeads`) and whose `details.field` is that path. Pure; runs before
   * anything is downloaded. A component the manifest leaves out is not an error here.
   */
  validate(manifest: ModelManifest): void;

  /** Builds what every generation reuses: tokenizer, tables, parsed configs, GPU buffers of its own. */
  prepare(loaded: FamilyLoad): Promise<State>;

  /**
   * One generation, read top to bottom like a diffusers `__call__`: tokenize → encode prompt →
   * prepare latents → denoising loop (with or without guidance) → decode, each frame handed to
   * `hooks.onFrame` as soon as it exists. `spec` is validated against kinema's and the model's limits
   * and the model has every required component. Rejects with `ABORTED` when `hooks.signal` fires;
   * releases every tensor it made, whatever happens.
   */
  generate(state: State, spec: EngineGenerateSpec, hooks: FamilyHooks): Promise<FamilyTimings>;

  /**
   * One component on its own, for model porters (`npm run component`): the same sessions, shards and
   * glue as `generate`, with CPU tensors in and out (named as in docs/wan.md's component-runner table:
   * text encoder `input_ids`, `attention_mask` → `prompt_embeds`; denoiser `hidden_states`, `timestep`,
   * `encoder_hidden_states` → `sample`; decoder `latents` → `frames`). Rejects with MODEL_INCOMPLETE when
   * the manifest lacks `component`.
   */
  runComponent?(state: State, component: ComponentName, inputs: Readonly<Record<string, HostTensor>>, options?: { signal?: AbortSignal }): Promise<Record<string, HostTensor>>;

  /** Token ids and mask for `prompt` as `generate` makes them ([1, L] int64), for the component runner. */
  tokenize?(state: State, prompt: string): { inputIds: HostTensor; attentionMask: HostTensor };

  /** Frees what `prepare` made (not the chains or ops: the engine releases those after this). */
  release(state: State): Promise<void>;
}
