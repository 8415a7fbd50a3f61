/**
 * Fake engine workers for Node: a `worker` factory whose every call starts a "worker" (one end of a
 * MessageChannel) serving a fresh fake Engine with kinema's real transport, so the generator's own
 * worker handling (connect, terminate, start another) runs as it does with real workers.
 */
import type * as Comlink from 'comlink';
import { exposeServedEngine } from '../../../src/transport/serve';
import { createFakeEngine, type FakeEngine } from './fake-engine';

export interface FakeWorkers {
  /** For `createVideoGenerator({ worker })`: starts a new fake worker each time it is called. */
  factory: () => Worker;
  /** The fake engine behind each worker started so far, in order. */
  engines: FakeEngine[];
  /** Whether each worker started so far has been terminated. */
  terminated: boolean[];
  /** The fake engine of the `index`-th worker, once it has been started. */
  started(index: number): Promise<FakeEngine>;
}

export function createFakeWorkers(): FakeWorkers {
  const engines: FakeEngine[] = [];
  const terminated: boolean[] = [];
  const waiting: { index: number; resolve(engine: FakeEngine): void }[] = [];
  return {
    engines,
    terminated,
    factory: () => {
      const channel = new MessageChannel();
      const fake = createFakeEngine();
      exposeServedEngine(fake.engine, channel.port1 as unknown as Comlink.Endpoint);
      const index = engines.push(fake) - 1;
      terminated.push(false);
      for (const waiter of waiting.filter((w) => w.index === index)) waiter.resolve(fake);
      const terminate = () => {
        terminated[index] = true;
        channel.port1.close();
        channel.port2.close();
      };
      return Object.assign(channel.port2, { terminate }) as unknown as Worker;
    },
    started: (index) => (engines[index] ? Promise.resolve(engines[index]) : new Promise((resolve) => waiting.push({ index, resolve }))),
  };
}
