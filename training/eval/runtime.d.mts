// Node-only helpers for kinema-micro's eval and verification scripts.
import type * as OrtWeb from 'onnxruntime-web';

export interface OrtRuntime {
  ort: typeof OrtWeb;
  options: Record<string, unknown>;
}

export interface TensorDesc {
  file: string;
  dtype: 'float32' | 'int64' | 'uint8';
  shape: number[];
}

/** 'web' = onnxruntime-web wasm (1 thread); 'node' = onnxruntime-node CPU. */
export declare function loadOrt(backend?: 'web' | 'node'): Promise<OrtRuntime>;
export declare function createSession(rt: OrtRuntime, file: string): Promise<OrtWeb.InferenceSession>;
/** Read a raw little-endian array listed in reference/index.json: Float32Array, BigInt64Array or Uint8Array by dtype. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the dtype is only known from JSON at run time
export declare function readBin(folder: string, desc: TensorDesc): any;
/** transformers.js AutoTokenizer for a local model folder, offline. */
export declare function loadTokenizer(modelDir: string): Promise<(texts: string | string[], options: Record<string, unknown>) => {
  input_ids: { data: ArrayLike<number | bigint> };
  attention_mask: { data: ArrayLike<number | bigint> };
}>;
/** Fixed-length int64 ids and mask for a batch of texts. */
export declare function tokenize(
  tokenizer: Awaited<ReturnType<typeof loadTokenizer>>,
  texts: string[],
  maxLength: number,
): { ids: BigInt64Array; mask: BigInt64Array };
/** Seeded standard normals (mulberry32 + Box–Muller); not torch's RNG. */
export declare function gaussian(seed: number, n: number): Float32Array;
/** diffusers FlowMatchEulerDiscreteScheduler sigmas (use_dynamic_shifting = false) plus a final 0. */
export declare function flowSigmas(steps: number, shift: number, numTrainTimesteps?: number): number[];
