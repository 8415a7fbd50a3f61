import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** 64x64, 8 frames at 8 fps, H.264 High (avc1.64000a), ~2.7 KB; made with ffmpeg testsrc. */
export const TINY_MP4_PATH = fileURLToPath(new URL('../../fixtures/cloud/tiny.mp4', import.meta.url));

export function tinyMp4(): Uint8Array {
  return new Uint8Array(readFileSync(TINY_MP4_PATH));
}
