/**
 * The main-thread side of the engine worker: a comlink proxy that implements `Engine`, plus what comlink
 * lacks — a crashed or terminated worker rejects every pending call at once with WORKER_CRASHED, and
 * dispose() rejects them at once with DISPOSED (the caller ended them; nothing crashed).
 */
import * as Comlink from 'comlink';
import { KinemaError } from '../errors';
import type { Engine, GenerateResult } from '../contract';
import { registerTransferHandlers, unwrapReply, type WireFailure } from '../transport/comlink-handlers';
import { CallRelay, type CalledEngine } from '../transport/serve';

export interface WorkerEngine extends Engine {
  /** Ends the worker at once; pending calls reject with `reason` (WORKER_CRASHED, as a crash would, by default). */
  terminate(reason?: KinemaError): void;
}

export function defaultWorker(): Worker {
  // One expression, so the bundler emits the worker as its own chunk.
  return new Worker(new URL('../../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'kinema-engine' });
}

export function connectWorkerEngine(worker: Worker): WorkerEngine {
  registerTransferHandlers();
  const remote = Comlink.wrap<CalledEngine>(worker);
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

  // The worker returns failures as WireFailure values (see transport/); the relay's settle (or
  // unwrapReply) throws them here. A call's relay is released however it ends, the worker's death included.
  function call<T>(run: () => Promise<T>, relay?: CallRelay): Promise<T> {
    if (dead) return Promise.reject(dead);
    return new Promise<T>((resolve, reject) => {
      const onDeath = (error: KinemaError) => reject(error);
      pending.add(onDeath);
      run().then(resolve, reject).finally(() => pending.delete(onDeath));
    }).finally(() => relay?.release());
  }

  return {
    capabilities: () => call(() => remote.capabilities().then((reply) => unwrapReply(reply))),
    load: (spec, onProgress, signal) => {
      const relay = new CallRelay(onProgress, signal);
      return call(() => remote.load(spec, relay.progress, relay.signal).then((reply) => relay.settle(reply)), relay);
    },
    generate: (spec, onProgress, signal) => {
      const relay = new CallRelay(onProgress, signal);
      // comlink distributes its Promise type over the result union; the reply is one GenerateResult.
      const reply = () => remote.generate(spec, relay.progress, relay.signal) as Promise<GenerateResult | WireFailure>;
      return call(() => reply().then((value) => relay.settle(value)), relay);
    },
    isCached: (spec) => call(() => remote.isCached(spec).then((reply) => unwrapReply(reply))),
    clearCache: (spec) => call(() => remote.clearCache(spec).then((reply) => unwrapReply(reply))),
    cachedModels: (cache) => call(() => remote.cachedModels(cache).then((reply) => unwrapReply(reply))),
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
    terminate: (reason) => {
      worker.terminate();
      die(reason ?? new KinemaError('WORKER_CRASHED', 'the kinema worker was terminated'));
    },
  };
}
