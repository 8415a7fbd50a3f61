/**
 * The worker's single onnxruntime-web instance; only kinema's own sessions use it, and nothing of it is
 * published on globalThis. Worker-side only: the main thread never imports this module.
 */
import * as ort from 'onnxruntime-web';
import jsepWasmUrl from 'onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url';
import { defaultWasmThreads } from './capabilities';

export type Ort = typeof ort;

let configured = false;

export interface OrtSetup {
  /** wasm threads; defaults to defaultWasmThreads() (half the cores, at most 4, when cross-origin isolated, else 1). */
  numThreads?: number;
}

/**
 * The runtime, configured by the first call: onnxruntime-web reads its settings once, when it starts its
 * wasm, so a later call cannot change them (read `ort.env.wasm.numThreads` for the count in use).
 */
export function getOrt(setup: OrtSetup = {}): Ort {
  if (!configured) {
    // Point the runtime at the wasm file the bundler emitted (a folder in public/ does not work with Vite).
    ort.env.wasm.wasmPaths = { wasm: new URL(jsepWasmUrl, import.meta.url).href };
    const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
    const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
    ort.env.wasm.numThreads = setup.numThreads ?? defaultWasmThreads(cores, isolated);
    ort.env.logLevel = 'error';
    configured = true;
  }
  return ort;
}
