import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import {
  checkDeviceLimits, fetchManifest, parseManifest, resolveModelRef, selectedFiles, selectVariants, type ManifestFetch,
} from '../../src/models';

const BASE = 'https://app.example/assets/models/';
const goodText = readFileSync(new URL('../fixtures/manifests/good.json', import.meta.url), 'utf8');
const goodJson = (): any => JSON.parse(goodText);
const manifest = parseManifest(goodJson(), `${BASE}kinema-micro/manifest.json`);

async function rejectionOf(promise: Promise<unknown>): Promise<KinemaError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  expect(error).toBeInstanceOf(KinemaError);
  return error as KinemaError;
}

/** A fetch serving fixed answers by URL; records what was asked. */
function fakeFetch(routes: Record<string, { status?: number; body?: string } | Error>): ManifestFetch & { calls: string[] } {
  const calls: string[] = [];
  const fn = async (url: string) => {
    calls.push(url);
    const route = routes[url];
    if (route instanceof Error) throw route;
    const status = route?.status ?? (route ? 200 : 404);
    return { ok: status >= 200 && status < 300, status, text: async () => route?.body ?? '' };
  };
  return Object.assign(fn, { calls });
}

describe('resolveModelRef', () => {
  it('maps a registry id to its manifest under the base URL', () => {
    expect(resolveModelRef('kinema-micro', BASE)).toEqual({ id: 'kinema-micro', manifestUrl: `${BASE}kinema-micro/manifest.json` });
  });

  it('takes relative and absolute manifest URLs, including Hugging Face resolve URLs', () => {
    expect(resolveModelRef('./my-model/manifest.json', BASE).manifestUrl).toBe(`${BASE}my-model/manifest.json`);
    expect(resolveModelRef('/models/x/manifest.json', BASE).manifestUrl).toBe('https://app.example/models/x/manifest.json');
    expect(resolveModelRef('manifest.json', BASE).manifestUrl).toBe(`${BASE}manifest.json`);
    const hf = 'https://huggingface.co/kinema/wan-1.3b-web/resolve/main/manifest.json';
    expect(resolveModelRef(hf, BASE)).toEqual({ manifestUrl: hf });
  });

  it('rejects an unknown id with MODEL_NOT_FOUND listing the known ids', () => {
    let error: unknown;
    try {
      resolveModelRef('kinema-mikro', BASE);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('MODEL_NOT_FOUND');
    expect((error as KinemaError).message).toMatch(/kinema-mikro.*Known models: kinema-micro/);
  });

  it('treats bad arguments as caller mistakes', () => {
    expect(() => resolveModelRef('', BASE)).toThrow(TypeError);
    expect(() => resolveModelRef('kinema-micro', 'assets/')).toThrow(/modelBaseUrl must be an absolute URL/);
    expect(() => resolveModelRef('ftp://x/manifest.json', BASE)).toThrow(TypeError);
  });
});

describe('fetchManifest', () => {
  const url = `${BASE}kinema-micro/manifest.json`;

  it('fetches, parses and resolves files against the manifest URL', async () => {
    const fetch = fakeFetch({ [url]: { body: goodText } });
    const m = await fetchManifest('kinema-micro', { fetch, baseUrl: BASE });
    expect(fetch.calls).toEqual([url]);
    expect(m.tokenizer!.files[0]?.url).toBe(`${BASE}kinema-micro/tokenizer.json`);
  });

  it('404 → MODEL_NOT_FOUND, 500 → DOWNLOAD_FAILED, network error → DOWNLOAD_FAILED', async () => {
    expect((await rejectionOf(fetchManifest('kinema-micro', { fetch: fakeFetch({}), baseUrl: BASE }))).code).toBe('MODEL_NOT_FOUND');
    expect((await rejectionOf(fetchManifest('kinema-micro', { fetch: fakeFetch({ [url]: { status: 500 } }), baseUrl: BASE }))).code).toBe('DOWNLOAD_FAILED');
    const offline = await rejectionOf(fetchManifest('kinema-micro', { fetch: fakeFetch({ [url]: new TypeError('Failed to fetch') }), baseUrl: BASE }));
    expect(offline.code).toBe('DOWNLOAD_FAILED');
    expect(offline.message).toContain('Failed to fetch');
  });

  it('bad JSON and invalid manifests → INVALID_MANIFEST', async () => {
    const notJson = await rejectionOf(fetchManifest('kinema-micro', { fetch: fakeFetch({ [url]: { body: '<html>oops' } }), baseUrl: BASE }));
    expect(notJson.code).toBe('INVALID_MANIFEST');
    expect(notJson.message).toMatch(/not JSON/);
    const bad = goodJson();
    bad.latent.std[0] = -1;
    const invalid = await rejectionOf(fetchManifest('kinema-micro', { fetch: fakeFetch({ [url]: { body: JSON.stringify(bad) } }), baseUrl: BASE }));
    expect(invalid.details.field).toBe('latent.std[0]');
  });

  it('a registry id must match the manifest id', async () => {
    const other = goodJson();
    other.id = 'something-else';
    const error = await rejectionOf(fetchManifest('kinema-micro', { fetch: fakeFetch({ [url]: { body: JSON.stringify(other) } }), baseUrl: BASE }));
    expect(error.code).toBe('INVALID_MANIFEST');
    expect(error.details.field).toBe('id');
  });

  it('an aborted signal → ABORTED without fetching', async () => {
    const fetch = fakeFetch({ [url]: { body: goodText } });
    const controller = new AbortController();
    controller.abort();
    expect((await rejectionOf(fetchManifest('kinema-micro', { fetch, baseUrl: BASE, signal: controller.signal }))).code).toBe('ABORTED');
    expect(fetch.calls).toEqual([]);
  });
});

describe('selectVariants', () => {
  const kinds = (s: ReturnType<typeof selectVariants>) => ({
    textEncoder: `${s.textEncoder!.dtype}/${s.textEncoder!.compute}`,
    denoiser: `${s.denoiser!.dtype}/${s.denoiser!.compute}`,
    vaeDecoder: `${s.vaeDecoder!.dtype}/${s.vaeDecoder!.compute}`,
  });

  it('without shader-f16: never an fp16-compute variant; smallest fp32-compute download by default', () => {
    expect(kinds(selectVariants(manifest, { shaderF16: false }))).toEqual({ textEncoder: 'int8/fp32', denoiser: 'int8/fp32', vaeDecoder: 'fp32/fp32' });
  });

  it('with shader-f16 still prefers fp32 compute unless asked for fp16 compute', () => {
    expect(kinds(selectVariants(manifest, { shaderF16: true }))).toEqual({ textEncoder: 'int8/fp32', denoiser: 'int8/fp32', vaeDecoder: 'fp32/fp32' });
    expect(kinds(selectVariants(manifest, { shaderF16: true, preferCompute: 'fp16' }))).toEqual({ textEncoder: 'int8/fp32', denoiser: 'fp16/fp16', vaeDecoder: 'fp16/fp16' });
  });

  it('honours preferDtype where it can and reports where it cannot', () => {
    const fallbacks: string[] = [];
    const onFallback = (f: { component: string; reason: string }) => fallbacks.push(`${f.component}: ${f.reason}`);
    expect(kinds(selectVariants(manifest, { shaderF16: false, preferDtype: 'fp16', onFallback }))).toEqual({ textEncoder: 'int8/fp32', denoiser: 'int8/fp32', vaeDecoder: 'fp32/fp32' });
    expect(fallbacks).toEqual([
      'textEncoder: textEncoder has no fp16 variant',
      'denoiser: the fp16 variant of denoiser computes in fp16 and this device lacks shader-f16',
      'vaeDecoder: the fp16 variant of vaeDecoder computes in fp16 and this device lacks shader-f16',
    ]);
    expect(kinds(selectVariants(manifest, { shaderF16: true, preferDtype: 'fp32' }))).toEqual({ textEncoder: 'fp32/fp32', denoiser: 'fp32/fp32', vaeDecoder: 'fp32/fp32' });
    expect(kinds(selectVariants(manifest, { shaderF16: false, size: 'largest' }))).toEqual({ textEncoder: 'fp32/fp32', denoiser: 'fp32/fp32', vaeDecoder: 'fp32/fp32' });
  });

  it('selectedFiles lists the tokenizer and the chosen variants, each path once', () => {
    const json = goodJson();
    json.components.vaeDecoder.variants[0].files.push({ ...json.components.denoiser.variants[0].files[1] }); // shared external data
    const m = parseManifest(json, `${BASE}m/manifest.json`);
    const files = selectedFiles(m, selectVariants(m, { shaderF16: false, preferDtype: 'fp32' }));
    expect(files.map((f) => f.path)).toEqual([
      'tokenizer.json', 'tokenizer_config.json', 'text_encoder.onnx', 'denoiser.onnx', 'denoiser.onnx.data', 'vae_decoder.onnx',
    ]);
  });

  it('requires shaderF16 to be stated', () => {
    expect(() => selectVariants(manifest, {} as never)).toThrow(TypeError);
  });
});

describe('checkDeviceLimits', () => {
  const selected = selectVariants(manifest, { shaderF16: false, preferDtype: 'fp32' });

  it('passes when requirements.webgpu fit', () => {
    expect(checkDeviceLimits(manifest, selected, { maxBufferSize: 4_000_000, maxStorageBufferBindingSize: 3_000_000 })).toBeNull();
  });

  it('names each short limit and by how much', () => {
    const error = checkDeviceLimits(manifest, selected, { maxBufferSize: 4_000_000, maxStorageBufferBindingSize: 2_000_000 });
    expect(error?.code).toBe('DEVICE_LIMITS');
    expect(error?.message).toMatch(/maxStorageBufferBindingSize needs 3000000 bytes .* offers 2000000 .*1\.0 MiB short/);
    expect(error?.message).not.toMatch(/maxBufferSize needs/);
    expect(error?.details.short).toEqual([{ limit: 'maxStorageBufferBindingSize', needed: 3_000_000, available: 2_000_000 }]);
  });

  it('without requirements, estimates from the largest graph file of the selection (external data left out)', () => {
    const json = goodJson();
    delete json.requirements;
    const m = parseManifest(json, `${BASE}m/manifest.json`);
    const fp32 = selectVariants(m, { shaderF16: false, preferDtype: 'fp32' });
    // Largest graph: vae_decoder.onnx, 600000 bytes; denoiser.onnx.data (3 MB) is external data.
    expect(checkDeviceLimits(m, fp32, { maxBufferSize: 600_000, maxStorageBufferBindingSize: 600_000 })).toBeNull();
    const error = checkDeviceLimits(m, fp32, { maxBufferSize: 599_999, maxStorageBufferBindingSize: 1e9 });
    expect(error?.message).toMatch(/maxBufferSize needs 600000 bytes.*largest graph file, vae_decoder\.onnx/);
  });
});
