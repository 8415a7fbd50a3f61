/**
 * kinema/worker: the engine itself, for running it somewhere other than kinema's own worker — in this
 * thread (tests, tools: `createVideoGenerator({ engine: createEngine() })`) or in a worker you write
 * (`exposeEngine()` in your worker script, then `createVideoGenerator({ worker })`).
 */
import * as Comlink from 'comlink';
import { createEngine } from './engine/engine';
import { registerTransferHandlers } from './transport/comlink-handlers';

export { createEngine, type EnginePlatform } from './engine/engine';
export type { Engine, EngineGenerateSpec, EngineLoadInfo, EngineLoadSpec, CachedModelInfo } from './contract';

/** Serves an engine to the page over comlink from inside a worker. */
export function exposeEngine(engine = createEngine()): void {
  registerTransferHandlers();
  Comlink.expose(engine);
}
