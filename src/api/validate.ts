/**
 * Request validation at the API boundary. Pure: runs in Node. Caller mistakes throw TypeError/RangeError
 * with a message that says the valid range, before any work starts. Two layers: `checkRequestShape`
 * needs nothing but the request; `resolveRequest` also checks it against the model's manifest limits.
 */
import type { EngineGenerateSpec } from '../contract';
import type { ModelManifest } from '../models/types';
import type { BackendChoice, GenerateRequest, GeneratorOptions, OutputFormat, UpscaleFilter, WeightPreference } from './types';

export const MAX_PROMPT_LENGTH = 2000;
export const MAX_SEED = 0xffff_ffff;
export const MAX_OUTPUT_SCALE = 16;
const FORMATS: readonly OutputFormat[] = ['mp4', 'webm', 'frames'];
const FILTERS: readonly UpscaleFilter[] = ['nearest', 'bilinear'];
const BACKENDS: readonly BackendChoice[] = ['auto', 'webgpu', 'wasm', 'cloud'];
const WEIGHTS: readonly WeightPreference[] = ['auto', 'fp32', 'fp16', 'int8'];
const REQUEST_KEYS = new Set([
  'prompt', 'negativePrompt', 'seed', 'steps', 'guidanceScale', 'numFrames', 'fps', 'width', 'height', 'format',
  'outputScale', 'outputFilter', 'previewEvery', 'returnFrames', 'watermark', 'providerOptions',
]);

const show = (value: unknown) => (typeof value === 'string' ? JSON.stringify(value) : typeof value === 'number' || typeof value === 'bigint' ? String(value) : Object.prototype.toString.call(value));

function integer(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be an integer from ${min} to ${max}; got ${show(value)}`);
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`${name} must be an integer from ${min} to ${max}; got ${show(value)}`);
  return value;
}

function finite(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`${name} must be a number from ${min} to ${max}; got ${show(value)}`);
  if (!Number.isFinite(value) || value < min || value > max) throw new RangeError(`${name} must be a number from ${min} to ${max}; got ${show(value)}`);
  return value;
}

function oneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw new TypeError(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}; got ${show(value)}`);
  return value as T;
}

function text(name: string, value: unknown, { required }: { required: boolean }): string {
  if (value === undefined && !required) return '';
  if (typeof value !== 'string') throw new TypeError(`${name} must be a string; got ${show(value)}`);
  if (required && value.trim() === '') throw new RangeError(`${name} must not be empty: describe the video, e.g. "a red circle moving right on a black background"`);
  if (value.length > MAX_PROMPT_LENGTH) throw new RangeError(`${name} must be at most ${MAX_PROMPT_LENGTH} characters; got ${value.length}`);
  return value;
}

/** Checks everything that does not depend on the model. Throws at once; returns the request typed. */
export function checkRequestShape(request: unknown): GenerateRequest {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new TypeError(`generate() takes a request object such as { prompt: "a red circle moving right" }; got ${show(request)}`);
  }
  const r = request as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!REQUEST_KEYS.has(key)) throw new TypeError(`unknown request field "${key}"; known fields: ${[...REQUEST_KEYS].join(', ')}`);
  }
  text('prompt', r.prompt, { required: true });
  text('negativePrompt', r.negativePrompt, { required: false });
  if (r.seed !== undefined) integer('seed', r.seed, 0, MAX_SEED);
  if (r.steps !== undefined) integer('steps', r.steps, 1, 1000);
  if (r.guidanceScale !== undefined) finite('guidanceScale', r.guidanceScale, 0, 100);
  if (r.numFrames !== undefined) integer('numFrames', r.numFrames, 1, 10_000);
  if (r.fps !== undefined) finite('fps', r.fps, 1, 120);
  if (r.width !== undefined) integer('width', r.width, 1, 8192);
  if (r.height !== undefined) integer('height', r.height, 1, 8192);
  if (r.format !== undefined) oneOf('format', r.format, FORMATS);
  if (r.outputScale !== undefined) integer('outputScale', r.outputScale, 1, MAX_OUTPUT_SCALE);
  if (r.outputFilter !== undefined) oneOf('outputFilter', r.outputFilter, FILTERS);
  if (r.previewEvery !== undefined) integer('previewEvery', r.previewEvery, 0, 1000);
  if (r.returnFrames !== undefined && typeof r.returnFrames !== 'boolean') throw new TypeError(`returnFrames must be true or false; got ${show(r.returnFrames)}`);
  if (r.watermark !== undefined && typeof r.watermark !== 'boolean' && typeof r.watermark !== 'string') throw new TypeError(`watermark must be true, false or the text to draw; got ${show(r.watermark)}`);
  if (typeof r.watermark === 'string' && (r.watermark.length === 0 || r.watermark.length > 40)) throw new RangeError(`watermark text must be 1 to 40 characters; got ${r.watermark.length}`);
  if (r.providerOptions !== undefined && (typeof r.providerOptions !== 'object' || r.providerOptions === null)) throw new TypeError('providerOptions must be an object');
  return r as unknown as GenerateRequest;
}

/** A random seed in 0..2^32−1 (crypto-quality when available). */
export function randomSeed(): number {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c?.getRandomValues) return c.getRandomValues(new Uint32Array(1))[0]!;
  return Math.floor(Math.random() * (MAX_SEED + 1));
}

/** Fills defaults from the manifest and checks the request against the model's limits. */
export function resolveRequest(request: GenerateRequest, manifest: ModelManifest, seed: () => number = randomSeed): EngineGenerateSpec {
  checkRequestShape(request);
  const { defaults, limits } = manifest;
  const steps = request.steps ?? defaults.steps;
  integer('steps', steps, limits.steps.min, limits.steps.max);
  const guidanceScale = request.guidanceScale ?? defaults.guidanceScale;
  finite('guidanceScale', guidanceScale, limits.guidanceScale.min, limits.guidanceScale.max);
  const numFrames = request.numFrames ?? defaults.numFrames;
  if (numFrames < limits.numFrames.min || numFrames > limits.numFrames.max) {
    throw new RangeError(`numFrames must be from ${limits.numFrames.min} to ${limits.numFrames.max} for ${manifest.id} (its temporal window); got ${numFrames}`);
  }
  const tc = manifest.latent.temporalCompression;
  if (tc > 1 && (numFrames - 1) % tc !== 0) {
    throw new RangeError(`numFrames must be 1 more than a multiple of ${tc} for ${manifest.id}; got ${numFrames}`);
  }
  const width = request.width ?? defaults.width;
  const height = request.height ?? defaults.height;
  if (!limits.sizes.some((s) => s.width === width && s.height === height)) {
    const sizes = limits.sizes.map((s) => `${s.width}×${s.height}`).join(', ');
    throw new RangeError(`${width}×${height} is not a size ${manifest.id} can generate; use one of ${sizes} (and outputScale to enlarge the video)`);
  }
  const format = request.format ?? 'mp4';
  const outputScale = request.outputScale ?? 1;
  if (format !== 'frames' && ((width * outputScale) % 2 !== 0 || (height * outputScale) % 2 !== 0)) {
    throw new RangeError(`video encoders need even dimensions; ${width * outputScale}×${height * outputScale} is odd. Use an even outputScale or format 'frames'`);
  }
  return {
    prompt: request.prompt,
    negativePrompt: request.negativePrompt ?? '',
    seed: request.seed ?? seed(),
    steps,
    guidanceScale,
    numFrames,
    fps: request.fps ?? defaults.fps,
    width,
    height,
    format,
    outputScale,
    outputFilter: request.outputFilter ?? 'nearest',
    previewEvery: request.previewEvery ?? 0,
    returnFrames: request.returnFrames ?? false,
    watermark: request.watermark ?? false,
  };
}

export interface ResolvedOptions {
  model: string;
  modelBaseUrl: string;
  backend: BackendChoice;
  allowWasm: boolean;
  weights: WeightPreference;
  cache: 'cache-api' | 'memory';
  wasmThreads?: number;
}

/** Checks createVideoGenerator's options; defaults live here and nowhere else. */
export function resolveOptions(options: GeneratorOptions | undefined, pageUrl: string): ResolvedOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError('createVideoGenerator takes an options object or nothing');
  const o = options ?? {};
  if (o.model !== undefined && (typeof o.model !== 'string' || o.model.trim() === '')) throw new TypeError(`model must be a model id such as 'kinema-micro' or a manifest URL; got ${show(o.model)}`);
  const backend = o.backend === undefined ? 'auto' : oneOf('backend', o.backend, BACKENDS);
  if (backend === 'cloud' && !o.cloud) throw new TypeError("backend 'cloud' needs cloud: { provider, proxyUrl } (see docs/cloud.md)");
  if (o.cloud !== undefined) {
    if (typeof o.cloud !== 'object' || o.cloud === null) throw new TypeError('cloud must be { provider, proxyUrl, proxyToken?, model? }');
    oneOf('cloud.provider', o.cloud.provider, ['dashscope', 'modelslab'] as const);
    try {
      new URL(o.cloud.proxyUrl, pageUrl);
    } catch {
      throw new TypeError(`cloud.proxyUrl must be a URL of your kinema proxy; got ${show(o.cloud.proxyUrl)}`);
    }
  }
  if (o.allowWasm !== undefined && typeof o.allowWasm !== 'boolean') throw new TypeError('allowWasm must be true or false');
  if (o.wasmThreads !== undefined) integer('wasmThreads', o.wasmThreads, 1, 16);
  const cache = o.cache === undefined ? 'cache-api' : oneOf('cache', o.cache, ['cache-api', 'memory'] as const);
  const weights = o.weights === undefined ? 'auto' : oneOf('weights', o.weights, WEIGHTS);
  let modelBaseUrl: string;
  try {
    modelBaseUrl = new URL(o.modelBaseUrl ?? 'models/', pageUrl).href;
  } catch {
    throw new TypeError(`modelBaseUrl must be a URL; got ${show(o.modelBaseUrl)}`);
  }
  return { model: o.model ?? 'kinema-micro', modelBaseUrl, backend, allowWasm: o.allowWasm ?? true, weights, cache, ...(o.wasmThreads !== undefined ? { wasmThreads: o.wasmThreads } : {}) };
}
