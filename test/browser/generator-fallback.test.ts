// createVideoGenerator's automatic path: local when possible, else the cloud through the proxy.
import { afterEach, describe, expect, inject, it } from 'vitest';
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
    } finally {
      await generator.dispose();
    }
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
