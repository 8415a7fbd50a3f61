import { expect } from 'vitest';
import { KinemaError } from '../../src/errors';

/** Awaits a promise that must reject with a KinemaError, and returns that error for further checks. */
export async function rejection(promise: Promise<unknown>): Promise<KinemaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(KinemaError);
  return error as KinemaError;
}
