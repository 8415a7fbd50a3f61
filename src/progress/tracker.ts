/**
 * `ProgressTracker` turns stage-local progress ("denoise step 3 of 8", "412 of 900 MB") into the events
 * of events.ts with one `overall` fraction that never decreases and ends at exactly 1.
 *
 * The caller declares the stages of one `load` or `generate` call up front, in order, each with a weight
 * and a total (bytes, components, steps, frames). `overall` = Σ weightᵢ·fractionᵢ / Σ weightᵢ. Starting
 * a later stage completes every earlier one, so a stage that reports nothing (all files cached) still
 * counts. Values that go backwards are ignored: a retried download or a repeated step never moves a bar
 * back. Pure: no timers, the clock is injected and only used by the optional download throttle.
 */
import type { ComponentName, ProgressEvent, ProgressListener } from './events';

type Without<E, K extends keyof E> = Omit<E, K>;
export type ProgressDownload = Without<Extract<ProgressEvent, { type: 'download' }>, 'overall'>;
export type ProgressWarning = Without<Extract<ProgressEvent, { type: 'warning' }>, 'overall'>;
/** What the loader reports, before the tracker adds `overall`. */
export type LoadEvent = ProgressDownload | ProgressWarning;
/** Any event as a stage reports it, before the tracker adds `overall` (see `emit`). */
export type StageEvent = ProgressEvent extends infer E ? (E extends { type: 'done' } ? never : Omit<E, 'overall'>) : never;

export type TrackedStage = 'download' | 'compile' | 'encode-text' | 'denoise' | 'decode' | 'encode';

export interface StagePlan {
  stage: TrackedStage;
  /** Bytes for download, sessions for compile, 1 for encode-text, steps for denoise, frames for decode/encode. */
  total: number;
  /** Share of the bar; defaults from DEFAULT_STAGE_WEIGHTS. 0 is allowed (the stage shows events but moves nothing). */
  weight?: number;
}

/** Rough shares of wall time on a desktop GPU; the engine may pass measured ones. */
export const DEFAULT_STAGE_WEIGHTS: Readonly<Record<TrackedStage, number>> = Object.freeze({
  download: 40, compile: 10, 'encode-text': 2, denoise: 35, decode: 10, encode: 3,
});

export interface ProgressTrackerOptions {
  /** Drop intermediate download events closer together than this (the first, file changes and the last always pass). */
  minDownloadIntervalMs?: number;
  now?: () => number;
}

interface StageState {
  plan: Required<StagePlan>;
  value: number;
  /** Finished, so its whole weight counts even when its total is 0. */
  done: boolean;
}

export class ProgressTracker {
  private readonly stages: StageState[];
  private readonly weightSum: number;
  private last = 0;
  private finished = false;
  private current = -1;
  private lastDownloadAt = -Infinity;
  private lastDownloadFile: string | undefined;

  private readonly listener: ProgressListener;

  /** `listener` may be undefined (nobody is listening): the tracker still keeps state, cheaply. */
  constructor(
    listener: ProgressListener | undefined,
    plan: readonly StagePlan[],
    private readonly options: ProgressTrackerOptions = {},
  ) {
    if (listener !== undefined && typeof listener !== 'function') throw new TypeError('ProgressTracker: listener must be a function or undefined');
    if (!Array.isArray(plan)) throw new TypeError('ProgressTracker: plan must be an array of { stage, total, weight? }');
    this.listener = listener ?? (() => undefined);
    const seen = new Set<TrackedStage>();
    this.stages = plan.map((p: StagePlan) => {
      if (!(p.stage in DEFAULT_STAGE_WEIGHTS)) throw new TypeError(`ProgressTracker: unknown stage ${JSON.stringify(p.stage)}`);
      if (seen.has(p.stage)) throw new TypeError(`ProgressTracker: stage "${p.stage}" is declared twice`);
      seen.add(p.stage);
      if (!Number.isFinite(p.total) || p.total < 0) throw new RangeError(`ProgressTracker: total of "${p.stage}" must be a finite number ≥ 0, got ${p.total}`);
      const weight = p.weight ?? DEFAULT_STAGE_WEIGHTS[p.stage];
      if (!Number.isFinite(weight) || weight < 0) throw new RangeError(`ProgressTracker: weight of "${p.stage}" must be a finite number ≥ 0, got ${weight}`);
      return { plan: { stage: p.stage, total: p.total, weight }, value: 0, done: false };
    });
    this.weightSum = this.stages.reduce((s, st) => s + st.plan.weight, 0);
  }

  /** The fraction last emitted. */
  get overall(): number {
    return this.finished ? 1 : this.last;
  }

  /** Bytes across all files of the load; `total` is the load's total as the loader reports it. */
  download(file: string, loaded: number, total: number, fromCache: boolean): void {
    const state = this.enter('download');
    if (!state || this.finished) return;
    if (total > 0 && total !== state.plan.total) state.plan.total = total; // the loader's total is authoritative
    const clamped = clamp(loaded, 0, state.plan.total);
    if (clamped < state.value) return;
    const changedFile = file !== this.lastDownloadFile;
    state.value = clamped;
    const now = this.options.now?.() ?? 0;
    const interval = this.options.minDownloadIntervalMs ?? 0;
    const last = clamped >= state.plan.total;
    if (interval > 0 && !changedFile && !last && now - this.lastDownloadAt < interval) return;
    this.lastDownloadAt = now;
    this.lastDownloadFile = file;
    this.send({ type: 'download', file, loaded: clamped, total: state.plan.total, fromCache, overall: this.compute() });
  }

  /** Feeds a loader event (download or warning) through the tracker. */
  load(event: LoadEvent): void {
    if (event.type === 'download') this.download(event.file, event.loaded, event.total, event.fromCache);
    else this.warning(event.code, event.message, event.details);
  }

  /** Session `index` (0-based) of `total` starts compiling. */
  compile(component: ComponentName, index: number): void {
    const state = this.enter('compile');
    if (!state || this.finished) return;
    const clamped = clamp(index, 0, state.plan.total);
    if (clamped < state.value) return;
    state.value = clamped;
    this.send({ type: 'compile', component, index, total: state.plan.total, overall: this.compute() });
  }

  /**
   * Progress in a counted stage: `done` units of the declared total finished (1-based: step 1 means the
   * first step is complete). `encode-text` takes 0 (started) or 1 (finished). A `total` given here
   * replaces the declared one (the overall fraction still never decreases). `compile` and `download`
   * only advance here, without an event: their events name a component or file, see `compile` and
   * `download`.
   */
  stage(stage: TrackedStage, done: number, total?: number): void {
    const state = this.enter(stage);
    if (!state || this.finished) return;
    if (total !== undefined && Number.isFinite(total) && total > 0) state.plan.total = total; // the caller knows better than the plan
    const clamped = clamp(done, 0, state.plan.total);
    if (clamped < state.value || (clamped === state.value && clamped !== 0)) return;
    state.value = clamped;
    const overall = this.compute();
    if (stage === 'compile' || stage === 'download') return;
    if (stage === 'encode-text') this.send({ type: 'encode-text', overall });
    else if (stage === 'denoise') this.send({ type: 'denoise', step: clamped, total: state.plan.total, overall });
    else this.send({ type: stage, frame: clamped, total: state.plan.total, overall });
  }

  /** Marks a stage (and all before it) finished without an event of its own. */
  complete(stage: TrackedStage): void {
    const index = this.indexOf(stage);
    for (let i = 0; i <= index; i++) finish(this.stages[i]);
    this.current = Math.max(this.current, index);
  }

  warning(code: ProgressWarning['code'], message: string, details?: Record<string, unknown>): void {
    if (this.finished) return;
    this.send({ type: 'warning', code, message, ...(details ? { details } : {}), overall: this.last });
  }

  fallback(from: string, to: string, reason: string, code?: string): void {
    if (this.finished) return;
    this.send({ type: 'fallback', from, to, reason, ...(code ? { code } : {}), overall: this.last });
  }

  preview(event: Without<Extract<ProgressEvent, { type: 'preview' }>, 'overall'>): void {
    if (this.finished) return;
    this.send({ ...event, overall: this.last });
  }

  /**
   * Any event without `overall`, routed like the methods above: download, compile and counted stages
   * move the bar (regressions ignored; an `encode-text` event counts as that stage finished); warning,
   * fallback, preview and cloud pass through with the current overall.
   */
  emit(event: StageEvent | { type: 'done' }): void {
    switch (event.type) {
      case 'download': return this.download(event.file, event.loaded, event.total, event.fromCache);
      case 'compile': return this.compile(event.component, event.index);
      case 'encode-text': return this.stage('encode-text', 1);
      case 'denoise': return this.stage('denoise', event.step, event.total);
      case 'decode':
      case 'encode': return this.stage(event.type, event.frame, event.total);
      case 'done': return this.done();
      default:
        if (!this.finished) this.send({ ...event, overall: this.last } as ProgressEvent);
    }
  }

  /** The last event: `done` with overall exactly 1. Later calls do nothing. */
  done(): void {
    if (this.finished) return;
    this.finished = true;
    this.last = 1;
    this.listener({ type: 'done', overall: 1 });
  }

  private indexOf(stage: TrackedStage): number {
    const index = this.stages.findIndex((s) => s.plan.stage === stage);
    if (index < 0) throw new TypeError(`ProgressTracker: stage "${stage}" was not declared (declared: ${this.stages.map((s) => s.plan.stage).join(', ') || 'none'})`);
    return index;
  }

  /** The stage's state, completing earlier stages; undefined if the tracker already moved past it. */
  private enter(stage: TrackedStage): StageState | undefined {
    const index = this.indexOf(stage);
    if (index < this.current) return undefined; // a late event from a stage already left: ignore
    if (index > this.current) {
      for (let i = 0; i < index; i++) finish(this.stages[i]);
      this.current = index;
    }
    return this.stages[index];
  }

  private compute(): number {
    if (this.weightSum === 0) return this.last;
    let sum = 0;
    for (const s of this.stages) sum += s.plan.weight * (s.done ? 1 : s.plan.total === 0 ? 0 : s.value / s.plan.total);
    const fraction = clamp(sum / this.weightSum, 0, 1);
    this.last = Math.max(this.last, fraction);
    return this.last;
  }

  private send(event: ProgressEvent): void {
    this.listener(event);
  }
}

function finish(state: StageState | undefined): void {
  if (!state) return;
  state.value = state.plan.total;
  state.done = true;
}

function clamp(value: number, min: number, max: number): number {
  if (Number.isNaN(value)) return min;
  return Math.min(max, Math.max(min, value));
}
