/**
 * Request validation at the API boundary. Pure: runs in Node. Caller mistakes throw TypeError/RangeError
 * with a message that says the valid range, before any work starts. Two layers: `checkRequestShape`
 * needs nothing but the request; `resolveRequest` also checks it against the model's manifest limits.
 */
import {
  BACKEND_CHOICES, CACHE_KINDS, CLOUD_PROVIDER_NAMES, LIMITS, REQUEST_KEYS, TEXT_LIMITS, WEIGHT_PREFERENCES, checkBoolean,
  checkLimit, checkMemoryLimits, checkOneOf, type MemoryLimits, checkRequestValues, checkSpecForModel, show, type CacheKind, type EngineGenerateSpec,
} from '../contract';
import type { ModelManifest } from '../models/types';
import type { BackendChoice, GenerateRequest, GeneratorOptions, WeightPreference } from './types';

export const MAX_PROMPT_LENGTH = TEXT_LIMITS.prompt.maxChars;
export const MAX_SEED = LIMITS.seed.max;
export const MAX_OUTPUT_SCALE = LIMITS.outputScale.max;
const KNOWN_KEYS = new Set(REQUEST_KEYS);

/** Checks everything that does not depend on the model (the limits table). Throws at once; returns the request typed. */
export function checkRequestShape(request: unknown): GenerateRequest {
  if (typeof request !== 'object' || request === null || Array.isArray(request)) {
    throw new TypeError(`generate() takes a request object such as { prompt: "a red circle moving right" }; got ${show(request)}`);
  }
  const r = request as Record<string, unknown>;
  for (const key of Object.keys(r)) {
    if (!KNOWN_KEYS.has(key)) throw new TypeError(`unknown request field "${key}"; known fields: ${REQUEST_KEYS.join(', ')}`);
  }
  checkRequestValues(r);
  if (r.providerOptions !== undefined && (typeof r.providerOptions !== 'object' || r.providerOptions === null)) throw new TypeError(`providerOptions must be an object; got ${show(r.providerOptions)}`);
  return r as unknown as GenerateRequest;
}

/** A random seed in the one seed range every backend accepts (crypto-quality when available). */
export function randomSeed(): number {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c?.getRandomValues) return c.getRandomValues(new Uint32Array(1))[0]! % (MAX_SEED + 1);
  return Math.floor(Math.random() * (MAX_SEED + 1));
}

/** Fills defaults from the manifest and checks the request against the model's limits. */
export function resolveRequest(request: GenerateRequest, manifest: ModelManifest, seed: () => number = randomSeed): EngineGenerateSpec {
  checkRequestShape(request);
  const { defaults } = manifest;
  const spec: EngineGenerateSpec = {
    prompt: request.prompt,
    negativePrompt: request.negativePrompt ?? '',
    seed: request.seed ?? seed(),
    steps: request.steps ?? defaults.steps,
    guidanceScale: request.guidanceScale ?? defaults.guidanceScale,
    numFrames: request.numFrames ?? defaults.numFrames,
    fps: request.fps ?? defaults.fps,
    width: request.width ?? defaults.width,
    height: request.height ?? defaults.height,
    format: request.format ?? 'mp4',
    outputScale: request.outputScale ?? 1,
    outputFilter: request.outputFilter ?? 'nearest',
    previewEvery: request.previewEvery ?? 0,
    returnFrames: request.returnFrames ?? false,
    watermark: request.watermark ?? false,
  };
  // The model narrows the table; the engine runs the same check against the manifest it loaded.
  checkSpecForModel(spec, manifest);
  return spec;
}

export interface ResolvedOptions {
  model: string;
  modelBaseUrl: string;
  backend: BackendChoice;
  allowWasm: boolean;
  weights: WeightPreference;
  cache: CacheKind;
  wasmThreads?: number;
  memoryLimits?: MemoryLimits;
  warmUp?: boolean;
}

/** Checks createVideoGenerator's options; defaults live here and nowhere else. */
export function resolveOptions(options: GeneratorOptions | undefined, pageUrl: string): ResolvedOptions {
  if (options !== undefined && (typeof options !== 'object' || options === null)) throw new TypeError('createVideoGenerator takes an options object or nothing');
  const o = options ?? {};
  if (o.model !== undefined && (typeof o.model !== 'string' || o.model.trim() === '')) throw new TypeError(`model must be a model id such as 'kinema-micro' or a manifest URL; got ${show(o.model)}`);
  const backend = o.backend === undefined ? 'auto' : checkOneOf('backend', o.backend, BACKEND_CHOICES);
  if (backend === 'cloud' && !o.cloud) throw new TypeError("backend 'cloud' needs cloud: { provider, proxyUrl } (see docs/cloud.md)");
  if (o.cloud !== undefined) {
    if (typeof o.cloud !== 'object' || o.cloud === null) throw new TypeError('cloud must be { provider, proxyUrl, proxyToken?, model? }');
    checkOneOf('cloud.provider', o.cloud.provider, CLOUD_PROVIDER_NAMES);
    if (o.cloud.timeoutMs !== undefined) checkLimit('cloud.timeoutMs', o.cloud.timeoutMs, LIMITS.cloudTimeoutMs);
    try {
      new URL(o.cloud.proxyUrl, pageUrl);
    } catch {
      throw new TypeError(`cloud.proxyUrl must be a URL of your kinema proxy; got ${show(o.cloud.proxyUrl)}`);
    }
  }
  if (o.allowWasm !== undefined) checkBoolean('allowWasm', o.allowWasm);
  if (o.wasmThreads !== undefined) checkLimit('wasmThreads', o.wasmThreads, LIMITS.wasmThreads);
  if (o.warmUp !== undefined) checkBoolean('warmUp', o.warmUp);
  // A copy: the caller's object may change after the call; the load must plan with what was validated.
  const memoryLimits = o.memoryLimits === undefined ? undefined : { ...checkMemoryLimits(o.memoryLimits) };
  const cache = o.cache === undefined ? 'cache-api' : checkOneOf('cache', o.cache, CACHE_KINDS);
  const weights = o.weights === undefined ? 'auto' : checkOneOf('weights', o.weights, WEIGHT_PREFERENCES);
  let modelBaseUrl: string;
  try {
    modelBaseUrl = new URL(o.modelBaseUrl ?? 'models/', pageUrl).href;
  } catch {
    throw new TypeError(`modelBaseUrl must be a URL; got ${show(o.modelBaseUrl)}`);
  }
  return { model: o.model ?? 'kinema-micro', modelBaseUrl, backend, allowWasm: o.allowWasm ?? true, weights, cache, ...(o.wasmThreads !== undefined ? { wasmThreads: o.wasmThreads } : {}), ...(memoryLimits ? { memoryLimits } : {}), ...(o.warmUp !== undefined ? { warmUp: o.warmUp } : {}) };
}
