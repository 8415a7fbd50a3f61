import { describe, expect, it } from 'vitest';
import { UsageError, parseGenerateArgs } from '../../src/node/args';

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
    [['x', '--frobnicate'], /unknown option --frobnicate/],
    [['x', '--out'], /--out needs a value/],
    [['red', 'circle'], /one prompt only \(quote it\)/],
    [['x', '--backend', 'cloud'], /needs --provider dashscope\|modelslab and --proxy/],
    [['x', '--provider', 'dashscope', '--proxy', 'not a url'], /--proxy must be an http\(s\) URL/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseGenerateArgs(argv)).toThrow(UsageError);
    expect(() => parseGenerateArgs(argv)).toThrow(message);
  });

  it('returns null for --help', () => {
    expect(parseGenerateArgs(['--help'])).toBeNull();
  });
});
