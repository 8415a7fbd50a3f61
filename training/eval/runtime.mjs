// Node-side helpers shared by the eval and verification scripts: ORT backend selection, raw
// little-endian tensor files, the tokenizer, and a seeded Gaussian RNG.
import fs from 'node:fs';
import path from 'node:path';

/**
 * Load an ONNX Runtime flavour. 'web' is onnxruntime-web's wasm backend (what browsers without
 * WebGPU run, single-threaded here); 'node' is onnxruntime-node's native CPU backend.
 */
export async function loadOrt(backend = 'web') {
  if (backend === 'node') {
    // Not a dependency (its install step downloads from a host CI cannot reach, and the package must not
    // pull it in): the native comparison installs it on demand.
    const ort = await import('onnxruntime-node').catch(() => {
      throw new Error("the 'node' backend needs onnxruntime-node: ONNXRUNTIME_NODE_INSTALL=skip npm install --no-save onnxruntime-node@1.30.0");
    });
    return { ort: ort.default ?? ort, options: { executionProviders: ['cpu'], intraOpNumThreads: 1 } };
  }
  if (backend !== 'web') throw new RangeError(`backend must be 'web' or 'node', got ${backend}`);
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  return { ort, options: { executionProviders: ['wasm'] } };
}

export async function createSession(rt, file) {
  const bytes = new Uint8Array(fs.readFileSync(file));
  return rt.ort.InferenceSession.create(bytes, rt.options);
}

const CTORS = { float32: Float32Array, int64: BigInt64Array, uint8: Uint8Array };

/** Read a raw little-endian array described by { file, dtype, shape } (reference/index.json). */
export function readBin(folder, desc) {
  const buf = fs.readFileSync(path.join(folder, desc.file));
  const Ctor = CTORS[desc.dtype];
  const copy = new ArrayBuffer(buf.byteLength);
  new Uint8Array(copy).set(buf);
  const data = new Ctor(copy);
  const n = desc.shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) throw new Error(`${desc.file}: ${data.length} elements, shape says ${n}`);
  return data;
}

/** The model folder's tokenizer (@huggingface/tokenizers, built from the files: nothing is fetched). */
export async function loadTokenizer(modelDir) {
  const tokFile = path.join(modelDir, 'tokenizer.json');
  if (!fs.existsSync(tokFile)) throw new Error(`no tokenizer.json in ${modelDir}`);
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const json = JSON.parse(fs.readFileSync(tokFile, 'utf8'));
  const config = JSON.parse(fs.readFileSync(path.join(modelDir, 'tokenizer_config.json'), 'utf8'));
  const tokenizer = new Tokenizer(json, config);
  return { tokenizer, padId: json.padding?.pad_id ?? 0 };
}

/** Tokenize to fixed-length int64 ids and mask (right padding and truncation, as in training). */
export function tokenize({ tokenizer, padId }, texts, maxLength) {
  const ids = new BigInt64Array(texts.length * maxLength).fill(BigInt(padId));
  const mask = new BigInt64Array(texts.length * maxLength);
  texts.forEach((text, row) => {
    tokenizer.encode(text).ids.slice(0, maxLength).forEach((id, column) => {
      ids[row * maxLength + column] = BigInt(id);
      mask[row * maxLength + column] = 1n;
    });
  });
  return { ids, mask };
}

/**
 * Seeded standard normal samples: mulberry32 uniforms through Box–Muller (both outputs used).
 * This is the eval's noise; it is not torch's RNG (reference vectors ship their noise instead).
 */
export function gaussian(seed, n) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u1 = Math.max(uniform(), 1e-12);
    const u2 = uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

/** diffusers FlowMatchEulerDiscreteScheduler.set_timesteps sigmas (use_dynamic_shifting=false), plus final 0. */
export function flowSigmas(steps, shift, numTrainTimesteps = 1000) {
  const T = numTrainTimesteps;
  const sh = (s) => (shift * s) / (1 + (shift - 1) * s);
  const sMax = sh(1);
  const sMin = sh(1 / T);
  const out = [];
  for (let i = 0; i < steps; i++) {
    const t = steps === 1 ? sMax * T : sMax * T + ((sMin * T - sMax * T) * i) / (steps - 1);
    out.push(sh(t / T));
  }
  out.push(0);
  return out;
}
