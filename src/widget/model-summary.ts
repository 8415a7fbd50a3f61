/**
 * What a model will cost this device, worked out on the page before anything is downloaded: the variants
 * the engine would choose, their download size, and the memory each stage needs with the residency
 * (planMemory, src/models/memory.ts), or the planner's DEVICE_LIMITS refusal. Pure: no DOM, no runtime; the page passes in the manifest and what the worker's capability probe
 * said. It mirrors the engine's own choice (src/engine/engine.ts `chooseBackend` + `selectVariants`);
 * the engine decides for real and refuses a device that is too small before downloading.
 */
import type { BackendChoice, LocalBackend, WebGpuInfo, WeightPreference } from '../contract/domain';
import { describeError, formatBytes } from './format';
import {
  checkDeviceLimits, describeMemoryPlan, planMemory, presentComponents, selectVariants, selectedFiles,
  type ComponentName, type Dtype, type MemoryPlan, type MemoryTarget, type ModelManifest, type SelectedVariants,
} from '../models';

export interface SummaryTarget {
  /** The backend the caller asked for. */
  backend: BackendChoice;
  /** Whether 'auto' may run on wasm (GeneratorOptions.allowWasm); default true. */
  allowWasm?: boolean;
  /** GeneratorOptions.weights; default 'auto'. */
  weights?: WeightPreference;
  /** The worker's WebGPU probe (generator.capabilities().webgpu); absent → treated as unavailable. */
  webgpu?: WebGpuInfo;
  /** navigator.deviceMemory where the browser has it (GiB). */
  deviceMemoryGiB?: number;
  /** Lowered ceilings, as the load option `memoryLimits` gives them to the engine. */
  memoryLimits?: { wasmHeapBytes?: number; gpuMemoryBytes?: number };
}

export interface ComponentSummary {
  component: ComponentName;
  dtype: Dtype;
  compute: string;
  graphs: number;
  bytes: number;
}

export interface ModelSummary {
  id: string;
  name: string;
  version: string;
  pipeline: string;
  /** Where it would run; 'cloud' downloads no model. */
  backend: LocalBackend | 'cloud';
  /** Why that backend, when it is not simply the one asked for. */
  backendNote?: string;
  /** The variants the engine would choose (local backends only). */
  variants?: SelectedVariants;
  components: ComponentSummary[];
  /** The tokenizer's files. */
  tokenizerBytes: number;
  /** Everything a cold load downloads: the tokenizer's files and the chosen variants', each path once. */
  downloadBytes: number;
  fileCount: number;
  /** The memory plan (src/models/memory.ts) for those variants on that backend, when it could be made. */
  memory?: MemoryPlan;
  /** Why there is no plan: the planner's refusal (DEVICE_LIMITS: a stage that cannot fit), or what it lacked. */
  memoryError?: { code: string; message: string };
}

const COMPONENT_LABELS: Readonly<Record<ComponentName, string>> = { textEncoder: 'Text encoder', denoiser: 'Denoiser', vaeDecoder: 'Decoder' };

export function componentLabel(component: string): string {
  return (COMPONENT_LABELS as Record<string, string>)[component] ?? component;
}

/** The backend the engine would pick for this manifest (its `chooseBackend`, without the side effects). */
function likelyBackend(manifest: ModelManifest, target: SummaryTarget): { backend: LocalBackend | 'cloud'; note?: string; shaderF16: boolean } {
  const allowWasm = target.allowWasm ?? true;
  const gpu = target.webgpu ?? { available: false, reason: 'not probed' };
  if (target.backend === 'cloud') return { backend: 'cloud', shaderF16: false };
  if (target.backend === 'wasm') return { backend: 'wasm', shaderF16: false };
  if (!gpu.available) {
    if (target.backend === 'webgpu' || !allowWasm) return { backend: 'webgpu', note: `WebGPU is not available (${gpu.reason ?? 'no adapter'}): the load will be refused`, shaderF16: false };
    return { backend: 'wasm', note: `WebGPU is not available (${gpu.reason ?? 'no adapter'})`, shaderF16: false };
  }
  if (gpu.isFallbackAdapter && target.backend === 'auto' && allowWasm) return { backend: 'wasm', note: 'the WebGPU adapter is a software fallback, slower than wasm', shaderF16: false };
  const shaderF16 = gpu.shaderF16 === true;
  const limitError = gpu.limits ? checkDeviceLimits(manifest, selectVariants(manifest, { shaderF16 }), gpu.limits) : null;
  if (limitError && target.backend === 'auto' && allowWasm) return { backend: 'wasm', note: limitError.message, shaderF16: false };
  if (limitError) return { backend: 'webgpu', note: `${limitError.message}: the load will be refused`, shaderF16 };
  return { backend: 'webgpu', shaderF16 };
}

/** The download a load would make on this device, component by component. */
export function summarizeModel(manifest: ModelManifest, target: SummaryTarget): ModelSummary {
  const { backend, note, shaderF16 } = likelyBackend(manifest, target);
  const base: Pick<ModelSummary, 'id' | 'name' | 'version' | 'pipeline' | 'backend' | 'backendNote'> = {
    id: manifest.id, name: manifest.name, version: manifest.version, pipeline: manifest.pipeline, backend,
    ...(note ? { backendNote: note } : {}),
  };
  if (backend === 'cloud') return { ...base, components: [], tokenizerBytes: 0, downloadBytes: 0, fileCount: 0 };
  const weights = target.weights ?? 'auto';
  const choose = (f16: boolean) => selectVariants(manifest, { shaderF16: f16, ...(weights !== 'auto' ? { preferDtype: weights } : {}) });
  let variants = choose(shaderF16);
  let memory = memoryPlan(manifest, variants, backend, target);
  // As the engine does: under auto, a plan WebGPU cannot hold sends the load to wasm.
  if (backend === 'webgpu' && memory.memoryError?.code === 'DEVICE_LIMITS' && target.backend === 'auto' && (target.allowWasm ?? true)) {
    base.backend = 'wasm';
    base.backendNote = memory.memoryError.message;
    variants = choose(false);
    memory = memoryPlan(manifest, variants, 'wasm', target);
  }
  const files = selectedFiles(manifest, variants);
  const components = presentComponents(manifest).map((component) => {
    const v = variants[component]!;
    return { component, dtype: v.dtype, compute: v.compute, graphs: v.graphs.length, bytes: v.bytes };
  });
  return {
    ...base, variants, components,
    tokenizerBytes: (manifest.tokenizer?.files ?? []).reduce((sum, f) => sum + f.bytes, 0),
    downloadBytes: files.reduce((sum, f) => sum + f.bytes, 0),
    fileCount: files.length,
    ...memory,
  };
}

function memoryPlan(manifest: ModelManifest, variants: SelectedVariants, backend: LocalBackend, target: SummaryTarget): Pick<ModelSummary, 'memory' | 'memoryError'> {
  const limits = target.memoryLimits ?? {};
  const gpu = target.webgpu?.limits;
  const memoryTarget: MemoryTarget = {
    backend,
    ...(limits.wasmHeapBytes !== undefined ? { wasmHeapBytes: limits.wasmHeapBytes } : {}),
    ...(backend === 'webgpu' ? {
      gpu: {
        // Without a probe's limits, WebGPU's defaults (what every adapter offers), as the engine plans.
        maxBufferSize: gpu?.maxBufferSize ?? 256 * 1024 ** 2,
        maxStorageBufferBindingSize: gpu?.maxStorageBufferBindingSize ?? 128 * 1024 ** 2,
        ...(limits.gpuMemoryBytes !== undefined ? { memoryBytes: limits.gpuMemoryBytes } : {}),
      },
    } : {}),
    ...(target.deviceMemoryGiB !== undefined ? { deviceMemoryGiB: target.deviceMemoryGiB } : {}),
  };
  try {
    return { memory: planMemory(manifest, variants, memoryTarget) };
  } catch (error) {
    return { memoryError: describeError(error) };
  }
}

const VIEW_SCALES = [16, 8, 4, 2, 1] as const;
/** About this many pixels on the longer side is where a small model's clip becomes watchable. */
const VIEW_SIDE = 256;

/**
 * The output scale a page shows a model's clips at by default: the largest of 1, 2, 4, 8, 16 that keeps
 * the default frame's longer side at most 256 px (kinema-micro's 32 px frames: 8; Wan's 416×240: 1, as
 * the `generate` command chooses).
 */
export function viewingScale(manifest: Pick<ModelManifest, 'defaults'>): number {
  const side = Math.max(manifest.defaults.width, manifest.defaults.height);
  return VIEW_SCALES.find((scale) => side * scale <= VIEW_SIDE) ?? 1;
}

/** The summary as term/value lines for a facts list. */
export function summaryFacts(summary: ModelSummary): [string, string][] {
  const facts: [string, string][] = [['Model', `${summary.name} ${summary.version} (${summary.pipeline})`]];
  if (summary.backend === 'cloud') {
    facts.push(['Download', 'none: the cloud provider runs the model']);
    return facts;
  }
  facts.push(['Runs on', summary.backendNote ? `${summary.backend}: ${summary.backendNote}` : summary.backend]);
  facts.push(['Download', `${formatBytes(summary.downloadBytes)} in ${summary.fileCount} file${summary.fileCount === 1 ? '' : 's'} (once; later loads read the cache)`]);
  for (const c of summary.components) {
    const precision = c.compute === 'fp32' ? `${c.dtype} weights` : `${c.dtype} weights, ${c.compute} compute`;
    facts.push([componentLabel(c.component), `${formatBytes(c.bytes)}, ${precision}${c.graphs > 1 ? `, ${c.graphs} graphs` : ''}`]);
  }
  if (summary.tokenizerBytes > 0) facts.push(['Tokenizer', formatBytes(summary.tokenizerBytes)]);
  const plan = summary.memory;
  if (plan) {
    for (const stage of plan.stages) {
      const parts = stage.declared
        ? `weights ${formatBytes(stage.weightsBytes)} + activations ${formatBytes(stage.activationBytes)}`
        : 'its download size; the manifest declares no memory for it';
      facts.push([`${componentLabel(stage.component)} memory`, `${formatBytes(stage.needBytes)} (${parts})`]);
    }
    facts.push(['Memory plan', describeMemoryPlan(plan, formatBytes)]);
    if (plan.limitBytes !== undefined) facts.push(['Memory ceiling', `${formatBytes(plan.limitBytes)} (${plan.limit === 'wasm-heap' ? 'the wasm heap all sessions share' : 'GPU memory given'})`]);
  } else if (summary.memoryError) {
    facts.push(['Memory plan', summary.memoryError.code === 'DEVICE_LIMITS'
      ? `refused before any download (DEVICE_LIMITS): ${summary.memoryError.message}`
      : `not made: ${summary.memoryError.message}`]);
  }
  return facts;
}

/** A summary that could not be made (a manifest the selection refuses), as one line. */
export function summaryError(error: unknown): [string, string][] {
  const { code, message } = describeError(error);
  return [['Model', `cannot be planned (${code}): ${message}`]];
}
