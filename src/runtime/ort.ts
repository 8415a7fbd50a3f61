/**
 * The worker's onnxruntime-web, in the build the backend needs: the plain wasm build (14 MB of wasm) for
 * the wasm backend, the WebGPU (JSEP) build (28 MB, which also runs wasm, so a WebGPU load that falls back
 * keeps it) only for WebGPU. The JSEP module is the big one V8 tiers up in the background; a wasm page
 * never fetches or compiles it. Only kinema's own sessions use these, and nothing is published on
 * globalThis. Worker-side only: the main thread never imports this module.
 */
import { defaultWasmThreads } from './capabilities';

export type Ort = typeof import('onnxruntime-web');
export type RuntimeBuild = 'wasm' | 'webgpu';

export interface OrtSetup {
  /** wasm threads; defaults to defaultWasmThreads() (half the cores, at most 4, when cross-origin isolated, else 1). */
  numThreads?: number;
}

// Each build is its own module with its own settings; Vite emits each wasm file once, as an asset whose
// URL is stable, so the runtime compiles it with streaming compilation from a response the HTTP cache keeps.
const BUILDS: Record<RuntimeBuild, () => Promise<[Ort, string]>> = {
  wasm: async () => {
    const [ort, wasm] = await Promise.all([import('onnxruntime-web/wasm'), import('onnxruntime-web/ort-wasm-simd-threaded.wasm?url')]);
    return [ort as Ort, wasm.default];
  },
  webgpu: async () => {
    const [ort, wasm] = await Promise.all([import('onnxruntime-web'), import('onnxruntime-web/ort-wasm-simd-threaded.jsep.wasm?url')]);
    return [ort as Ort, wasm.default];
  },
};

const loaded = new Map<RuntimeBuild, Promise<Ort>>();

/**
 * The runtime for `backend`, configured by its first call: onnxruntime-web reads its settings once, when
 * it starts its wasm, so a later call cannot change them (read `ort.env.wasm.numThreads` for the count in use).
 */
export function loadOrt(backend: RuntimeBuild, setup: OrtSetup = {}): Promise<Ort> {
  let pending = loaded.get(backend);
  if (!pending) {
    pending = BUILDS[backend]().then(([ort, wasmUrl]) => {
      // Point the runtime at the wasm file the bundler emitted (a folder in public/ does not work with Vite).
      ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, import.meta.url).href };
      const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
      const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
      ort.env.wasm.numThreads = setup.numThreads ?? defaultWasmThreads(cores, isolated);
      ort.env.logLevel = 'error';
      return ort;
    });
    // A failed import may succeed later (a network blip): do not keep the rejection.
    pending.catch(() => loaded.delete(backend));
    loaded.set(backend, pending);
  }
  return pending;
}
