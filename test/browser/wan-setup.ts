// Runs in Node before the browser tests: the tiny random Wan-family model for test/browser/wan-generate.test.ts,
// converted by the Python converter into a fresh <root>/.cache/kinema-wan-browser-*/ (served by the test server, removed after the run), and
// the PyTorch sampling run's frames from the same seeded noise (convert/kinema_convert/sample.py), so the
// browser compares what kinema generates with the reference. Without /usr/bin/python3 + torch the test skips.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { main as component } from '../../src/node/component';
import { readNpy } from '../../src/node/npy';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Served paths of the tiny Wan model's manifest and the reference frames (raw float32 [F, H, W, 3]), or why there are none. */
    wanTiny: { manifest: string; presetManifest: string; reference: string; referenceGuided: string; prompt: string; seed: number; steps: number; width: number; height: number; numFrames: number; guidanceScale: number } | { skipped: string } | { failed: string };
  }
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PYTHON = '/usr/bin/python3';
export const WAN_CASE = { prompt: 'a red cat running', seed: 77, steps: 3, width: 64, height: 64, numFrames: 5, guidanceScale: 4 } as const;

function python(args: string[]): void {
  const run = spawnSync(PYTHON, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed:\n${run.stdout}\n${run.stderr}`);
}

const VALUE_OPTIONS = new Set(['--project', '-t', '--testNamePattern', '--config', '-c', '--dir', '--root', '-r', '--reporter', '--shard', '--mode']);

/** Whether this run may include the Wan test: no file filters on the command line, or one that matches its path. */
function wanTestSelected(): boolean {
  const args = process.argv.slice(2);
  const filters: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (VALUE_OPTIONS.has(arg)) i++;
    else if (!arg.startsWith('-') && arg !== 'run' && arg !== 'watch' && !arg.endsWith('vitest') && !arg.endsWith('vitest.mjs')) filters.push(arg);
  }
  const path = join(root, 'test/browser/wan-generate.test.ts');
  return filters.length === 0 || filters.some((f) => path.includes(f) || path.includes(resolve(f)));
}

export default async function setup(project: TestProject) {
  // The conversion and the PyTorch run take a while on a small machine: only when the Wan test may run.
  if (!wanTestSelected()) {
    project.provide('wanTiny', { skipped: 'the run\'s file filters leave out wan-generate.test.ts (its model was not prepared)' });
    return;
  }
  // A failure here fails the Wan test (with this message), not every browser test.
  try {
    await prepare(project);
  } catch (error) {
    project.provide('wanTiny', { failed: (error as Error).message });
  }
  return () => cleanup();
}

let cleanup = () => {};

async function prepare(project: TestProject) {
  if (spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy']).status !== 0) {
    project.provide('wanTiny', { skipped: `${PYTHON} lacks torch/onnx/numpy (install python3-torch python3-onnx python3-numpy)` });
    return;
  }
  // One folder per run (runs may overlap on a shared machine), removed when the run ends.
  mkdirSync(join(root, '.cache'), { recursive: true });
  const base = mkdtempSync(join(root, '.cache', 'kinema-wan-browser-'));
  cleanup = () => rmSync(base, { recursive: true, force: true });
  const served = `/.cache/${base.slice(base.lastIndexOf('/') + 1)}`;
  const raw = join(base, 'raw');
  const model = join(base, 'model');
  python(['convert/convert.py', 'make-random', '--tiny', '--out', raw]);
  python(['convert/convert.py', 'wan', '--transformer', join(raw, 'transformer'), '--text-encoder', join(raw, 'text_encoder'),
    '--tokenizer', join(raw, 'tokenizer'), '--decoder', join(raw, 'taehv.safetensors'), '--scheduler', join(raw, 'scheduler'), '--out', model]);
  // The same checkpoints through the browser preset: int4 umT5 (MatMulNBits) and int4 token table, int8 DiT
  // (DequantizeLinear -> MatMul), fp16 decoder, rCM 4 steps; at 64×64 × 5 frames so SwiftShader stays quick.
  const presetModel = join(base, 'model-preset');
  python(['convert/convert.py', 'wan', '--preset', 'wan2.1-t2v-1.3b', '--transformer', join(raw, 'transformer'), '--text-encoder', join(raw, 'text_encoder'),
    '--tokenizer', join(raw, 'tokenizer'), '--decoder', join(raw, 'taehv.safetensors'), '--block-size', '16', '--quant-min-elements', '0',
    '--width', String(WAN_CASE.width), '--height', String(WAN_CASE.height), '--num-frames', String(WAN_CASE.numFrames), '--out', presetModel]);
  // The prompt's embeddings through kinema's own tokenizer and encoder (what the generation will use), then
  // the PyTorch loop from kinema's seeded noise for the latent shape of 5 frames at 64×64: [1, 16, 2, 8, 8].
  const embeds = join(base, 'embeds');
  const silent = { stdout: { write: () => true }, stderr: { write: (t: string) => process.stderr.write(t) } };
  if (await component(['text-encoder', '--model', model, '--prompt', WAN_CASE.prompt, '--out', embeds], silent) !== 0) throw new Error('the text-encoder run failed');
  const frames = join(base, 'reference-frames.npy');
  python(['convert/kinema_convert/sample.py', '--transformer', join(raw, 'transformer'), '--decoder', join(raw, 'taehv.safetensors'),
    '--prompt-embeds', join(embeds, 'prompt_embeds.npy'), '--model', model, '--latent-shape', '1', '16', '2', '8', '8',
    '--seed', String(WAN_CASE.seed), '--steps', String(WAN_CASE.steps), '--guidance-scale', '1', '--out', frames]);
  const reference = await readNpy(frames, { dtype: 'float32', shape: [WAN_CASE.numFrames, WAN_CASE.height, WAN_CASE.width, 3] });
  writeFileSync(join(base, 'reference-frames.f32'), new Uint8Array(reference.data.buffer));
  // With classifier-free guidance: the negative prompt is the manifest's default (""), encoded by kinema too.
  const negative = join(base, 'negative');
  if (await component(['text-encoder', '--model', model, '--prompt', '', '--out', negative], silent) !== 0) throw new Error('the negative text-encoder run failed');
  const guidedFrames = join(base, 'reference-guided.npy');
  python(['convert/kinema_convert/sample.py', '--transformer', join(raw, 'transformer'), '--decoder', join(raw, 'taehv.safetensors'),
    '--prompt-embeds', join(embeds, 'prompt_embeds.npy'), '--negative-prompt-embeds', join(negative, 'prompt_embeds.npy'), '--model', model,
    '--latent-shape', '1', '16', '2', '8', '8', '--seed', String(WAN_CASE.seed), '--steps', String(WAN_CASE.steps),
    '--guidance-scale', String(WAN_CASE.guidanceScale), '--out', guidedFrames]);
  const guided = await readNpy(guidedFrames, { dtype: 'float32', shape: [WAN_CASE.numFrames, WAN_CASE.height, WAN_CASE.width, 3] });
  writeFileSync(join(base, 'reference-guided.f32'), new Uint8Array(guided.data.buffer));
  project.provide('wanTiny', { manifest: `${served}/model/manifest.json`, presetManifest: `${served}/model-preset/manifest.json`, reference: `${served}/reference-frames.f32`, referenceGuided: `${served}/reference-guided.f32`, ...WAN_CASE });
}
