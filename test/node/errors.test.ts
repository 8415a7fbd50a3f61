import { describe, expect, it } from 'vitest';
import { KinemaError, abortError, deserializeError, serializeError } from '../../src/errors';

describe('error serialization', () => {
  it('keeps code, message and details of a KinemaError through JSON', () => {
    const original = new KinemaError('INTEGRITY_MISMATCH', 'denoiser.onnx hash differs', { details: { file: 'denoiser.onnx' } });
    const wire = JSON.parse(JSON.stringify(serializeError(original)));
    const back = deserializeError(wire);
    expect(back).toBeInstanceOf(KinemaError);
    expect((back as KinemaError).code).toBe('INTEGRITY_MISMATCH');
    expect(back.message).toBe('denoiser.onnx hash differs');
    expect((back as KinemaError).details).toEqual({ file: 'denoiser.onnx' });
  });

  it('keeps caller-mistake types and turns anything else into INTERNAL', () => {
    expect(deserializeError(serializeError(new RangeError('steps must be 1..100')))).toBeInstanceOf(RangeError);
    expect(deserializeError(serializeError(new TypeError('prompt must be a string')))).toBeInstanceOf(TypeError);
    const other = deserializeError(serializeError(new Error('boom')));
    expect(other).toBeInstanceOf(KinemaError);
    expect((other as KinemaError).code).toBe('INTERNAL');
  });

  it('maps DOM AbortError and aborted signals to ABORTED', () => {
    const domAbort = Object.assign(new Error('stopped'), { name: 'AbortError' });
    expect((deserializeError(serializeError(domAbort)) as KinemaError).code).toBe('ABORTED');
    const controller = new AbortController();
    controller.abort(new Error('user clicked cancel'));
    const error = abortError(controller.signal, 'generation');
    expect(error.code).toBe('ABORTED');
    expect(error.message).toContain('user clicked cancel');
  });
});
