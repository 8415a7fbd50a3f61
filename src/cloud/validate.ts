/** Argument checks shared by the adapters: caller mistakes throw TypeError/RangeError saying how to fix the call. */
import type { CloudRequest } from './types';

export const MAX_SEED = 2147483647;

export function checkCommonRequest(request: CloudRequest, provider: string): void {
  if (typeof request !== 'object' || request === null) throw new TypeError(`${provider}: the request must be an object with a prompt`);
  if (typeof request.prompt !== 'string' || request.prompt.trim() === '') {
    throw new TypeError(`${provider}: prompt must be a non-empty string`);
  }
  if (request.negativePrompt !== undefined && typeof request.negativePrompt !== 'string') {
    throw new TypeError(`${provider}: negativePrompt must be a string when given`);
  }
  if (request.seed !== undefined) checkInteger(request.seed, 'seed', 0, MAX_SEED, provider);
  for (const key of ['width', 'height', 'numFrames', 'fps'] as const) {
    const value = request[key];
    if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value) || value <= 0)) {
      throw new RangeError(`${provider}: ${key} must be a positive number (got ${String(value)})`);
    }
  }
}

export function checkInteger(value: unknown, name: string, min: number, max: number, provider: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${provider}: ${name} must be an integer in ${min}..${max} (got ${String(value)})`);
  }
}

export function checkNumber(value: unknown, name: string, min: number, max: number, provider: string): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new RangeError(`${provider}: ${name} must be a number in ${min}..${max} (got ${String(value)})`);
  }
}

/** Length in characters as users count them (code points, not UTF-16 units). */
export function charLength(text: string): number {
  return [...text].length;
}
