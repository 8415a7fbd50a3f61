import { describe, expect, it } from 'vitest';
import type { ProgressEvent } from '../../src/progress/events';
import { initialProgress, reduceProgress, type ProgressView } from '../../src/widget/progress-model';

const run = (events: ProgressEvent[]): ProgressView => events.reduce(reduceProgress, initialProgress());
const stage = (view: ProgressView, key: string) => view.stages.find((s) => s.key === key)!;

describe('progress model', () => {
  it('shows real numbers per stage and the overall fraction', () => {
    const view = run([
      { type: 'download', file: 'denoiser.onnx', loaded: 1_500_000, total: 6_000_000, fromCache: false, overall: 0.1 },
    ]);
    expect(stage(view, 'download')).toMatchObject({ fraction: 0.25, text: '1.5 MB of 6.0 MB', status: 'active' });
    expect(view.overall).toBe(0.1);
    expect(view.current).toBe('download');

    const later = run([
      { type: 'download', file: 'denoiser.onnx', loaded: 6_000_000, total: 6_000_000, fromCache: false, overall: 0.4 },
      { type: 'compile', component: 'denoiser', index: 1, total: 3, overall: 0.45 },
      { type: 'denoise', step: 3, total: 8, overall: 0.6 },
    ]);
    expect(stage(later, 'download').status).toBe('done');
    expect(stage(later, 'compile').status).toBe('done');
    expect(stage(later, 'encode-text').status).toBe('done'); // entered implicitly
    expect(stage(later, 'denoise')).toMatchObject({ fraction: 3 / 8, text: 'step 3 of 8', status: 'active' });
    expect(stage(later, 'decode').status).toBe('waiting');
  });

  it('announces stage changes only, and finishes on done', () => {
    let view = initialProgress();
    const announcements: string[] = [];
    const events: ProgressEvent[] = [
      { type: 'denoise', step: 1, total: 2, overall: 0.3 },
      { type: 'preview', step: 1, width: 2, height: 2, numFrames: 1, rgba: new Uint8Array(16), overall: 0.3 },
      { type: 'denoise', step: 2, total: 2, overall: 0.6 },
      { type: 'decode', frame: 4, total: 8, overall: 0.7 },
      { type: 'encode', frame: 8, total: 8, overall: 0.95 },
      { type: 'done', overall: 1 },
    ];
    for (const e of events) {
      const next = reduceProgress(view, e);
      if (next.announcement !== view.announcement) announcements.push(next.announcement);
      view = next;
    }
    expect(announcements).toEqual(['Denoising', 'Decoding frames', 'Encoding the video', 'Done']);
    expect(view.done).toBe(true);
    expect(view.overall).toBe(1);
    expect(view.stages.every((s) => s.status === 'done' && s.fraction === 1)).toBe(true);
    expect(stage(view, 'decode').text, 'a finished stage shows its total').toBe('frame 8 of 8');
    expect(stage(view, 'encode-text').text).toBe('done');
  });

  it('never moves the overall bar back, and shows a cached download as cached', () => {
    const view = run([
      { type: 'download', file: 'a', loaded: 100, total: 100, fromCache: true, overall: 0.4 },
      { type: 'fallback', from: 'webgpu', to: 'wasm', reason: 'no adapter', overall: 0.2 },
      { type: 'warning', code: 'UNKNOWN_WORDS', message: 'unknown: purple', overall: 0.2 },
    ]);
    expect(view.overall).toBe(0.4);
    expect(stage(view, 'download').text).toBe('0.1 kB from cache');
    expect(view.fallback).toBe('webgpu → wasm: no adapter');
    expect(view.warnings).toEqual(['unknown: purple']);
  });

  it('adds a cloud row after a fallback to the cloud and leaves unrun local stages waiting', () => {
    const view = run([
      { type: 'fallback', from: 'local', to: 'cloud', reason: 'no backend', overall: 0 },
      { type: 'cloud', provider: 'dashscope', state: 'running', elapsedMs: 4200, overall: 0.5 },
      { type: 'done', overall: 1 },
    ]);
    expect(stage(view, 'cloud')).toMatchObject({ status: 'done', fraction: 1 });
    expect(stage(view, 'denoise').status).toBe('waiting');
  });

  it('does not change its input', () => {
    const before = initialProgress();
    reduceProgress(before, { type: 'denoise', step: 1, total: 8, overall: 0.5 });
    expect(before).toEqual(initialProgress());
  });
});
