/**
 * A model's own limits (its manifest narrows the table: the sizes it was trained at, its step range,
 * its temporal window), checked by the API on the way in and again by the engine, which has the manifest
 * too: a spec sent straight to a worker gets the same message as one that came through the API.
 */
import { checkInteger, checkNumber } from './check';
import type { EngineGenerateSpec } from './engine';
import { checkOutputSize } from './request';

interface Range {
  readonly min: number;
  readonly max: number;
}

/** The part of a model manifest this check reads (models/types.ts ModelManifest has it). */
export interface ModelLimits {
  readonly id: string;
  readonly limits: {
    readonly steps: Range;
    readonly guidanceScale: Range;
    readonly numFrames: Range;
    readonly sizes: readonly { readonly width: number; readonly height: number }[];
  };
  readonly latent: { readonly temporalCompression: number };
}

export type ModelCheckedSpec = Pick<EngineGenerateSpec, 'steps' | 'guidanceScale' | 'numFrames' | 'width' | 'height' | 'format' | 'outputScale'>;

export function checkSpecForModel(spec: ModelCheckedSpec, model: ModelLimits): void {
  const { limits } = model;
  checkInteger('steps', spec.steps, limits.steps.min, limits.steps.max);
  checkNumber('guidanceScale', spec.guidanceScale, limits.guidanceScale.min, limits.guidanceScale.max);
  const { numFrames } = spec;
  if (numFrames < limits.numFrames.min || numFrames > limits.numFrames.max) {
    throw new RangeError(`numFrames must be from ${limits.numFrames.min} to ${limits.numFrames.max} for ${model.id} (its temporal window); got ${numFrames}`);
  }
  const tc = model.latent.temporalCompression;
  if (tc > 1 && (numFrames - 1) % tc !== 0) {
    throw new RangeError(`numFrames must be 1 more than a multiple of ${tc} for ${model.id}; got ${numFrames}`);
  }
  const { width, height, outputScale } = spec;
  if (!limits.sizes.some((s) => s.width === width && s.height === height)) {
    const sizes = limits.sizes.map((s) => `${s.width}×${s.height}`).join(', ');
    throw new RangeError(`${width}×${height} is not a size ${model.id} can generate; use one of ${sizes} (and outputScale to enlarge the video)`);
  }
  checkOutputSize(width, height, outputScale);
  if (spec.format !== 'frames' && ((width * outputScale) % 2 !== 0 || (height * outputScale) % 2 !== 0)) {
    throw new RangeError(`video encoders need even dimensions; ${width * outputScale}×${height * outputScale} is odd. Use an even outputScale or format 'frames'`);
  }
}
