// What the demo shows before a load: the variants the engine would choose, the download, why that backend,
// and the memory plan (planMemory) or its refusal.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { WebGpuInfo } from '../../src/contract/domain';
import { parseManifest } from '../../src/models';
import { summarizeModel, summaryError, summaryFacts, viewingScale } from '../../src/widget/model-summary';

const shipped = parseManifest(
  JSON.parse(readFileSync(new URL('../../public/models/kinema-micro/manifest.json', import.meta.url), 'utf8')),
  'https://example.com/models/kinema-micro/manifest.json',
);
const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const fileBytes = (component: 'textEncoder' | 'denoiser' | 'vaeDecoder', dtype: string) =>
  shipped.components[component]!.variants.find((v) => v.dtype === dtype)!.bytes;
const tokenizerBytes = sum(shipped.tokenizer!.files.map((f) => f.bytes));

const GPU: WebGpuInfo = {
  available: true, isFallbackAdapter: false, shaderF16: false, architecture: 'test',
  limits: { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256 },
};

describe('summarizeModel', () => {
  it('adds up the smallest eligible variants and the tokenizer, like the engine chooses them', () => {
    const s = summarizeModel(shipped, { backend: 'wasm' });
    expect(s.backend).toBe('wasm');
    expect(s.components.map((c) => [c.component, c.dtype])).toEqual([['textEncoder', 'fp16'], ['denoiser', 'int8'], ['vaeDecoder', 'fp16']]);
    expect(s.tokenizerBytes).toBe(tokenizerBytes);
    expect(s.downloadBytes).toBe(fileBytes('textEncoder', 'fp16') + fileBytes('denoiser', 'int8') + fileBytes('vaeDecoder', 'fp16') + tokenizerBytes);
    expect(s.fileCount).toBe(3 + shipped.tokenizer!.files.length);
  });

  it('follows a weights preference, falling back per component where it is missing', () => {
    const s = summarizeModel(shipped, { backend: 'wasm', weights: 'fp32' });
    expect(s.components.every((c) => c.dtype === 'fp32')).toBe(true);
    expect(s.downloadBytes).toBe(fileBytes('textEncoder', 'fp32') + fileBytes('denoiser', 'fp32') + fileBytes('vaeDecoder', 'fp32') + tokenizerBytes);
    const int8 = summarizeModel(shipped, { backend: 'wasm', weights: 'int8' });
    expect(int8.components.map((c) => c.dtype)).toEqual(['fp16', 'int8', 'fp16']);
  });

  it('picks the backend as the engine does: software adapters and missing WebGPU go to wasm under auto', () => {
    expect(summarizeModel(shipped, { backend: 'auto', webgpu: GPU }).backend).toBe('webgpu');
    const soft = summarizeModel(shipped, { backend: 'auto', webgpu: { ...GPU, isFallbackAdapter: true } });
    expect(soft).toMatchObject({ backend: 'wasm', backendNote: expect.stringContaining('software fallback') });
    expect(summarizeModel(shipped, { backend: 'webgpu', webgpu: { ...GPU, isFallbackAdapter: true } }).backend).toBe('webgpu');
    const none = summarizeModel(shipped, { backend: 'auto', webgpu: { available: false, reason: 'no navigator.gpu' } });
    expect(none).toMatchObject({ backend: 'wasm', backendNote: expect.stringContaining('no navigator.gpu') });
    const refused = summarizeModel(shipped, { backend: 'webgpu', webgpu: { available: false, reason: 'no adapter' } });
    expect(refused.backendNote).toMatch(/will be refused/);
  });

  it('sends a model whose largest tensor exceeds the GPU buffer limit to wasm under auto, and says why', () => {
    const tiny = { ...GPU, limits: { ...GPU.limits!, maxBufferSize: 1024, maxStorageBufferBindingSize: 1024 } };
    const s = summarizeModel(shipped, { backend: 'auto', webgpu: tiny });
    expect(s.backend).toBe('wasm');
    expect(s.backendNote).toBeTruthy();
    expect(summarizeModel(shipped, { backend: 'auto', allowWasm: false, webgpu: tiny }).backendNote).toMatch(/will be refused/);
  });

  it('downloads nothing for the cloud', () => {
    expect(summarizeModel(shipped, { backend: 'cloud' })).toMatchObject({ backend: 'cloud', downloadBytes: 0, fileCount: 0, components: [] });
  });
});

describe('summaryFacts', () => {
  it('names the model, the backend, the download and each component', () => {
    const facts = Object.fromEntries(summaryFacts(summarizeModel(shipped, { backend: 'wasm' })));
    expect(facts.Model).toContain(shipped.name);
    expect(facts['Runs on']).toBe('wasm');
    expect(facts.Download).toMatch(/^4\.0 MB in 5 files/);
    expect(facts.Denoiser).toMatch(/^2\.1 MB, int8 weights$/);
    expect(facts['Text encoder']).toMatch(/fp16 weights/);
    expect(Object.fromEntries(summaryFacts(summarizeModel(shipped, { backend: 'cloud' }))).Download).toMatch(/none/);
  });

  it('turns a failure into one line with its code', () => {
    expect(summaryError(new TypeError('bad'))).toEqual([['Model', 'cannot be planned (INVALID_REQUEST): bad']]);
  });
});

/** A Wan-shaped kinema-model/2 manifest with declared memory (figures chosen for the test, not measured). */
function wanLike() {
  let n = 0;
  const sha = () => ((n++ % 15) + 1).toString(16).repeat(64);
  const variant = (component: string, dtype: string, graphBytes: number, dataBytes: number, weightsBytes: number, activationBytes: number) => ({
    dtype, compute: 'fp32', memory: { weightsBytes, activationBytes },
    graphs: [{ name: `${component}_0`, files: [
      { path: `${component}/${component}.onnx`, bytes: graphBytes, sha256: sha() },
      { path: `${component}/${component}.onnx.data`, bytes: dataBytes, sha256: sha(), role: 'external-data' },
    ] }],
  });
  return parseManifest({
    format: 'kinema-model/2', pipeline: 'wan2.1', id: 'wan-test', version: '1', name: 'Wan test',
    tokenizer: { files: [{ path: 'tokenizer.json', bytes: 1000, sha256: sha() }], maxLength: 8 },
    components: {
      textEncoder: { hiddenSize: 8, variants: [variant('text_encoder', 'int4', 1_000_000, 2_900_000_000, 2_900_000_000, 300_000_000)] },
      denoiser: { variants: [variant('denoiser', 'int8', 1_000_000, 1_500_000_000, 1_500_000_000, 600_000_000)] },
      vaeDecoder: { variants: [variant('vae_decoder', 'fp16', 1_000_000, 20_000_000, 20_000_000, 100_000_000)] },
    },
    latent: { channels: 1, temporalCompression: 1, spatialCompression: 8, mean: [0], std: [1] },
    scheduler: { type: 'flow-match-euler', config: {} },
    defaults: { steps: 4, guidanceScale: 0, numFrames: 1, fps: 16, width: 416, height: 240 },
    limits: { steps: { min: 1, max: 4 }, guidanceScale: { min: 0, max: 10 }, numFrames: { min: 1, max: 1 }, sizes: [{ width: 416, height: 240 }] },
  }, 'https://huggingface.co/someone/wan-test/resolve/main/manifest.json');
}

describe('the memory plan in the summary', () => {
  it('counts download sizes where a manifest declares no memory (kinema-micro), all stages together', () => {
    const s = summarizeModel(shipped, { backend: 'wasm' });
    expect(s.memory?.residency).toEqual([['textEncoder', 'denoiser', 'vaeDecoder']]);
    expect(s.memory?.stages.every((stage) => !stage.declared && stage.activationBytes === 0)).toBe(true);
    expect(s.memory?.peakBytes).toBe(sum(s.components.map((c) => c.bytes)));
    const facts = Object.fromEntries(summaryFacts(s));
    expect(facts['Denoiser memory']).toMatch(/^2\.1 MB \(its download size; the manifest declares no memory for it\)$/);
    expect(facts['Memory ceiling']).toMatch(/wasm heap/);
  });

  it('stages a model that does not fit the wasm heap at once: the text encoder is released before the denoiser', () => {
    const s = summarizeModel(wanLike(), { backend: 'wasm' });
    expect(s.downloadBytes).toBe(1000 + 3 * 1_000_000 + 2_900_000_000 + 1_500_000_000 + 20_000_000);
    expect(s.memory?.residency).toEqual([['textEncoder'], ['denoiser', 'vaeDecoder']]);
    expect(s.memory?.peakBytes).toBe(3_200_000_000);
    const facts = Object.fromEntries(summaryFacts(s));
    expect(facts['Text encoder memory']).toBe('3.20 GB (weights 2.90 GB + activations 300.0 MB)');
    expect(facts['Memory plan']).toBe('download 4.42 GB, needs 3.20 GB of memory at most (the text encoder is released before the denoiser)');
    expect(facts.Download).toMatch(/^4\.42 GB in 7 files/);
  });

  it('shows the refusal, naming the stage, when a lowered ceiling cannot hold one stage', () => {
    const s = summarizeModel(wanLike(), { backend: 'wasm', memoryLimits: { wasmHeapBytes: 2_000_000_000 } });
    expect(s.memory).toBeUndefined();
    expect(s.memoryError?.code).toBe('DEVICE_LIMITS');
    const plan = Object.fromEntries(summaryFacts(s))['Memory plan'];
    expect(plan).toMatch(/^refused before any download \(DEVICE_LIMITS\): .*text encoder stage needs 3\.20 GB/);
    expect(summarizeModel(wanLike(), { backend: 'wasm', deviceMemoryGiB: 2 }).memoryError?.message).toMatch(/deviceMemory/);
  });

  it('plans GPU memory on webgpu against a given GPU memory, and under auto falls back to wasm as the engine does', () => {
    const big = { ...GPU, limits: { ...GPU.limits!, maxBufferSize: 4 * 2 ** 30, maxStorageBufferBindingSize: 4 * 2 ** 30 } };
    const fits = summarizeModel(wanLike(), { backend: 'webgpu', webgpu: big });
    expect(fits.backend).toBe('webgpu');
    expect(fits.memory?.residency).toEqual([['textEncoder', 'denoiser', 'vaeDecoder']]);
    const limits = { gpuMemoryBytes: 2_500_000_000 };
    const refused = summarizeModel(wanLike(), { backend: 'webgpu', webgpu: big, memoryLimits: limits });
    expect(refused.backend).toBe('webgpu');
    expect(refused.memoryError).toMatchObject({ code: 'DEVICE_LIMITS', message: expect.stringContaining('text encoder') });
    const auto = summarizeModel(wanLike(), { backend: 'auto', webgpu: big, memoryLimits: limits });
    expect(auto.backend).toBe('wasm');
    expect(auto.backendNote).toMatch(/text encoder/);
    expect(auto.memory?.residency).toEqual([['textEncoder'], ['denoiser', 'vaeDecoder']]);
  });
});

describe('a model served from a Hugging Face repo (docs/wan.md)', () => {
  it('resolves every file next to the resolve URL of its manifest, at the same revision', () => {
    const m = wanLike();
    const urls = summarizeModel(m, { backend: 'wasm' }).variants!.denoiser!.files.map((f) => f.url);
    expect(urls).toEqual([
      'https://huggingface.co/someone/wan-test/resolve/main/denoiser/denoiser.onnx',
      'https://huggingface.co/someone/wan-test/resolve/main/denoiser/denoiser.onnx.data',
    ]);
    expect(m.tokenizer!.files[0]!.url).toBe('https://huggingface.co/someone/wan-test/resolve/main/tokenizer.json');
  });
});

describe('viewingScale', () => {
  it('upscales small frames to about 256 px and leaves real sizes alone', () => {
    expect(viewingScale(shipped)).toBe(256 / Math.max(shipped.defaults.width, shipped.defaults.height));
    expect(viewingScale(wanLike())).toBe(1);
    expect(viewingScale({ defaults: { ...shipped.defaults, width: 64, height: 48 } })).toBe(4);
    expect(viewingScale({ defaults: { ...shipped.defaults, width: 300, height: 200 } })).toBe(1);
  });
});
