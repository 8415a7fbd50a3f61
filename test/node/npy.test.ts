// The .npy reader/writer: round trips, files written by numpy itself (when /usr/bin/python3 has numpy),
// and the refusals a porter meets when a file is not float32/int64 in C order.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { NpyError, checkNpy, formatNpy, parseNpy, readNpy, writeNpy } from '../../src/node/npy';

const dir = mkdtempSync(join(tmpdir(), 'kinema-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PYTHON = '/usr/bin/python3';
const hasNumpy = spawnSync(PYTHON, ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;
if (!hasNumpy) console.warn(`\n*** npy.test: ${PYTHON} has no numpy: the tests against numpy-written files are SKIPPED ***\n`);

function python(code: string): string {
  const run = spawnSync(PYTHON, ['-c', code], { encoding: 'utf8', cwd: dir });
  if (run.status !== 0) throw new Error(`python failed: ${run.stderr}`);
  return run.stdout;
}

describe('npy', () => {
  it('round-trips float32 and int64 arrays of any rank, with 64-byte aligned data', () => {
    const f = { dtype: 'float32' as const, shape: [2, 3, 4], data: Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3) };
    const bytes = formatNpy(f);
    expect((bytes.length - f.data.byteLength) % 64).toBe(0);
    expect(parseNpy(bytes)).toEqual(f);
    const i = { dtype: 'int64' as const, shape: [1, 5], data: BigInt64Array.from([0n, 1n, -2n, 2n ** 40n, 7n]) };
    expect(parseNpy(formatNpy(i))).toEqual(i);
    const scalar = { dtype: 'float32' as const, shape: [], data: Float32Array.of(2.5) };
    expect(parseNpy(formatNpy(scalar))).toEqual(scalar);
    const one = { dtype: 'float32' as const, shape: [1], data: Float32Array.of(999) };
    expect(new TextDecoder().decode(formatNpy(one).subarray(10, 70))).toContain("'shape': (1,)");
    expect(parseNpy(formatNpy(one))).toEqual(one);
    const empty = { dtype: 'float32' as const, shape: [0, 3], data: new Float32Array(0) };
    expect(parseNpy(formatNpy(empty))).toEqual(empty);
  });

  it('reads data from a Buffer at an unaligned offset', () => {
    const bytes = formatNpy({ dtype: 'float32', shape: [3], data: Float32Array.of(1, 2, 3) });
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    expect(Array.from(parseNpy(shifted.subarray(1)).data as Float32Array)).toEqual([1, 2, 3]);
  });

  it('refuses other dtypes, Fortran order, short data and non-npy files, saying how to write the file', () => {
    const good = formatNpy({ dtype: 'float32', shape: [2, 2], data: new Float32Array(4) });
    const withHeader = (from: string, to: string) => {
      const text = new TextDecoder('latin1').decode(good);
      return Uint8Array.from(text.replace(from, to.padEnd(from.length, ' ')), (c) => c.charCodeAt(0));
    };
    expect(() => parseNpy(withHeader("'<f4'", "'<f8'"), 'x.npy')).toThrow(/x\.npy holds dtype '<f8'; kinema reads float32 \('<f4'\) and int64 \('<i8'\)/);
    expect(() => parseNpy(withHeader("'<f4'", "'>f4'"), 'x.npy')).toThrow(NpyError);
    expect(() => parseNpy(withHeader("False", "True"), 'x.npy')).toThrow(/Fortran \(column-major\) order.*np\.ascontiguousarray/);
    expect(() => parseNpy(good.subarray(0, good.length - 1), 'x.npy')).toThrow(/should hold 16 bytes of data for shape \(2, 2\) <f4 but holds 15/);
    expect(() => parseNpy(new TextEncoder().encode('hello, not numpy'), 'x.npy')).toThrow(/x\.npy is not a NumPy \.npy file/);
    expect(() => formatNpy({ dtype: 'float32', shape: [3], data: new Float32Array(4) })).toThrow(/4 elements but shape \(3,\) needs 3/);
  });

  it('checks the dtype and shape a component expects', () => {
    const a = parseNpy(formatNpy({ dtype: 'float32', shape: [1, 16, 2, 4, 4], data: new Float32Array(512) }));
    expect(checkNpy(a, { dtype: 'float32', shape: [1, 16, null, null, null] }, 'h.npy').shape).toEqual([1, 16, 2, 4, 4]);
    expect(() => checkNpy(a, { dtype: 'int64' }, 'h.npy')).toThrow("h.npy must be int64 ('<i8'); got float32 ('<f4'): save it with x.astype(np.int64)");
    expect(() => checkNpy(a, { dtype: 'float32', shape: [1, 16, null, null] }, 'h.npy')).toThrow('h.npy must have shape (1, 16, ?, ?); got (1, 16, 2, 4, 4)');
  });

  it('reports a missing file by its path', async () => {
    await expect(readNpy(join(dir, 'absent.npy'))).rejects.toThrow(/absent\.npy does not exist/);
  });

  it.skipIf(!hasNumpy)('reads what numpy writes (format 1.0 and 2.0, float32 and int64) and numpy reads what it writes', async () => {
    python(`
import numpy as np
from numpy.lib import format as f
a = (np.arange(2*3*5, dtype=np.float32).reshape(2, 3, 5) / 8 - 1)
np.save('a.npy', a)
np.save('ids.npy', np.array([[3, 1, 0, 0]], dtype=np.int64))
with open('v2.npy', 'wb') as fh:
    f.write_array(fh, a, version=(2, 0))
np.save('f8.npy', a.astype(np.float64))
np.save('fortran.npy', np.asfortranarray(a))
np.save('t.npy', a.T)  # numpy writes a transposed (F-contiguous) view in Fortran order
`);
    const expected = Float32Array.from({ length: 30 }, (_, i) => i / 8 - 1);
    const a = await readNpy(join(dir, 'a.npy'), { dtype: 'float32', shape: [2, 3, 5] });
    expect(Array.from(a.data)).toEqual(Array.from(expected));
    expect((await readNpy(join(dir, 'v2.npy'))).data).toEqual(a.data);
    const ids = await readNpy(join(dir, 'ids.npy'), { dtype: 'int64', shape: [1, 4] });
    expect(Array.from(ids.data)).toEqual([3n, 1n, 0n, 0n]);
    await expect(readNpy(join(dir, 'f8.npy'))).rejects.toThrow(/holds dtype '<f8'/);
    await expect(readNpy(join(dir, 'fortran.npy'))).rejects.toThrow(/Fortran/);
    await expect(readNpy(join(dir, 't.npy'))).rejects.toThrow(/Fortran/);

    await writeNpy(join(dir, 'ours.npy'), { dtype: 'float32', shape: [2, 3, 5], data: expected });
    await writeNpy(join(dir, 'ours-i.npy'), { dtype: 'int64', shape: [2, 2], data: BigInt64Array.from([1n, -1n, 2n ** 50n, 0n]) });
    writeFileSync(join(dir, 'ours-big.npy'), formatNpy({ dtype: 'float32', shape: [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3], data: new Float32Array(3) }));
    const out = python(`
import numpy as np
a = np.load('ours.npy'); b = np.load('ours-i.npy'); c = np.load('ours-big.npy')
assert a.dtype == np.float32 and a.shape == (2, 3, 5) and a.flags['C_CONTIGUOUS']
assert np.array_equal(a, np.arange(30, dtype=np.float32).reshape(2, 3, 5) / 8 - 1)
assert b.dtype == np.int64 and b.tolist() == [[1, -1], [2**50, 0]]
print(c.shape)
`);
    expect(out.trim()).toBe('(1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3)');
    expect(readFileSync(join(dir, 'ours.npy')).subarray(0, 8)).toEqual(Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]));
  });
});
