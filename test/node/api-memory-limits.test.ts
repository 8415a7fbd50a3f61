import { describe, expect, it } from 'vitest';
import { resolveOptions } from '../../src/api/validate';

const PAGE = 'https://app.example/index.html';

describe('createVideoGenerator options: memoryLimits', () => {
  it('passes validated ceilings through as a copy', () => {
    const limits = { wasmHeapBytes: 1024 ** 3 };
    const resolved = resolveOptions({ memoryLimits: limits }, PAGE);
    expect(resolved.memoryLimits).toEqual({ wasmHeapBytes: 1024 ** 3 });
    limits.wasmHeapBytes = 1; // a later change by the caller does not reach the load
    expect(resolved.memoryLimits).toEqual({ wasmHeapBytes: 1024 ** 3 });
    expect('memoryLimits' in resolveOptions({}, PAGE)).toBe(false);
  });

  it('a bad value fails at once, naming the option', () => {
    expect(() => resolveOptions({ memoryLimits: { gpuMemoryBytes: -5 } }, PAGE)).toThrow(/memoryLimits.gpuMemoryBytes must be an integer from 1/);
    expect(() => resolveOptions({ memoryLimits: 'small' as never }, PAGE)).toThrow(/memoryLimits must be an object/);
    expect(() => resolveOptions({ memoryLimits: { wasmHeapBytes: 8 * 1024 ** 3 } }, PAGE)).toThrow(RangeError);
  });
});
