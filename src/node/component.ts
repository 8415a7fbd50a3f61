/**
 * The component runner, for model porters: `npm run component -- <text-encoder|denoiser|decoder|scheduler> …`
 * runs one component of a converted model through kinema's own TypeScript — the same manifest parsing,
 * sessions, graph chains and family glue the browser uses — on onnxruntime-web's wasm backend in Node,
 * with NumPy .npy files in and out (./npy.ts). Its outputs are what a porter compares with the reference
 * implementation, tensor for tensor.
 *
 * Caller mistakes (a missing or misshapen input, an unknown component, a manifest without the component,
 * a flag that does not apply) fail before any graph is loaded, with a message saying how to fix the call,
 * and exit code 2. Failures while running are KinemaErrors (exit code 1).
 */
import { existsSync, statSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { isKinemaError } from '../errors';
import { COMPONENT_USAGE, RUNNER_COMPONENTS, UsageError, parseComponentArgs, type ComponentArgs } from './component-args';
import { NpyError, checkNpy, formatShape, readNpy, writeNpy, type NpyArray, type NpyDtype } from './npy';
import { loadNodeOrt, openModelFolder, type FolderModel } from './model-folder';
import { runSampler } from './component-scheduler';

export interface RunnerIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** What one run wrote: file path → shape and dtype (also printed). */
export type RunnerOutputs = Record<string, { shape: readonly number[]; dtype: NpyDtype }>;

/** The .npy files each component reads from --in (the scheduler's model outputs are counted by --steps). */
const INPUTS = {
  'text-encoder': ['input_ids', 'attention_mask'],
  denoiser: ['hidden_states', 'timestep', 'encoder_hidden_states'],
  decoder: ['latents'],
  scheduler: ['latents'],
} as const;

export const modelOutputName = (step: number) => `model_output_${String(step).padStart(3, '0')}`;

function checkFolder(flag: string, path: string): string {
  const full = resolve(path);
  let kind: 'directory' | 'file' | null = null;
  try {
    kind = statSync(full).isDirectory() ? 'directory' : 'file';
  } catch {
    kind = null;
  }
  if (kind === null) throw new UsageError(`${flag} ${path}: no such folder`);
  if (kind !== 'directory') throw new UsageError(`${flag} ${path}: not a folder (${flag} takes the folder that holds the files)`);
  return full;
}

/** Every input the call needs, checked to exist before anything is read, so one message lists them all. */
function inputPaths(args: ComponentArgs, inDir: string): Record<string, string> {
  const names: string[] = [...INPUTS[args.component]];
  if (args.component === 'scheduler') for (let i = 0; i < args.steps!; i++) names.push(modelOutputName(i));
  const paths = Object.fromEntries(names.map((name) => [name, join(inDir, `${name}.npy`)]));
  const missing = names.filter((name) => !existsSync(paths[name]!));
  if (missing.length > 0) {
    const what = args.component === 'scheduler' && missing.some((n) => n.startsWith('model_output_'))
      ? ` (--steps ${args.steps} needs one model output per step: model_output_000.npy … ${modelOutputName(args.steps! - 1)}.npy)`
      : '';
    throw new UsageError(`${args.component} reads ${missing.map((n) => `${n}.npy`).join(', ')} from --in ${args.inDir}, and ${missing.length === 1 ? 'it is' : 'they are'} not there${what}`);
  }
  return paths;
}

async function read<D extends NpyDtype>(path: string, dtype: D, shape?: readonly (number | null)[]): Promise<NpyArray<D>> {
  try {
    return await readNpy(path, { dtype, ...(shape ? { shape } : {}) });
  } catch (error) {
    if (error instanceof NpyError) throw new UsageError(error.message);
    throw error;
  }
}

function expectSame(name: string, array: NpyArray, shape: readonly number[], like: string): void {
  if (array.shape.length !== shape.length || array.shape.some((d, i) => d !== shape[i])) {
    throw new UsageError(`${name}.npy must have the shape of ${like} ${formatShape(shape)}; got ${formatShape(array.shape)}`);
  }
}

async function write(outDir: string, outputs: RunnerOutputs, name: string, array: NpyArray): Promise<void> {
  const path = join(outDir, `${name}.npy`);
  await writeNpy(path, array);
  outputs[path] = { shape: array.shape, dtype: array.dtype };
}

/** Runs one component as `args` says; returns what it wrote. */
export async function runComponent(args: ComponentArgs, io: RunnerIo = { stdout: process.stdout, stderr: process.stderr }): Promise<RunnerOutputs> {
  const inDir = args.inDir !== undefined ? checkFolder('--in', args.inDir) : undefined;
  const paths = inDir !== undefined ? inputPaths(args, inDir) : {};
  const outDir = resolve(args.outDir);
  if (existsSync(outDir) && !statSync(outDir).isDirectory()) throw new UsageError(`--out ${args.outDir}: a file is there; --out takes a folder (it is made when missing)`);
  const outputs: RunnerOutputs = {};

  if (args.component === 'scheduler') {
    const scheduler = args.config !== undefined
      ? { type: args.sampler!, config: await readSchedulerConfig(args.config) }
      : (await openModelFolder(args.model!, { components: [] })).scheduler;
    const latents = await read(paths.latents!, 'float32');
    const modelOutputs: NpyArray<'float32'>[] = [];
    for (let i = 0; i < args.steps!; i++) {
      const output = await read(paths[modelOutputName(i)]!, 'float32');
      expectSame(modelOutputName(i), output, latents.shape, 'latents.npy');
      modelOutputs.push(output);
    }
    await mkdir(outDir, { recursive: true });
    const result = await runSampler(await loadNodeOrt(), scheduler, args.steps!, args.seed, latents, modelOutputs);
    await write(outDir, outputs, 'timesteps', { dtype: 'float32', shape: [result.timesteps.length], data: result.timesteps });
    await write(outDir, outputs, 'sigmas', { dtype: 'float32', shape: [result.sigmas.length], data: result.sigmas });
    await write(outDir, outputs, 'latents_final', { dtype: 'float32', shape: latents.shape, data: result.latents });
    report(io, outputs);
    return outputs;
  }

  const component = RUNNER_COMPONENTS[args.component];
  // The manifest is read and checked first (cheap): a model without this component, or inputs that do not
  // fit it, fail before any graph is compiled.
  let model: FolderModel | undefined;
  try {
    model = await openModelFolder(args.model!, { components: [component], ...(args.weights ? { weights: args.weights } : {}) });
    const shapes = model.inputShapes(component);
    const inputs: Record<string, NpyArray> = {};
    if (args.component === 'text-encoder' && args.prompt !== undefined) {
      await model.load();
      const tokens = model.tokenize(args.prompt);
      inputs.input_ids = tokens.input_ids;
      inputs.attention_mask = tokens.attention_mask;
      await mkdir(outDir, { recursive: true });
      await write(outDir, outputs, 'input_ids', tokens.input_ids);
      await write(outDir, outputs, 'attention_mask', tokens.attention_mask);
    } else {
      for (const [name, path] of Object.entries(paths)) {
        const want = shapes[name]!;
        inputs[name] = await read(path, want.dtype, want.shape);
      }
      model.checkInputs(component, inputs);
      await model.load();
      await mkdir(outDir, { recursive: true });
    }
    const results = await model.run(component, inputs);
    for (const [name, array] of Object.entries(results)) await write(outDir, outputs, name, array);
  } finally {
    await model?.release();
  }
  report(io, outputs);
  return outputs;
}

async function readSchedulerConfig(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(resolve(path), 'utf8');
  } catch {
    throw new UsageError(`--config ${path}: no such file (give a diffusers scheduler_config.json)`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`--config ${path} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UsageError(`--config ${path} must hold a JSON object (a diffusers scheduler_config.json)`);
  return json as Record<string, unknown>;
}

function report(io: RunnerIo, outputs: RunnerOutputs): void {
  for (const [path, { shape, dtype }] of Object.entries(outputs)) io.stdout.write(`wrote ${path} ${formatShape(shape)} ${dtype}\n`);
}

/** The command: exit code 0 (done), 2 (a mistake in the call: fix it as the message says) or 1 (the run failed). */
export async function main(argv: readonly string[], io: RunnerIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let args: ComponentArgs | null;
  try {
    args = parseComponentArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr.write(`component: ${error.message}\n`);
    return 2;
  }
  if (args === null) {
    io.stdout.write(`${COMPONENT_USAGE}\n`);
    return 0;
  }
  try {
    await runComponent(args, io);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr.write(`component: ${error.message}\n`);
      return 2;
    }
    if (isKinemaError(error)) {
      io.stderr.write(`component: ${error.code}: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}

// Run as a program (the built component.js: `npm run component` builds it into .cache/component/, a folder
// of its own so a running `kinema generate` never sees dist/node rewritten), not when imported by tests.
const entry = process.argv[1] ? resolve(process.argv[1]) : '';
if (entry.endsWith('component.js')) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (error: unknown) => {
    process.stderr.write(`component: unexpected failure (a bug in kinema; please report it):\n${(error as Error)?.stack ?? String(error)}\n`);
    process.exitCode = 1;
  });
}
