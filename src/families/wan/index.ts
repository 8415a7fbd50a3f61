/**
 * The Wan2.1 family (`"pipeline": "wan2.1"`): umT5 text encoder (embedding gathered here, encoder graphs
 * in a chain), WanTransformer3DModel denoiser (a per-prompt context graph, then the per-step graphs),
 * streaming TAEHV decoder. The graph contract, the manifest fields and the sampling flow are in docs/wan.md.
 */
import { KinemaError } from '../../errors';
import type { EngineGenerateSpec } from '../../contract';
import { usesGuidance } from '../../pipeline/loop';
import { cpuFeed, type LoopOps, type Tensor } from '../../pipeline/ops';
import type { GraphChain } from '../../runtime/chain';
import { createSampler, samplerAlgebra } from '../../schedulers/sampler';
import type { ComponentName, ModelManifest } from '../../models/types';
import type { Family, FamilyHooks, FamilyLoad, FamilyTimings, HostTensor } from '../types';
import { checkEmbeddingTable, gatherEmbeddings, type EmbeddingSpec } from './embedding';
import { frameCount, wanLatentDims } from './frames';
import { parseWanManifest, type WanManifestConfig } from './manifest';
import { decodeStreaming, runWanPipeline } from './pipeline';
import { ropeTables } from './rope';
import { loadWanTokenizer, type WanTokenizer } from './tokenizer';

export { cleanPrompt, unescapeHtml } from './prompt';
export { gatherEmbeddings, halfToFloat } from './embedding';
export { ropeTables } from './rope';
export { parseWanManifest } from './manifest';
export { loadWanTokenizer } from './tokenizer';
export { decodeStreaming, runWanPipeline } from './pipeline';

export const WAN_PIPELINE = 'wan2.1';

export interface WanState {
  readonly manifest: ModelManifest;
  readonly config: WanManifestConfig;
  readonly ops: LoopOps;
  readonly chains: Readonly<Partial<Record<ComponentName, GraphChain>>>;
  readonly tokenizer?: WanTokenizer;
  readonly embedding?: { readonly table: Uint8Array; readonly spec: EmbeddingSpec };
}

function incomplete(manifest: ModelManifest, component: ComponentName, what: string): KinemaError {
  return new KinemaError('MODEL_INCOMPLETE', `the model ${manifest.id} has no ${component} component, which ${what} needs: convert it with that component (docs/wan.md, "From a checkpoint to a clip")`, {
    details: { component, model: manifest.id },
  });
}

const contractError = (message: string, details: Record<string, unknown>) =>
  new KinemaError('INVALID_MANIFEST', `${message} (the Wan graph contract is in docs/wan.md)`, { details });

/** The graphs' names fit docs/wan.md: fails at load, before any generation, naming what is off. */
function checkContract(config: WanManifestConfig, chains: FamilyLoad['chains']): void {
  const expect = (chain: GraphChain | undefined, component: ComponentName, only: 'perPrompt' | 'perStep' | undefined, inputs: readonly string[], outputs: readonly string[]) => {
    if (!chain) return;
    const options = only ? { only } : undefined;
    const takes = chain.inputNames(options);
    const extra = takes.filter((name) => !inputs.includes(name));
    if (extra.length > 0) throw contractError(`the ${component} graphs${only ? ` (${only})` : ''} take ${extra.map((n) => `"${n}"`).join(', ')}; the Wan contract gives only ${inputs.join(', ')}`, { component, inputs: extra });
    const gives = chain.outputNames(options);
    const missing = outputs.filter((name) => !gives.includes(name));
    if (missing.length > 0) throw contractError(`the ${component} graphs${only ? ` (${only})` : ''} do not produce ${missing.map((n) => `"${n}"`).join(', ')}`, { component, outputs: missing });
  };
  expect(chains.textEncoder, 'textEncoder', undefined, ['hidden_states', 'attention_mask'], ['prompt_embeds']);
  if (chains.denoiser) {
    expect(chains.denoiser, 'denoiser', 'perPrompt', ['encoder_hidden_states'], ['context']);
    expect(chains.denoiser, 'denoiser', 'perStep', ['hidden_states', 'timestep', 'context', 'rope_cos', 'rope_sin'], ['sample']);
  }
  const memory = config.vaeDecoder?.streaming.memory ?? [];
  expect(chains.vaeDecoder, 'vaeDecoder', undefined, ['latent', ...memory.map((m) => m.input)], ['frames', ...memory.map((m) => m.output)]);
}

/** The tokenizer's files by their base name (tokenizer.json, tokenizer_config.json), from the manifest's paths. */
function tokenizerFiles(manifest: ModelManifest, files: ReadonlyMap<string, Uint8Array>): Map<string, Uint8Array> {
  const byName = new Map<string, Uint8Array>();
  for (const file of manifest.tokenizer?.files ?? []) {
    const bytes = files.get(file.path);
    if (bytes) byName.set(file.path.slice(file.path.lastIndexOf('/') + 1), bytes);
  }
  return byName;
}

async function prepare(loaded: FamilyLoad): Promise<WanState> {
  const { manifest, files } = loaded;
  const config = parseWanManifest(manifest.json, manifest.manifestUrl);
  checkContract(config, loaded.chains);
  let tokenizer: WanTokenizer | undefined;
  if (manifest.tokenizer) tokenizer = loadWanTokenizer(tokenizerFiles(manifest, files), manifest.tokenizer.maxLength);
  let embedding: WanState['embedding'];
  const variant = loaded.variants.textEncoder;
  if (variant && config.textEncoder && loaded.chains.textEncoder) {
    const file = variant.data.find((entry) => entry.role === 'embedding');
    const table = file ? files.get(file.path) : undefined;
    if (!file || !table) throw contractError('the text encoder variant has no embedding table among its data files', { field: 'components.textEncoder.variants[].data' });
    const spec = config.textEncoder.embedding;
    try {
      checkEmbeddingTable(table, spec);
    } catch (error) {
      throw new KinemaError('INVALID_MANIFEST', `${file.path}: ${(error as Error).message}`, { details: { field: 'components.textEncoder.embedding' } });
    }
    if (tokenizer && tokenizer.vocabularySize > spec.vocabSize) {
      throw new KinemaError('INVALID_MANIFEST', `the tokenizer's ids go up to ${tokenizer.vocabularySize - 1}, past the embedding table's ${spec.vocabSize} rows: the tokenizer and the text encoder come from different checkpoints`, {
        details: { field: 'components.textEncoder.embedding.vocabSize' },
      });
    }
    embedding = { table, spec };
  }
  return { manifest, config, ops: loaded.ops, chains: loaded.chains, ...(tokenizer ? { tokenizer } : {}), ...(embedding ? { embedding } : {}) };
}

async function generate(state: WanState, spec: EngineGenerateSpec, hooks: FamilyHooks): Promise<FamilyTimings> {
  const { manifest, config, ops, chains } = state;
  for (const component of ['textEncoder', 'denoiser', 'vaeDecoder'] as const) {
    if (!chains[component]) throw incomplete(manifest, component, 'generation');
  }
  if (!state.tokenizer) throw new KinemaError('MODEL_INCOMPLETE', `the model ${manifest.id} has no tokenizer, which generation needs: convert it with --tokenizer`, { details: { component: 'tokenizer' } });
  const denoiser = config.denoiser!;
  const streaming = config.vaeDecoder!.streaming;
  const guided = config.guidance.cfg && usesGuidance(spec.guidanceScale);
  if (!config.guidance.cfg && usesGuidance(spec.guidanceScale)) {
    hooks.onWarning?.('GUIDANCE_IGNORED', `this model samples without classifier-free guidance (guidance.cfg is false); guidanceScale ${spec.guidanceScale} is ignored`);
  }
  if (spec.previewEvery > 0) {
    hooks.onWarning?.('PREVIEWS_UNAVAILABLE', 'the Wan family makes no previews (decoding the predicted clip each time would cost a whole decode); previewEvery is ignored');
  }
  const negative = spec.negativePrompt || config.guidance.negativePrompt;
  const tokens = state.tokenizer.encode(guided ? [negative, spec.prompt] : [spec.prompt]);
  const latentDims = wanLatentDims(config.latent, denoiser.patchSize, spec);
  const sampler = createSampler(config.scheduler, spec.steps, { seed: spec.seed });
  const timings = await runWanPipeline({
    ops,
    chains: { textEncoder: chains.textEncoder!, denoiser: chains.denoiser!, vaeDecoder: chains.vaeDecoder! },
    tokens,
    embedding: state.embedding!,
    denoiser,
    streaming,
    sampler,
    algebra: samplerAlgebra(ops, latentDims),
    guidanceScale: spec.guidanceScale,
    seed: spec.seed,
    latentDims,
    ...(spec.initialLatents ? { initialLatents: spec.initialLatents } : {}),
    outputScale: spec.outputScale,
    outputFilter: spec.outputFilter,
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.onEncoded ? { onEncoded: () => hooks.onEncoded!() } : {}),
    ...(hooks.onStep ? { onStep: (step: number, total: number) => hooks.onStep!(step, total) } : {}),
    ...(hooks.onFrame ? { onFrame: (frame: Uint8Array, index: number) => hooks.onFrame!(frame, index) } : {}),
  });
  return {
    encodeTextMs: timings.encodeTextMs,
    denoiseMs: timings.denoiseMs,
    decodeMs: timings.decodeMs,
    sessionRunMs: timings.sessionRunMs,
    readbacksDuringDenoise: timings.readbacksDuringDenoise,
  };
}

function input(inputs: Readonly<Record<string, HostTensor>>, name: string, component: string, rank: number, type: 'float32' | 'int64'): HostTensor {
  const tensor = inputs[name];
  if (!tensor) throw new TypeError(`the ${component} run needs ${name}.npy (${type}, ${rank} dimensions); got ${Object.keys(inputs).join(', ') || 'no inputs'}`);
  const isType = type === 'int64' ? tensor.data instanceof BigInt64Array : tensor.data instanceof Float32Array;
  if (!isType) throw new TypeError(`${name}.npy must be ${type}; got ${tensor.data instanceof BigInt64Array ? 'int64' : 'float32'}`);
  if (tensor.dims.length !== rank) throw new RangeError(`${name}.npy must have ${rank} dimensions; got [${tensor.dims.join(', ')}]`);
  return tensor;
}

async function hostOf(ops: LoopOps, tensor: Tensor): Promise<HostTensor> {
  try {
    return { data: await ops.read(tensor), dims: [...tensor.dims] };
  } finally {
    tensor.dispose();
  }
}

async function runComponent(state: WanState, component: ComponentName, inputs: Readonly<Record<string, HostTensor>>, options: { signal?: AbortSignal } = {}): Promise<Record<string, HostTensor>> {
  const { ops, config, manifest } = state;
  const chain = state.chains[component];
  if (!chain) throw incomplete(manifest, component, `a ${component} run`);
  if (component === 'textEncoder') {
    const ids = input(inputs, 'input_ids', 'text-encoder', 2, 'int64');
    const mask = input(inputs, 'attention_mask', 'text-encoder', 2, 'int64');
    if (mask.dims.join() !== ids.dims.join()) throw new RangeError(`attention_mask.npy must have input_ids' shape [${ids.dims.join(', ')}]; got [${mask.dims.join(', ')}]`);
    const { table, spec } = state.embedding!;
    const hidden = gatherEmbeddings(table, spec, ids.data as BigInt64Array);
    const { prompt_embeds: out } = await chain.run(ops, {
      hidden_states: cpuFeed('float32', hidden, [ids.dims[0]!, ids.dims[1]!, spec.dim]),
      attention_mask: cpuFeed('int64', mask.data as BigInt64Array, ids.dims),
    }, ['prompt_embeds']);
    return { prompt_embeds: await hostOf(ops, out!) };
  }
  if (component === 'denoiser') {
    const x = input(inputs, 'hidden_states', 'denoiser', 5, 'float32');
    const t = input(inputs, 'timestep', 'denoiser', 1, 'float32');
    const text = input(inputs, 'encoder_hidden_states', 'denoiser', 3, 'float32');
    const batch = x.dims[0]!;
    if (t.dims[0] !== batch || text.dims[0] !== batch) throw new RangeError(`timestep.npy and encoder_hidden_states.npy must have hidden_states' batch ${batch}; got [${t.dims.join(', ')}] and [${text.dims.join(', ')}]`);
    const rope = ropeTables(config.denoiser!, { frames: x.dims[2]!, height: x.dims[3]!, width: x.dims[4]! });
    const { context } = await chain.run(ops, { encoder_hidden_states: cpuFeed('float32', text.data as Float32Array, text.dims) }, ['context'], { only: 'perPrompt' });
    try {
      const { sample } = await chain.run(ops, {
        hidden_states: cpuFeed('float32', x.data as Float32Array, x.dims),
        timestep: cpuFeed('float32', t.data as Float32Array, t.dims),
        context: context!,
        rope_cos: cpuFeed('float32', rope.cos, [rope.tokens, rope.pairs]),
        rope_sin: cpuFeed('float32', rope.sin, [rope.tokens, rope.pairs]),
      }, ['sample'], { only: 'perStep' });
      return { sample: await hostOf(ops, sample!) };
    } finally {
      context!.dispose();
    }
  }
  // vaeDecoder: latents [1, C, T, h, w] → frames [4T − 3, 8h, 8w, 3] in [0, 1].
  const latents = input(inputs, 'latents', 'decoder', 5, 'float32');
  const [batch, channels, frames, height, width] = latents.dims as [number, number, number, number, number];
  if (batch !== 1) throw new RangeError(`latents.npy must have batch 1 (the decoder streams one clip); got [${latents.dims.join(', ')}]`);
  const streaming = config.vaeDecoder!.streaming;
  const total = frameCount(frames, streaming);
  let out: Float32Array | undefined;
  let frameHeight = 0;
  let frameWidth = 0;
  let produced = 0;
  await decodeStreaming({
    ops, decoder: chain, streaming, latents: latents.data as Float32Array,
    shape: { channels, frames, height, width }, outputScale: 1, outputFilter: 'nearest',
    ...(options.signal ? { signal: options.signal } : {}),
    onFrames: (rgb, dims) => {
      // [framesPerLatent, 3, H, W] per call (8h × 8w for TAEHV).
      frameHeight = dims[2]!;
      frameWidth = dims[3]!;
      const per = frameHeight * frameWidth;
      out ??= new Float32Array(total * per * 3);
      for (let k = 0; k < streaming.framesPerLatent; k++, produced++) {
        const index = produced - streaming.trimFrames;
        if (index < 0) continue;
        const src = rgb.subarray(k * 3 * per, (k + 1) * 3 * per);
        const dst = index * per * 3;
        for (let p = 0; p < per; p++) for (let c = 0; c < 3; c++) out[dst + p * 3 + c] = src[c * per + p]!;
      }
    },
  });
  return { frames: { data: out ?? new Float32Array(0), dims: [total, frameHeight, frameWidth, 3] } };
}

export const wanFamily: Family<WanState> = {
  pipeline: WAN_PIPELINE,
  requiredComponents: ['textEncoder', 'denoiser', 'vaeDecoder'],
  validate(manifest: ModelManifest): void {
    parseWanManifest(manifest.json, manifest.manifestUrl);
  },
  prepare,
  generate,
  runComponent,
  tokenize(state: WanState, prompt: string) {
    if (!state.tokenizer) throw new KinemaError('MODEL_INCOMPLETE', `the model ${state.manifest.id} has no tokenizer: convert it with --tokenizer`, { details: { component: 'tokenizer' } });
    const tokens = state.tokenizer.encode([prompt]);
    return {
      inputIds: { data: tokens.inputIds, dims: [1, tokens.maxLength] },
      attentionMask: { data: tokens.attentionMask, dims: [1, tokens.maxLength] },
    };
  },
  async release(): Promise<void> {
    // Nothing of its own on the GPU: the chains and ops are the engine's to release.
  },
};

export default wanFamily;
