/**
 * The main-thread side of the engine worker: a comlink proxy that implements `Engine`, plus what comlink
 * lacks — a crashed or terminated worker rejects every pending call at once with WORKER_CRASHED, and
 * dispose() rejects them at once with DISPOSED (the caller ended them; nothing crashed).
 */
import * as Comlink from 'comlink';
import { KinemaError } from '../errors';
import type { Engine } from '../contract';
import type { ProgressListener } from '../progress/events';
import { registerTransferHandlers } from '../transport/comlink-handlers';

export interface WorkerEngine extends Engine {
  /** Ends the worker as a crash would; pending calls reject with WORKER_CRASHED. */
  terminate(): void;
}

export function defaultWorker(): Worker {
  // One expression, so the bundler emits the worker as its own chunk.
  return new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'kinema-engine' });
}

export function connectWorkerEngine(worker: Worker): WorkerEngine {
  registerTransferHandlers();
  const remote = Comlink.wrap<Engine>(worker);
  let dead: KinemaError | undefined;
  const pending = new Set<(error: KinemaError) => void>();
  const die = (error: KinemaError) => {
    if (dead) return;
    dead = error;
    for (const reject of pending) reject(error);
    pending.clear();
  };
  worker.addEventListener('error', (event) => {
    event.preventDefault?.();
    die(new KinemaError('WORKER_CRASHED', `the kinema worker crashed: ${(event as ErrorEvent).message || 'unknown error'}`));
  });
  worker.addEventListener('messageerror', () => die(new KinemaError('WORKER_CRASHED', 'the kinema worker sent a message that could not be read')));

  function call<T>(run: () => Promise<T>): Promise<T> {
    if (dead) return Promise.reject(dead);
    return new Promise<T>((resolve, reject) => {
      const onDeath = (error: KinemaError) => reject(error);
      pending.add(onDeath);
      run().then(resolve, reject).finally(() => pending.delete(onDeath));
    });
  }
  const listener = (onProgress?: ProgressListener) => (onProgress ? Comlink.proxy(onProgress) : undefined);

  return {
    capabilities: () => call(() => remote.capabilities()),
    load: (spec, onProgress, signal) => call(() => remote.load(spec, listener(onProgress), signal)),
    generate: (spec, onProgress, signal) =>
      call(async () => {
        const result = await remote.generate(spec, listener(onProgress), signal);
        return result;
      }),
    isCached: (spec) => call(() => remote.isCached(spec)),
    clearCache: (spec) => call(() => remote.clearCache(spec)),
    cachedModels: (cache) => call(() => remote.cachedModels(cache)),
    dispose: async () => {
      if (dead) return;
      // Pending and later calls end now with DISPOSED; the worker gets a moment to release its GPU and sessions.
      die(new KinemaError('DISPOSED', 'the kinema engine was disposed'));
      let timer: ReturnType<typeof setTimeout> | undefined;
      try {
        await Promise.race([remote.dispose().catch(() => undefined), new Promise((resolve) => { timer = setTimeout(resolve, 2000); })]);
      } finally {
        clearTimeout(timer);
        remote[Comlink.releaseProxy]();
        worker.terminate();
      }
    },
    terminate: () => {
      worker.terminate();
      die(new KinemaError('WORKER_CRASHED', 'the kinema worker was terminated'));
    },
  };
}
