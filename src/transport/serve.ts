/**
 * Both ends of the engine's comlink connection. In the worker, `serveEngine` wraps an Engine so that
 * - every failure is returned as a WireFailure (kinema's handler carries its code and kind; comlink's
 *   realm-wide `throw` handler stays its owner's);
 * - a result's frames move with `Comlink.transfer` instead of being copied (progress events move their
 *   preview pixels the same way, see ProgressRelay);
 * - when a call ends (success, failure or abort) the progress and signal twins close their ports.
 * On the page, a `CallRelay` carries one call's listener and signal and releases them when it ends.
 */
import * as Comlink from 'comlink';
import type { CacheKind, CachedModelInfo, Capabilities, Engine, EngineGenerateSpec, EngineLoadInfo, EngineLoadSpec, GenerateResult } from '../contract';
import type { ProgressListener } from '../progress/events';
import { ProgressRelay, registerTransferHandlers, releaseTwins, SignalRelay, transferablesOf, unwrapReply, WireFailure } from './comlink-handlers';

type Reply<T> = Promise<T | WireFailure>;

/**
 * Engine's methods as they cross the wire: each resolves to its value or a WireFailure. Listener and
 * signal are relays where the page calls (`CalledEngine`) and their twins where the worker serves.
 */
export interface WireEngine<Listener, Signal> {
  capabilities(): Reply<Capabilities>;
  load(spec: EngineLoadSpec, onProgress?: Listener, signal?: Signal): Reply<EngineLoadInfo>;
  generate(spec: EngineGenerateSpec, onProgress?: Listener, signal?: Signal): Reply<GenerateResult>;
  isCached(spec: EngineLoadSpec): Reply<boolean>;
  clearCache(spec: EngineLoadSpec): Reply<void>;
  cachedModels(cache: CacheKind): Reply<CachedModelInfo[]>;
  dispose(): Reply<void>;
}
export type CalledEngine = WireEngine<ProgressRelay, SignalRelay>;
export type ServedEngine = WireEngine<ProgressListener, AbortSignal>;

async function settle<T>(run: () => Promise<T>, ...twins: unknown[]): Promise<T | WireFailure> {
  try {
    return await run();
  } catch (error) {
    return new WireFailure(error);
  } finally {
    releaseTwins(...twins);
  }
}

export function serveEngine(engine: Engine): ServedEngine {
  return {
    capabilities: () => settle(() => engine.capabilities()),
    load: (spec, onProgress, signal) => settle(() => engine.load(spec, onProgress, signal), onProgress, signal),
    generate: (spec, onProgress, signal) =>
      settle(async () => {
        const result = await engine.generate(spec, onProgress, signal);
        const buffers = transferablesOf(result.frames ?? []);
        return buffers.length ? Comlink.transfer(result, buffers) : result;
      }, onProgress, signal),
    isCached: (spec) => settle(() => engine.isCached(spec)),
    clearCache: (spec) => settle(() => engine.clearCache(spec)),
    cachedModels: (cache) => settle(() => engine.cachedModels(cache)),
    dispose: () => settle(() => engine.dispose()),
  };
}

/** Exposes `engine` on `endpoint` (the worker's global scope by default) with kinema's handlers registered. */
export function exposeServedEngine(engine: Engine, endpoint?: Comlink.Endpoint): void {
  registerTransferHandlers();
  Comlink.expose(serveEngine(engine), endpoint);
}

/** Page side: one call's listener and signal on their way to the worker. */
export class CallRelay {
  readonly progress: ProgressRelay | undefined;
  readonly signal: SignalRelay | undefined;

  constructor(onProgress?: ProgressListener, signal?: AbortSignal) {
    this.progress = onProgress ? new ProgressRelay(onProgress) : undefined;
    this.signal = signal ? new SignalRelay(signal) : undefined;
  }

  /** The reply's value once every progress event sent before it has been delivered; a failure is thrown. */
  async settle<T>(reply: T): Promise<Exclude<T, WireFailure>> {
    await this.progress?.drained();
    return unwrapReply(reply);
  }

  /** Removes the listener added to the caller's signal and closes the page's ends of both ports. */
  release(): void {
    this.progress?.release();
    this.signal?.release();
  }
}
