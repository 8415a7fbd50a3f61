// createVideoGenerator's automatic path: local when possible, else the cloud through the proxy.
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { createVideoGenerator, KinemaError, type ProgressEvent } from '../../src/index';
import { MODEL_DIR } from './support/model';

const model = new URL(`/models/${MODEL_DIR}/manifest.json`, location.href).href;
const cloud = { provider: 'dashscope' as const, proxyUrl: inject('cloudProxyUrl'), proxyToken: inject('cloudProxyToken'), model: 'wan2.2-t2v-plus' };

// Make this page look like one without WebGPU (as a browser without it, or with it disabled).
const gpuDescriptor = Object.getOwnPropertyDescriptor(Navigator.prototype, 'gpu')!;
function withoutWebGpu() {
  Object.defineProperty(Navigator.prototype, 'gpu', { configurable: true, get: () => undefined });
}
afterEach(() => Object.defineProperty(Navigator.prototype, 'gpu', gpuDescriptor));

// Every request the page sends to the cloud proxy (the only way a provider can be reached from here).
const proxyOrigin = new URL(cloud.proxyUrl).origin;
let cloudRequests: string[] = [];
const realFetch = globalThis.fetch;
beforeEach(() => {
  cloudRequests = [];
  globalThis.fetch = ((input: RequestInfo | URL, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : String(input), location.href);
    if (url.origin === proxyOrigin) cloudRequests.push(url.pathname);
    return realFetch(input, init);
  }) as typeof fetch;
});
afterEach(() => {
  globalThis.fetch = realFetch;
});

describe('automatic fallback', () => {
  it('goes to the cloud when there is no WebGPU and wasm is not allowed, saying why', async () => {
    withoutWebGpu();
    const generator = createVideoGenerator({ model, allowWasm: false, cloud, cache: 'memory' });
    const events: ProgressEvent[] = [];
    try {
      const result = await generator.generate({ prompt: 'a paper boat on a river', seed: 9 }, { onProgress: (e) => events.push(e) });
      expect(result).toMatchObject({ backend: 'cloud', provider: 'dashscope', model: 'wan2.2-t2v-plus', format: 'mp4', seed: 9 });
      expect(result.video!.size).toBeGreaterThan(1000);
      const fallback = events.find((e) => e.type === 'fallback') as Extract<ProgressEvent, { type: 'fallback' }>;
      expect(fallback).toMatchObject({ to: 'cloud', code: 'NO_BACKEND' });
      expect(fallback.reason).toMatch(/no WebGPU/);
      expect(events.some((e) => e.type === 'cloud' && e.state === 'running')).toBe(true);
      for (let i = 1; i < events.length; i++) expect(events[i]!.overall).toBeGreaterThanOrEqual(events[i - 1]!.overall);
      expect(events.at(-1)).toEqual({ type: 'done', overall: 1 });
      expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
      expect(cloudRequests.length).toBeGreaterThan(0); // the counter sees cloud calls, so its zeros below mean something
    } finally {
      await generator.dispose();
    }
  });

  it('uses wasm, not the cloud, when wasm is allowed', async () => {
    withoutWebGpu();
    const generator = createVideoGenerator({ model, cloud, cache: 'memory' });
    try {
      const result = await generator.generate({ prompt: 'a red circle moving right on a black background', steps: 1, format: 'frames' });
      expect(result.backend).toBe('wasm');
      expect(cloudRequests).toEqual([]);
    } finally {
      await generator.dispose();
    }
  });

  it('never falls back on a caller mistake or an abort', async () => {
    const generator = createVideoGenerator({ model, backend: 'auto', cloud, cache: 'memory' });
    try {
      await expect(generator.generate({ prompt: 'x', numFrames: 99 })).rejects.toBeInstanceOf(RangeError);
      const controller = new AbortController();
      controller.abort();
      const error = await generator.generate({ prompt: 'x' }, { signal: controller.signal }).then(() => null, (e: unknown) => e);
      expect((error as KinemaError).code).toBe('ABORTED');
      const late = new AbortController();
      const running = generator.generate({ prompt: 'a red circle moving right on a black background', steps: 30 }, {
        signal: late.signal,
        onProgress: (e) => { if (e.type === 'denoise' && e.step === 1) late.abort(); },
      });
      expect(((await running.then(() => null, (e: unknown) => e)) as KinemaError).code).toBe('ABORTED');
      expect(cloudRequests).toEqual([]);
    } finally {
      await generator.dispose();
    }
  });

  it('never falls back when the generator is disposed mid-generation: DISPOSED, and the cloud sees nothing', async () => {
    const generator = createVideoGenerator({ model, backend: 'auto', cloud, cache: 'memory' });
    let disposing: Promise<void> | undefined;
    const running = generator.generate({ prompt: 'a red circle moving right on a black background', steps: 30 }, {
      onProgress: (e) => { if (e.type === 'denoise' && e.step === 1) disposing ??= generator.dispose(); },
    });
    const error = await running.then(() => null, (e: unknown) => e);
    await disposing;
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('DISPOSED');
    // MP4, so a wrong fallback would really submit a job. The worker's own rejection arrives later; it must not either.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(cloudRequests).toEqual([]);
    expect(generator.state).toBe('disposed');
  });

  it("with backend 'cloud', never touches the local engine", async () => {
    const generator = createVideoGenerator({ backend: 'cloud', cloud });
    try {
      const result = await generator.generate({ prompt: 'fireworks over a harbour', width: 800, height: 450 });
      expect(result.backend).toBe('cloud');
      expect(result.warnings.join(' ')).toMatch(/832\*480/);
      await expect(generator.generate({ prompt: 'x', format: 'frames' })).rejects.toThrow(/not available from cloud providers/);
    } finally {
      await generator.dispose();
    }
  });
});
