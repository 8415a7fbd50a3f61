import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { generatorOptionsFrom, requestFrom } from '../../src/widget/options';

const PAGE = 'https://example.com/app/index.html';

function codeOf(run: () => unknown): { code: string; field: unknown; message: string } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KinemaError);
    const e = error as KinemaError;
    return { code: e.code, field: e.details.field, message: e.message };
  }
  throw new Error('expected a KinemaError');
}

describe('generatorOptionsFrom', () => {
  it('looks for models next to the page and passes fields through', () => {
    expect(generatorOptionsFrom({}, PAGE)).toEqual({ modelBaseUrl: 'https://example.com/app/models/' });
    expect(generatorOptionsFrom({ model: ' kinema-micro ', backend: 'wasm', provider: '', proxyUrl: '' }, PAGE))
      .toEqual({ modelBaseUrl: 'https://example.com/app/models/', model: 'kinema-micro', backend: 'wasm' });
    expect(generatorOptionsFrom({ backend: 'cloud', provider: 'modelslab', proxyUrl: '/proxy' }, PAGE).cloud)
      .toEqual({ provider: 'modelslab', proxyUrl: '/proxy' });
  });

  it('turns a bad value into INVALID_REQUEST naming the field', () => {
    expect(codeOf(() => generatorOptionsFrom({ backend: 'gpu' }, PAGE))).toMatchObject({ code: 'INVALID_REQUEST', field: 'backend' });
    expect(codeOf(() => generatorOptionsFrom({ backend: 'cloud' }, PAGE))).toMatchObject({ code: 'INVALID_REQUEST', field: 'backend' });
    expect(codeOf(() => generatorOptionsFrom({ backend: 'cloud', provider: 'dashscope' }, PAGE))).toMatchObject({ field: 'proxy-url' });
    expect(codeOf(() => generatorOptionsFrom({ provider: 'openai', proxyUrl: '/p' }, PAGE))).toMatchObject({ field: 'provider' });
    expect(codeOf(() => generatorOptionsFrom({ backend: 'gpu' }, PAGE)).message).toMatch(/backend.*'webgpu'/);
  });
});

describe('generatorOptionsFrom: the model', () => {
  it('takes a built-in id, a relative manifest path or an http(s) manifest URL', () => {
    expect(generatorOptionsFrom({ model: 'kinema-micro' }, PAGE).model).toBe('kinema-micro');
    expect(generatorOptionsFrom({ model: 'models/wan/manifest.json' }, PAGE).model).toBe('models/wan/manifest.json');
    const hf = 'https://huggingface.co/someone/wan2.1-t2v-1.3b-kinema/resolve/main/manifest.json';
    expect(generatorOptionsFrom({ model: ` ${hf} ` }, PAGE).model).toBe(hf);
  });

  it('refuses an unknown id and a non-http URL at once, naming the field', () => {
    const unknown = codeOf(() => generatorOptionsFrom({ model: 'wan-huge' }, PAGE));
    expect(unknown).toMatchObject({ code: 'MODEL_NOT_FOUND', field: 'model' });
    expect(unknown.message).toMatch(/^model: Unknown model "wan-huge".*manifest\.json/);
    const file = codeOf(() => generatorOptionsFrom({ model: 'file:///models/wan/manifest.json' }, PAGE));
    expect(file).toMatchObject({ code: 'INVALID_REQUEST', field: 'model' });
    expect(file.message).toMatch(/http\(s\)/);
  });
});

describe('generatorOptionsFrom: memory limits', () => {
  it('passes lowered ceilings through, and a bad one is INVALID_REQUEST naming memoryLimits', () => {
    expect(generatorOptionsFrom({ wasmHeapBytes: '1000000000' }, PAGE).memoryLimits).toEqual({ wasmHeapBytes: 1_000_000_000 });
    expect(generatorOptionsFrom({ gpuMemoryBytes: ' 2e9 ', wasmHeapBytes: '' }, PAGE).memoryLimits).toEqual({ gpuMemoryBytes: 2e9 });
    expect(generatorOptionsFrom({}, PAGE).memoryLimits).toBeUndefined();
    const bad = codeOf(() => generatorOptionsFrom({ wasmHeapBytes: 'lots' }, PAGE));
    expect(bad).toMatchObject({ code: 'INVALID_REQUEST', field: 'memoryLimits.wasmHeapBytes' });
  });
});

describe('requestFrom', () => {
  it('parses numbers, leaves empty fields to the model defaults and drops the seed when random', () => {
    expect(requestFrom({ prompt: ' a red circle ', seed: '42', steps: '', numFrames: '8', outputScale: '8', previewEvery: 1 }))
      .toEqual({ prompt: 'a red circle', seed: 42, numFrames: 8, outputScale: 8, previewEvery: 1 });
    expect(requestFrom({ prompt: 'x', seed: '42', randomSeed: true, guidanceScale: '4.5', negativePrompt: 'blur' }))
      .toEqual({ prompt: 'x', guidanceScale: 4.5, negativePrompt: 'blur' });
  });

  it('reuses the library checks: an empty prompt or a bad number is INVALID_REQUEST', () => {
    expect(codeOf(() => requestFrom({ prompt: '  ' }))).toMatchObject({ code: 'INVALID_REQUEST', field: 'prompt' });
    expect(codeOf(() => requestFrom({ prompt: 'x', seed: '-1' }))).toMatchObject({ field: 'seed' });
    expect(codeOf(() => requestFrom({ prompt: 'x', steps: 'many' }))).toMatchObject({ field: 'steps' });
    expect(codeOf(() => requestFrom({ prompt: 'x', outputScale: '3.5' }))).toMatchObject({ field: 'outputScale' });
  });
});
