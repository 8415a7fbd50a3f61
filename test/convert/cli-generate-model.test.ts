// `kinema generate --model <folder>`: a model the converter just wrote, served to the page on loopback and
// generated through the public API in headless Chromium, as a porter goes from `convert` to a clip.
// Needs `npm run build` first (npm test does that), ffprobe, and /usr/bin/python3 with torch/onnx/numpy.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = '/usr/bin/python3';
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' }).status === 0;
const built = existsSync(join(root, 'dist/demo/cli.html')) && existsSync(join(root, 'dist/node/cli.js'));
if (!hasTorch) console.warn(`\n*** test/convert/cli-generate-model: ${PYTHON} lacks torch/onnx/numpy: SKIPPED (install python3-torch python3-onnx python3-numpy) ***\n`);
if (!built) console.warn('\n*** test/convert/cli-generate-model: the built page is missing: run npm run build first; SKIPPED ***\n');

const dir = mkdtempSync(join(tmpdir(), 'kinema-cli-model-'));
const raw = join(dir, 'raw');
const model = join(dir, 'model');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function python(args: string[]): void {
  const run = spawnSync(PYTHON, args, { cwd: root, encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed:\n${run.stdout}\n${run.stderr}`);
}

function kinema(args: string[]) {
  return spawnSync(process.execPath, ['bin/kinema.mjs', ...args], { cwd: root, encoding: 'utf8', timeout: 280_000 });
}

describe.skipIf(!hasTorch || !built)('kinema generate --model <converted folder>', () => {
  beforeAll(() => {
    python(['convert/convert.py', 'make-random', '--tiny', '--out', raw]);
    python(['convert/convert.py', 'wan', '--transformer', join(raw, 'transformer'), '--text-encoder', join(raw, 'text_encoder'),
      '--tokenizer', join(raw, 'tokenizer'), '--decoder', join(raw, 'taehv.safetensors'), '--scheduler', join(raw, 'scheduler'), '--out', model]);
  }, 300_000);

  it('generates a clip of 4T−3 frames at --width × --height from the folder', () => {
    const out = join(dir, 'clip.webm');
    const run = kinema(['generate', 'a red cat running', '--model', model, '--backend', 'wasm', '--steps', '2', '--frames', '5',
      '--width', '64', '--height', '64', '--seed', '7', '--format', 'webm', '--out', out, '--json']);
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(result).toMatchObject({ path: out, format: 'webm', width: 64, height: 64, frames: 5, seed: 7, steps: 2, backend: 'wasm', model: 'wan2.1-t2v' });
    const probe = JSON.parse(execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=width,height,nb_read_frames', '-of', 'json', out], { encoding: 'utf8' }));
    expect(probe.streams[0]).toMatchObject({ width: 64, height: 64, nb_read_frames: '5' });
  }, 300_000);

  it('takes the manifest file itself, and names what a partial model lacks', () => {
    const partial = join(dir, 'decoder-only');
    python(['convert/convert.py', 'wan', '--decoder', join(raw, 'taehv.safetensors'), '--out', partial]);
    const run = kinema(['generate', 'a cat', '--model', join(partial, 'manifest.json'), '--backend', 'wasm', '--steps', '1', '--frames', '1', '--out', join(dir, 'x.mp4')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^kinema: MODEL_INCOMPLETE: .*textEncoder/m);
    const size = kinema(['generate', 'a cat', '--model', model, '--backend', 'wasm', '--width', '48', '--height', '64', '--out', join(dir, 'y.mp4')]);
    expect(size.status).not.toBe(0);
    expect(size.stderr).toMatch(/48×64 is not a size .* can generate; use one of 64×64/);
  }, 300_000);
});
