/**
 * A converted model on disk, opened the way the engine opens one from the network — the same manifest
 * parser and family validator, files checked against their bytes and SHA-256, one graph chain per
 * component, the backend's LoopOps, the family's `prepare` — but only for the components a run needs,
 * on onnxruntime-web's wasm backend in Node. The component runner (./component.ts) drives it.
 *
 * Two steps, so mistakes surface cheaply: `openModelFolder` reads and checks the manifest (a model
 * without the component, inputs that do not fit it); `load` reads, verifies and compiles the graphs.
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { KinemaError } from '../errors';
import { familyFor } from '../families';
import type { Family, FamilyLoad, HostTensor } from '../families/types';
import { parseWanManifest, type WanManifestConfig } from '../families/wan/manifest';
import { externalDataName, parseManifest, selectVariants, type ComponentName, type ModelManifest, type SchedulerSpec, type SelectedVariants } from '../models';
import { createCpuOps } from '../pipeline/cpu-ops';
import type { LoopOps } from '../pipeline/ops';
import { createGraphChain, type GraphChain } from '../runtime/chain';
import type { Ort } from '../runtime/ort';
import { UsageError } from './args';
import { formatShape, type NpyArray, type NpyDtype } from './npy';

export interface InputShape {
  dtype: NpyDtype;
  /** null: any size. */
  shape: (number | null)[];
}

export interface FolderModel {
  readonly folder: string;
  readonly manifest: ModelManifest;
  readonly scheduler: SchedulerSpec;
  /** The .npy inputs `component` takes and what the manifest says their shapes are. */
  inputShapes(component: ComponentName): Record<string, InputShape>;
  /** Checks that the inputs fit each other and the model (UsageError saying what to change). */
  checkInputs(component: ComponentName, inputs: Readonly<Record<string, NpyArray>>): void;
  /** Reads, verifies and compiles the graphs of the components asked for. */
  load(): Promise<void>;
  /** Token ids and mask for a prompt, as `generate` makes them (after `load`). */
  tokenize(prompt: string): { input_ids: NpyArray<'int64'>; attention_mask: NpyArray<'int64'> };
  /** One component run through the family's glue (after `load`). */
  run(component: ComponentName, inputs: Readonly<Record<string, NpyArray>>): Promise<Record<string, NpyArray>>;
  release(): Promise<void>;
}

export interface OpenOptions {
  /** The components to load; [] reads only the manifest (the scheduler's config). */
  components: readonly ComponentName[];
  weights?: 'fp32' | 'fp16' | 'int8' | 'int4';
  /** Where onnxruntime-web comes from (tests may share one). */
  ort?: () => Promise<Ort>;
}

const CLI_NAMES: Record<ComponentName, string> = { textEncoder: 'text-encoder', denoiser: 'denoiser', vaeDecoder: 'decoder' };
const CONVERTER_FLAGS: Record<ComponentName, string> = {
  textEncoder: '--text-encoder DIR --tokenizer DIR',
  denoiser: '--transformer DIR',
  vaeDecoder: '--decoder FILE',
};

let nodeOrt: Promise<Ort> | undefined;

/** onnxruntime-web's Node build (its wasm found next to it), one thread: the runner is for correctness, not speed. */
export function loadNodeOrt(): Promise<Ort> {
  nodeOrt ??= import('onnxruntime-web').then((ort) => {
    ort.env.wasm.numThreads = 1;
    ort.env.logLevel = 'error';
    return ort as Ort;
  });
  return nodeOrt;
}

function manifestPath(path: string): string {
  const full = resolve(path);
  if (!existsSync(full)) throw new UsageError(`--model ${path}: no such folder (give the folder npm run convert wrote, with its manifest.json)`);
  if (statSync(full).isDirectory()) {
    const manifest = join(full, 'manifest.json');
    if (!existsSync(manifest)) throw new UsageError(`--model ${path}: the folder has no manifest.json; give the folder npm run convert wrote (--out)`);
    return manifest;
  }
  if (!full.toLowerCase().endsWith('.json')) throw new UsageError(`--model ${path}: give the model's folder or its manifest .json`);
  return full;
}

const host = (array: NpyArray): HostTensor => ({ data: array.data, dims: array.shape });
const npy = (tensor: HostTensor): NpyArray => (tensor.data instanceof BigInt64Array
  ? { dtype: 'int64', shape: [...tensor.dims], data: tensor.data }
  : { dtype: 'float32', shape: [...tensor.dims], data: tensor.data });

export async function openModelFolder(path: string, options: OpenOptions): Promise<FolderModel> {
  const file = manifestPath(path);
  const folder = resolve(file, '..');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  // The same parser and family rules as a browser load; a broken manifest is the converter's (or the porter's) to fix.
  const manifest = parseManifest(json, pathToFileURL(file).href);
  const family: Family = familyFor(manifest);
  family.validate(manifest);
  const wan: WanManifestConfig | undefined = manifest.pipeline === 'wan2.1' ? parseWanManifest(manifest.json, file) : undefined;

  for (const component of options.components) {
    if (manifest.components[component] === undefined) {
      const present = Object.keys(manifest.components).filter((name) => manifest.components[name as ComponentName] !== undefined);
      throw new UsageError(`the model at ${path} has no ${component} (its manifest lists ${present.join(', ') || 'no components'}): convert it with ${CONVERTER_FLAGS[component]} to run ${CLI_NAMES[component]}`);
    }
  }
  if (options.components.length > 0 && (!family.runComponent || !wan)) {
    throw new UsageError(`the model at ${path} is a ${manifest.pipeline} model; the component runner runs Wan-family (wan2.1) models`);
  }

  let variants: SelectedVariants = {};
  if (options.components.length > 0) {
    const chosen = selectVariants(manifest, { shaderF16: false, ...(options.weights ? { preferDtype: options.weights } : {}) });
    variants = Object.fromEntries(options.components.map((c) => [c, chosen[c]!]));
    for (const component of options.components) {
      if (options.weights && variants[component]!.dtype !== options.weights) {
        const stored = manifest.components[component]!.variants.map((v) => v.dtype).join(', ');
        throw new UsageError(`--weights ${options.weights}: the model's ${component} is stored as ${stored}; convert with --weights ${options.weights} or drop --weights`);
      }
    }
  }

  let ort: Ort | undefined;
  let ops: LoopOps | undefined;
  const chains: Partial<Record<ComponentName, GraphChain>> = {};
  let state: unknown;
  let loaded = false;

  function inputShapes(component: ComponentName): Record<string, InputShape> {
    if (!wan) return {};
    const L = wan.maxLength;
    switch (component) {
      case 'textEncoder':
        return { input_ids: { dtype: 'int64', shape: [1, L] }, attention_mask: { dtype: 'int64', shape: [1, L] } };
      case 'denoiser':
        return {
          hidden_states: { dtype: 'float32', shape: [1, wan.denoiser!.inChannels, null, null, null] },
          timestep: { dtype: 'float32', shape: [1] },
          encoder_hidden_states: { dtype: 'float32', shape: [1, null, wan.denoiser!.textDim] },
        };
      case 'vaeDecoder':
        return { latents: { dtype: 'float32', shape: [1, wan.latent.channels, null, null, null] } };
    }
  }

  function checkInputs(component: ComponentName, inputs: Readonly<Record<string, NpyArray>>): void {
    if (!wan) return;
    if (component === 'denoiser') {
      const [, , frames, height, width] = inputs.hidden_states!.shape as number[];
      const [pt, ph, pw] = wan.denoiser!.patchSize;
      const sides: [string, number, number][] = [['T', frames!, pt], ['H', height!, ph], ['W', width!, pw]];
      for (const [name, size, patch] of sides) {
        if (size < 1 || size % patch !== 0) {
          throw new UsageError(`hidden_states.npy ${formatShape(inputs.hidden_states!.shape)}: ${name} must be a positive multiple of the patch size ${patch} (patchSize ${formatShape([pt, ph, pw])}); got ${size}`);
        }
      }
      const L = inputs.encoder_hidden_states!.shape[1]!;
      if (L < 1) throw new UsageError('encoder_hidden_states.npy must hold at least one token (L ≥ 1)');
    } else if (component === 'vaeDecoder') {
      const [, , frames, height, width] = inputs.latents!.shape as number[];
      if (frames! < 1 || height! < 1 || width! < 1) throw new UsageError(`latents.npy ${formatShape(inputs.latents!.shape)}: T, H and W must be at least 1`);
    } else if (component === 'textEncoder') {
      const mask = inputs.attention_mask!.data as BigInt64Array;
      const bad = mask.findIndex((v) => v !== 0n && v !== 1n);
      if (bad >= 0) throw new UsageError(`attention_mask.npy must hold only 0 and 1; position ${bad} holds ${mask[bad]}`);
    }
  }

  async function load(): Promise<void> {
    if (loaded) return;
    ort = await (options.ort ?? loadNodeOrt)();
    ops = createCpuOps(ort);
    // Every file of the components asked for and the tokenizer's (the family prepares its tokenizer whenever
    // the manifest has one), read from the folder and checked as the loader checks a download: exact size and SHA-256.
    const wanted = [...(manifest.tokenizer?.files ?? []), ...options.components.flatMap((c) => variants[c]!.files)];
    const bytes = new Map<string, Uint8Array>();
    for (const spec of wanted) {
      const where = join(folder, ...spec.path.split('/'));
      if (!existsSync(where)) throw new UsageError(`the model's ${spec.path} is missing from ${folder} (the manifest lists it): convert the model again`);
      const data = await readFile(where);
      if (data.byteLength !== spec.bytes) {
        throw new KinemaError('INTEGRITY_MISMATCH', `${where} has ${data.byteLength} bytes; the manifest says ${spec.bytes}: the folder changed after it was converted`, { details: { path: spec.path } });
      }
      const digest = createHash('sha256').update(data).digest('hex');
      if (digest !== spec.sha256) {
        throw new KinemaError('INTEGRITY_MISMATCH', `${where} has SHA-256 ${digest}; the manifest says ${spec.sha256}: the folder changed after it was converted`, { details: { path: spec.path } });
      }
      bytes.set(spec.path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
    try {
      for (const component of options.components) {
        const variant = variants[component]!;
        chains[component] = await createGraphChain(ort, 'wasm', component, variant.graphs.map((graph) => ({
          name: graph.name,
          model: bytes.get(graph.model.path)!,
          // ONNX names external data relative to the graph's own folder (`text_encoder.onnx.data` beside
          // `text_encoder/text_encoder.onnx`); onnxruntime-web matches that name.
          externalData: graph.externalData.map((f) => ({ path: externalDataName(graph.model.path, f.path), data: bytes.get(f.path)! })),
          perPrompt: graph.perPrompt,
        })));
      }
      const graphPaths = new Set(options.components.flatMap((c) => variants[c]!.graphs.flatMap((g) => [g.model.path, ...g.externalData.map((f) => f.path)])));
      const files = new Map([...bytes].filter(([p]) => !graphPaths.has(p)));
      const familyLoad: FamilyLoad = { manifest, backend: 'wasm', variants, ops, chains, files, warn: () => undefined };
      state = await family.prepare(familyLoad);
      loaded = true;
    } catch (error) {
      await release();
      throw error;
    }
  }

  function ready(): void {
    if (!loaded) throw new KinemaError('INTERNAL', 'the model folder was used before load()');
  }

  async function release(): Promise<void> {
    if (loaded) await family.release(state).catch(() => undefined);
    loaded = false;
    for (const chain of Object.values(chains)) await chain.release();
    ops?.destroy();
  }

  return {
    folder,
    manifest,
    scheduler: manifest.scheduler,
    inputShapes,
    checkInputs,
    load,
    tokenize(prompt) {
      ready();
      if (!family.tokenize) throw new UsageError(`the ${manifest.pipeline} family does not tokenize for component runs`);
      const tokens = family.tokenize(state, prompt);
      return { input_ids: npy(tokens.inputIds) as NpyArray<'int64'>, attention_mask: npy(tokens.attentionMask) as NpyArray<'int64'> };
    },
    async run(component, inputs) {
      ready();
      let outputs: Record<string, HostTensor>;
      try {
        outputs = await family.runComponent!(state, component, Object.fromEntries(Object.entries(inputs).map(([k, v]) => [k, host(v)])));
      } catch (error) {
        // The family checks what only it knows (a token id past the embedding table): still the caller's to fix.
        if (error instanceof RangeError || error instanceof TypeError) throw new UsageError(error.message);
        throw error;
      }
      return Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, npy(v)]));
    },
    release,
  };
}
