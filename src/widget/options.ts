/**
 * Turning the text of form fields and element attributes into `GeneratorOptions` and a `GenerateRequest`.
 * Pure: no DOM. Validation is the library's own (`resolveOptions`, `checkRequestShape`); this module only
 * parses text and turns a caller mistake into a KinemaError('INVALID_REQUEST') that names the field, so a
 * page or a custom element can show it instead of throwing.
 */
import { checkRequestShape, resolveOptions } from '../api/validate';
import type { GenerateRequest, GeneratorOptions } from '../api/types';
import { KinemaError } from '../errors';
import { resolveModelRef } from '../models/registry';

export interface GeneratorFields {
  /** A model id or manifest URL; empty → kinema-micro. */
  model?: string | null;
  /** 'auto' | 'webgpu' | 'wasm' | 'cloud'; empty → auto. */
  backend?: string | null;
  /** Cloud provider ('dashscope' | 'modelslab'); empty → dashscope when a proxy URL is given. */
  provider?: string | null;
  /** The kinema proxy for cloud generation; empty → no cloud. */
  proxyUrl?: string | null;
  /** Bearer token the proxy expects (KINEMA_PROXY_TOKEN); empty → none. */
  proxyToken?: string | null;
  /** Whether 'auto' may run on wasm when WebGPU is missing (default true). */
  allowWasm?: boolean;
  /** Lowered memory ceilings in bytes (GeneratorOptions.memoryLimits); empty → the platform's. */
  wasmHeapBytes?: string | null;
  gpuMemoryBytes?: string | null;
}

export interface RequestFields {
  prompt?: string | null;
  negativePrompt?: string | null;
  /** Empty, or when `randomSeed` is true: a fresh random seed chosen by the library. */
  seed?: string | null;
  randomSeed?: boolean;
  steps?: string | null;
  guidanceScale?: string | null;
  numFrames?: string | null;
  fps?: string | null;
  outputScale?: string | null;
  previewEvery?: number;
}

const blank = (value: string | null | undefined) => value === undefined || value === null || value.trim() === '';

const OPTION_FIELDS: Readonly<Record<string, string>> = { 'cloud.provider': 'provider', 'cloud.proxyUrl': 'proxy-url', modelBaseUrl: 'model' };

function invalid(field: string, error: unknown): KinemaError {
  const message = error instanceof Error ? error.message : String(error);
  return new KinemaError('INVALID_REQUEST', `${field}: ${message}`, { details: { field }, cause: error });
}

/** Options for createVideoGenerator; models are looked up in `models/` next to the page. Throws INVALID_REQUEST. */
export function generatorOptionsFrom(fields: GeneratorFields, pageUrl: string): GeneratorOptions {
  const options: GeneratorOptions = { modelBaseUrl: new URL('models/', pageUrl).href };
  if (fields.allowWasm === false) options.allowWasm = false;
  if (!blank(fields.model)) options.model = fields.model!.trim();
  if (!blank(fields.backend)) options.backend = fields.backend!.trim() as GeneratorOptions['backend'];
  if (!blank(fields.wasmHeapBytes) || !blank(fields.gpuMemoryBytes)) {
    // Text that is not a number goes on as text: the API's own check names the field and its range.
    options.memoryLimits = {
      ...(!blank(fields.wasmHeapBytes) ? { wasmHeapBytes: number(fields.wasmHeapBytes) as number } : {}),
      ...(!blank(fields.gpuMemoryBytes) ? { gpuMemoryBytes: number(fields.gpuMemoryBytes) as number } : {}),
    };
  }
  if (!blank(fields.proxyUrl)) {
    options.cloud = { provider: (blank(fields.provider) ? 'dashscope' : fields.provider!.trim()) as 'dashscope', proxyUrl: fields.proxyUrl!.trim() };
    if (!blank(fields.proxyToken)) options.cloud.proxyToken = fields.proxyToken!.trim();
  } else if (!blank(fields.provider) && options.backend === 'cloud') {
    throw new KinemaError('INVALID_REQUEST', 'proxy-url: cloud generation needs the URL of your kinema proxy (npm run proxy)', { details: { field: 'proxy-url' } });
  }
  try {
    resolveOptions(options, pageUrl);
  } catch (error) {
    // resolveOptions names the option first ("backend must be one of …", "cloud.proxyUrl must be …").
    const option = /^[\w.]+/.exec(error instanceof Error ? error.message : '')?.[0] ?? 'options';
    throw invalid(OPTION_FIELDS[option] ?? option, error);
  }
  // The model reference is checked here too, not first at load: an unknown id or a file: URL in a form
  // field or an attribute is a mistake to show at once, before any worker starts.
  try {
    resolveModelRef(options.model ?? 'kinema-micro', options.modelBaseUrl!);
  } catch (error) {
    if (error instanceof KinemaError) {
      throw new KinemaError(error.code, `model: ${error.message}`, { details: { ...error.details, field: 'model' }, cause: error });
    }
    throw invalid('model', error);
  }
  return options;
}

// Text that reads as a number becomes one; anything else goes on as text, so the one validation helper
// refuses it with the same message the API gives ("steps must be an integer from 1 to 1000; got \"many\"").
function number(value: string | null | undefined): number | string | undefined {
  if (blank(value)) return undefined;
  const n = Number(value!.trim());
  return Number.isFinite(n) ? n : value!.trim();
}

/** A request from form text; empty fields take the model's defaults. Throws INVALID_REQUEST. */
export function requestFrom(fields: RequestFields): GenerateRequest {
  const request: Record<string, unknown> = { prompt: (fields.prompt ?? '').trim() };
  if (!blank(fields.negativePrompt)) request.negativePrompt = fields.negativePrompt!.trim();
  const numeric: [keyof GenerateRequest, string | null | undefined][] = [
    ['steps', fields.steps],
    ['guidanceScale', fields.guidanceScale],
    ['numFrames', fields.numFrames],
    ['fps', fields.fps],
    ['outputScale', fields.outputScale],
  ];
  if (!fields.randomSeed) numeric.unshift(['seed', fields.seed]);
  for (const [key, text] of numeric) {
    const value = number(text);
    if (value !== undefined) request[key] = value;
  }
  if (fields.previewEvery !== undefined) request.previewEvery = fields.previewEvery;
  try {
    return checkRequestShape(request);
  } catch (error) {
    const field = /^(\w+)/.exec((error as Error).message)?.[1] ?? 'request';
    throw invalid(field, error);
  }
}
