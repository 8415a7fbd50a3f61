import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { clipFileName, describeError, extensionFor, formatBytes, formatDuration } from '../../src/widget/format';

describe('clipFileName', () => {
  it('names the clip from the prompt and seed', () => {
    expect(clipFileName('a red circle moving right', 42)).toBe('a-red-circle-moving-right-seed-42.mp4');
    expect(clipFileName('  A Red, circle!! moving—right  ', 7, 'webm')).toBe('a-red-circle-moving-right-seed-7.webm');
  });

  it('keeps letters of any script and falls back when nothing is left', () => {
    expect(clipFileName('红色圆形向右移动，黑色背景', 3)).toBe('红色圆形向右移动-黑色背景-seed-3.mp4');
    expect(clipFileName('!!!', 0)).toBe('kinema-seed-0.mp4');
  });

  it('cuts long prompts at a word boundary', () => {
    const name = clipFileName('a red circle moving right on a black background with many more words than fit', 1);
    expect(name).toBe('a-red-circle-moving-right-on-a-black-background-with-many-seed-1.mp4');
    expect(name.length).toBeLessThan(80);
  });
});

describe('formatters', () => {
  it('formats bytes and durations with real numbers', () => {
    expect(formatBytes(3_150_000)).toBe('3.2 MB');
    expect(formatBytes(2_400)).toBe('2.4 kB');
    expect(formatBytes(-1)).toBe('? MB');
    expect(formatBytes(999_949_999)).toBe('999.9 MB');
    expect(formatBytes(5_678_000_000)).toBe('5.68 GB');
    expect(formatDuration(850.4)).toBe('850 ms');
    expect(formatDuration(2440)).toBe('2.4 s');
    expect(formatDuration(65_000)).toBe('1 min 05 s');
  });

  it('maps MIME types to extensions', () => {
    expect(extensionFor('video/webm; codecs="vp9"')).toBe('webm');
    expect(extensionFor('video/mp4')).toBe('mp4');
    expect(extensionFor(null)).toBe('mp4');
  });

  it('describes errors with their code; caller mistakes are INVALID_REQUEST', () => {
    expect(describeError(new KinemaError('DOWNLOAD_FAILED', 'HTTP 500'))).toEqual({ code: 'DOWNLOAD_FAILED', message: 'HTTP 500' });
    expect(describeError(new RangeError('steps must be…')).code).toBe('INVALID_REQUEST');
    expect(describeError(new Error('boom'))).toEqual({ code: 'INTERNAL', message: 'boom' });
    expect(describeError('odd')).toEqual({ code: 'INTERNAL', message: 'odd' });
  });
});
