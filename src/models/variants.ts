/**
 * Choosing one variant per component for a device, listing the files that choice needs, and checking
 * the device's WebGPU limits before anything is downloaded.
 */
import { KinemaError } from '../errors';
import {
  presentComponents, type ComponentName, type ComputePrecision, type Dtype, type FileSpec, type ModelManifest,
  type SelectedVariants, type VariantSpec,
} from './types';

export interface SelectVariantsOptions {
  /** Whether the device has the WebGPU feature `shader-f16`; fp16-compute variants are eligible only then. */
  shaderF16: boolean;
  /** Weight storage to prefer when a component has it (otherwise the ranking below decides). */
  preferDtype?: Dtype;
  /** Compute precision to prefer among eligible variants. Default `'fp32'` (the numerically safe choice). */
  preferCompute?: ComputePrecision;
  /** Among equally preferred variants: the smallest download (default) or the largest (usually the most precise). */
  size?: 'smallest' | 'largest';
  /** Told when `preferDtype` could not be honoured for a component (the engine turns it into a VARIANT_FALLBACK warning). */
  onFallback?: (info: { component: ComponentName; wanted: Dtype; chosen: VariantSpec; reason: string }) => void;
}

/**
 * One variant per component the manifest has. Eligible: compute fp32, or fp16 when `shaderF16`. Ranked by `preferDtype`,
 * then `preferCompute`, then download size, then manifest order. Every component has an fp32-compute
 * variant (the parser guarantees it), so this always succeeds.
 */
export function selectVariants(manifest: ModelManifest, options: SelectVariantsOptions): SelectedVariants {
  if (typeof options?.shaderF16 !== 'boolean') throw new TypeError('selectVariants: options.shaderF16 must be a boolean (adapter.features.has("shader-f16"))');
  const preferCompute = options.preferCompute ?? 'fp32';
  const sizeSign = (options.size ?? 'smallest') === 'smallest' ? 1 : -1;
  const result: Partial<Record<ComponentName, VariantSpec>> = {};
  for (const component of presentComponents(manifest)) {
    const variants = manifest.components[component]!.variants;
    const eligible = variants
      .map((variant, index) => ({ variant, index }))
      .filter(({ variant }) => variant.compute === 'fp32' || options.shaderF16);
    eligible.sort((a, b) => {
      if (options.preferDtype) {
        const d = Number(b.variant.dtype === options.preferDtype) - Number(a.variant.dtype === options.preferDtype);
        if (d !== 0) return d;
      }
      const p = Number(b.variant.compute === preferCompute) - Number(a.variant.compute === preferCompute);
      if (p !== 0) return p;
      if (a.variant.bytes !== b.variant.bytes) return sizeSign * (a.variant.bytes - b.variant.bytes);
      return a.index - b.index;
    });
    const chosen = eligible[0]?.variant;
    if (!chosen) throw new KinemaError('INVALID_MANIFEST', `components.${component} has no fp32-compute variant`, { details: { field: `components.${component}.variants` } });
    if (options.preferDtype && chosen.dtype !== options.preferDtype) {
      const exists = variants.some((v) => v.dtype === options.preferDtype);
      options.onFallback?.({
        component, wanted: options.preferDtype, chosen,
        reason: exists
          ? `the ${options.preferDtype} variant of ${component} computes in fp16 and this device lacks shader-f16`
          : `${component} has no ${options.preferDtype} variant`,
      });
    }
    result[component] = chosen;
  }
  return result;
}

/**
 * Every file a load needs: the tokenizer's, then each selected variant's in component order (its graphs'
 * files, then its data files), each path once (the parser guarantees a shared path is the same file).
 */
export function selectedFiles(manifest: ModelManifest, selected: SelectedVariants): FileSpec[] {
  const byPath = new Map<string, FileSpec>();
  for (const file of manifest.tokenizer?.files ?? []) byPath.set(file.path, file);
  for (const component of presentComponents(manifest)) for (const file of selected[component]?.files ?? []) if (!byPath.has(file.path)) byPath.set(file.path, file);
  return [...byPath.values()];
}

export interface DeviceLimits {
  maxBufferSize: number;
  maxStorageBufferBindingSize: number;
}

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/**
 * null when the model fits, else `KinemaError('DEVICE_LIMITS')` naming each limit that is short and by
 * how much. Pass the *adapter's* limits (what a device could be created with), not a default device's.
 *
 * The need comes from `requirements.webgpu`. Without it, the largest graph file (one without a role)
 * of the selection stands in: a graph with embedded weights holds its largest tensor, and onnxruntime
 * puts each initializer in one GPU buffer bound as storage. That is an estimate — it overstates the need
 * when the file holds many tensors — so external-data files, which hold many tensors by design, are
 * left out of it; large models should declare `requirements.webgpu`.
 */
export function checkDeviceLimits(manifest: ModelManifest, selected: SelectedVariants, limits: DeviceLimits): KinemaError | null {
  for (const key of ['maxBufferSize', 'maxStorageBufferBindingSize'] as const) {
    if (typeof limits?.[key] !== 'number' || !(limits[key] >= 0)) throw new TypeError(`checkDeviceLimits: limits.${key} must be a non-negative number (from adapter.limits)`);
  }
  const declared = manifest.requirements.webgpu;
  let need: Partial<DeviceLimits>;
  let source: string;
  if (declared && (declared.maxBufferSize !== undefined || declared.maxStorageBufferBindingSize !== undefined)) {
    need = { ...declared };
    source = 'requirements.webgpu';
  } else {
    let largest: FileSpec | undefined;
    for (const component of presentComponents(manifest)) {
      for (const file of selected[component]?.files ?? []) if (file.role === undefined && (!largest || file.bytes > largest.bytes)) largest = file;
    }
    if (!largest) return null;
    need = { maxBufferSize: largest.bytes, maxStorageBufferBindingSize: largest.bytes };
    source = `an estimate from the largest graph file, ${largest.path} (the manifest declares no requirements.webgpu)`;
  }
  const short: { limit: keyof DeviceLimits; needed: number; available: number }[] = [];
  for (const limit of ['maxBufferSize', 'maxStorageBufferBindingSize'] as const) {
    const needed = need[limit];
    if (needed !== undefined && needed > limits[limit]) short.push({ limit, needed, available: limits[limit] });
  }
  if (short.length === 0) return null;
  const parts = short.map((s) => `${s.limit} needs ${s.needed} bytes (${mib(s.needed)}) but the device offers ${s.available} (${mib(s.available)}), ${mib(s.needed - s.available)} short`);
  return new KinemaError('DEVICE_LIMITS', `${manifest.id} does not fit this GPU: ${parts.join('; ')} — per ${source}. Try the wasm backend or a smaller variant.`, {
    details: { model: manifest.id, source, short },
  });
}

/**
 * The name onnxruntime must be given for an external-data file: ONNX records its location relative to the
 * graph's own folder (`text_encoder.onnx.data` beside `text_encoder/text_encoder.onnx`), and onnxruntime-web
 * matches that string, not the manifest path.
 */
export function externalDataName(graphPath: string, filePath: string): string {
  const folder = graphPath.slice(0, graphPath.lastIndexOf('/') + 1);
  return folder !== '' && filePath.startsWith(folder) ? filePath.slice(folder.length) : filePath;
}
