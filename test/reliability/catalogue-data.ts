/**
 * Reads test/reliability/catalogue.json, the data both the catalogue test and docs/failure-modes.md
 * come from. JSON cannot hold NaN, ±Infinity or a 20,000-character string legibly, so those are written
 * as `{"$": "NaN"}` and `{"$repeat": text, "length": n}` and decoded here.
 */
import fs from 'node:fs';
import type { KinemaErrorCode } from '../../src/errors';

export type Expectation =
  | { kind: 'TypeError' | 'RangeError'; mentions: string }
  | { kind: 'KinemaError'; code: KinemaErrorCode }
  | { kind: 'accepted' };

export interface Reply {
  status: number;
  contentType: string;
  body?: string;
  json?: unknown;
}

interface RowBase {
  id: string;
  what: string;
  expect: Expectation;
  note?: string;
}

export type CatalogueRow =
  | (RowBase & { layer: 'request'; request: unknown })
  | (RowBase & { layer: 'manifest'; manifest: { reply?: Reply; set?: Record<string, unknown>; unset?: string[] } })
  | (RowBase & { layer: 'model-file'; file: { serve: string; stage: 'download' | 'session' | 'run' } })
  | (RowBase & { layer: 'cloud'; replies: { create?: Reply; poll?: Reply; video?: Reply } });

const SPECIAL: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

/** Replaces the catalogue's special values with the real ones. */
export function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== 'object') return value;
  const o = value as Record<string, unknown>;
  if (typeof o.$ === 'string' && o.$ in SPECIAL) return SPECIAL[o.$];
  if (typeof o.$repeat === 'string' && typeof o.length === 'number') return o.$repeat.repeat(Math.ceil(o.length / o.$repeat.length)).slice(0, o.length);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decode(v)]));
}

export function loadCatalogue(): CatalogueRow[] {
  const raw = JSON.parse(fs.readFileSync(new URL('./catalogue.json', import.meta.url), 'utf8')) as { rows: CatalogueRow[] };
  return raw.rows;
}

/** Sets or deletes a dotted path (`components.denoiser.variants.0.dtype`) in a JSON value. */
export function applyPath(root: Record<string, unknown>, path: string, value: unknown, remove = false): void {
  const parts = path.split('.');
  let at: Record<string, unknown> = root;
  for (const part of parts.slice(0, -1)) {
    const next = at[part];
    if (next === null || typeof next !== 'object') throw new Error(`catalogue: no ${part} in ${path}`);
    at = next as Record<string, unknown>;
  }
  const last = parts[parts.length - 1]!;
  if (remove) delete at[last];
  else at[last] = value;
}

/** Rejects with a plain Error if `promise` has not settled within `ms`: a hang guard, not a speed test. */
export function bounded<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`HANG: ${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}
