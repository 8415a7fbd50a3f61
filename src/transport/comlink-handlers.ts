/**
 * comlink transfer handlers for kinema's own values only. comlink's handler table is shared by every
 * comlink user in the realm, so kinema never replaces `throw` and never claims a raw AbortSignal:
 * - a `WireFailure` (an engine failure the worker returns instead of throwing) keeps the error's kind,
 *   KinemaError `code` and details across the boundary (comlink's default keeps only message/name/stack);
 * - a `SignalRelay` (a caller's AbortSignal wrapped by kinema's client) becomes, in the worker, a twin
 *   AbortSignal that aborts with the same reason;
 * - a `ProgressRelay` (the caller's progress listener) becomes, in the worker, a function that posts each
 *   event on a port of its own, moving preview pixels instead of copying them. (Not `Comlink.proxy`: its
 *   release never closes the worker's end of the port, and it answers every event with a reply.)
 * Listeners and both ends of every port are released when the call ends (see `releaseTwins`).
 */
import * as Comlink from 'comlink';
import { deserializeError, serializeError, type SerializedError } from '../errors';
import type { ProgressEvent, ProgressListener } from '../progress/events';

/** A failed call's error, returned (not thrown) so that only kinema's handler ever touches it. */
export class WireFailure {
  constructor(readonly error: unknown) {}
}

/** A caller's AbortSignal on its way to the worker; `release()` undoes what serializing it attached. */
export class SignalRelay {
  private readonly cleanups: Array<() => void> = [];

  constructor(readonly signal: AbortSignal) {}

  /** Wires the signal to a fresh port; returns the port to hand to the worker. */
  connect(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    const onAbort = () => port1.postMessage(serializeError(this.signal.reason));
    this.signal.addEventListener('abort', onAbort, { once: true });
    this.cleanups.push(() => {
      this.signal.removeEventListener('abort', onAbort);
      port1.close();
    });
    return port2;
  }

  release(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }
}

type SignalWire = { aborted: true; reason: SerializedError } | { aborted: false; port: MessagePort };

// The twin's reason: a caller's plain Error stays a plain Error (so the engine's abortError reads it as an
// abort, exactly as in-thread), rather than the INTERNAL KinemaError deserializeError makes of it.
function reasonOf(wire: SerializedError): Error {
  if (wire.kind !== 'Error') return deserializeError(wire);
  const reason = new Error(wire.message);
  if (wire.stack) reason.stack = wire.stack;
  return reason;
}

// Worker side: the port behind each twin (signal or progress function), closed by releaseTwins.
const twinPorts = new WeakMap<object, { port: MessagePort; end?: () => void }>();

const signalHandler: Comlink.TransferHandler<SignalRelay, SignalWire> = {
  canHandle: (value): value is SignalRelay => value instanceof SignalRelay,
  serialize(relay) {
    if (relay.signal.aborted) return [{ aborted: true, reason: serializeError(relay.signal.reason) }, []];
    const port = relay.connect();
    return [{ aborted: false, port }, [port]];
  },
  deserialize(wire) {
    const controller = new AbortController();
    if (wire.aborted) {
      controller.abort(reasonOf(wire.reason));
      return controller.signal as unknown as SignalRelay;
    }
    const { port } = wire;
    port.onmessage = (event: MessageEvent<SerializedError>) => {
      controller.abort(reasonOf(event.data));
      port.close();
    };
    port.start();
    twinPorts.set(controller.signal, { port });
    // The receiving side gets the twin AbortSignal itself: the engine never sees a relay.
    return controller.signal as unknown as SignalRelay;
  },
};

/** Worker side, when a call ends: closes the ports behind its twins (a no-op for any other value). */
export function releaseTwins(...values: unknown[]): void {
  for (const value of values) {
    if (typeof value !== 'object' && typeof value !== 'function') continue;
    const twin = value === null ? undefined : twinPorts.get(value);
    if (!twin) continue;
    twin.end?.();
    twin.port.close();
    twinPorts.delete(value!);
  }
}

type ProgressMessage = { type: 'event'; event: ProgressEvent } | { type: 'end' };

/** A caller's progress listener on its way to the worker; `drained` settles once the worker's last event is in. */
export class ProgressRelay {
  private readonly cleanups: Array<() => void> = [];
  private ended: Promise<void> | undefined;

  constructor(readonly listener: ProgressListener) {}

  connect(): MessagePort {
    const { port1, port2 } = new MessageChannel();
    let end!: () => void;
    this.ended = new Promise<void>((resolve) => { end = resolve; });
    port1.onmessage = (message: MessageEvent<ProgressMessage>) => {
      if (message.data.type === 'end') return end();
      try {
        this.listener(message.data.event);
      } catch (error) {
        // The caller's bug, reported as an event handler's would be; the generation goes on.
        (globalThis as { reportError?: (e: unknown) => void }).reportError?.(error);
      }
    };
    this.cleanups.push(() => {
      port1.onmessage = null;
      port1.close();
      end();
    });
    return port2;
  }

  /** Resolves when every event the worker sent has reached the listener (at once if never connected). */
  drained(): Promise<void> {
    return this.ended ?? Promise.resolve();
  }

  release(): void {
    for (const cleanup of this.cleanups.splice(0)) cleanup();
  }
}

/** The buffers a progress event can hand over instead of copying (preview pixels; see transferablesOf). */
export function transferablesOf(views: Iterable<ArrayBufferView | undefined>): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const view of views) {
    // Only a plain ArrayBuffer one view covers exactly: a view into a larger buffer (wasm memory, a pool)
    // or a SharedArrayBuffer is copied, so transferring never detaches memory the worker still uses.
    if (!view || !(view.buffer instanceof ArrayBuffer)) continue;
    if (view.byteOffset === 0 && view.byteLength === view.buffer.byteLength) buffers.add(view.buffer);
  }
  return [...buffers];
}

const progressHandler: Comlink.TransferHandler<ProgressRelay, MessagePort> = {
  canHandle: (value): value is ProgressRelay => value instanceof ProgressRelay,
  serialize(relay) {
    const port = relay.connect();
    return [port, [port]];
  },
  deserialize(port) {
    let open = true;
    const forward: ProgressListener = (event) => {
      if (!open) return;
      port.postMessage({ type: 'event', event } satisfies ProgressMessage, transferablesOf(event.type === 'preview' ? [event.rgba] : []));
    };
    twinPorts.set(forward, {
      port,
      end: () => {
        open = false;
        port.postMessage({ type: 'end' } satisfies ProgressMessage);
      },
    });
    return forward as unknown as ProgressRelay;
  },
};

const failureHandler: Comlink.TransferHandler<WireFailure, SerializedError> = {
  canHandle: (value): value is WireFailure => value instanceof WireFailure,
  serialize: (failure) => [serializeError(failure.error), []],
  deserialize: (wire) => new WireFailure(deserializeError(wire)),
};

// Names nobody else would pick; setting them again is harmless, and no other entry is touched.
export const HANDLER_NAMES = { failure: 'kinema:wire-failure', signal: 'kinema:signal-relay', progress: 'kinema:progress-relay' } as const;

const HANDLERS = [
  [HANDLER_NAMES.failure, failureHandler],
  [HANDLER_NAMES.signal, signalHandler],
  [HANDLER_NAMES.progress, progressHandler],
] as Array<[string, Comlink.TransferHandler<unknown, unknown>]>;

/** Adds kinema's handlers to comlink's table (idempotent; on the page and in the worker). */
export function registerTransferHandlers(): void {
  for (const [name, handler] of HANDLERS) if (Comlink.transferHandlers.get(name) !== handler) Comlink.transferHandlers.set(name, handler);
}

/** Client side: a call's value, or its failure thrown as the error it was in the worker. */
export function unwrapReply<T>(reply: T): Exclude<T, WireFailure> {
  if (reply instanceof WireFailure) throw reply.error;
  return reply as Exclude<T, WireFailure>;
}
