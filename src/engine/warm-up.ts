/**
 * The warm-up at the end of a load: whether it runs, and the generation it is. Pure of the runtime: the
 * family runs it with the sessions it already has.
 */
import type { EngineGenerateSpec, LocalBackend } from '../contract';
import type { Family } from '../families';
import type { ModelManifest } from '../models/types';

/**
 * The warm-up's ceiling: models whose chosen weights are at most this many bytes are warmed up on wasm
 * (a one-step generation costs them tens of milliseconds; a model of gigabytes would spend minutes on it,
 * and its generations are long enough that the first run's fixed cost does not show).
 */
export const WARM_UP_MAX_WEIGHT_BYTES = 64 * 1024 ** 2;

/**
 * Whether load() ends with a warm-up generation. onnxruntime-web's wasm compiles each of its functions when
 * it first runs (V8 compiles wasm lazily, then tiers hot functions up), so a page's first generation pays
 * for compiling every kernel it touches: 1.5–2.5 times a later one for kinema-micro (BENCHMARKS.md, cold
 * start). One step through the same graphs and code at load moves that cost into the load.
 */
export function shouldWarmUp(load: { warmUp?: boolean; backend: LocalBackend; canGenerate: boolean; weightsBytes: number }): boolean {
  // A model without every component cannot generate (component runs only): nothing to warm up.
  if (load.warmUp === false || !load.canGenerate) return false;
  return load.warmUp === true || (load.backend === 'wasm' && load.weightsBytes <= WARM_UP_MAX_WEIGHT_BYTES);
}

/** One generation of the model's fewest steps at its default size, frames out and dropped. */
export async function warmUp<State>(family: Family<State>, state: State, manifest: ModelManifest, signal?: AbortSignal): Promise<void> {
  const d = manifest.defaults;
  const spec: EngineGenerateSpec = {
    prompt: '', negativePrompt: '', seed: 0, steps: manifest.limits.steps.min, guidanceScale: d.guidanceScale,
    numFrames: d.numFrames, fps: d.fps, width: d.width, height: d.height, format: 'frames', outputScale: 1,
    outputFilter: 'nearest', previewEvery: 0, returnFrames: false, watermark: false,
  };
  await family.generate(state, spec, signal ? { signal } : {});
}
