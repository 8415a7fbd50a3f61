/**
 * comlink transfer handlers both sides of the worker register, so that
 * - an AbortSignal crosses the boundary (it cannot be posted): the worker gets a twin signal that aborts
 *   when the caller's does, with the same reason;
 * - errors keep their type and KinemaError `code` (comlink's default keeps only message/name/stack).
 */
import * as Comlink from 'comlink';
import { deserializeError, serializeError, type SerializedError } from '../errors';

type SignalWire = { aborted: boolean; reason?: SerializedError; port?: MessagePort };

const signalHandler: Comlink.TransferHandler<AbortSignal, SignalWire> = {
  canHandle: (value): value is AbortSignal => typeof AbortSignal !== 'undefined' && value instanceof AbortSignal,
  serialize(signal) {
    if (signal.aborted) return [{ aborted: true, reason: serializeError(signal.reason) }, []];
    const { port1, port2 } = new MessageChannel();
    signal.addEventListener('abort', () => {
      port1.postMessage(serializeError(signal.reason));
      port1.close();
    }, { once: true });
    return [{ aborted: false, port: port2 }, [port2]];
  },
  deserialize(wire) {
    const controller = new AbortController();
    if (wire.aborted) {
      controller.abort(wire.reason ? deserializeError(wire.reason) : undefined);
    } else if (wire.port) {
      const port = wire.port;
      port.onmessage = (event: MessageEvent<SerializedError>) => {
        controller.abort(deserializeError(event.data));
        port.close();
      };
      port.start();
    }
    return controller.signal;
  },
};

type ThrownValue = { value: unknown };

// comlink wraps a thrown value as { value, [throwMarker]: 0 } and does not export the marker symbol.
const isThrown = (value: unknown): value is ThrownValue =>
  typeof value === 'object' && value !== null && Object.getOwnPropertySymbols(value).some((s) => s.description === 'Comlink.thrown');

const throwHandler: Comlink.TransferHandler<ThrownValue, SerializedError> = {
  canHandle: isThrown,
  serialize(thrown) {
    return [serializeError(thrown.value), []];
  },
  deserialize(wire) {
    throw deserializeError(wire);
  },
};

let registered = false;

export function registerTransferHandlers(): void {
  if (registered) return;
  Comlink.transferHandlers.set('kinema-abort-signal', signalHandler as Comlink.TransferHandler<unknown, unknown>);
  Comlink.transferHandlers.set('throw', throwHandler as Comlink.TransferHandler<unknown, unknown>);
  registered = true;
}
