/**
 * Progress events folded into what a progress display shows: one row per stage with a fraction and a
 * text with real numbers ("3.1 MB of 9.8 MB", "step 3 of 8"), the overall fraction, and a short sentence
 * for a polite live region that changes only when the stage changes (screen readers should not hear
 * every step). Pure: no DOM, runs in Node; the demo page and the widget both render it.
 */
import type { ProgressEvent } from '../progress/events';
import { formatBytes, formatDuration } from './format';

export type StageKey = 'download' | 'compile' | 'encode-text' | 'denoise' | 'decode' | 'encode' | 'cloud';

export interface StageView {
  key: StageKey;
  label: string;
  /** 0..1 */
  fraction: number;
  /** Real numbers, e.g. "step 3 of 8"; '' before the stage starts. */
  text: string;
  status: 'waiting' | 'active' | 'done';
  /** The stage's total (bytes, components, steps, frames) once known, so a finished stage can say "8 of 8". */
  total?: number;
}

export interface ProgressView {
  stages: StageView[];
  overall: number;
  /** The stage now running, or null before the first event and after `done`. */
  current: StageKey | null;
  /** For an aria-live region: changes when the stage changes, not on every step. */
  announcement: string;
  warnings: string[];
  /** Set when the automatic backend choice moved on (e.g. "webgpu → wasm: …"). */
  fallback: string | null;
  done: boolean;
}

export const LOCAL_STAGES: readonly StageKey[] = ['download', 'compile', 'encode-text', 'denoise', 'decode', 'encode'];

const LABELS: Readonly<Record<StageKey, string>> = {
  download: 'Download model',
  compile: 'Prepare model',
  'encode-text': 'Read prompt',
  denoise: 'Denoise',
  decode: 'Decode frames',
  encode: 'Encode video',
  cloud: 'Cloud',
};

export function initialProgress(): ProgressView {
  return {
    stages: LOCAL_STAGES.map((key) => ({ key, label: LABELS[key], fraction: 0, text: '', status: 'waiting' })),
    overall: 0,
    current: null,
    announcement: '',
    warnings: [],
    fallback: null,
    done: false,
  };
}

const ratio = (n: number, total: number) => (total > 0 ? Math.min(1, Math.max(0, n / total)) : 0);

function stageOf(event: ProgressEvent): StageKey | null {
  switch (event.type) {
    case 'download': case 'compile': case 'encode-text': case 'denoise': case 'decode': case 'encode': case 'cloud':
      return event.type;
    default:
      return null;
  }
}

/** "step 3 of 8", "1.5 MB of 6.0 MB": the numbers a stage shows. */
function countText(key: StageKey, done: number, total: number): string {
  switch (key) {
    case 'download': return `${formatBytes(done)} of ${formatBytes(total)}`;
    case 'compile': return `component ${done} of ${total}`;
    case 'denoise': return `step ${done} of ${total}`;
    default: return `frame ${done} of ${total}`;
  }
}

function describe(event: ProgressEvent): { fraction: number; text: string; total?: number } | null {
  switch (event.type) {
    case 'download':
      return event.fromCache && event.loaded >= event.total
        ? { fraction: 1, text: `${formatBytes(event.total)} from cache` }
        : { fraction: ratio(event.loaded, event.total), text: countText('download', event.loaded, event.total), total: event.total };
    case 'compile':
      // `index` is the 0-based session now starting.
      return { fraction: ratio(event.index, event.total), text: countText('compile', event.index + 1, event.total), total: event.total };
    case 'encode-text':
      return { fraction: 0.5, text: 'encoding the prompt' };
    case 'denoise':
      return { fraction: ratio(event.step, event.total), text: countText('denoise', event.step, event.total), total: event.total };
    case 'decode':
    case 'encode':
      return { fraction: ratio(event.frame, event.total), text: countText(event.type, event.frame, event.total), total: event.total };
    case 'cloud':
      return { fraction: event.state === 'succeeded' ? 1 : 0.5, text: `${event.state}, ${formatDuration(event.elapsedMs)}` };
    default:
      return null;
  }
}

const ANNOUNCE: Readonly<Record<StageKey, string>> = {
  download: 'Downloading the model',
  compile: 'Preparing the model',
  'encode-text': 'Reading the prompt',
  denoise: 'Denoising',
  decode: 'Decoding frames',
  encode: 'Encoding the video',
  cloud: 'Generating in the cloud',
};

/** The view after one more event. Returns a new object; the input is not changed. */
export function reduceProgress(view: ProgressView, event: ProgressEvent): ProgressView {
  const next: ProgressView = { ...view, stages: view.stages.map((s) => ({ ...s })), warnings: [...view.warnings] };
  next.overall = Math.max(view.overall, Math.min(1, Math.max(0, event.overall)));
  if (event.type === 'done') {
    // Local stages up to the last one that ran are finished (one may report nothing, e.g. a model already
    // loaded); local stages that never ran, as after a fallback to the cloud, stay waiting.
    let last = -1;
    next.stages.forEach((s, i) => { if (s.key !== 'cloud' && s.status !== 'waiting') last = i; });
    next.stages.forEach((s, i) => { if (s.key === 'cloud' ? s.status !== 'waiting' : i <= last) finishStage(s); });
    next.overall = 1;
    next.current = null;
    next.done = true;
    next.announcement = 'Done';
    return next;
  }
  if (event.type === 'warning') {
    next.warnings.push(event.message);
    return next;
  }
  if (event.type === 'fallback') {
    next.fallback = `${event.from} → ${event.to}: ${event.reason}`;
    next.announcement = `Switching from ${event.from} to ${event.to}`;
    if (event.to === 'cloud' && !next.stages.some((s) => s.key === 'cloud')) {
      next.stages.push({ key: 'cloud', label: LABELS.cloud, fraction: 0, text: '', status: 'waiting' });
    }
    return next;
  }
  const key = stageOf(event);
  const shown = key && describe(event);
  if (!key || !shown) return next; // preview events change no bar
  let index = next.stages.findIndex((s) => s.key === key);
  if (index < 0) {
    next.stages.push({ key, label: LABELS[key], fraction: 0, text: '', status: 'waiting' });
    index = next.stages.length - 1;
  }
  // Entering a stage finishes every local stage before it (a cached download reports nothing).
  if (key !== 'cloud') for (let i = 0; i < index; i++) if (next.stages[i]!.key !== 'cloud') finishStage(next.stages[i]!);
  const stage = next.stages[index]!;
  stage.fraction = Math.max(stage.status === 'done' ? 1 : stage.fraction, shown.fraction);
  stage.text = shown.text;
  if (shown.total !== undefined) stage.total = shown.total;
  stage.status = stage.fraction >= 1 && key !== 'encode-text' && key !== 'compile' ? 'done' : 'active';
  if (next.current !== key) next.announcement = ANNOUNCE[key];
  next.current = key;
  return next;
}

function finishStage(stage: StageView): void {
  stage.fraction = 1;
  stage.status = 'done';
  // A stage left early (the engine interleaves decoding and encoding frame by frame) still ends complete.
  if (stage.total !== undefined && stage.key !== 'cloud' && !stage.text.endsWith('from cache')) stage.text = countText(stage.key, stage.total, stage.total);
  else if (stage.text === '' || stage.key === 'encode-text') stage.text = 'done';
}
