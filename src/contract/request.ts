/**
 * The request's checks against the limits table, shared by the API (`checkRequestShape`, before any work)
 * and the engine (`checkGenerateSpec`, which re-checks what it receives: a worker can be driven directly
 * through kinema/worker, without the API in front of it).
 */
import { CACHE_KINDS, OUTPUT_FORMATS, UPSCALE_FILTERS, WEIGHT_PREFERENCES } from './domain';
import type { EngineGenerateSpec, EngineLoadSpec, MemoryLimits } from './engine';
import { checkBoolean, checkLimit, checkOneOf, checkText, show } from './check';
import { DEFAULT_WATERMARK_TEXT, LIMITS, MAX_OUTPUT_SIDE, TEXT_LIMITS } from './limits';

/** Every field kinema's requests may carry; anything else is a typo the caller should hear about. */
export const REQUEST_KEYS: readonly string[] = [
  'prompt', 'negativePrompt', 'seed', 'steps', 'guidanceScale', 'numFrames', 'fps', 'width', 'height', 'format',
  'outputScale', 'outputFilter', 'previewEvery', 'returnFrames', 'watermark', 'providerOptions',
];

const NUMERIC_FIELDS = ['seed', 'steps', 'guidanceScale', 'numFrames', 'fps', 'width', 'height', 'outputScale', 'previewEvery'] as const;

export function checkPrompt(value: unknown): string {
  const prompt = checkText('prompt', value, TEXT_LIMITS.prompt);
  if (prompt.trim() === '') throw new RangeError('prompt must not be empty: describe the video, e.g. "a red circle moving right on a black background"');
  return prompt;
}

/** The watermark option: true (kinema's mark), false, or its text under the one text rule; returns the text to draw or null. */
export function checkWatermark(value: unknown): string | null {
  if (value === undefined || value === false) return null;
  if (value === true) return DEFAULT_WATERMARK_TEXT;
  if (typeof value !== 'string') throw new TypeError(`watermark must be true, false or the text to draw; got ${show(value)}`);
  return checkText('watermark', value, TEXT_LIMITS.watermark);
}

/** `side × outputScale` is the frame the encoder gets; it must fit the encoder's limit too. */
export function checkOutputSize(width: number, height: number, outputScale: number): void {
  for (const [name, side] of [['width', width], ['height', height]] as const) {
    if (side * outputScale > MAX_OUTPUT_SIDE) {
      throw new RangeError(`${name} × outputScale must be at most ${MAX_OUTPUT_SIDE} (the encoders' largest frame); got ${side} × ${outputScale} = ${side * outputScale}`);
    }
  }
}

/** Checks each field that is present (the API's partial request). Unknown keys are the caller's to check. */
export function checkRequestValues(r: Readonly<Record<string, unknown>>): void {
  checkPrompt(r.prompt);
  if (r.negativePrompt !== undefined) checkText('negativePrompt', r.negativePrompt, TEXT_LIMITS.negativePrompt);
  for (const key of NUMERIC_FIELDS) if (r[key] !== undefined) checkLimit(key, r[key], LIMITS[key]);
  if (r.format !== undefined) checkOneOf('format', r.format, OUTPUT_FORMATS);
  if (r.outputFilter !== undefined) checkOneOf('outputFilter', r.outputFilter, UPSCALE_FILTERS);
  if (r.returnFrames !== undefined) checkBoolean('returnFrames', r.returnFrames);
  checkWatermark(r.watermark);
  const scale = (r.outputScale as number | undefined) ?? 1;
  checkOutputSize((r.width as number | undefined) ?? 0, (r.height as number | undefined) ?? 0, scale);
}

/** The engine's check of a full spec: every field present and within the same table. */
export function checkGenerateSpec(spec: unknown): EngineGenerateSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new TypeError(`the engine takes a generate spec object; got ${show(spec)}`);
  const s = spec as Record<string, unknown>;
  for (const key of NUMERIC_FIELDS) checkLimit(key, s[key], LIMITS[key]);
  checkText('negativePrompt', s.negativePrompt, TEXT_LIMITS.negativePrompt);
  checkOneOf('format', s.format, OUTPUT_FORMATS);
  checkOneOf('outputFilter', s.outputFilter, UPSCALE_FILTERS);
  checkBoolean('returnFrames', s.returnFrames);
  if (typeof s.watermark !== 'boolean' && typeof s.watermark !== 'string') throw new TypeError(`watermark must be true, false or the text to draw; got ${show(s.watermark)}`);
  checkRequestValues(s);
  if (s.initialLatents !== undefined && !(s.initialLatents instanceof Float32Array)) throw new TypeError(`initialLatents must be a Float32Array; got ${show(s.initialLatents)}`);
  return s as unknown as EngineGenerateSpec;
}

/** The engine's check of a load spec, with the table's wasmThreads range and the option unions. */
export function checkLoadSpec(spec: unknown): EngineLoadSpec {
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) throw new TypeError(`the engine takes a load spec object; got ${show(spec)}`);
  const s = spec as Record<string, unknown>;
  if (typeof s.manifestUrl !== 'string' || s.manifestUrl === '') throw new TypeError(`manifestUrl must be the URL of a model manifest; got ${show(s.manifestUrl)}`);
  checkOneOf('backend', s.backend, ['auto', 'webgpu', 'wasm'] as const);
  checkBoolean('allowWasm', s.allowWasm);
  checkOneOf('weights', s.weights, WEIGHT_PREFERENCES);
  checkOneOf('cache', s.cache, CACHE_KINDS);
  if (s.wasmThreads !== undefined) checkLimit('wasmThreads', s.wasmThreads, LIMITS.wasmThreads);
  if (s.memoryLimits !== undefined) checkMemoryLimits(s.memoryLimits);
  if (s.warmUp !== undefined) checkBoolean('warmUp', s.warmUp);
  return s as unknown as EngineLoadSpec;
}

const MEMORY_LIMIT_KEYS = ['wasmHeapBytes', 'gpuMemoryBytes'] as const;

/** The memoryLimits option: an object of byte counts within the table, no other key. */
export function checkMemoryLimits(value: unknown): MemoryLimits {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`memoryLimits must be an object such as { wasmHeapBytes: 2 * 1024 ** 3, gpuMemoryBytes: 8 * 1024 ** 3 }; got ${show(value)}`);
  }
  const v = value as Record<string, unknown>;
  for (const key of Object.keys(v)) {
    if (!(MEMORY_LIMIT_KEYS as readonly string[]).includes(key)) throw new TypeError(`memoryLimits has no field "${key}"; known fields: ${MEMORY_LIMIT_KEYS.join(', ')}`);
  }
  for (const key of MEMORY_LIMIT_KEYS) if (v[key] !== undefined) checkLimit(`memoryLimits.${key}`, v[key], LIMITS[key]);
  return v as MemoryLimits;
}
