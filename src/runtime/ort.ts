/**
 * The worker's single onnxruntime-web instance. Everything that runs ONNX (our sessions and
 * @huggingface/transformers, which looks for `globalThis[Symbol.for('onnxruntime')]`) shares it.
 * Worker-side only: the main thread never imports this module.
 */
import * as ort from 'onnxruntime-web';
import jsepWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';

export type Ort = typeof ort;

let configured = false;

export interface OrtSetup {
  /** wasm threads; defaults to min(4, cores) when cross-origin isolated, else 1. */
  numThreads?: number;
}

export function getOrt(setup: OrtSetup = {}): Ort {
  if (!configured) {
    // Point the runtime at the wasm file the bundler emitted (a folder in public/ does not work with Vite).
    ort.env.wasm.wasmPaths = { wasm: new URL(jsepWasmUrl, import.meta.url).href };
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
    const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
    ort.env.wasm.numThreads = setup.numThreads ?? (isolated ? Math.max(1, Math.min(4, cores)) : 1);
    ort.env.logLevel = 'error';
    (globalThis as Record<symbol, unknown>)[Symbol.for('onnxruntime')] = ort;
    configured = true;
  }
  return ort;
}
