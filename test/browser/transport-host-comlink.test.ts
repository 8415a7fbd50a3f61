// kinema is a guest on the page: a host app's own comlink worker, beside kinema's, keeps comlink's
// default error transfer and its own signal handling, before and after kinema's client connects.
import * as Comlink from 'comlink';
import { afterAll, describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/index';
import { connectWorkerEngine, defaultWorker } from '../../src/api/worker-client';
import { hostSignalUse, registerHostSignalHandler } from './fixtures/host-comlink-signal';
import type { HostApi } from './fixtures/host-comlink.worker';
import { loadSpec } from './support/model';

const comlinkThrow = Comlink.transferHandlers.get('throw')!;
const handlersBefore = new Map(Comlink.transferHandlers);
const hostWorker = new Worker(new URL('./fixtures/host-comlink.worker.ts', import.meta.url), { type: 'module' });
const host = Comlink.wrap<HostApi>(hostWorker);
const kinema = connectWorkerEngine(defaultWorker());
afterAll(async () => {
  Comlink.transferHandlers.set('throw', comlinkThrow);
  Comlink.transferHandlers.delete('host-abort-signal');
  hostWorker.terminate();
  await kinema.dispose();
});

describe('a host app\'s comlink worker beside kinema', () => {
  it('gets its errors back exactly as comlink\'s default makes them, while kinema keeps its codes', async () => {
    // kinema's worker is up and has answered, so both sides have registered their handlers.
    const missing = await kinema.load({ ...loadSpec('wasm'), manifestUrl: new URL('/models/no-such-model/manifest.json', location.href).href }).then(() => null, (e: unknown) => e);
    expect((missing as KinemaError).code).toBe('MODEL_NOT_FOUND');

    const error = await host.fail('the host\'s own failure').then(() => null, (e: unknown) => e);
    expect(error).not.toBeInstanceOf(KinemaError);
    expect(error).toBeInstanceOf(Error);
    expect({ name: (error as Error).name, message: (error as Error).message }).toEqual({ name: 'HostError', message: 'the host\'s own failure' });
    expect((error as { code?: unknown }).code).toBeUndefined();

    expect(Comlink.transferHandlers.get('throw')).toBe(comlinkThrow);
    for (const [name, handler] of handlersBefore) expect(Comlink.transferHandlers.get(name)).toBe(handler);
  });

  it('leaves a host\'s AbortSignal to the host: unhandled it cannot be posted, as comlink alone does', async () => {
    const error = await host.takes(new AbortController().signal).then(() => null, (e: unknown) => e);
    expect((error as DOMException).name).toBe('DataCloneError');
  });

  it('leaves the host\'s own throw and signal handlers in place and in use after kinema connects', async () => {
    let hostThrowUsed = 0;
    const hostThrow: Comlink.TransferHandler<unknown, unknown> = {
      canHandle: comlinkThrow.canHandle,
      serialize: comlinkThrow.serialize,
      deserialize(wire) { hostThrowUsed++; return comlinkThrow.deserialize(wire); },
    };
    Comlink.transferHandlers.set('throw', hostThrow);
    registerHostSignalHandler();

    const second = connectWorkerEngine(defaultWorker());
    try {
      const controller = new AbortController();
      const pending = second.load(loadSpec('wasm'), undefined, controller.signal);
      controller.abort(new Error('kinema call cancelled'));
      expect(((await pending.then(() => null, (e: unknown) => e)) as KinemaError).code).toBe('ABORTED');
    } finally {
      await second.dispose();
    }
    expect(Comlink.transferHandlers.get('throw')).toBe(hostThrow);
    // kinema's abort went through kinema's relay, not the host's handler.
    expect(hostSignalUse.serialized).toBe(0);

    await expect(host.fail('after kinema')).rejects.toThrow('after kinema');
    expect(hostThrowUsed).toBe(1);
    const controller = new AbortController();
    const reason = host.reasonWhenAborted(controller.signal);
    controller.abort('host cancelled');
    expect(await reason).toBe('host cancelled');
    expect(hostSignalUse.serialized).toBe(1);
  });
});
