/**
 * The Wan-specific fields of a `kinema-model/2` manifest (docs/wan.md, "Manifest fields"), checked on the
 * manifest's JSON after the shared parser has accepted it. Every broken rule throws
 * KinemaError('INVALID_MANIFEST') whose message and `details.field` name the field path. Components may be
 * absent (a converter run given only some of them): what is present is checked, and `missingComponents`
 * says what generation would lack. Pure.
 */
import { KinemaError } from '../../errors';
import type { EmbeddingSpec } from './embedding';

export interface WanDenoiserConfig {
  readonly numHeads: number;
  readonly headDim: number;
  readonly patchSize: readonly [number, number, number];
  readonly inChannels: number;
  readonly outChannels: number;
  readonly textDim: number;
  readonly ropeTheta: number;
}

export interface WanMemorySpec {
  /** Graph input fed with the memory (zeros at the first latent frame). */
  readonly input: string;
  /** Graph output holding the memory for the next call. */
  readonly output: string;
  readonly channels: number;
  /** The memory is [1, channels, H·scale, W·scale] for a latent H×W. */
  readonly scale: number;
}

export interface WanStreamingSpec {
  readonly memory: readonly WanMemorySpec[];
  readonly framesPerLatent: number;
  readonly trimFrames: number;
}

export type WanSchedulerType = 'unipc' | 'flow-match-euler' | 'rcm';
export const WAN_SCHEDULERS: readonly WanSchedulerType[] = ['unipc', 'flow-match-euler', 'rcm'];
export const WAN_COMPONENTS = ['textEncoder', 'denoiser', 'vaeDecoder'] as const;
export type WanComponent = (typeof WAN_COMPONENTS)[number];

export interface WanManifestConfig {
  readonly maxLength: number;
  readonly textEncoder?: { readonly hiddenSize: number; readonly embedding: EmbeddingSpec };
  readonly denoiser?: WanDenoiserConfig;
  readonly vaeDecoder?: { readonly streaming: WanStreamingSpec };
  readonly guidance: { readonly cfg: boolean; readonly negativePrompt: string };
  readonly scheduler: { readonly type: WanSchedulerType; readonly config: Readonly<Record<string, unknown>> };
  /** Latent channels and compression (16, ×4 in time, ×8 in space for Wan2.1). */
  readonly latent: { readonly channels: number; readonly temporalCompression: number; readonly spatialCompression: number };
  /** The Wan components this manifest lacks, in pipeline order. */
  readonly missingComponents: readonly WanComponent[];
}

type Json = Record<string, unknown>;

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value !== null && typeof value === 'object') return 'an object';
  return JSON.stringify(value);
}

class WanChecker {
  constructor(private readonly source: string) {}

  fail(path: string, expected: string, got: unknown): never {
    throw new KinemaError('INVALID_MANIFEST', `Invalid Wan model manifest ${this.source}: ${path} must be ${expected}, got ${describe(got)}`, {
      details: { field: path, manifestUrl: this.source },
    });
  }

  object(value: unknown, path: string): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'an object', value);
    return value as Json;
  }

  integer(value: unknown, path: string, min = 1): number {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) this.fail(path, min === 1 ? 'a positive integer' : `an integer ≥ ${min}`, value);
    return value;
  }

  exact(value: unknown, path: string, allowed: number): number {
    if (value !== allowed) this.fail(path, `${allowed} (the only value the Wan family supports)`, value);
    return allowed;
  }

  positive(value: unknown, path: string): number {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) this.fail(path, 'a positive number', value);
    return value;
  }

  name(value: unknown, path: string): string {
    if (typeof value !== 'string' || value.trim() === '') this.fail(path, 'a graph input or output name (a non-empty string)', value);
    return value;
  }
}

/** The embedding table's fields; int8/int4 tables (quantized per block of a row) also need blockSize, a divisor of dim. */
function embeddingSpec(c: WanChecker, value: unknown, path: string): EmbeddingSpec {
  const e = c.object(value, path);
  const dtype = e.dtype;
  if (dtype !== 'fp32' && dtype !== 'fp16' && dtype !== 'int8' && dtype !== 'int4') c.fail(`${path}.dtype`, '"fp32", "fp16", "int8" or "int4"', dtype);
  const vocabSize = c.integer(e.vocabSize, `${path}.vocabSize`);
  const dim = c.integer(e.dim, `${path}.dim`);
  if (dtype === 'fp32' || dtype === 'fp16') {
    if (e.blockSize !== undefined) c.fail(`${path}.blockSize`, `absent for an ${dtype} table (only int8 and int4 tables have scales per block)`, e.blockSize);
    return { vocabSize, dim, dtype };
  }
  const blockSize = c.integer(e.blockSize, `${path}.blockSize`);
  if (dim % blockSize !== 0) c.fail(`${path}.blockSize`, `a divisor of dim (${dim}): each row holds dim / blockSize scales`, blockSize);
  if (dtype === 'int4' && dim % 2 !== 0) c.fail(`${path}.dim`, 'even for an int4 table (two codes per byte)', dim);
  return { vocabSize, dim, dtype, blockSize };
}

function denoiserConfig(c: WanChecker, value: unknown, path: string): WanDenoiserConfig {
  const d = c.object(value, path);
  const patch = d.patchSize;
  if (!Array.isArray(patch) || patch.length !== 3) c.fail(`${path}.patchSize`, 'an array of 3 positive integers [t, h, w]', patch);
  const patchSize = patch.map((p, i) => c.integer(p, `${path}.patchSize[${i}]`)) as unknown as [number, number, number];
  const headDim = c.integer(d.headDim, `${path}.headDim`);
  // diffusers builds the RoPE frequencies with one t/h/w split of the head (2·⌊d/6⌋ for h and w) and takes
  // positions with another (⌊d/3⌋); they agree only for d mod 6 in {0, 2} (128, 12, …), and the converter's
  // graphs follow the first. Other head sizes would rotate differently from diffusers: refused.
  if (headDim % 6 !== 0 && headDim % 6 !== 2) c.fail(`${path}.headDim`, 'an even integer with headDim mod 6 = 0 or 2 (e.g. 128, as Wan2.1; diffusers\' two RoPE splits of the head agree only then)', headDim);
  return {
    numHeads: c.integer(d.numHeads, `${path}.numHeads`),
    headDim,
    patchSize,
    inChannels: c.integer(d.inChannels, `${path}.inChannels`),
    outChannels: c.integer(d.outChannels, `${path}.outChannels`),
    textDim: c.integer(d.textDim, `${path}.textDim`),
    ropeTheta: d.ropeTheta === undefined ? 10000 : c.positive(d.ropeTheta, `${path}.ropeTheta`),
  };
}

function streamingSpec(c: WanChecker, value: unknown, path: string): WanStreamingSpec {
  const s = c.object(value, path);
  if (!Array.isArray(s.memory)) c.fail(`${path}.memory`, 'an array of { input, output, channels, scale }', s.memory);
  const names = new Set<string>();
  const memory = s.memory.map((entry: unknown, i: number) => {
    const p = `${path}.memory[${i}]`;
    const m = c.object(entry, p);
    const spec = { input: c.name(m.input, `${p}.input`), output: c.name(m.output, `${p}.output`), channels: c.integer(m.channels, `${p}.channels`), scale: c.integer(m.scale, `${p}.scale`) };
    for (const [key, name] of [['input', spec.input], ['output', spec.output]] as const) {
      if (name === 'latent' || name === 'frames' || names.has(name)) c.fail(`${p}.${key}`, 'a name used once, other than "latent" and "frames"', name);
      names.add(name);
    }
    return spec;
  });
  const framesPerLatent = c.integer(s.framesPerLatent, `${path}.framesPerLatent`);
  const trimFrames = c.integer(s.trimFrames, `${path}.trimFrames`, 0);
  if (trimFrames >= framesPerLatent) c.fail(`${path}.trimFrames`, `fewer than framesPerLatent (${framesPerLatent})`, trimFrames);
  return { memory, framesPerLatent, trimFrames };
}

function schedulerSpec(c: WanChecker, value: unknown): WanManifestConfig['scheduler'] {
  const s = c.object(value, 'scheduler');
  if (!(WAN_SCHEDULERS as readonly unknown[]).includes(s.type)) c.fail('scheduler.type', WAN_SCHEDULERS.map((t) => `"${t}"`).join(', '), s.type);
  const config = s.config === undefined ? {} : c.object(s.config, 'scheduler.config');
  if (s.type === 'rcm') {
    const sigmas = config.sigmas;
    if (!Array.isArray(sigmas) || sigmas.length === 0) c.fail('scheduler.config.sigmas', 'a non-empty array of σ values in (0, 1] (rCM: [0.98765, 0.78271, 0.60898, 0.40622])', sigmas);
    sigmas.forEach((sigma: unknown, i: number) => {
      if (typeof sigma !== 'number' || !(sigma > 0 && sigma <= 1)) c.fail(`scheduler.config.sigmas[${i}]`, 'a number in (0, 1]', sigma);
      if (i > 0 && sigma >= (sigmas[i - 1] as number)) c.fail(`scheduler.config.sigmas[${i}]`, `smaller than the σ before it (${String(sigmas[i - 1])})`, sigma);
    });
  }
  return { type: s.type as WanSchedulerType, config };
}

/** Checks the Wan fields of a manifest's JSON. `source` (the manifest URL or path) goes into messages. */
export function parseWanManifest(json: unknown, source = 'manifest.json'): WanManifestConfig {
  const c = new WanChecker(source);
  const root = c.object(json, '(root)');
  // A model converted without its text encoder has no tokenizer (it still loads for component runs): the
  // text length is then Wan's 512, what diffusers' pipeline pads to.
  const maxLength = root.tokenizer === undefined ? 512 : c.integer(c.object(root.tokenizer, 'tokenizer').maxLength, 'tokenizer.maxLength', 2);
  const components = c.object(root.components, 'components');
  const missing: WanComponent[] = [];

  let textEncoder: WanManifestConfig['textEncoder'];
  if (components.textEncoder !== undefined) {
    const t = c.object(components.textEncoder, 'components.textEncoder');
    const hiddenSize = c.integer(t.hiddenSize, 'components.textEncoder.hiddenSize');
    const embedding = embeddingSpec(c, t.embedding, 'components.textEncoder.embedding');
    if (embedding.dim !== hiddenSize) c.fail('components.textEncoder.embedding.dim', `the text encoder's hiddenSize (${hiddenSize})`, embedding.dim);
    checkEmbeddingData(c, t);
    textEncoder = { hiddenSize, embedding };
  } else missing.push('textEncoder');

  let denoiser: WanDenoiserConfig | undefined;
  if (components.denoiser !== undefined) {
    const d = c.object(components.denoiser, 'components.denoiser');
    denoiser = denoiserConfig(c, d.config, 'components.denoiser.config');
    if (textEncoder && denoiser.textDim !== textEncoder.hiddenSize) {
      c.fail('components.denoiser.config.textDim', `the text encoder's hiddenSize (${textEncoder.hiddenSize})`, denoiser.textDim);
    }
    checkPerPromptGraph(c, d);
  } else missing.push('denoiser');

  let vaeDecoder: WanManifestConfig['vaeDecoder'];
  if (components.vaeDecoder !== undefined) {
    const v = c.object(components.vaeDecoder, 'components.vaeDecoder');
    vaeDecoder = { streaming: streamingSpec(c, v.streaming, 'components.vaeDecoder.streaming') };
  } else missing.push('vaeDecoder');

  const g = root.guidance === undefined ? {} : c.object(root.guidance, 'guidance');
  if (typeof g.cfg !== 'boolean') c.fail('guidance.cfg', 'true or false (whether the model is sampled with classifier-free guidance)', g.cfg);
  if (g.negativePrompt !== undefined && typeof g.negativePrompt !== 'string') c.fail('guidance.negativePrompt', 'a string', g.negativePrompt);
  const scheduler = schedulerSpec(c, root.scheduler);
  if (scheduler.type === 'rcm' && g.cfg) c.fail('guidance.cfg', 'false with the rcm sampler (rCM is distilled without classifier-free guidance)', g.cfg);

  const l = root.latent === undefined ? {} : c.object(root.latent, 'latent');
  const latent = {
    channels: l.channels === undefined ? 16 : c.integer(l.channels, 'latent.channels'),
    temporalCompression: l.temporalCompression === undefined ? 4 : c.integer(l.temporalCompression, 'latent.temporalCompression'),
    spatialCompression: l.spatialCompression === undefined ? 8 : c.integer(l.spatialCompression, 'latent.spatialCompression'),
  };
  if (denoiser) {
    if (denoiser.inChannels !== latent.channels) c.fail('components.denoiser.config.inChannels', `latent.channels (${latent.channels})`, denoiser.inChannels);
    if (denoiser.outChannels !== latent.channels) c.fail('components.denoiser.config.outChannels', `latent.channels (${latent.channels})`, denoiser.outChannels);
  }
  if (vaeDecoder && vaeDecoder.streaming.framesPerLatent !== latent.temporalCompression) {
    c.fail('components.vaeDecoder.streaming.framesPerLatent', `latent.temporalCompression (${latent.temporalCompression})`, vaeDecoder.streaming.framesPerLatent);
  }
  return {
    maxLength,
    ...(textEncoder ? { textEncoder } : {}),
    ...(denoiser ? { denoiser } : {}),
    ...(vaeDecoder ? { vaeDecoder } : {}),
    guidance: { cfg: g.cfg as boolean, negativePrompt: (g.negativePrompt as string | undefined) ?? '' },
    scheduler,
    latent,
    missingComponents: missing,
  };
}

/** Every text-encoder variant carries the embedding table as a `data` file with role "embedding". */
function checkEmbeddingData(c: WanChecker, textEncoder: Json): void {
  const variants = textEncoder.variants;
  if (!Array.isArray(variants)) return; // the shared parser reports a missing variant list
  variants.forEach((variant: unknown, i: number) => {
    const path = `components.textEncoder.variants[${i}].data`;
    const data = c.object(variant, `components.textEncoder.variants[${i}]`).data;
    const tables = Array.isArray(data) ? data.filter((file) => (file as Json | null)?.role === 'embedding') : [];
    if (tables.length !== 1) c.fail(path, 'a list with exactly one file whose role is "embedding" (the token embedding table)', data);
  });
}

/** The denoiser's first graph is `denoiser_context`, marked perPrompt; the step graphs are not. */
function checkPerPromptGraph(c: WanChecker, denoiser: Json): void {
  const variants = denoiser.variants;
  if (!Array.isArray(variants)) return;
  variants.forEach((variant: unknown, i: number) => {
    const graphs = c.object(variant, `components.denoiser.variants[${i}]`).graphs;
    if (!Array.isArray(graphs)) return; // the shared parser checks the graph list itself
    const path = `components.denoiser.variants[${i}].graphs`;
    const perPrompt = graphs.map((graph) => (graph as Json | null)?.perPrompt === true);
    if (perPrompt.length < 2 || !perPrompt[0] || perPrompt.slice(1).some(Boolean)) {
      c.fail(path, 'the perPrompt graph "denoiser_context" first, then one or more per-step graphs (denoiser or denoiser_0 … denoiser_k)', graphs);
    }
  });
}
