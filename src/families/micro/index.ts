/**
 * kinema-micro: a word-level text encoder, a spatio-temporal DiT trained with flow matching and a
 * per-frame conv VAE decoder, one ONNX graph each. The generation itself is src/pipeline/loop.ts
 * (encode prompt → seeded noise → denoising loop with CFG → de-normalize → decode → frames); this
 * module is what only kinema-micro knows: its graph names, its tokenizer, its scheduler's linear update.
 *
 * Graph contract (every variant, one graph per component):
 * - textEncoder: `input_ids`, `attention_mask` [B, L] int64 → `last_hidden_state` [B, L, hiddenSize]
 * - denoiser: `hidden_states` [B, C, T, h, w], `timestep` [B], `encoder_hidden_states`,
 *   `encoder_attention_mask` → `sample` (the velocity)
 * - vaeDecoder: `latent_sample` [1, C, T, h, w] (un-normalized z) → `sample` [1, 3, T, H, W] in [−1, 1]
 */
import { KinemaError } from '../../errors';
import { presentComponents, type ModelManifest } from '../../models/types';
import { unknownWordsMessage } from '../../models/vocabulary';
import { runPipeline, usesGuidance } from '../../pipeline/loop';
import { cpuFeed, type CpuFeed, type LoopOps, type Tensor } from '../../pipeline/ops';
import type { GraphChain } from '../../runtime/chain';
import type { Session } from '../../runtime/sessions';
import { loadTokenizer, type PromptTokenizer } from '../../runtime/tokenizer';
import { createScheduler, type Scheduler } from '../../schedulers';
import type { Family, HostTensor } from '../types';

export interface MicroState {
  readonly manifest: ModelManifest;
  readonly ops: LoopOps;
  readonly chains: Readonly<Partial<Record<'textEncoder' | 'denoiser' | 'vaeDecoder', GraphChain>>>;
  /** Absent only when the manifest has no text encoder. */
  readonly tokenizer?: PromptTokenizer;
  readonly scheduler: Scheduler;
}

/** The schedulers whose step is the linear update loop.ts runs. */
const MICRO_SCHEDULERS = ['flow-match-euler', 'ddim'] as const;

function invalid(manifest: ModelManifest, field: string, expected: string, got: string): never {
  throw new KinemaError('INVALID_MANIFEST', `Invalid model manifest ${manifest.manifestUrl}: ${field} must be ${expected} for a kinema-micro model, got ${got}`, {
    details: { field, manifestUrl: manifest.manifestUrl },
  });
}

const session = (chain: GraphChain): Session => chain.graphs[0]!.session;

export const microFamily: Family<MicroState> = {
  pipeline: 'kinema-micro',
  requiredComponents: ['textEncoder', 'denoiser', 'vaeDecoder'],
  // generate() hands the sessions themselves to runPipeline, so a staged (released) chain would break it.
  needsAllComponentsLoaded: true,

  validate(manifest) {
    for (const component of presentComponents(manifest)) {
      manifest.components[component]!.variants.forEach((variant, i) => {
        const field = `components.${component}.variants[${i}]`;
        if (variant.graphs.length !== 1) invalid(manifest, `${field}.graphs`, 'one graph', `${variant.graphs.length}`);
        if (variant.graphs[0]!.perPrompt) invalid(manifest, `${field}.graphs[0].perPrompt`, 'false', 'true');
        if (variant.data.length > 0) invalid(manifest, `${field}.data`, 'absent (the family reads no data files)', `${variant.data.length} files`);
      });
    }
    if (!(MICRO_SCHEDULERS as readonly string[]).includes(manifest.scheduler.type)) {
      invalid(manifest, 'scheduler.type', `one of ${MICRO_SCHEDULERS.map((t) => `"${t}"`).join(', ')}`, JSON.stringify(manifest.scheduler.type));
    }
  },

  async prepare({ manifest, ops, chains, files }) {
    const tokenizer = manifest.tokenizer
      ? loadTokenizer(new Map(manifest.tokenizer.files.map((file) => [file.path, files.get(file.path)!])), manifest.tokenizer.maxLength)
      : undefined;
    return { manifest, ops, chains, ...(tokenizer ? { tokenizer } : {}), scheduler: createScheduler(manifest.scheduler) };
  },

  async generate(state, spec, hooks) {
    const { manifest, ops, chains } = state;
    const guided = usesGuidance(spec.guidanceScale);
    // Batch order [negative, prompt]: loop.ts's CFG reads row 0 as the unconditional branch.
    const prompts = guided ? [spec.negativePrompt, spec.prompt] : [spec.prompt];
    const tokens = state.tokenizer!.encode(prompts);
    const unknown = tokens.unknownWords[prompts.length - 1] ?? [];
    if (unknown.length > 0) hooks.onWarning?.('UNKNOWN_WORDS', unknownWordsMessage(manifest, spec.prompt, unknown), { words: unknown });

    const plan = state.scheduler.plan(spec.steps);
    const { channels, spatialCompression: sc, temporalCompression: tc } = manifest.latent;
    const latentFrames = tc > 1 ? (spec.numFrames - 1) / tc + 1 : spec.numFrames;
    return runPipeline({
      ops,
      sessions: { textEncoder: session(chains.textEncoder!), denoiser: session(chains.denoiser!), vaeDecoder: session(chains.vaeDecoder!) },
      tokens,
      latentDims: [1, channels, latentFrames, spec.height / sc, spec.width / sc],
      schedule: { timesteps: plan.timesteps, coefficients: plan.updates.map((update) => ({ update, clipRange: plan.clipRange })) },
      guidanceScale: spec.guidanceScale,
      seed: spec.seed,
      ...(spec.initialLatents ? { initialLatents: spec.initialLatents } : {}),
      latentMean: manifest.latent.mean,
      latentStd: manifest.latent.std,
      numFrames: spec.numFrames,
      outputScale: spec.outputScale,
      outputFilter: spec.outputFilter,
      previewEvery: spec.previewEvery,
      ...(hooks.signal ? { signal: hooks.signal } : {}),
      ...(hooks.onEncoded ? { onEncoded: hooks.onEncoded } : {}),
      ...(hooks.onStep ? { onStep: hooks.onStep } : {}),
      ...(hooks.onPreview ? { onPreview: hooks.onPreview } : {}),
      ...(hooks.onFrame ? { onFrame: hooks.onFrame } : {}),
    });
  },

  tokenize(state, prompt) {
    if (!state.tokenizer) throw new KinemaError('MODEL_INCOMPLETE', `${state.manifest.id} has no tokenizer`, { details: { missing: ['tokenizer'] } });
    const tokens = state.tokenizer.encode([prompt]);
    return {
      inputIds: { data: tokens.inputIds, dims: [1, tokens.maxLength] },
      attentionMask: { data: tokens.attentionMask, dims: [1, tokens.maxLength] },
    };
  },

  async runComponent(state, component, inputs) {
    const chain = state.chains[component];
    if (!chain) throw new KinemaError('MODEL_INCOMPLETE', `${state.manifest.id} has no ${component}`, { details: { missing: [component] } });
    // The graphs' own names, as generate() feeds them (see the contract above).
    const names = { textEncoder: 'last_hidden_state', denoiser: 'sample', vaeDecoder: 'sample' } as const;
    const feeds: Record<string, CpuFeed> = {};
    for (const [name, tensor] of Object.entries(inputs)) {
      feeds[name] = tensor.data instanceof BigInt64Array ? cpuFeed('int64', tensor.data, tensor.dims) : cpuFeed('float32', tensor.data, tensor.dims);
    }
    const output = names[component];
    const outputs: Record<string, Tensor> = await chain.run(state.ops, feeds, [output]);
    const tensor = outputs[output]!;
    try {
      const host: HostTensor = { data: await state.ops.read(tensor), dims: [...tensor.dims] };
      return { [output]: host };
    } finally {
      tensor.dispose();
    }
  },

  async release() {
    // Nothing of its own: the engine releases the chains and the ops.
  },
};
