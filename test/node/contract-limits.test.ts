// Walks the contract's one limits table: every value the API accepts is accepted by every deeper layer
// (the engine's spec check, the encoder, the cloud adapters and the cloud fallback's request, the CLI's
// flags), and every value it refuses is refused at the API with the same message those layers give.
import { describe, expect, it, vi } from 'vitest';
import { checkRequestShape, randomSeed, resolveOptions, resolveRequest } from '../../src/api/validate';
import { LIMITS, MAX_OUTPUT_SIDE, TEXT_LIMITS, checkGenerateSpec, checkLoadSpec, checkSpecForModel, type EngineGenerateSpec, type EngineLoadSpec, type NumberLimit } from '../../src/contract';
import { createDashScopeAdapter } from '../../src/cloud/dashscope';
import { checkCommonRequest } from '../../src/cloud/validate';
import type { CloudRequest } from '../../src/cloud/types';
import { resolveClipEncoderOptions } from '../../src/encode/options';
import type { ClipEncoderOptions } from '../../src/encode/types';
import { parseGenerateArgs, UsageError } from '../../src/node/args';
import { requestFrom } from '../../src/widget/options';
import type { ModelManifest } from '../../src/models/types';

// The cloud fallback: capture the request generateWithCloud builds and put it through the real adapter.
const sent: CloudRequest[] = [];
vi.mock('../../src/cloud', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/cloud')>();
  return {
    ...actual,
    generateInCloud: async (request: CloudRequest) => {
      sent.push(request);
      actual.createDashScopeAdapter({ baseUrl: 'http://127.0.0.1:1' }).prepare(request);
      throw new Error('stop: the request was prepared');
    },
  };
});
const { generateWithCloud } = await import('../../src/api/cloud-backend');

const spec: EngineGenerateSpec = {
  prompt: 'a red circle moving right', negativePrompt: '', seed: 1, steps: 8, guidanceScale: 4, numFrames: 8, fps: 8,
  width: 32, height: 32, format: 'mp4', outputScale: 1, outputFilter: 'nearest', previewEvery: 0, returnFrames: false, watermark: false,
};
const clip: ClipEncoderOptions = { format: 'webm', width: 32, height: 32, fps: 8, numFrames: 8, metadata: { prompt: 'x', seed: 1, modelId: 'm', modelVersion: '1' } };
const dashscope = createDashScopeAdapter({ baseUrl: 'http://127.0.0.1:1' });

type Field = keyof typeof LIMITS;
/** Which layers below the API take each request field, and under which name. */
const REQUEST_FIELDS: { field: Field; encoder?: keyof ClipEncoderOptions; cloud?: keyof CloudRequest; flag?: string }[] = [
  { field: 'seed', cloud: 'seed', flag: '--seed' },
  { field: 'steps', flag: '--steps' },
  { field: 'guidanceScale', flag: '--guidance' },
  { field: 'numFrames', encoder: 'numFrames', cloud: 'numFrames', flag: '--frames' },
  { field: 'fps', encoder: 'fps', cloud: 'fps', flag: '--fps' },
  { field: 'width', encoder: 'width', cloud: 'width' },
  { field: 'height', encoder: 'height', cloud: 'height' },
  { field: 'outputScale', flag: '--scale' },
  { field: 'previewEvery' },
];

const accepted = (limit: NumberLimit) => [limit.min, limit.max, limit.integer ? Math.floor((limit.min + limit.max) / 2) : (limit.min + limit.max) / 2];
const refused = (limit: NumberLimit): unknown[] => [
  limit.min - 1, limit.max + 1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, String(limit.min), null,
  ...(limit.integer ? [limit.min + 0.5] : []),
];

/** The error a call throws (its class and message), or null when it does not throw. */
function thrown(run: () => unknown): { type: string; message: string } | null {
  try {
    run();
    return null;
  } catch (error) {
    return { type: (error as Error).constructor.name, message: (error as Error).message };
  }
}

describe('the limits table', () => {
  it('is the one the encoder and the output-size rule use', () => {
    expect(MAX_OUTPUT_SIDE).toBe(LIMITS.width.max);
    expect(LIMITS.height).toEqual(LIMITS.width);
    // Every seed the API accepts, the cloud providers accept (their range is 0..2^31−1).
    expect(LIMITS.seed).toEqual({ integer: true, min: 0, max: 2147483647 });
  });

  describe.each(REQUEST_FIELDS)('$field', ({ field, encoder, cloud, flag }) => {
    const limit = LIMITS[field];

    it.each(accepted(limit))('accepts %d at every layer', (value) => {
      expect(thrown(() => checkRequestShape({ prompt: 'ok', [field]: value }))).toBeNull();
      expect(thrown(() => checkGenerateSpec({ ...spec, [field]: value }))).toBeNull();
      if (encoder) expect(thrown(() => resolveClipEncoderOptions({ ...clip, [encoder]: value }))).toBeNull();
      if (cloud) {
        expect(thrown(() => checkCommonRequest({ prompt: 'ok', [cloud]: value }, 'dashscope'))).toBeNull();
        expect(thrown(() => dashscope.prepare({ prompt: 'ok', [cloud]: value }))).toBeNull();
      }
      if (flag) expect(parseGenerateArgs(['ok', flag, String(value)])!.request).toMatchObject({ [field]: value });
    });

    it.each(refused(limit))('refuses %s at the API with the message every layer gives', (value) => {
      const api = thrown(() => checkRequestShape({ prompt: 'ok', [field]: value }));
      const kind = limit.integer ? 'an integer' : 'a number';
      expect(api).toEqual({
        type: typeof value === 'number' ? 'RangeError' : 'TypeError',
        message: `${field} must be ${kind} from ${limit.min} to ${limit.max}; got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`,
      });
      expect(thrown(() => checkGenerateSpec({ ...spec, [field]: value }))).toEqual(api);
      if (encoder) expect(thrown(() => resolveClipEncoderOptions({ ...clip, [encoder]: value as number }))).toEqual(api);
      if (cloud) {
        expect(thrown(() => checkCommonRequest({ prompt: 'ok', [cloud]: value } as CloudRequest, 'dashscope'))).toEqual(api);
        expect(thrown(() => dashscope.prepare({ prompt: 'ok', [cloud]: value } as CloudRequest))).toEqual(api);
      }
      if (flag && typeof value === 'number') {
        const cli = thrown(() => parseGenerateArgs(['ok', flag, String(value)]));
        expect(cli).toEqual({ type: UsageError.name, message: api!.message.replace(field, flag) });
      }
    });
  });

  it('gives the cloud fallback a request the provider adapter accepts, at both ends of the seed range', async () => {
    const cloud = { provider: 'dashscope' as const, proxyUrl: 'http://127.0.0.1:1' };
    for (const seed of accepted(LIMITS.seed)) {
      const request = checkRequestShape({ prompt: 'a red circle', seed, numFrames: 8, fps: 8, width: 32, height: 32 });
      await expect(generateWithCloud(request, cloud, {})).rejects.toThrow('stop: the request was prepared');
      expect(sent.at(-1)).toMatchObject({ seed, numFrames: 8, fps: 8, width: 32, height: 32 });
    }
    // Without a seed the fallback draws one, from the same range.
    await expect(generateWithCloud({ prompt: 'a red circle' }, cloud, {})).rejects.toThrow('stop: the request was prepared');
    expect(sent.at(-1)!.seed).toBeLessThanOrEqual(LIMITS.seed.max);
    for (let i = 0; i < 1000; i++) expect(randomSeed()).toBeLessThanOrEqual(LIMITS.seed.max);
  });

  it('checks width × outputScale against the encoders\' largest frame, the same product the encoder gets', () => {
    expect(thrown(() => checkRequestShape({ prompt: 'ok', width: 256, height: 256, outputScale: 16 }))).toBeNull();
    expect(thrown(() => resolveClipEncoderOptions({ ...clip, width: 256 * 16, height: 256 * 16 }))).toBeNull();
    expect(thrown(() => checkRequestShape({ prompt: 'ok', width: 258, outputScale: 16 }))).toEqual({
      type: 'RangeError', message: 'width × outputScale must be at most 4096 (the encoders\' largest frame); got 258 × 16 = 4128',
    });
    expect(thrown(() => checkGenerateSpec({ ...spec, width: 258, outputScale: 16 }))?.message).toMatch(/width × outputScale must be at most 4096/);
    expect(thrown(() => resolveClipEncoderOptions({ ...clip, width: 258 * 16 }))?.message).toBe('width must be an integer from 2 to 4096; got 4128');
  });

  describe('text', () => {
    const max = TEXT_LIMITS.prompt.maxChars;
    it('takes a prompt of the most characters (counted as people count them) everywhere', () => {
      for (const prompt of ['x'.repeat(max), '🎬'.repeat(max), 'a 红色 circle ✓'.padEnd(max, '.')]) {
        expect(thrown(() => checkRequestShape({ prompt }))).toBeNull();
        expect(thrown(() => checkGenerateSpec({ ...spec, prompt }))).toBeNull();
        expect(thrown(() => checkCommonRequest({ prompt }, 'dashscope'))).toBeNull();
      }
    });

    it.each([['x'.repeat(max + 1)], ['🎬'.repeat(max + 1)], [''], ['   '], [7]])('refuses prompt %j with one message', (prompt) => {
      const api = thrown(() => checkRequestShape({ prompt }));
      expect(api).not.toBeNull();
      expect(thrown(() => checkGenerateSpec({ ...spec, prompt }))).toEqual(api);
      expect(thrown(() => checkCommonRequest({ prompt } as CloudRequest, 'dashscope'))).toEqual(api);
    });

    const wm = TEXT_LIMITS.watermark;
    it.each([['k'], ['x'.repeat(wm.maxChars)], [`  ${'x'.repeat(wm.maxChars)}  `], [true], [false]])('takes watermark %j at the API, the engine and the encoder', (watermark) => {
      expect(thrown(() => checkRequestShape({ prompt: 'ok', watermark }))).toBeNull();
      expect(thrown(() => checkGenerateSpec({ ...spec, watermark }))).toBeNull();
      expect(thrown(() => resolveClipEncoderOptions({ ...clip, watermark }))).toBeNull();
    });

    it.each([[''], ['   '], ['x'.repeat(wm.maxChars + 1)], [3], [null]])('refuses watermark %j with one message', (watermark) => {
      const api = thrown(() => checkRequestShape({ prompt: 'ok', watermark }));
      expect(api).not.toBeNull();
      expect(thrown(() => checkGenerateSpec({ ...spec, watermark }))).toEqual(api);
      expect(thrown(() => resolveClipEncoderOptions({ ...clip, watermark: watermark as string }))).toEqual(api);
    });
  });

  it('bounds the generator options from the same table', () => {
    for (const wasmThreads of accepted(LIMITS.wasmThreads)) expect(resolveOptions({ wasmThreads }, 'http://x/').wasmThreads).toBe(wasmThreads);
    expect(thrown(() => resolveOptions({ wasmThreads: LIMITS.wasmThreads.max + 1 }, 'http://x/'))?.message).toBe('wasmThreads must be an integer from 1 to 16; got 17');
    const cloud = (timeoutMs: number) => ({ cloud: { provider: 'dashscope' as const, proxyUrl: 'http://127.0.0.1:1', timeoutMs } });
    for (const timeoutMs of accepted(LIMITS.cloudTimeoutMs)) expect(thrown(() => resolveOptions(cloud(timeoutMs), 'http://x/'))).toBeNull();
    expect(thrown(() => resolveOptions(cloud(0), 'http://x/'))?.message).toBe('cloud.timeoutMs must be an integer from 1000 to 3600000; got 0');
  });

  it('checks a load spec the engine receives with the table the API uses', () => {
    const load: EngineLoadSpec = { manifestUrl: 'http://x/m.json', backend: 'auto', allowWasm: true, weights: 'auto', cache: 'memory' };
    for (const wasmThreads of accepted(LIMITS.wasmThreads)) {
      expect(thrown(() => checkLoadSpec({ ...load, wasmThreads }))).toBeNull();
      expect(thrown(() => resolveOptions({ wasmThreads }, 'http://x/'))).toBeNull();
    }
    for (const wasmThreads of refused(LIMITS.wasmThreads)) {
      const api = thrown(() => resolveOptions({ wasmThreads: wasmThreads as number }, 'http://x/'));
      expect(api).not.toBeNull();
      expect(thrown(() => checkLoadSpec({ ...load, wasmThreads }))).toEqual(api);
    }
    expect(thrown(() => checkLoadSpec({ ...load, weights: 'fp64' }))?.message).toBe(`weights must be one of 'auto', 'fp32', 'fp16', 'int8'; got "fp64"`);
    expect(thrown(() => checkLoadSpec({ ...load, warmUp: 1 }))).toEqual(thrown(() => resolveOptions({ warmUp: 1 as never }, 'http://x/')));
    expect(thrown(() => checkLoadSpec({ ...load, warmUp: 1 }))?.message).toBe('warmUp must be true or false; got 1');
    expect(thrown(() => checkLoadSpec({ ...load, warmUp: false }))).toBeNull();
  });

  it('gives the widget\'s form fields the API\'s messages', () => {
    expect(thrown(() => requestFrom({ prompt: 'ok', steps: 'many' }))?.message).toBe('steps: steps must be an integer from 1 to 1000; got "many"');
    expect(thrown(() => requestFrom({ prompt: 'ok', seed: '2147483648' }))?.message).toBe('seed: seed must be an integer from 0 to 2147483647; got 2147483648');
  });

  it('checks a model\'s narrower limits with one function at the API and at the engine', () => {
    const model = {
      id: 'micro',
      defaults: { steps: 8, guidanceScale: 4, numFrames: 9, fps: 8, width: 32, height: 32 },
      limits: { steps: { min: 1, max: 50 }, guidanceScale: { min: 0, max: 20 }, numFrames: { min: 5, max: 17 }, sizes: [{ width: 32, height: 32 }, { width: 33, height: 32 }] },
      latent: { temporalCompression: 4 },
    } as unknown as ModelManifest;
    const full = { ...spec, numFrames: 9 };
    const cases: Partial<EngineGenerateSpec>[] = [
      { steps: 51 }, { guidanceScale: 20.5 }, { numFrames: 21 }, { numFrames: 10 }, { width: 64, height: 64 }, { width: 33 }, { width: 33, format: 'webm' },
    ];
    for (const patch of cases) {
      const api = thrown(() => resolveRequest({ prompt: 'ok', numFrames: 9, ...patch } as never, model, () => 1));
      expect(api, JSON.stringify(patch)).not.toBeNull();
      expect(thrown(() => checkSpecForModel({ ...full, ...patch }, model))).toEqual(api);
    }
    for (const patch of [{}, { steps: 50 }, { numFrames: 17 }, { width: 33, format: 'frames' as const }, { width: 33, outputScale: 2 }]) {
      expect(thrown(() => resolveRequest({ prompt: 'ok', numFrames: 9, ...patch }, model, () => 1))).toBeNull();
      expect(thrown(() => checkSpecForModel({ ...full, ...patch }, model))).toBeNull();
    }
  });
});
