/**
 * NumPy `.npy` files (format versions 1, 2 and 3), for the component runner: float32 ('<f4') and int64
 * ('<i8') arrays in C order, which is what model porters pass between PyTorch and kinema. Anything else
 * (Fortran order, another dtype, a file cut short) is refused with a message that says how to write the
 * file instead, because a silently reinterpreted tensor would only show up as wrong numbers much later.
 *
 * Layout (numpy.lib.format): the magic "\x93NUMPY", a major and a minor version byte, the header length
 * (uint16 LE in v1, uint32 LE in v2/v3), a Python dict literal padded with spaces to a multiple of 64 bytes
 * and ended by '\n', then the raw little-endian data.
 */
import { readFile, writeFile } from 'node:fs/promises';

export type NpyDtype = 'float32' | 'int64';

export type NpyData<D extends NpyDtype = NpyDtype> = D extends 'float32' ? Float32Array : BigInt64Array;

export interface NpyArray<D extends NpyDtype = NpyDtype> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: NpyData<D>;
}

/** A file that is not a .npy this module can read, or an array that does not have the shape asked for. */
export class NpyError extends Error {
  override readonly name = 'NpyError';
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const DESCR: Record<NpyDtype, string> = { float32: '<f4', int64: '<i8' };
const HOW_TO_WRITE = 'write it with numpy.save(path, np.ascontiguousarray(x, dtype=np.float32)) (or dtype=np.int64 for token ids and masks)';

const count = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** `[1, 16, 2, 4, 4]` the way numpy prints a shape: `(1, 16, 2, 4, 4)`. */
export function formatShape(shape: readonly (number | null)[]): string {
  return `(${shape.map((d) => (d === null ? '?' : String(d))).join(', ')}${shape.length === 1 ? ',' : ''})`;
}

function headerField(header: string, key: string, pattern: string): string | undefined {
  const match = new RegExp(`['"]${key}['"]\\s*:\\s*${pattern}`).exec(header);
  return match?.[1];
}

/** Reads a .npy file's bytes; `name` is how messages refer to the file (its path, usually). */
export function parseNpy(bytes: Uint8Array, name = 'the .npy file'): NpyArray {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new NpyError(`${name} is not a NumPy .npy file (it does not start with \\x93NUMPY); ${HOW_TO_WRITE}`);
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLength: number;
  let headerStart: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    headerStart = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw new NpyError(`${name} is cut short inside its header`);
    headerLength = view.getUint32(8, true);
    headerStart = 12;
  } else {
    throw new NpyError(`${name} is .npy format version ${major}.${bytes[7]}, which this reader does not know (versions 1, 2 and 3 are read); ${HOW_TO_WRITE}`);
  }
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) throw new NpyError(`${name} is cut short inside its header (${bytes.length} bytes, the header ends at ${dataStart})`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(headerStart, dataStart));

  const descr = headerField(header, 'descr', `['"]([^'"]*)['"]`);
  const fortran = headerField(header, 'fortran_order', '(True|False)');
  const shapeText = headerField(header, 'shape', '\\(([^)]*)\\)');
  if (descr === undefined || fortran === undefined || shapeText === undefined) {
    throw new NpyError(`${name} has a .npy header without descr, fortran_order and shape: ${JSON.stringify(header.trim())}`);
  }
  if (fortran === 'True') {
    throw new NpyError(`${name} is stored in Fortran (column-major) order; kinema reads C order: save np.ascontiguousarray(x) instead`);
  }
  const dtype = (Object.keys(DESCR) as NpyDtype[]).find((d) => DESCR[d] === descr);
  if (dtype === undefined) {
    throw new NpyError(`${name} holds dtype '${descr}'; kinema reads float32 ('<f4') and int64 ('<i8'): ${HOW_TO_WRITE}`);
  }
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const n = Number(s.replace(/L$/, ''));
    if (!Number.isSafeInteger(n) || n < 0) throw new NpyError(`${name} has a .npy header with a bad shape (${shapeText})`);
    return n;
  });
  const itemBytes = dtype === 'float32' ? 4 : 8;
  const expected = count(shape) * itemBytes;
  const actual = bytes.length - dataStart;
  if (actual !== expected) {
    throw new NpyError(`${name} should hold ${expected} bytes of data for shape ${formatShape(shape)} ${descr} but holds ${actual}; the file is cut short or was not written by numpy.save`);
  }
  // A fresh, aligned copy: a Node Buffer may sit at any offset of a shared pool.
  const copy = new Uint8Array(expected);
  copy.set(bytes.subarray(dataStart));
  const data = dtype === 'float32' ? new Float32Array(copy.buffer) : new BigInt64Array(copy.buffer);
  return { dtype, shape, data } as NpyArray;
}

/** The bytes of a .npy file (version 1, or 2 when the header needs more than 65535 bytes). */
export function formatNpy(array: NpyArray): Uint8Array {
  const { dtype, shape, data } = array;
  const descr = DESCR[dtype];
  if (descr === undefined) throw new NpyError(`dtype must be 'float32' or 'int64'; got ${JSON.stringify(dtype)}`);
  if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new NpyError(`shape must be non-negative integers; got ${JSON.stringify(shape)}`);
  if (data.length !== count(shape)) throw new NpyError(`the data has ${data.length} elements but shape ${formatShape(shape)} needs ${count(shape)}`);
  if ((dtype === 'float32') !== (data instanceof Float32Array)) throw new NpyError(`dtype ${dtype} needs a ${dtype === 'float32' ? 'Float32Array' : 'BigInt64Array'}`);
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${formatShape(shape)}, }`;
  let major = 1;
  let prefix = 10;
  let padded = Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix;
  if (padded > 0xffff) {
    major = 2;
    prefix = 12;
    padded = Math.ceil((prefix + dict.length + 1) / 64) * 64 - prefix;
  }
  const header = `${dict}${' '.repeat(padded - dict.length - 1)}\n`;
  const out = new Uint8Array(prefix + padded + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, padded, true);
  else view.setUint32(8, padded, true);
  out.set(new TextEncoder().encode(header), prefix);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), prefix + padded);
  return out;
}

export interface NpyExpectation<D extends NpyDtype> {
  dtype: D;
  /** Expected dimensions; null where any size is allowed. */
  shape?: readonly (number | null)[];
}

/** Checks an array's dtype and shape; the message names the file and what was expected. */
export function checkNpy<D extends NpyDtype>(array: NpyArray, expect: NpyExpectation<D>, name: string): NpyArray<D> {
  if (array.dtype !== expect.dtype) {
    throw new NpyError(`${name} must be ${expect.dtype} ('${DESCR[expect.dtype]}'); got ${array.dtype} ('${DESCR[array.dtype]}'): save it with x.astype(np.${expect.dtype})`);
  }
  const want = expect.shape;
  if (want && (want.length !== array.shape.length || want.some((d, i) => d !== null && d !== array.shape[i]))) {
    throw new NpyError(`${name} must have shape ${formatShape(want)}; got ${formatShape(array.shape)}`);
  }
  return array as NpyArray<D>;
}

export async function readNpy(path: string): Promise<NpyArray>;
export async function readNpy<D extends NpyDtype>(path: string, expect: NpyExpectation<D>): Promise<NpyArray<D>>;
export async function readNpy<D extends NpyDtype>(path: string, expect?: NpyExpectation<D>): Promise<NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const code = (error as { code?: string }).code;
    throw new NpyError(code === 'ENOENT' ? `${path} does not exist` : `${path} could not be read: ${(error as Error).message}`);
  }
  const array = parseNpy(bytes, path);
  return expect ? checkNpy(array, expect, path) : array;
}

export async function writeNpy(path: string, array: NpyArray): Promise<void> {
  await writeFile(path, formatNpy(array));
}
