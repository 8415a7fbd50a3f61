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

// The smallest valid graph (one Identity on a float[1]; ONNX IR 7, opset 13), 67 bytes written by onnx's
// helper. onnxruntime-web fetches, compiles and starts its wasm only when the first session is created;
// creating this one as soon as the build is imported does that while the model downloads or is read from
// the cache, and gives V8 that long to tier the module up before the first generation.
const WARM_UP_GRAPH = 'CAcSADo3ChAKAXgSAXkiCElkZW50aXR5EgF3Wg8KAXgSCgoICAESBAoCCAFiDwoBeRIKCggIARIECgIIAUIECgAQDQ==';

async function startRuntime(ort: Ort): Promise<void> {
  const graph = Uint8Array.from(atob(WARM_UP_GRAPH), (c) => c.charCodeAt(0));
  const session = await ort.InferenceSession.create(graph, { executionProviders: ['wasm'] });
  await session.release();
}

/**
 * The runtime for `backend`, configured by its first call: onnxruntime-web reads its settings once, when
 * it starts its wasm, so a later call cannot change them (read `ort.env.wasm.numThreads` for the count in use).
 * For the wasm build the promise settles once the wasm has started (compiled and instantiated), so call it
 * before the model's files are read, as the engine does, and the two overlap.
 */
export function loadOrt(backend: RuntimeBuild, setup: OrtSetup = {}): Promise<Ort> {
  let pending = loaded.get(backend);
  if (!pending) {
    pending = BUILDS[backend]().then(async ([ort, wasmUrl]) => {
      // Point the runtime at the wasm file the bundler emitted (a folder in public/ does not work with Vite).
      ort.env.wasm.wasmPaths = { wasm: new URL(wasmUrl, import.meta.url).href };
      const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
      const cores = (globalThis.navigator as Navigator | undefined)?.hardwareConcurrency ?? 1;
      ort.env.wasm.numThreads = setup.numThreads ?? defaultWasmThreads(cores, isolated);
      ort.env.logLevel = 'error';
      // Only the plain build starts early: the WebGPU build's wasm also starts with its first session, and
      // its WebGPU backend is set up on that session, which must be a WebGPU one. A failed start is not
      // reported here: the model's first session fails with onnxruntime's own message, as before.
      if (backend === 'wasm') await startRuntime(ort).catch(() => undefined);
      return ort;
    });
    // A failed import may succeed later (a network blip): do not keep the rejection.
    pending.catch(() => loaded.delete(backend));
    loaded.set(backend, pending);
  }
  return pending;
}
