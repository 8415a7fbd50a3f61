import { describe, expect, it } from 'vitest';
import { checkRequestShape, resolveOptions, resolveRequest } from '../../src/api/validate';
import type { ModelManifest } from '../../src/models/types';
import { defaultWasmThreads } from '../../src/runtime/capabilities';

// Only the fields resolveRequest reads; the full manifest is exercised by the models tests.
const manifest = {
  id: 'kinema-micro',
  defaults: { steps: 8, guidanceScale: 4, numFrames: 8, fps: 8, width: 32, height: 32 },
  limits: { steps: { min: 1, max: 50 }, guidanceScale: { min: 0, max: 20 }, numFrames: { min: 8, max: 8 }, sizes: [{ width: 32, height: 32 }] },
  latent: { channels: 8, temporalCompression: 1, spatialCompression: 4, mean: [], std: [] },
} as unknown as ModelManifest;

describe('checkRequestShape', () => {
  it.each([
    [undefined, TypeError, /request object/],
    ['a red circle', TypeError, /request object/],
    [{}, TypeError, /prompt must be text of 1 to 2000 characters; got undefined/],
    [{ prompt: '   ' }, RangeError, /prompt must not be empty/],
    [{ prompt: 'x'.repeat(2001) }, RangeError, /prompt must be text of 1 to 2000 characters; got 2001 characters/],
    [{ prompt: 'ok', seed: -1 }, RangeError, /seed must be an integer from 0 to 2147483647; got -1/],
    [{ prompt: 'ok', seed: 2147483648 }, RangeError, /seed must be an integer from 0 to 2147483647; got 2147483648/],
    [{ prompt: 'ok', seed: 1.5 }, RangeError, /seed must be an integer/],
    [{ prompt: 'ok', seed: '7' }, TypeError, /seed must be an integer/],
    [{ prompt: 'ok', steps: Number.NaN }, RangeError, /steps must be an integer from 1/],
    [{ prompt: 'ok', guidanceScale: Number.POSITIVE_INFINITY }, RangeError, /guidanceScale must be a number from 0 to 100/],
    [{ prompt: 'ok', fps: 0 }, RangeError, /fps must be a number from 1 to 120/],
    [{ prompt: 'ok', format: 'gif' }, TypeError, /format must be one of 'mp4', 'webm', 'frames'/],
    [{ prompt: 'ok', outputScale: 0 }, RangeError, /outputScale must be an integer from 1 to 16/],
    [{ prompt: 'ok', outputFilter: 'cubic' }, TypeError, /outputFilter must be one of/],
    [{ prompt: 'ok', promt: 'typo' }, TypeError, /unknown request field "promt"/],
    [{ prompt: 'ok', watermark: '' }, RangeError, /watermark must be text of 1 to 40 characters/],
    [{ prompt: 'ok', watermark: '  ' }, RangeError, /watermark must be text of 1 to 40 characters/],
    [{ prompt: 'ok', width: 512, outputScale: 16 }, RangeError, /width × outputScale must be at most 4096/],
  ])('rejects %j', (request, type, message) => {
    expect(() => checkRequestShape(request)).toThrow(type);
    expect(() => checkRequestShape(request)).toThrow(message);
  });

  it('accepts a full, valid request', () => {
    const request = { prompt: '黑色背景上一个红色的圆向右移动', negativePrompt: '', seed: 2147483647, steps: 8, guidanceScale: 4, numFrames: 8, fps: 8, width: 32, height: 32, format: 'webm', outputScale: 4, outputFilter: 'bilinear', previewEvery: 2, returnFrames: true, watermark: 'hi' };
    expect(checkRequestShape(request)).toBe(request);
  });
});

describe('resolveRequest', () => {
  it('fills the model defaults and reports a random seed', () => {
    const spec = resolveRequest({ prompt: 'a red circle moving right' }, manifest, () => 1234);
    expect(spec).toMatchObject({ seed: 1234, steps: 8, guidanceScale: 4, numFrames: 8, fps: 8, width: 32, height: 32, format: 'mp4', outputScale: 1, outputFilter: 'nearest', previewEvery: 0, negativePrompt: '' });
  });

  it('checks the request against the model limits, naming the valid range', () => {
    expect(() => resolveRequest({ prompt: 'x', steps: 51 }, manifest)).toThrow(/steps must be an integer from 1 to 50/);
    expect(() => resolveRequest({ prompt: 'x', numFrames: 16 }, manifest)).toThrow(/numFrames must be from 8 to 8 for kinema-micro/);
    expect(() => resolveRequest({ prompt: 'x', width: 64, height: 64 }, manifest)).toThrow(/64×64 is not a size kinema-micro can generate; use one of 32×32/);
    expect(() => resolveRequest({ prompt: 'x', guidanceScale: 25 }, manifest)).toThrow(RangeError);
  });

  it('refuses odd encoder sizes but allows them for raw frames', () => {
    const odd = { ...manifest, limits: { ...manifest.limits, sizes: [{ width: 33, height: 32 }] }, defaults: { ...manifest.defaults, width: 33 } } as ModelManifest;
    expect(() => resolveRequest({ prompt: 'x' }, odd)).toThrow(/even dimensions; 33×32 is odd/);
    expect(resolveRequest({ prompt: 'x', outputScale: 2 }, odd).width).toBe(33);
    expect(resolveRequest({ prompt: 'x', format: 'frames' }, odd).format).toBe('frames');
  });
});

describe('resolveOptions', () => {
  it('has the defaults in one place', () => {
    expect(resolveOptions(undefined, 'https://example.com/app/page.html')).toEqual({
      model: 'kinema-micro', modelBaseUrl: 'https://example.com/app/models/', backend: 'auto', allowWasm: true, weights: 'auto', cache: 'cache-api',
    });
  });

  it('explains bad options', () => {
    expect(() => resolveOptions({ backend: 'gpu' as never }, 'http://x/')).toThrow(/backend must be one of 'auto', 'webgpu', 'wasm', 'cloud'/);
    expect(() => resolveOptions({ backend: 'cloud' }, 'http://x/')).toThrow(/needs cloud: \{ provider, proxyUrl \}/);
    expect(() => resolveOptions({ cloud: { provider: 'openai' as never, proxyUrl: 'http://127.0.0.1:8787' } }, 'http://x/')).toThrow(/cloud.provider must be one of 'dashscope', 'modelslab'/);
    expect(() => resolveOptions({ model: '' }, 'http://x/')).toThrow(/model must be a model id/);
    expect(() => resolveOptions({ wasmThreads: 0 }, 'http://x/')).toThrow(/wasmThreads must be an integer from 1 to 16; got 0/);
    expect(() => resolveOptions({ wasmThreads: '2' as never }, 'http://x/')).toThrow(TypeError);
  });

  it('passes wasmThreads on only when given', () => {
    expect(resolveOptions({ wasmThreads: 3 }, 'http://x/').wasmThreads).toBe(3);
    expect('wasmThreads' in resolveOptions({}, 'http://x/')).toBe(false);
  });

  it('takes warmUp as a boolean, passed on only when given (absent: the engine decides)', () => {
    expect(resolveOptions({ warmUp: false }, 'http://x/').warmUp).toBe(false);
    expect(resolveOptions({ warmUp: true }, 'http://x/').warmUp).toBe(true);
    expect('warmUp' in resolveOptions({}, 'http://x/')).toBe(false);
    expect(() => resolveOptions({ warmUp: 'yes' as never }, 'http://x/')).toThrow(/warmUp must be true or false/);
  });
});

describe('defaultWasmThreads', () => {
  it('is half the cores, at most 4, and 1 without cross-origin isolation', () => {
    expect([1, 2, 3, 4, 8, 16].map((cores) => defaultWasmThreads(cores, true))).toEqual([1, 1, 2, 2, 4, 4]);
    expect(defaultWasmThreads(16, false)).toBe(1);
  });
});
