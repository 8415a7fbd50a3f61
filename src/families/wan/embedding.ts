/**
 * The umT5 token embedding, gathered in JavaScript instead of in a graph: the real table is 256,384 × 4,096
 * (2.1 GB in fp16), larger than a GPU buffer may be, and only B·L rows (2 × 512) are needed per prompt.
 * The table is the variant's `data` file with role `embedding`, row-major [vocabSize, dim], little-endian:
 *   fp32 | fp16  the values;
 *   int8 | int4  the codes, then vocabSize·dim/blockSize float16 scales (row-major: a row's dim/blockSize
 *                blocks in order). A value is (code − 2^(bits−1)) · scale of its block; codes are unsigned,
 *                int4 two per byte with the low nibble the even index. Written by the converter's
 *                quantize.quantize_rows (symmetric: scale = max|x| / (2^(bits−1) − 1) per block).
 * Only the looked-up rows are dequantized. Pure.
 */

export type EmbeddingDtype = 'fp32' | 'fp16' | 'int8' | 'int4';

export interface EmbeddingSpec {
  readonly vocabSize: number;
  readonly dim: number;
  readonly dtype: EmbeddingDtype;
  /** Values per scale, within a row: required for int8/int4 (a divisor of dim), absent otherwise. */
  readonly blockSize?: number;
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

const BYTES: Record<'fp32' | 'fp16', number> = { fp32: 4, fp16: 2 };
const BITS: Record<'int8' | 'int4', number> = { int8: 8, int4: 4 };

function isQuantized(dtype: EmbeddingDtype): dtype is 'int8' | 'int4' {
  return dtype === 'int8' || dtype === 'int4';
}

/** The block size of an int8/int4 spec, checked (a caller building a spec by hand gets told what is wrong). */
function blockSizeOf(spec: EmbeddingSpec): number {
  const { blockSize, dim, dtype } = spec;
  if (typeof blockSize !== 'number' || !Number.isSafeInteger(blockSize) || blockSize < 1 || dim % blockSize !== 0) {
    throw new RangeError(`an ${dtype} embedding table needs blockSize, a positive integer that divides dim (${dim}); got ${String(blockSize)}`);
  }
  if (dtype === 'int4' && dim % 2 !== 0) throw new RangeError(`an int4 embedding table needs an even dim (two codes per byte); got ${dim}`);
  return blockSize;
}

/** The byte size of the table file `spec` describes: the values, or the codes then the float16 scales. */
export function embeddingTableBytes(spec: EmbeddingSpec): number {
  const values = spec.vocabSize * spec.dim;
  if (!isQuantized(spec.dtype)) return values * BYTES[spec.dtype];
  return (values * BITS[spec.dtype]) / 8 + (values / blockSizeOf(spec)) * 2;
}

/** Checks that `table` holds exactly the bytes `spec` describes (for int8/int4: codes plus float16 scales). */
export function checkEmbeddingTable(table: Uint8Array, spec: EmbeddingSpec): void {
  const expected = embeddingTableBytes(spec);
  if (table.byteLength !== expected) {
    const what = isQuantized(spec.dtype) ? `${spec.dtype} (block ${spec.blockSize}: codes + float16 scales)` : spec.dtype;
    throw new RangeError(
      `the embedding table has ${table.byteLength} bytes; [${spec.vocabSize}, ${spec.dim}] ${what} needs ${expected}: components.textEncoder.embedding does not describe this file`,
    );
  }
}

/** Rows of an int8/int4 table into `out`, one looked-up row at a time. */
function gatherQuantized(table: Uint8Array, spec: EmbeddingSpec, rowIds: readonly number[], out: Float32Array): void {
  const { dim, vocabSize } = spec;
  const bits = BITS[spec.dtype as 'int8' | 'int4'];
  const block = blockSizeOf(spec);
  const mid = 1 << (bits - 1);
  const rowBytes = (dim * bits) / 8;
  const blocksPerRow = dim / block;
  const scalesStart = vocabSize * rowBytes;
  const half = halfToFloatTable();
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let t = 0; t < rowIds.length; t++) {
    const id = rowIds[t]!;
    const codes = id * rowBytes;
    const scales = scalesStart + id * blocksPerRow * 2;
    const dst = t * dim;
    for (let b = 0; b < blocksPerRow; b++) {
      const scale = half[view.getUint16(scales + b * 2, true)]!;
      const d0 = b * block;
      if (bits === 8) {
        for (let d = d0; d < d0 + block; d++) out[dst + d] = (table[codes + d]! - mid) * scale;
      } else {
        for (let d = d0; d < d0 + block; d++) {
          const byte = table[codes + (d >> 1)]!;
          out[dst + d] = ((d & 1 ? byte >> 4 : byte & 0x0f) - mid) * scale;
        }
      }
    }
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
  const rowIds: number[] = new Array(ids.length);
  for (let t = 0; t < ids.length; t++) {
    const raw = ids[t]!;
    const id = typeof raw === 'bigint' ? Number(raw) : raw;
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`token id ${String(raw)} at position ${t} is outside the embedding table (ids 0 … ${vocabSize - 1})`);
    }
    rowIds[t] = id;
  }
  if (isQuantized(spec.dtype)) {
    gatherQuantized(table, spec, rowIds, out);
    return out;
  }
  // Unaligned views are not allowed, and a file's bytes may start anywhere in its buffer: read through a DataView then.
  const bytes = BYTES[spec.dtype];
  const aligned = LITTLE_ENDIAN && table.byteOffset % bytes === 0;
  const f32 = spec.dtype === 'fp32' && aligned ? new Float32Array(table.buffer, table.byteOffset, vocabSize * dim) : undefined;
  const f16 = spec.dtype === 'fp16' && aligned ? new Uint16Array(table.buffer, table.byteOffset, vocabSize * dim) : undefined;
  const half = spec.dtype === 'fp16' ? halfToFloatTable() : undefined;
  const view = new DataView(table.buffer, table.byteOffset, table.byteLength);
  for (let t = 0; t < rowIds.length; t++) {
    const src = rowIds[t]! * dim;
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
