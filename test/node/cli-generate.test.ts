// The `generate` command as a user runs it: a real Chromium, the built page, a file on disk.
// Needs `npm run build` first (npm test does that) and ffmpeg/ffprobe (installed by .ci/run).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detect } from '../../training/eval/detector.mjs';
import { parseCaption } from '../../training/eval/captions.mjs';

const dir = mkdtempSync(join(tmpdir(), 'kinema-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function kinema(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['bin/kinema.mjs', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 240_000 });
}

describe('kinema generate', () => {
  it('writes a playable MP4 whose frames show the prompt, and --json describes it', () => {
    const prompt = 'a red circle moving right on a black background';
    const out = join(dir, 'clip.mp4');
    const run = kinema(['generate', prompt, '--seed', '5', '--backend', 'wasm', '--out', out, '--json']);
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(result).toMatchObject({ path: out, format: 'mp4', width: 256, height: 256, frames: 8, fps: 8, seed: 5, backend: 'wasm', model: 'kinema-micro' });
    expect(result.codec).toMatch(/^avc1\./);
    expect(result.timings.totalMs).toBeGreaterThan(0);

    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0',
      '-show_entries', 'stream=codec_name,width,height,nb_read_frames,r_frame_rate:format=duration:format_tags', '-of', 'json', out], { encoding: 'utf8' }));
    expect(probe.streams[0]).toMatchObject({ codec_name: 'h264', width: 256, height: 256, nb_read_frames: '8', r_frame_rate: '8/1' });
    expect(Number(probe.format.duration)).toBeCloseTo(1, 1);
    expect(JSON.stringify(probe.format.tags)).toContain(prompt);
    expect(JSON.stringify(probe.format.tags)).toContain('kinema');

    // Decode with ffmpeg, sample the centre of each 8×8 block back to 32×32, and ask the detector.
    const rgb = execFileSync('ffmpeg', ['-v', 'error', '-i', out, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], { maxBuffer: 64 << 20 });
    const small = new Uint8Array(8 * 32 * 32 * 3);
    for (let f = 0; f < 8; f++) for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) {
      const src = ((f * 256 + y * 8 + 4) * 256 + x * 8 + 4) * 3;
      small.set(rgb.subarray(src, src + 3), ((f * 32 + y) * 32 + x) * 3);
    }
    const found = detect(small, 32, 32, 8);
    const wanted = parseCaption(prompt);
    expect({ color: found.color, shape: found.shape, motion: found.motion, background: found.background }).toEqual({ color: wanted.color, shape: wanted.shape, motion: wanted.motion, background: wanted.background });
  }, 240_000);

  it('names unknown words and what the model knows, and still generates', () => {
    const out = join(dir, 'dog.webm');
    const run = kinema(['generate', 'a purple dog moving right on a black background', '--steps', '2', '--backend', 'wasm', '--format', 'webm', '--out', out]);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/does not know "purple", "dog".*It knows shape: circle/s);
    expect(run.stdout).toMatch(/^wrote .*dog\.webm \(webm, vp/);
  }, 240_000);

  it.each([
    [['generate'], 2, /^kinema: a prompt is required/],
    [['generate', 'x', '--steps', 'zero'], 2, /^kinema: --steps must be an integer from 1 to 1000; got "zero"\n$/],
    [['generate', 'x', '--fps', '500'], 2, /^kinema: --fps must be a number from 1 to 120; got 500\n$/],
    [['render', 'x'], 2, /^kinema: unknown command "render"/],
  ])('refuses %j with exit %i and one line', (args, status, message) => {
    const run = kinema(args as string[]);
    expect(run.status).toBe(status);
    expect(run.stderr).toMatch(message);
    expect(run.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  it('explains a missing browser and how to install one', () => {
    const run = kinema(['generate', 'x'], { CHROME_PATH: '/nonexistent/chromium' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^kinema: CHROME_PATH is set to \/nonexistent\/chromium.*apt-get install -y chromium/);
  });

  it('reports an unknown model and a model-limit mistake in one line', () => {
    const unknown = kinema(['generate', 'x', '--model', 'no-such-model', '--backend', 'wasm']);
    // Not a built-in id, not a URL, nothing on disk: a mistake in the call, refused before the browser starts.
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/^kinema: --model no-such-model: no such folder or file \(and not a built-in model: kinema-micro\)/);
    const frames = kinema(['generate', 'x', '--frames', '9', '--backend', 'wasm']);
    expect(frames.status).toBe(1);
    expect(frames.stderr).toMatch(/^kinema: numFrames must be from 8 to 8 for kinema-micro/);
    expect(frames.stderr.trim().split('\n')).toHaveLength(1);
  }, 120_000);
});
