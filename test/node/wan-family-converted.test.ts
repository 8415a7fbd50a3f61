// The Wan family end to end on a model the converter made: random tiny checkpoints (make-random --tiny) →
// `convert.py wan` → parseManifest + the family's validate/prepare/generate on onnxruntime-web (wasm),
// with every graph the converter wrote (umT5 encoder, denoiser_context + denoiser, the 9-memory TAEHV step).
// It checks what only a whole run shows: 4T − 3 frames of the requested size, the same frames for the same
// seed, other frames for another seed or prompt, no read-backs while denoising, and the refusals of a
// model converted without a component. Parity of each component with PyTorch is test/convert's.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EngineGenerateSpec } from '../../src/contract';
import type { FamilyLoad } from '../../src/families/types';
import { wanFamily, type WanState } from '../../src/families/wan';
import { externalDataName, parseManifest, selectVariants, type ComponentName, type ModelManifest } from '../../src/models';
import { createCpuOps } from '../../src/pipeline/cpu-ops';
import type { Ort } from '../../src/runtime/ort';
import { createGraphChain, type GraphChain } from '../../src/runtime/chain';

const PYTHON = process.env.PYTHON ?? '/usr/bin/python3';
const root = resolve(import.meta.dirname, '../..');
const hasTorch = spawnSync(PYTHON, ['-c', 'import torch, onnx, numpy'], { encoding: 'utf8' }).status === 0;

function python(args: string[]): void {
  const run = spawnSync(PYTHON, args, { cwd: root, encoding: 'utf8', maxBuffer: 64 << 20 });
  if (run.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed:\n${run.stderr}`);
}

async function load(ort: Ort, folder: string, components: readonly ComponentName[]): Promise<{ manifest: ModelManifest; state: WanState; chains: GraphChain[] }> {
  const path = join(folder, 'manifest.json');
  const manifest = parseManifest(JSON.parse(readFileSync(path, 'utf8')), pathToFileURL(path).href);
  wanFamily.validate(manifest);
  const variants = selectVariants(manifest, { shaderF16: false });
  const read = (p: string) => new Uint8Array(readFileSync(join(folder, ...p.split('/'))));
  const chains: Partial<Record<ComponentName, GraphChain>> = {};
  for (const component of components) {
    chains[component] = await createGraphChain(ort, 'wasm', component, variants[component]!.graphs.map((graph) => ({
      name: graph.name,
      model: read(graph.model.path),
      externalData: graph.externalData.map((f) => ({ path: externalDataName(graph.model.path, f.path), data: read(f.path) })),
      perPrompt: graph.perPrompt,
    })));
  }
  const files = new Map<string, Uint8Array>();
  for (const f of manifest.tokenizer?.files ?? []) files.set(f.path, read(f.path));
  for (const component of components) for (const f of variants[component]!.data) files.set(f.path, read(f.path));
  const loaded: FamilyLoad = { manifest, backend: 'wasm', variants, ops: createCpuOps(ort), chains, files, warn: () => undefined };
  return { manifest, state: await wanFamily.prepare(loaded), chains: Object.values(chains) };
}

const spec = (overrides: Partial<EngineGenerateSpec> = {}): EngineGenerateSpec => ({
  prompt: 'a cat runs in the snow', negativePrompt: '', seed: 11, steps: 3, guidanceScale: 5, numFrames: 9, fps: 8,
  width: 32, height: 16, format: 'frames', outputScale: 1, outputFilter: 'nearest', previewEvery: 0, returnFrames: true,
  watermark: false, ...overrides,
});

describe.skipIf(!hasTorch)('wan family on a converted random-weight model (wasm)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kinema-wan-family-'));
  const model = join(dir, 'model');
  let ort: Ort;
  let full: Awaited<ReturnType<typeof load>>;

  beforeAll(async () => {
    const raw = join(dir, 'raw');
    python(['convert/convert.py', 'make-random', '--tiny', '--out', raw]);
    python(['convert/convert.py', 'wan', '--transformer', join(raw, 'transformer'), '--text-encoder', join(raw, 'text_encoder'),
      '--tokenizer', join(raw, 'tokenizer'), '--decoder', join(raw, 'taehv.safetensors'), '--scheduler', join(raw, 'scheduler'), '--out', model]);
    python(['convert/convert.py', 'wan', '--transformer', join(raw, 'transformer'), '--decoder', join(raw, 'taehv.safetensors'), '--out', join(dir, 'partial')]);
    ort = (await import('onnxruntime-web')) as unknown as Ort;
    ort.env.wasm.numThreads = 1;
    full = await load(ort, model, ['textEncoder', 'denoiser', 'vaeDecoder']);
  }, 600_000);

  afterAll(async () => {
    for (const chain of full?.chains ?? []) await chain.release();
    rmSync(dir, { recursive: true, force: true });
  });

  async function generate(overrides: Partial<EngineGenerateSpec> = {}) {
    const frames: Uint8Array[] = [];
    const warnings: string[] = [];
    let steps = 0;
    const timings = await wanFamily.generate(full.state, spec(overrides), {
      onFrame: (frame, index) => { expect(index).toBe(frames.length); frames.push(frame); },
      onStep: () => { steps++; },
      onWarning: (code) => { warnings.push(code); },
    });
    return { frames, timings, steps, warnings };
  }

  it('makes 4T − 3 frames of the requested size, the same for the same seed', async () => {
    const a = await generate();
    expect(a.steps).toBe(3);
    expect(a.frames).toHaveLength(9); // 9 frames → 3 latent frames → 4·3 − 3
    for (const frame of a.frames) expect(frame).toHaveLength(32 * 16 * 4);
    expect(a.timings.readbacksDuringDenoise).toBe(0);
    // Random weights still make a picture that is not one flat colour.
    expect(new Set(a.frames[4]!.filter((_, i) => i % 4 === 0)).size).toBeGreaterThan(1);
    const b = await generate();
    expect(b.frames).toEqual(a.frames);
    const otherSeed = await generate({ seed: 12 });
    expect(otherSeed.frames).not.toEqual(a.frames);
    const otherPrompt = await generate({ prompt: 'a dog' });
    expect(otherPrompt.frames).not.toEqual(a.frames);
  });

  it('runs without guidance at guidanceScale 1 and warns that previews are not made', async () => {
    const run = await generate({ guidanceScale: 1, numFrames: 5, previewEvery: 1, outputScale: 2 });
    expect(run.frames).toHaveLength(5);
    expect(run.frames[0]).toHaveLength(64 * 32 * 4);
    expect(run.warnings).toEqual(['PREVIEWS_UNAVAILABLE']);
  });

  it('refuses to generate without a text encoder, and still runs the components it has', async () => {
    const partial = await load(ort, join(dir, 'partial'), ['denoiser', 'vaeDecoder']);
    try {
      expect(partial.manifest.components.textEncoder).toBeUndefined();
      await expect(wanFamily.generate(partial.state, spec(), {})).rejects.toMatchObject({ code: 'MODEL_INCOMPLETE', message: expect.stringContaining('textEncoder') });
      const latents = Float32Array.from({ length: 16 * 2 * 2 * 4 }, (_, i) => Math.sin(i));
      const out = await wanFamily.runComponent!(partial.state, 'vaeDecoder', { latents: { data: latents, dims: [1, 16, 2, 2, 4] } });
      expect(out.frames!.dims).toEqual([5, 16, 32, 3]);
      for (const v of out.frames!.data as Float32Array) expect(v >= 0 && v <= 1).toBe(true);
    } finally {
      for (const chain of partial.chains) await chain.release();
    }
  });
});
