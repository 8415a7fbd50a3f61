// What the demo shows before a load: the variants the engine would choose, the download, and why that backend.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { WebGpuInfo } from '../../src/contract/domain';
import { parseManifest } from '../../src/models';
import { summarizeModel, summaryError, summaryFacts } from '../../src/widget/model-summary';

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
