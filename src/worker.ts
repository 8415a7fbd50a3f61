/**
 * kinema/worker: the engine itself, for running it somewhere other than kinema's own worker — in this
 * thread (tests, tools: `createVideoGenerator({ engine: createEngine() })`) or in a worker you write
 * (`exposeEngine()` in your worker script, then `createVideoGenerator({ worker })`).
 */
import type * as Comlink from 'comlink';
import { createEngine } from './engine/engine';
import { exposeServedEngine } from './transport/serve';

export { createEngine, type EnginePlatform } from './engine/engine';
export type { Engine, EngineGenerateSpec, EngineLoadInfo, EngineLoadSpec, CachedModelInfo } from './contract';

/**
 * Serves an engine to the page over comlink from inside a worker (or on `endpoint`, e.g. a MessagePort).
 * Only kinema's own comlink handlers are registered; the worker's other comlink users are unaffected.
 */
export function exposeEngine(engine = createEngine(), endpoint?: Comlink.Endpoint): void {
  exposeServedEngine(engine, endpoint);
}
