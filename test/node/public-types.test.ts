// Compile-only checks of the public surface: `npm run typecheck` (tsc over test/) fails if the API's
// types drift; the one runtime test only keeps vitest from reporting an empty file.
import { describe, expectTypeOf, it } from 'vitest';
import {
  createVideoGenerator, KinemaError, type GenerateRequest, type GenerateResult, type KinemaErrorCode,
  type ProgressEvent, type VideoGenerator,
} from '../../src/index';
import type { Engine } from '../../src/worker';
import type { CloudResult } from '../../src/cloud';

describe('public types', () => {
  it('are what the README promises', () => {
    expectTypeOf(createVideoGenerator).parameter(0).toEqualTypeOf<Parameters<typeof createVideoGenerator>[0]>();
    expectTypeOf(createVideoGenerator).returns.toEqualTypeOf<VideoGenerator>();
    expectTypeOf<VideoGenerator['generate']>().returns.resolves.toEqualTypeOf<GenerateResult>();
    expectTypeOf<GenerateResult['video']>().toEqualTypeOf<Blob | null>();
    expectTypeOf<GenerateResult['backend']>().toEqualTypeOf<'webgpu' | 'wasm' | 'cloud'>();
    expectTypeOf<GenerateResult['seed']>().toBeNumber();
    expectTypeOf<GenerateRequest['format']>().toEqualTypeOf<'mp4' | 'webm' | 'frames' | undefined>();
    expectTypeOf<KinemaError['code']>().toEqualTypeOf<KinemaErrorCode>();
    expectTypeOf<Extract<KinemaErrorCode, 'ABORTED' | 'WEBGPU_UNAVAILABLE' | 'INTEGRITY_MISMATCH' | 'PROVIDER_FAILED'>>().toEqualTypeOf<'ABORTED' | 'WEBGPU_UNAVAILABLE' | 'INTEGRITY_MISMATCH' | 'PROVIDER_FAILED'>();
    expectTypeOf<VideoGenerator[typeof Symbol.asyncDispose]>().returns.toEqualTypeOf<Promise<void>>();
    expectTypeOf<CloudResult['video']>().toEqualTypeOf<Blob>();

    // Progress events narrow on `type`, and every one carries `overall`.
    const onProgress = (event: ProgressEvent) => {
      expectTypeOf(event.overall).toBeNumber();
      if (event.type === 'denoise') expectTypeOf(event.step).toBeNumber();
      if (event.type === 'download') expectTypeOf(event.total).toBeNumber();
      if (event.type === 'preview') expectTypeOf(event.rgba).toEqualTypeOf<Uint8Array>();
    };
    void onProgress;

    // The engine runs in-thread through the same option.
    expectTypeOf<Engine>().toHaveProperty('generate');
    const options: Parameters<typeof createVideoGenerator>[0] = { engine: {} as Engine, backend: 'wasm' };
    void options;

    // Mistakes the types catch before any code runs.
    // @ts-expect-error the prompt is required
    const noPrompt: GenerateRequest = { seed: 1 };
    // @ts-expect-error no such backend
    const badBackend: Parameters<typeof createVideoGenerator>[0] = { backend: 'gpu' };
    // @ts-expect-error no such format
    const badFormat: GenerateRequest = { prompt: 'x', format: 'gif' };
    // @ts-expect-error cloud options need a provider and a proxy URL
    const badCloud: Parameters<typeof createVideoGenerator>[0] = { cloud: { proxyUrl: 'http://127.0.0.1:8787' } };
    void [noPrompt, badBackend, badFormat, badCloud];
  });
});
