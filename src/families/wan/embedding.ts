/**
 * The umT5 token embedding, gathered in JavaScript instead of in a graph: the real table is 256,384 × 4,096
 * (2.1 GB in fp16), larger than a GPU buffer may be, and only B·L rows (2 × 512) are needed per prompt.
 * The table is the variant's `data` file with role `embedding`: row-major [vocabSize, dim], little-endian
 * float32 or float16. Pure.
 */

export interface EmbeddingSpec {
  readonly vocabSize: number;
  readonly dim: number;
  readonly dtype: 'fp32' | 'fp16';
}

let halfTable: Float32Array | undefined;

/** float16 bits → float32, exactly (subnormals, ±Inf and NaN included), through a 64 K-entry table. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exponent = (h >> 10) & 0x1f;
    let mantissa = h & 0x3ff;
    if (exponent === 0x1f) {
      bits[h] = sign | 0x7f800000 | (mantissa << 13);
    } else if (exponent !== 0) {
      bits[h] = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa === 0) {
      bits[h] = sign;
    } else {
      // Subnormal: normalize the mantissa into float32's implicit-one form.
      let e = 113;
      while ((mantissa & 0x400) === 0) {
        mantissa <<= 1;
        e--;
      }
      bits[h] = sign | (e << 23) | ((mantissa & 0x3ff) << 13);
    }
  }
  halfTable = new Float32Array(bits.buffer);
  return halfTable;
}

/** float16 values (their bits) → float32. */
export function halfToFloat(half: Uint16Array): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(half.length);
  for (let i = 0; i < half.length; i++) out[i] = table[half[i]!]!;
  return out;
}

// Typed-array views read in the platform's byte order; the file is little-endian (every platform we run on is).
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const BYTES: Record<EmbeddingSpec['dtype'], number> = { fp32: 4, fp16: 2 };

/** Checks that `table` holds exactly vocabSize × dim values of the declared dtype. */
export function checkEmbeddingTable(table: Uint8Array, spec: EmbeddingSpec): void {
  const expected = spec.vocabSize * spec.dim * BYTES[spec.dtype];
  if (table.byteLength !== expected) {
    throw new RangeError(
      `the embedding table has ${table.byteLength} bytes; [${spec.vocabSize}, ${spec.dim}] ${spec.dtype} needs ${expected}: components.textEncoder.embedding does not describe this file`,
    );
  }
}

/**
 * hidden_states [B, L, dim] float32 for token ids [B, L]: row ids[b, l] of the table. An id outside
 * 0 … vocabSize − 1 throws a RangeError naming it (the tokenizer and the table do not belong together,
 * or a caller's input_ids are wrong).
 */
export function gatherEmbeddings(table: Uint8Array, spec: EmbeddingSpec, ids: BigInt64Array | readonly number[]): Float32Array {
  checkEmbeddingTable(table, spec);
  const { dim, vocabSize } = spec;
  const out = new Float32Array(ids.length * dim);
  // Unaligned views are not allowed, and a file's bytes may start anywhere in its buffer: read through a DataView then.
  const bytes = BYTES[spec.dtype];
  const aligned = LITTLE_ENDIAN && table.byteOffset % bytes === 0;
  const f32 = spec.dtype === 'fp32' && aligned ? new Float32Array(table.buffer, table.byteOffset, vocabSize * dim) : undefined;
  const f16 = spec.dtype === 'fp16' && aligned ? new Uint16Array(table.buffer, table.byteOffset, vocabSize * dim) : undefined;
  const half = spec.dtype === 'fp16' ? halfToFloatTable() : undefined;
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let t = 0; t < ids.length; t++) {
    const raw = ids[t]!;
    const id = typeof raw === 'bigint' ? Number(raw) : raw;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`token id ${String(raw)} at position ${t} is outside the embedding table (ids 0 … ${vocabSize - 1})`);
    }
    const src = id * dim;
    const dst = t * dim;
    if (f32) {
      out.set(f32.subarray(src, src + dim), dst);
    } else if (f16 && half) {
      for (let d = 0; d < dim; d++) out[dst + d] = half[f16[src + d]!]!;
    } else if (half) {
      for (let d = 0; d < dim; d++) out[dst + d] = half[view.getUint16((src + d) * 2, true)]!;
    } else {
      for (let d = 0; d < dim; d++) out[dst + d] = view.getFloat32((src + d) * 4, true);
    }
  }
  return out;
}
