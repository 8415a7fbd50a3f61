import type { Attributes, Shape } from './captions.mjs';

export interface FrameDetails {
  area: number;
  cx: number;
  cy: number;
  fill?: number;
  topBottom?: number;
  corners?: number;
  size?: number;
  touches?: boolean;
}

export interface Detection extends Attributes {
  details: {
    frames: FrameDetails[];
    areaRatio?: number;
    displacement?: [number, number];
  };
}

/** Shape of one frame from its features; null when the frame is unusable (too small, touching the border). */
export declare function classifyShape(features: FrameDetails | null): Shape | null;

/**
 * Detect colour, shape, motion and background of a clip.
 * @param frames frame-major pixels [numFrames][height][width][3 or 4] (RGB or RGBA, 0–255)
 */
export declare function detect(
  frames: Uint8Array | Uint8ClampedArray,
  width: number,
  height: number,
  numFrames: number,
): Detection;
