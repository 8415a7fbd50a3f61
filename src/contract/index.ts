/**
 * kinema's contract: the types the page and the worker share and the one table of limits every layer
 * checks against. Pure: runs in browsers, workers and Node; imports nothing with side effects.
 */
export * from './domain';
export type * from './result';
export type * from './engine';
export * from './limits';
export * from './check';
export * from './request';
export * from './model-limits';
