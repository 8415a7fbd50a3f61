// Compile-only checks of the public surface: `npm run typecheck` (tsc over test/) fails if the API's
// types drift (each check names the exported type it expects, never the expression compared with
// itself); the one runtime test only keeps vitest from reporting an empty file.
import { describe, expectTypeOf, it } from 'vitest';
import {
  createVideoGenerator, KinemaError, type FramesResult, type GenerateRequest, type GenerateResult, type GeneratorOptions,
  type KinemaErrorCode, type ProgressEvent, type VideoGenerator, type VideoResult,
} from '../../src/index';
import type { Engine } from '../../src/worker';
import type { CloudResult } from '../../src/cloud';

describe('public types', () => {
  it('are what the README promises', () => {
    // The options parameter is the exported GeneratorOptions (and optional), not some other shape.
    expectTypeOf(createVideoGenerator).parameter(0).toEqualTypeOf<GeneratorOptions | undefined>();
    expectTypeOf(createVideoGenerator).parameters.toEqualTypeOf<[options?: GeneratorOptions]>();
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

    // The result says which of video/frames is set: narrowing on `format` gives one or the other.
    expectTypeOf<GenerateResult>().toEqualTypeOf<VideoResult | FramesResult>();
    expectTypeOf<FramesResult['video']>().toEqualTypeOf<null>();
    expectTypeOf<FramesResult['frames']>().toEqualTypeOf<Uint8Array[]>();
    expectTypeOf<VideoResult['video']>().toEqualTypeOf<Blob>();
    expectTypeOf<VideoResult['mimeType']>().toBeString();
    expectTypeOf<VideoResult['frames']>().toEqualTypeOf<Uint8Array[] | undefined>();
    const read = (result: GenerateResult) => {
      if (result.format === 'frames') {
        expectTypeOf(result.frames).toEqualTypeOf<Uint8Array[]>();
        expectTypeOf(result.video).toBeNull();
        // @ts-expect-error a frames result has no video to read
        void result.video.size;
      } else {
        expectTypeOf(result.format).toEqualTypeOf<'mp4' | 'webm'>();
        expectTypeOf(result.video).toEqualTypeOf<Blob>();
        expectTypeOf(result.video.size).toBeNumber();
        // @ts-expect-error frames are only there when returnFrames was set
        void result.frames.length;
      }
    };
    void read;
    // @ts-expect-error a video result must carry its Blob
    const noBlob: VideoResult = { ...({} as VideoResult), video: null };
    // @ts-expect-error a frames result must carry its frames
    const noFrames: FramesResult = { ...({} as FramesResult), frames: undefined };
    void [noBlob, noFrames];

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
