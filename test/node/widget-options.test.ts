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
