import { describe, expect, it } from 'vitest';

const WIDTH = 64;
const HEIGHT = 48;
const FRAMES = 6;

/** A frame whose left half is one solid colour that changes over time, right half black. */
function makeFrame(index: number): { rgba: Uint8ClampedArray; color: [number, number, number] } {
  const color: [number, number, number] = [40 * index, 200 - 30 * index, 128];
  const rgba = new Uint8ClampedArray(WIDTH * HEIGHT * 4);
  for (let y = 0; y < HEIGHT; y++) {
    for (let x = 0; x < WIDTH; x++) {
      const o = (y * WIDTH + x) * 4;
      if (x < WIDTH / 2) [rgba[o], rgba[o + 1], rgba[o + 2]] = color;
      rgba[o + 3] = 255;
    }
  }
  return { rgba, color };
}

describe('WebCodecs harness smoke test', () => {
  it('encodes frames with H.264 and decodes them back to the same colours', async () => {
    const config: VideoEncoderConfig = { codec: 'avc1.42001f', width: WIDTH, height: HEIGHT, bitrate: 1_000_000, framerate: 8, avc: { format: 'annexb' } };
    expect((await VideoEncoder.isConfigSupported(config)).supported).toBe(true);
    const chunks: EncodedVideoChunk[] = [];
    let decoderConfig: VideoDecoderConfig | undefined;
    const encoder = new VideoEncoder({
      output: (chunk, meta) => {
        chunks.push(chunk);
        if (meta?.decoderConfig) decoderConfig = meta.decoderConfig;
      },
      error: (e) => { throw e; },
    });
    encoder.configure(config);
    const sources = Array.from({ length: FRAMES }, (_, i) => makeFrame(i));
    sources.forEach(({ rgba }, i) => {
      const frame = new VideoFrame(rgba, { format: 'RGBA', codedWidth: WIDTH, codedHeight: HEIGHT, timestamp: i * 125_000 });
      encoder.encode(frame, { keyFrame: i === 0 });
      frame.close();
    });
    await encoder.flush();
    encoder.close();
    expect(chunks).toHaveLength(FRAMES);
    expect(chunks[0]!.type).toBe('key');
    expect(decoderConfig).toBeDefined();

    const decoded: VideoFrame[] = [];
    const decoder = new VideoDecoder({ output: (frame) => decoded.push(frame), error: (e) => { throw e; } });
    decoder.configure(decoderConfig!);
    for (const chunk of chunks) decoder.decode(chunk);
    await decoder.flush();
    decoder.close();
    expect(decoded).toHaveLength(FRAMES);

    const canvas = new OffscreenCanvas(WIDTH, HEIGHT);
    const context = canvas.getContext('2d')!;
    decoded.forEach((frame, i) => {
      context.drawImage(frame, 0, 0);
      frame.close();
      const pixel = context.getImageData(WIDTH / 4, HEIGHT / 2, 1, 1).data;
      const expected = sources[i]!.color;
      for (let c = 0; c < 3; c++) expect(Math.abs(pixel[c]! - expected[c]!), `frame ${i} channel ${c}`).toBeLessThan(12);
    });
  });
});
