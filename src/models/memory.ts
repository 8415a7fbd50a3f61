/**
 * The memory plan: what each stage (component) of a model holds while it runs, which stages can stay
 * loaded together on a device, and a refusal before any download when one stage cannot fit at all.
 *
 * Pure (no runtime, no kernels, no DOM): the main thread calls it to show "download 3.90 GB, needs
 * 2.80 GB of memory at most" before a load, and the engine calls it to refuse early and to stage the
 * sessions (src/runtime/chain-pool.ts releases what the plan says cannot stay).
 *
 * What counts, per backend:
 * - wasm: every session shares onnxruntime's one wasm heap. A stage needs its weights plus its peak
 *   activations there; stages resident together add up (onnxruntime's CPU arena keeps a session's
 *   activation memory after its run, and a wasm heap never shrinks, so a resident stage's activations
 *   are counted as held).
 * - webgpu: weights and activations live on the GPU. WebGPU does not tell how much memory a GPU has, so
 *   the sum is checked only against a ceiling the caller gives (`gpu.memoryBytes`, the load option
 *   `memoryLimits.gpuMemoryBytes`); each graph's largest tensor is checked against `maxBufferSize` with
 *   `checkDeviceLimits`; and each .onnx file must fit the wasm heap, because onnxruntime-web copies the
 *   graph file into it to create the session (its external data goes straight to GPU buffers).
 * - `deviceMemory` (navigator.deviceMemory, GiB, rounded and capped at 8 by browsers): a coarse hint, so
 *   it only refuses a single stage that needs more than the whole device reports, and never at the cap.
 */
import { KinemaError } from '../errors';
import { presentComponents, type ComponentName, type ModelManifest, type SelectedVariants } from './types';
import { checkDeviceLimits, selectedFiles } from './variants';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** wasm32's whole address space: onnxruntime-web's heap cannot grow past it. */
export const WASM_MEMORY_BYTES = 4 * GiB;
/**
 * Left to the runtime itself when the default heap ceiling is computed: its code and stacks, the
 * allocator's slack, feeds copied in from JS. A chosen margin, not a measurement.
 */
export const WASM_RUNTIME_MARGIN_BYTES = 256 * MiB;
/** The default wasm ceiling: 4 GiB less the runtime margin. */
export const DEFAULT_WASM_HEAP_BYTES = WASM_MEMORY_BYTES - WASM_RUNTIME_MARGIN_BYTES;
/** Browsers report navigator.deviceMemory rounded down to a power of two and capped here (Chrome: 8). */
export const DEVICE_MEMORY_CAP_GIB = 8;

export type MemoryBackend = 'wasm' | 'webgpu';
/** Which ceiling a refusal hit; the WebGPU limits by their adapter.limits names. */
export type MemoryLimitKind = 'wasm-heap' | 'gpu-memory' | 'maxBufferSize' | 'maxStorageBufferBindingSize' | 'deviceMemory';

export interface MemoryTarget {
  readonly backend: MemoryBackend;
  /** The wasm heap ceiling; default DEFAULT_WASM_HEAP_BYTES. May only lower it (at most 4 GiB). */
  readonly wasmHeapBytes?: number;
  /** Required for webgpu: the adapter's limits, and the GPU memory to plan for when known. */
  readonly gpu?: { readonly maxBufferSize: number; readonly maxStorageBufferBindingSize: number; readonly memoryBytes?: number };
  /** navigator.deviceMemory where the browser has it (GiB). */
  readonly deviceMemoryGiB?: number;
}

export interface StagePlan {
  readonly component: ComponentName;
  readonly weightsBytes: number;
  readonly activationBytes: number;
  /** weightsBytes + activationBytes: what the stage needs while it runs. */
  readonly needBytes: number;
  /** Whether the figures come from the variant's `memory` (else: its download bytes, no activations). */
  readonly declared: boolean;
}

export interface MemoryPlan {
  readonly backend: MemoryBackend;
  /** The present components, in run order. */
  readonly stages: readonly StagePlan[];
  /**
   * Groups of components that are loaded together, in run order; every component is in exactly one.
   * One group: everything stays loaded. Running a component of another group releases the current one.
   */
  readonly residency: readonly (readonly ComponentName[])[];
  /** The most any group needs at once, in the memory the limit is about (wasm heap, or GPU memory on webgpu). */
  readonly peakBytes: number;
  /** The ceiling the residency was planned against; undefined on webgpu without a GPU memory figure. */
  readonly limitBytes?: number;
  readonly limit?: 'wasm-heap' | 'gpu-memory';
  /** Every file the load downloads (tokenizer and the selected variants), each once. */
  readonly downloadBytes: number;
}

const STAGE_NAMES: Readonly<Record<ComponentName, string>> = { textEncoder: 'text encoder', denoiser: 'denoiser', vaeDecoder: 'VAE decoder' };

/** Decimal units, as download managers (and the widget's progress) show sizes: "812.4 MB", "3.90 GB". */
export function formatByteSize(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '? B';
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}

/**
 * One line for a user before the download starts: "download 3.90 GB, needs 2.80 GB of memory at most
 * (the text encoder is released before the denoiser)". `format` lets a page use its own byte format.
 */
export function describeMemoryPlan(plan: MemoryPlan, format: (bytes: number) => string = formatByteSize): string {
  const where = plan.backend === 'webgpu' ? 'GPU memory' : 'memory';
  let text = `download ${format(plan.downloadBytes)}, needs ${format(plan.peakBytes)} of ${where} at most`;
  if (plan.residency.length > 1) {
    const releases = plan.residency.slice(0, -1).map((group, i) => {
      const next = plan.residency[i + 1]![0]!;
      return `the ${list(group.map((c) => STAGE_NAMES[c]))} ${group.length > 1 ? 'are' : 'is'} released before the ${STAGE_NAMES[next]}`;
    });
    text += ` (${releases.join(', ')})`;
  }
  return text;
}

function list(items: readonly string[]): string {
  return items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function checkTarget(target: MemoryTarget): void {
  if (typeof target !== 'object' || target === null) throw new TypeError('planMemory: target must be an object such as { backend: "wasm" }');
  if (target.backend !== 'wasm' && target.backend !== 'webgpu') throw new TypeError(`planMemory: target.backend must be "wasm" or "webgpu", got ${JSON.stringify(target.backend)}`);
  if (target.wasmHeapBytes !== undefined) {
    if (!Number.isSafeInteger(target.wasmHeapBytes) || target.wasmHeapBytes <= 0) {
      throw new RangeError(`planMemory: target.wasmHeapBytes must be a positive integer number of bytes, got ${String(target.wasmHeapBytes)}`);
    }
    if (target.wasmHeapBytes > WASM_MEMORY_BYTES) {
      throw new RangeError(`planMemory: target.wasmHeapBytes can only lower the wasm ceiling: at most ${WASM_MEMORY_BYTES} (4 GiB, all a wasm32 heap can address), got ${target.wasmHeapBytes}`);
    }
  }
  if (target.backend === 'webgpu') {
    const gpu = target.gpu;
    if (typeof gpu !== 'object' || gpu === null) throw new TypeError('planMemory: target.gpu is required for webgpu: { maxBufferSize, maxStorageBufferBindingSize } from adapter.limits');
    if (gpu.memoryBytes !== undefined && (!Number.isSafeInteger(gpu.memoryBytes) || gpu.memoryBytes <= 0)) {
      throw new RangeError(`planMemory: target.gpu.memoryBytes must be a positive integer number of bytes, got ${String(gpu.memoryBytes)}`);
    }
  }
  if (target.deviceMemoryGiB !== undefined && !(typeof target.deviceMemoryGiB === 'number' && target.deviceMemoryGiB > 0 && Number.isFinite(target.deviceMemoryGiB))) {
    throw new RangeError(`planMemory: target.deviceMemoryGiB must be a positive number (navigator.deviceMemory), got ${String(target.deviceMemoryGiB)}`);
  }
}

/**
 * The plan for loading `variants` of `manifest` on `target`, or `KinemaError('DEVICE_LIMITS')` naming the
 * stage, its need and the limit (details: stage, needBytes, limitBytes, limit, …) when a stage cannot fit
 * even alone. Residency uses as few groups as fit (fewer groups, fewer sessions made again per
 * generation) and, among those, releases the earliest stages first: the text encoder before the denoiser,
 * the denoiser before the decoder only when it must.
 */
export function planMemory(manifest: ModelManifest, variants: SelectedVariants, target: MemoryTarget): MemoryPlan {
  checkTarget(target);
  const components = presentComponents(manifest);
  const stages: StagePlan[] = components.map((component) => {
    const variant = variants[component];
    if (!variant) throw new TypeError(`planMemory: variants.${component} is missing; pass selectVariants(manifest, …)'s result, one variant per component the manifest has`);
    const weightsBytes = variant.memory?.weightsBytes ?? variant.bytes;
    const activationBytes = variant.memory?.activationBytes ?? 0;
    return { component, weightsBytes, activationBytes, needBytes: weightsBytes + activationBytes, declared: variant.memory !== undefined };
  });
  const downloadBytes = selectedFiles(manifest, variants).reduce((sum, file) => sum + file.bytes, 0);
  const heap = target.wasmHeapBytes ?? DEFAULT_WASM_HEAP_BYTES;
  const heapSource = target.wasmHeapBytes !== undefined ? 'as memoryLimits.wasmHeapBytes sets it' : `a wasm32 heap's 4 GiB less a ${WASM_RUNTIME_MARGIN_BYTES / MiB} MiB runtime margin`;

  if (target.backend === 'webgpu') {
    const gpu = target.gpu!;
    // Per stage, so the error names the stage whose graph holds the tensor that does not fit.
    for (const stage of stages) {
      const error = checkDeviceLimits(manifest, { [stage.component]: variants[stage.component] }, gpu);
      if (error) {
        const short = error.details.short as { limit: MemoryLimitKind; needed: number; available: number }[];
        const first = short[0]!;
        const prefix = `${manifest.id} does not fit this GPU: `;
        const why = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message;
        throw new KinemaError('DEVICE_LIMITS', `${manifest.id}: the ${STAGE_NAMES[stage.component]} stage does not fit this GPU: ${why}`, {
          details: { ...error.details, stage: stage.component, needBytes: first.needed, limitBytes: first.available, limit: first.limit },
        });
      }
      const graphFile = variants[stage.component]!.graphs.map((g) => g.model).reduce((a, b) => (b.bytes > a.bytes ? b : a));
      if (graphFile.bytes > heap) {
        throw refusal(manifest, stage, graphFile.bytes, heap, 'wasm-heap',
          `its graph file ${graphFile.path} is ${formatByteSize(graphFile.bytes)}, and onnxruntime-web copies a graph file into its wasm heap to create the session, which stops at ${formatByteSize(heap)} (${heapSource})`,
          'convert the model with its weights in external-data files (the converter\'s --max-file-bytes) or a smaller variant');
      }
    }
  }

  const limit: 'wasm-heap' | 'gpu-memory' | undefined = target.backend === 'wasm' ? 'wasm-heap' : target.gpu?.memoryBytes !== undefined ? 'gpu-memory' : undefined;
  const limitBytes = limit === 'wasm-heap' ? heap : limit === 'gpu-memory' ? target.gpu!.memoryBytes! : undefined;
  if (limit !== undefined && limitBytes !== undefined) {
    for (const stage of stages) {
      if (stage.needBytes <= limitBytes) continue;
      const ceiling = limit === 'wasm-heap'
        ? `wasm memory stops at ${formatByteSize(limitBytes)} (${heapSource})`
        : `the GPU memory given is ${formatByteSize(limitBytes)} (memoryLimits.gpuMemoryBytes)`;
      const fix = limit === 'wasm-heap'
        ? `use the WebGPU backend (backend: 'webgpu'), where weights live on the GPU${target.wasmHeapBytes !== undefined && target.wasmHeapBytes < WASM_MEMORY_BYTES ? ', or raise memoryLimits.wasmHeapBytes (at most 4 GiB)' : ''}`
        : `use the wasm backend (backend: 'wasm') or raise memoryLimits.gpuMemoryBytes if this GPU has more`;
      throw refusal(manifest, stage, stage.needBytes, limitBytes, limit, `${needText(stage)} but ${ceiling}`, fix);
    }
  }
  if (target.deviceMemoryGiB !== undefined && target.deviceMemoryGiB < DEVICE_MEMORY_CAP_GIB) {
    const deviceBytes = target.deviceMemoryGiB * GiB;
    for (const stage of stages) {
      if (stage.needBytes <= deviceBytes) continue;
      throw refusal(manifest, stage, stage.needBytes, deviceBytes, 'deviceMemory',
        `${needText(stage)} but this device reports ${target.deviceMemoryGiB} GiB of memory in all (navigator.deviceMemory)`, 'use a device with more memory');
    }
  }

  const groupNeed = (group: readonly StagePlan[]) => group.reduce((sum, s) => sum + s.needBytes, 0);
  const groups = stages.length === 0 ? [] : limitBytes === undefined ? [stages] : partition(stages, (group) => groupNeed(group) <= limitBytes);
  return {
    backend: target.backend,
    stages,
    residency: groups.map((group) => group.map((s) => s.component)),
    peakBytes: Math.max(0, ...groups.map(groupNeed)),
    ...(limit !== undefined && limitBytes !== undefined ? { limit, limitBytes } : {}),
    downloadBytes,
  };
}

function needText(stage: StagePlan): string {
  const parts = `weights ${formatByteSize(stage.weightsBytes)} + activations ${formatByteSize(stage.activationBytes)}`;
  return `the ${STAGE_NAMES[stage.component]} stage needs ${formatByteSize(stage.needBytes)} (${stage.declared ? parts : `${parts}: the manifest declares no memory for it, so its download size stands in`})`;
}

function refusal(manifest: ModelManifest, stage: StagePlan, needBytes: number, limitBytes: number, limit: MemoryLimitKind, what: string, fix: string): KinemaError {
  const smaller = smallerVariants(manifest, stage);
  const options = [
    ...(smaller.length > 0 ? [`load a smaller ${STAGE_NAMES[stage.component]} variant (weights: ${smaller.map((s) => `'${s}'`).join(' or ')})`] : [`convert the ${STAGE_NAMES[stage.component]} with smaller weights (e.g. int4)`]),
    fix,
  ];
  return new KinemaError('DEVICE_LIMITS', `${manifest.id}: ${what}; ${formatByteSize(needBytes - limitBytes)} short. To fix the call: ${options.join(', or ')}.`, {
    details: {
      model: manifest.id, stage: stage.component, needBytes, limitBytes, limit,
      weightsBytes: stage.weightsBytes, activationBytes: stage.activationBytes,
    },
  });
}

/** The dtypes of the stage's other variants that need less memory than the chosen one. */
function smallerVariants(manifest: ModelManifest, stage: StagePlan): string[] {
  const dtypes = new Set<string>();
  for (const variant of manifest.components[stage.component]?.variants ?? []) {
    const need = (variant.memory?.weightsBytes ?? variant.bytes) + (variant.memory?.activationBytes ?? 0);
    if (need < stage.needBytes) dtypes.add(variant.dtype);
  }
  return [...dtypes];
}

/**
 * Splits `stages` (in run order) into consecutive groups that each `fits`: the fewest groups, and among
 * partitions with as many groups, the one whose splits come earliest. Each stage fits alone (checked
 * before), so the all-apart partition always works.
 */
function partition(stages: readonly StagePlan[], fits: (group: readonly StagePlan[]) => boolean): StagePlan[][] {
  const gaps = Math.max(0, stages.length - 1);
  const masks = Array.from({ length: 1 << gaps }, (_, mask) => mask);
  const bits = (mask: number) => mask.toString(2).replace(/0/g, '').length;
  // Bit i splits after stage i: ascending masks of one popcount put the earliest split first.
  masks.sort((a, b) => bits(a) - bits(b) || a - b);
  for (const mask of masks) {
    const groups: StagePlan[][] = [[]];
    stages.forEach((stage, i) => {
      groups[groups.length - 1]!.push(stage);
      if (i < gaps && (mask & (1 << i)) !== 0) groups.push([]);
    });
    if (groups.every(fits)) return groups;
  }
  return stages.map((stage) => [stage]);
}
