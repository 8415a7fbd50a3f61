/**
 * kinema's one runtime error type. Caller mistakes (bad arguments) throw TypeError/RangeError at once;
 * everything that fails while working rejects with a KinemaError whose `code` is stable and survives
 * the worker boundary (see `serializeError` / `deserializeError`).
 */
export type KinemaErrorCode =
  | 'INVALID_REQUEST' // a request the backend or provider refused as malformed
  | 'INVALID_MANIFEST' // a model manifest that does not validate
  | 'MODEL_NOT_FOUND' // unknown model id, or a manifest URL that 404s
  | 'WEBGPU_UNAVAILABLE' // WebGPU asked for but no adapter/device
  | 'DEVICE_LIMITS' // the model does not fit the adapter's limits
  | 'DEVICE_LOST' // the GPU device was lost mid-run
  | 'OUT_OF_MEMORY'
  | 'DOWNLOAD_FAILED' // network failure after bounded retries, or a bad HTTP status
  | 'INTEGRITY_MISMATCH' // a file's bytes or SHA-256 differ from the manifest
  | 'STORAGE_FAILED' // cache storage failed in a way the memory fallback could not absorb
  | 'BACKEND_FAILED' // onnxruntime or a kernel failed
  | 'ENCODER_UNSUPPORTED' // no WebCodecs encoder for any container/codec we can write
  | 'ENCODE_FAILED'
  | 'WORKER_CRASHED' // the worker died or was terminated with a call pending
  | 'ABORTED' // the caller's AbortSignal fired
  | 'TIMEOUT'
  | 'NO_BACKEND' // nothing (webgpu, wasm, cloud) could serve the request
  | 'PROVIDER_AUTH' // cloud: key or proxy token refused
  | 'PROVIDER_RATE_LIMITED'
  | 'PROVIDER_QUOTA'
  | 'PROVIDER_MODERATION'
  | 'PROVIDER_FAILED' // cloud: any other provider-side failure
  | 'DISPOSED' // the generator (or its engine) was disposed while the call was pending, or before it
  | 'BUSY' // the generator is already generating (or loading) and cannot start this call now
  | 'FILE_TOO_LARGE' // kept for compatibility: the loader no longer raises it (large files are stored in chunks)
  | 'STORAGE_QUOTA' // not enough storage for the model's files
  | 'MODEL_INCOMPLETE' // the manifest lacks a component (or tokenizer) generation needs; it loads for component runs only
  | 'INTERNAL';

export const KINEMA_ERROR_CODES: readonly KinemaErrorCode[] = [
  'INVALID_REQUEST', 'INVALID_MANIFEST', 'MODEL_NOT_FOUND', 'WEBGPU_UNAVAILABLE', 'DEVICE_LIMITS',
  'DEVICE_LOST', 'OUT_OF_MEMORY', 'DOWNLOAD_FAILED', 'INTEGRITY_MISMATCH', 'STORAGE_FAILED',
  'BACKEND_FAILED', 'ENCODER_UNSUPPORTED', 'ENCODE_FAILED', 'WORKER_CRASHED', 'ABORTED', 'TIMEOUT',
  'NO_BACKEND', 'PROVIDER_AUTH', 'PROVIDER_RATE_LIMITED', 'PROVIDER_QUOTA', 'PROVIDER_MODERATION',
  'PROVIDER_FAILED', 'DISPOSED', 'BUSY', 'FILE_TOO_LARGE', 'STORAGE_QUOTA', 'MODEL_INCOMPLETE', 'INTERNAL',
];

/** Extra facts about a failure; plain JSON so it crosses postMessage. */
export type KinemaErrorDetails = Record<string, unknown>;

export class KinemaError extends Error {
  override readonly name = 'KinemaError';
  readonly code: KinemaErrorCode;
  readonly details: KinemaErrorDetails;

  constructor(code: KinemaErrorCode, message: string, options: { details?: KinemaErrorDetails; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isKinemaError(value: unknown, code?: KinemaErrorCode): value is KinemaError {
  return value instanceof KinemaError && (code === undefined || value.code === code);
}

/** The rejection for an aborted operation, keeping the signal's reason when it has one. */
export function abortError(signal?: AbortSignal, what = 'the operation'): KinemaError {
  const reason = signal?.reason;
  if (reason instanceof KinemaError) return reason;
  const why = reason instanceof Error ? `: ${reason.message}` : typeof reason === 'string' ? `: ${reason}` : '';
  return new KinemaError('ABORTED', `${what} was aborted${why}`);
}

export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw abortError(signal, what);
}

export interface SerializedError {
  kind: 'KinemaError' | 'TypeError' | 'RangeError' | 'Error';
  code?: KinemaErrorCode;
  message: string;
  details?: KinemaErrorDetails;
  stack?: string;
}

/** Flattens any thrown value into plain data, keeping KinemaError codes and caller-mistake types. */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof KinemaError) {
    return { kind: 'KinemaError', code: error.code, message: error.message, details: jsonSafe(error.details), stack: error.stack };
  }
  if (error instanceof TypeError || error instanceof RangeError) {
    return { kind: error instanceof TypeError ? 'TypeError' : 'RangeError', message: error.message, stack: error.stack };
  }
  if (error instanceof Error) {
    if (error.name === 'AbortError') return { kind: 'KinemaError', code: 'ABORTED', message: error.message, stack: error.stack };
    return { kind: 'Error', message: error.message, stack: error.stack };
  }
  return { kind: 'Error', message: String(error) };
}

export function deserializeError(data: SerializedError): Error {
  let error: Error;
  switch (data.kind) {
    case 'KinemaError':
      error = new KinemaError(data.code ?? 'INTERNAL', data.message, { details: data.details });
      break;
    case 'TypeError':
      error = new TypeError(data.message);
      break;
    case 'RangeError':
      error = new RangeError(data.message);
      break;
    default:
      error = new KinemaError('INTERNAL', data.message);
  }
  if (data.stack) error.stack = data.stack;
  return error;
}

function jsonSafe(details: KinemaErrorDetails): KinemaErrorDetails {
  try {
    return JSON.parse(JSON.stringify(details)) as KinemaErrorDetails;
  } catch {
    return { note: 'details were not serializable' };
  }
}
