import source from './combine.wgsl?raw';
import { packParams, type KernelDescription, type KernelManager } from './manager';
import type { CombineOptions, CombineTerm } from './types';
import { checkCombineAliasing, resolveCombine } from './validate';

export function combineKernel(workgroupSize: number): KernelDescription {
  return { name: 'combine', source, entryPoint: 'main', constants: { WORKGROUP_SIZE: workgroupSize } };
}

/**
 * out = Σ coef_k·input_k: one dispatch per 4 terms (the first), then per 3 more, each later one adding to
 * `out` in place (out = 1·out + …), all recorded into `encoder` in order.
 */
export function encodeCombine(
  manager: KernelManager,
  kernel: KernelDescription,
  encoder: GPUCommandEncoder,
  terms: readonly CombineTerm<GPUBuffer>[],
  out: GPUBuffer,
  options: CombineOptions,
): void {
  const elements = (b: GPUBuffer) => Math.floor(b.size / 4);
  const o = resolveCombine(terms, options, elements, elements(out));
  checkCombineAliasing(
    o.terms.map((t, k) => ({ name: `terms[${k}]`, store: t.input, start: t.offset, count: o.count, written: false })),
    { name: 'out', store: out, start: o.outputOffset, count: o.count, written: true },
  );
  if (o.count === 0) return;
  o.chunks.forEach((chunk, c) => {
    const inputs = c === 0 ? chunk : [{ input: out, coef: 1, offset: o.outputOffset }, ...chunk];
    const { entries, refs } = manager.bindSlots(
      [{ buffer: out, offset: o.outputOffset, count: o.count }, ...inputs.map((t) => ({ buffer: t.input, offset: t.offset, count: o.count }))],
      5,
    );
    const ref = (k: number) => refs[k + 1] ?? { slot: 0, offset: 0 };
    const coef = (k: number) => inputs[k]?.coef ?? 0;
    const params = packParams([
      ['u32', o.count], ['u32', inputs.length], ['u32', refs[0]!.slot], ['u32', refs[0]!.offset],
      ['u32', ref(0).slot], ['u32', ref(0).offset],
      ['u32', ref(1).slot], ['u32', ref(1).offset],
      ['u32', ref(2).slot], ['u32', ref(2).offset],
      ['u32', ref(3).slot], ['u32', ref(3).offset],
      ['f32', coef(0)], ['f32', coef(1)], ['f32', coef(2)], ['f32', coef(3)],
    ]);
    manager.encode(encoder, kernel, params, entries, o.count);
  });
}
