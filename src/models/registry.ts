/**
 * Finding a manifest: built-in ids resolve against the caller's `modelBaseUrl`; anything URL-like is
 * taken as the manifest's own URL (a relative path, or an absolute http(s) URL such as a Hugging Face
 * `resolve` URL). `fetchManifest` reads and validates it with an injected `fetch`.
 */
import { KinemaError, abortError } from '../errors';
import { parseManifest } from './parse-manifest';
import type { ModelManifest } from './types';

/** Built-in models: id → manifest path relative to `modelBaseUrl` (the folder that holds the model folders). Data, not code. */
export const BUILTIN_MODELS: Readonly<Record<string, string>> = Object.freeze({
  'kinema-micro': 'kinema-micro/manifest.json',
});

export interface ModelRef {
  /** The registry id when `ref` was one; the manifest's own id must then match it. */
  readonly id?: string;
  readonly manifestUrl: string;
}

/** What `fetch` must offer the manifest reader; the platform `fetch` fits. */
export type ManifestFetch = (url: string, init?: { signal?: AbortSignal; headers?: Record<string, string> }) => Promise<{
  ok: boolean;
  status: number;
  statusText?: string;
  text(): Promise<string>;
}>;

function isUrlLike(ref: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(ref) || ref.includes('/') || ref.endsWith('.json');
}

function absoluteBase(baseUrl: string | URL): URL {
  try {
    return new URL(baseUrl);
  } catch {
    throw new TypeError(`modelBaseUrl must be an absolute URL, e.g. new URL('./', location.href).href; got ${JSON.stringify(String(baseUrl))}`);
  }
}

/**
 * Turns a model reference into a manifest URL. Unknown ids that are not URL-like reject with
 * `MODEL_NOT_FOUND` listing the known ids.
 */
export function resolveModelRef(ref: string, baseUrl: string | URL): ModelRef {
  if (typeof ref !== 'string' || ref.trim() === '') {
    throw new TypeError(`model must be a model id (${Object.keys(BUILTIN_MODELS).join(', ')}) or a manifest URL; got ${JSON.stringify(ref)}`);
  }
  const base = absoluteBase(baseUrl);
  const builtin = Object.hasOwn(BUILTIN_MODELS, ref) ? BUILTIN_MODELS[ref] : undefined;
  if (builtin !== undefined) return { id: ref, manifestUrl: new URL(builtin, base).href };
  if (!isUrlLike(ref)) {
    throw new KinemaError('MODEL_NOT_FOUND', `Unknown model "${ref}". Known models: ${Object.keys(BUILTIN_MODELS).join(', ')}; or pass the URL of a manifest.json.`, {
      details: { model: ref, known: Object.keys(BUILTIN_MODELS) },
    });
  }
  const url = new URL(ref, base);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError(`model URL must be http(s) or relative to modelBaseUrl; got ${JSON.stringify(ref)}`);
  }
  return { manifestUrl: url.href };
}

/**
 * Fetches and validates a manifest. 404/410 → MODEL_NOT_FOUND; other HTTP or network failures →
 * DOWNLOAD_FAILED (`details.status` set only when the server answered); unparsable JSON or a broken
 * rule → INVALID_MANIFEST; abort → ABORTED.
 */
export async function fetchManifest(
  ref: string,
  options: { fetch: ManifestFetch; baseUrl: string | URL; signal?: AbortSignal },
): Promise<ModelManifest> {
  return (await fetchManifestJson(ref, options)).manifest;
}

/** `fetchManifest`, also giving the JSON as published, so the loader can cache the verified copy. */
export async function fetchManifestJson(
  ref: string,
  options: { fetch: ManifestFetch; baseUrl: string | URL; signal?: AbortSignal },
): Promise<{ manifest: ModelManifest; json: unknown }> {
  const { manifestUrl } = resolveModelRef(ref, options.baseUrl);
  const { signal } = options;
  if (signal?.aborted) throw abortError(signal, 'loading the model manifest');
  let text: string;
  try {
    const response = await options.fetch(manifestUrl, signal ? { signal } : {});
    if (response.status === 404 || response.status === 410) {
      throw new KinemaError('MODEL_NOT_FOUND', `No model manifest at ${manifestUrl} (HTTP ${response.status})`, { details: { url: manifestUrl, status: response.status } });
    }
    if (!response.ok) {
      throw new KinemaError('DOWNLOAD_FAILED', `Could not fetch the model manifest ${manifestUrl}: HTTP ${response.status} ${response.statusText ?? ''}`.trim(), {
        details: { url: manifestUrl, status: response.status },
      });
    }
    text = await response.text();
  } catch (error) {
    if (signal?.aborted) throw abortError(signal, 'loading the model manifest');
    if (error instanceof KinemaError) throw error;
    throw new KinemaError('DOWNLOAD_FAILED', `Could not fetch the model manifest ${manifestUrl}: ${error instanceof Error ? error.message : String(error)}`, {
      details: { url: manifestUrl }, cause: error,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new KinemaError('INVALID_MANIFEST', `Invalid model manifest ${manifestUrl}: not JSON (${error instanceof Error ? error.message : String(error)})`, {
      details: { field: '', manifestUrl }, cause: error,
    });
  }
  return { manifest: manifestFromJson(json, ref, options.baseUrl), json };
}

/** Validates parsed manifest JSON found at `ref` (also a cached copy), including the registry id check. */
export function manifestFromJson(json: unknown, ref: string, baseUrl: string | URL): ModelManifest {
  const { id, manifestUrl } = resolveModelRef(ref, baseUrl);
  const manifest = parseManifest(json, manifestUrl);
  if (id !== undefined && manifest.id !== id) {
    throw new KinemaError('INVALID_MANIFEST', `Invalid model manifest ${manifestUrl}: id must be "${id}" (the registry id it was loaded as), got "${manifest.id}"`, {
      details: { field: 'id', manifestUrl },
    });
  }
  return manifest;
}
