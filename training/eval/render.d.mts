import type { Attributes } from './captions.mjs';

/** Render a ground-truth clip as RGB uint8 [frames][size][size][3]. */
export declare function renderClip(
  attrs: { [K in keyof Attributes]: NonNullable<Attributes[K]> },
  seed: number,
  options?: { size?: number; frames?: number; supersample?: number },
): Uint8Array;
