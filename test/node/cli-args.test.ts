import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError, parseGenerateArgs, parseModelFlag } from '../../src/node/args';
import { serveStatic } from '../../src/node/static-server';

const dir = mkdtempSync(join(tmpdir(), 'kinema-args-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('kinema generate arguments', () => {
  it('parses every flag', () => {
    const args = parseGenerateArgs(['a red circle moving right', '--negative', 'blur', '--seed', '42', '--steps', '8', '--guidance', '4.5', '--frames', '8', '--fps=8', '--scale', '4', '--format', 'webm', '--backend', 'wasm', '--model', 'kinema-micro', '--out', 'x.webm', '--json']);
    expect(args).toEqual({
      prompt: 'a red circle moving right', out: 'x.webm', json: true,
      options: { model: 'kinema-micro', backend: 'wasm' },
      request: { prompt: 'a red circle moving right', negativePrompt: 'blur', seed: 42, steps: 8, guidanceScale: 4.5, numFrames: 8, fps: 8, outputScale: 4, format: 'webm' },
    });
  });

  it('defaults the output name from the format, and upscales 8× for viewing', () => {
    expect(parseGenerateArgs(['x'])).toMatchObject({ out: 'kinema.mp4', json: false, request: { outputScale: 8, format: 'mp4' } });
    expect(parseGenerateArgs(['x', '--format', 'webm'])!.out).toBe('kinema.webm');
  });

  it('builds the cloud options', () => {
    const args = parseGenerateArgs(['x', '--backend', 'cloud', '--provider', 'dashscope', '--proxy', 'http://127.0.0.1:8787', '--proxy-token', 't', '--cloud-model', 'wan2.2-t2v-plus']);
    expect(args!.options).toEqual({ backend: 'cloud', cloud: { provider: 'dashscope', proxyUrl: 'http://127.0.0.1:8787/', proxyToken: 't', model: 'wan2.2-t2v-plus' } });
  });

  it.each([
    [[], /a prompt is required/],
    [['x', '--seed', '-1'], '--seed must be an integer from 0 to 2147483647; got -1'],
    [['x', '--seed', '2147483648'], '--seed must be an integer from 0 to 2147483647; got 2147483648'],
    [['x', '--steps', 'many'], '--steps must be an integer from 1 to 1000; got "many"'],
    [['x', '--steps', '1.5'], '--steps must be an integer from 1 to 1000; got 1.5'],
    [['x', '--guidance', 'NaN'], '--guidance must be a number from 0 to 100; got NaN'],
    [['x', '--scale', '17'], '--scale must be an integer from 1 to 16; got 17'],
    [['x', '--format', 'gif'], `--format must be one of 'mp4', 'webm'; got "gif"`],
    [['x', '--backend', 'gpu'], `--backend must be one of 'auto', 'webgpu', 'wasm', 'cloud'; got "gpu"`],
    [['x', '--frobnicate'], 'unknown option --frobnicate (see kinema generate --help)'],
    [['x', '--out'], /--out needs a value/],
    [['x', '--seed', '1', '--seed=2'], '--seed was given twice'],
    [['red', 'circle'], /one prompt only \(quote it\)/],
    [['x', '--backend', 'cloud'], /needs --provider dashscope\|modelslab and --proxy/],
    [['x', '--provider', 'dashscope', '--proxy', 'not a url'], /--proxy must be an http\(s\) URL/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseGenerateArgs(argv)).toThrow(UsageError);
    expect(() => parseGenerateArgs(argv)).toThrow(message);
  });

  it('takes --width and --height through the limits table, and checks them against --scale', () => {
    expect(parseGenerateArgs(['x', '--model', 'https://h/m.json', '--width', '832', '--height=480'])!.request).toMatchObject({ width: 832, height: 480, outputScale: 1 });
    expect(() => parseGenerateArgs(['x', '--width', '1'])).toThrow('--width must be an integer from 2 to 4096; got 1');
    expect(() => parseGenerateArgs(['x', '--height', 'tall'])).toThrow('--height must be an integer from 2 to 4096; got "tall"');
    expect(() => parseGenerateArgs(['x', '--width', '832'])).toThrow("--width × --scale must be at most 4096 (the encoders' largest frame); got 832 × 8 = 6656: lower --scale");
    expect(parseGenerateArgs(['x', '--width', '832', '--scale', '4'])!.request).toMatchObject({ width: 832, outputScale: 4 });
  });

  it('takes a model folder or its manifest file on disk as --model, and upscales only kinema-micro by default', () => {
    const model = join(dir, 'wan-tiny');
    mkdirSync(model);
    writeFileSync(join(model, 'manifest.json'), '{}');
    writeFileSync(join(model, 'other.json'), '{}');
    writeFileSync(join(model, 'graph.onnx'), '');
    mkdirSync(join(dir, 'empty'));
    const folder = parseGenerateArgs(['x', '--model', model])!;
    expect(folder.localModel).toEqual({ folder: model, manifest: 'manifest.json' });
    expect(folder.options.model).toBeUndefined();
    expect(folder.request.outputScale).toBe(1);
    expect(parseGenerateArgs(['x', '--model', join(model, 'other.json')])!.localModel).toEqual({ folder: model, manifest: 'other.json' });
    expect(parseModelFlag('wan-tiny', undefined, dir)).toEqual({ localModel: { folder: model, manifest: 'manifest.json' } });
    expect(parseModelFlag('kinema-micro')).toEqual({ model: 'kinema-micro' });
    expect(parseModelFlag('https://huggingface.co/x/resolve/main/manifest.json')).toEqual({ model: 'https://huggingface.co/x/resolve/main/manifest.json' });
    expect(parseGenerateArgs(['x', '--model', 'kinema-micro'])!.request.outputScale).toBe(8);
    expect(() => parseGenerateArgs(['x', '--model', join(dir, 'empty')])).toThrow(/the folder has no manifest\.json; give the folder `npm run convert` wrote/);
    expect(() => parseGenerateArgs(['x', '--model', join(model, 'graph.onnx')])).toThrow(/a model file must be its manifest \(\.json\)/);
    expect(() => parseGenerateArgs(['x', '--model', join(dir, 'absent')])).toThrow(/no such folder or file \(and not a built-in model: kinema-micro\)/);
    expect(() => parseGenerateArgs(['x', '--model', 'wan-1.3b'])).toThrow(UsageError);
  });

  it('serves a mounted model folder beside the page root, and nothing outside it', async () => {
    const model = join(dir, 'served');
    mkdirSync(join(model, 'text_encoder'), { recursive: true });
    writeFileSync(join(model, 'manifest.json'), '{"id":"m"}');
    writeFileSync(join(model, 'text_encoder', 'embed_tokens.fp32.bin'), 'abcd');
    writeFileSync(join(dir, 'secret.txt'), 'no');
    const server = await serveStatic(join(dir, 'empty'), { mounts: { 'local-model/': model } });
    try {
      const manifest = await fetch(new URL('local-model/manifest.json', server.url));
      expect(manifest.status).toBe(200);
      expect(manifest.headers.get('cross-origin-embedder-policy')).toBe('require-corp');
      expect(await manifest.json()).toEqual({ id: 'm' });
      expect(await (await fetch(new URL('local-model/text_encoder/embed_tokens.fp32.bin', server.url))).text()).toBe('abcd');
      // fetch would resolve the dots itself; a raw request sends them as typed.
      const status = await new Promise<number | undefined>((done, fail) => {
        get(`${server.url}local-model/..%2fsecret.txt`, (res) => { res.resume(); done(res.statusCode); }).on('error', fail);
      });
      expect(status).toBe(403);
      expect((await fetch(new URL('local-model/absent.json', server.url))).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('takes the prompt as --prompt too, but not twice', () => {
    expect(parseGenerateArgs(['--prompt', 'a cat in the snow', '--seed', '1'])).toMatchObject({ prompt: 'a cat in the snow', request: { prompt: 'a cat in the snow', seed: 1 } });
    expect(() => parseGenerateArgs(['a cat', '--prompt', 'a dog'])).toThrow(/give the prompt once/);
  });

  it('returns null for --help', () => {
    expect(parseGenerateArgs(['--help'])).toBeNull();
    expect(parseGenerateArgs(['x', '-h'])).toBeNull();
  });

  it('reads everything after a bare -- as the prompt, even when it starts with a dash', () => {
    expect(parseGenerateArgs(['--seed', '1', '--', '--steps 4 is not a flag here'])).toMatchObject({ prompt: '--steps 4 is not a flag here', request: { seed: 1 } });
  });
});
