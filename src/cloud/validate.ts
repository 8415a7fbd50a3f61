/**
 * Argument checks shared by the adapters. kinema's own limits come from the contract's one table, with the
 * API's messages, so a request the API accepted passes here too (the cloud fallback included); a
 * provider's narrower limits (a model's sizes, prompt length) are checked by its adapter and name it.
 */
import { LIMITS, TEXT_LIMITS, charLength, checkLimit, checkText, show, type NumberLimit } from '../contract';
import type { CloudRequest } from './types';

export { charLength };
export const MAX_SEED = LIMITS.seed.max;

export function checkCommonRequest(request: CloudRequest, provider: string): void {
  if (typeof request !== 'object' || request === null) throw new TypeError(`${provider}: the request must be an object with a prompt; got ${show(request)}`);
  const prompt = checkText('prompt', request.prompt, TEXT_LIMITS.prompt);
  if (prompt.trim() === '') throw new RangeError('prompt must not be empty: describe the video, e.g. "a red circle moving right on a black background"');
  if (request.negativePrompt !== undefined) checkText('negativePrompt', request.negativePrompt, TEXT_LIMITS.negativePrompt);
  for (const key of ['seed', 'width', 'height', 'numFrames', 'fps'] as const) {
    if (request[key] !== undefined) checkLimit(key, request[key], LIMITS[key]);
  }
}

/** A provider's own limit: the same form, prefixed with the provider so the caller knows whose limit it is. */
function checkProvider(value: unknown, name: string, limit: NumberLimit, provider: string): void {
  try {
    checkLimit(name, value, limit);
  } catch (error) {
    const Type = error instanceof TypeError ? TypeError : RangeError;
    throw new Type(`${provider}: ${(error as Error).message}`);
  }
}

export function checkInteger(value: unknown, name: string, min: number, max: number, provider: string): void {
  checkProvider(value, name, { integer: true, min, max }, provider);
}

export function checkNumber(value: unknown, name: string, min: number, max: number, provider: string): void {
  checkProvider(value, name, { integer: false, min, max }, provider);
}
