/**
 * The encoder runs where kinema runs it: inside a module Web Worker, with no DOM (watermark included).
 * The worker is a tiny module from a Blob URL that imports src/encode as served by Vite.
 */
import { expect, it } from 'vitest';
import { ALL_FORMATS, BlobSource, Input } from 'mediabunny';

const encodeModule = new URL('../../src/encode/index.ts', import.meta.url).href;

const workerSource = `
import { createClipEncoder } from ${JSON.stringify(encodeModule)};
self.onmessage = async ({ data }) => {
  try {
    const { width, height, numFrames, format } = data;
    const hasDom = typeof document !== 'undefined' || typeof window !== 'undefined';
    const encoder = await createClipEncoder({
      format, width, height, fps: 8, numFrames, watermark: true,
      metadata: { prompt: 'encoded in a worker', seed: 5, modelId: 'tiny-t2v', modelVersion: '0.3.1' },
    });
    for (let i = 0; i < numFrames; i++) {
      const rgba = new Uint8Array(width * height * 4);
      for (let p = 0; p < rgba.length; p += 4) { rgba[p] = 20 * i; rgba[p + 1] = 90; rgba[p + 2] = 180; rgba[p + 3] = 255; }
      await encoder.addFrame(rgba, i);
    }
    const { blob, ...rest } = await encoder.finalize();
    self.postMessage({ ok: true, hasDom, blob, rest });
  } catch (error) {
    self.postMessage({ ok: false, error: String(error && error.stack || error) });
  }
};
`;

it('encodes inside a module Web Worker with no DOM', async () => {
  const url = URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' }));
  const worker = new Worker(url, { type: 'module' });
  try {
    const reply = await new Promise<{ ok: boolean; hasDom?: boolean; blob?: Blob; rest?: Record<string, unknown>; error?: string }>((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => reject(new Error(`worker failed to load: ${event.message}`));
      worker.postMessage({ width: 96, height: 64, numFrames: 8, format: 'mp4' });
    });
    expect(reply.error).toBeUndefined();
    expect(reply.ok).toBe(true);
    expect(reply.hasDom).toBe(false);
    expect(reply.rest).toMatchObject({ format: 'mp4', width: 96, height: 64, numFrames: 8, watermarked: true });
    const input = new Input({ source: new BlobSource(reply.blob!), formats: ALL_FORMATS });
    const track = (await input.getPrimaryVideoTrack())!;
    expect(await track.getCodec()).toBe('avc');
    expect((await track.computePacketStats()).packetCount).toBe(8);
    expect((await input.getMetadataTags()).title).toBe('encoded in a worker');
    input.dispose();
  } finally {
    worker.terminate();
    URL.revokeObjectURL(url);
  }
});
