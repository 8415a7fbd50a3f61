/**
 * The one validation helper: every caller mistake reads "<name> must be <what>; got <value>", a
 * TypeError for a wrong type and a RangeError for a value out of range, whichever layer finds it.
 */
import type { NumberLimit, TextLimit } from './limits';

/** A value as a message shows it: strings quoted, numbers as written (NaN, Infinity), others by kind. */
export function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value === undefined || value === null) return String(value);
  return Object.prototype.toString.call(value);
}

export function limitMessage(name: string, limit: NumberLimit, value: unknown): string {
  return `${name} must be ${limit.integer ? 'an integer' : 'a number'} from ${limit.min} to ${limit.max}; got ${show(value)}`;
}

/** Checks a number against a limit of the table (or any `{ integer, min, max }`). */
export function checkLimit(name: string, value: unknown, limit: NumberLimit): number {
  if (typeof value !== 'number') throw new TypeError(limitMessage(name, limit, value));
  const shapeOk = limit.integer ? Number.isInteger(value) : Number.isFinite(value);
  if (!shapeOk || value < limit.min || value > limit.max) throw new RangeError(limitMessage(name, limit, value));
  return value;
}

export const checkInteger = (name: string, value: unknown, min: number, max: number): number => checkLimit(name, value, { integer: true, min, max });
export const checkNumber = (name: string, value: unknown, min: number, max: number): number => checkLimit(name, value, { integer: false, min, max });

export function checkOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw new TypeError(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}; got ${show(value)}`);
  return value as T;
}

export function checkBoolean(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${name} must be true or false; got ${show(value)}`);
  return value;
}

/** Length in characters as people count them (code points, not UTF-16 units). */
export function charLength(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** Checks a string against a text limit; returns it trimmed when the limit trims. */
export function checkText(name: string, value: unknown, limit: TextLimit): string {
  const range = limit.minChars > 0 ? `of ${limit.minChars} to ${limit.maxChars} characters` : `of at most ${limit.maxChars} characters`;
  const what = `${name} must be text ${range}${limit.trim ? ' (spaces at either end not counted)' : ''}`;
  if (typeof value !== 'string') throw new TypeError(`${what}; got ${show(value)}`);
  const text = limit.trim ? value.trim() : value;
  const length = charLength(text);
  if (length < limit.minChars || length > limit.maxChars) throw new RangeError(`${what}; got ${length} characters`);
  return text;
}
