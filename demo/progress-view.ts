// Renders the pure progress model (src/widget/progress-model.ts) into the progress section.
import type { ProgressView } from '../src/widget/progress-model';

export class ProgressDisplay {
  private readonly rows = new Map<string, { row: HTMLLIElement; bar: HTMLProgressElement; text: HTMLElement }>();
  /** The model's last announcement that was spoken; an explicit announce() is not overwritten by a re-render. */
  private lastAnnouncement = '';

  constructor(
    private readonly list: HTMLOListElement,
    private readonly overallBar: HTMLProgressElement,
    private readonly overallText: HTMLElement,
    private readonly announcer: HTMLElement,
    private readonly fallback: HTMLElement,
  ) {}

  render(view: ProgressView): void {
    if (view.stages.every((s) => s.status === 'waiting') && !view.done) this.lastAnnouncement = '';
    for (const stage of view.stages) {
      let entry = this.rows.get(stage.key);
      if (!entry) entry = this.addRow(stage.key, stage.label);
      entry.bar.value = stage.fraction;
      entry.text.textContent = stage.text;
      entry.row.dataset.status = stage.status;
      if (stage.status === 'active') entry.row.setAttribute('aria-current', 'step');
      else entry.row.removeAttribute('aria-current');
    }
    for (const [key, entry] of this.rows) if (!view.stages.some((s) => s.key === key)) { entry.row.remove(); this.rows.delete(key); }
    this.overallBar.value = view.overall;
    this.overallText.textContent = `${Math.floor(view.overall * 100)} %`;
    // Only stage changes reach the live region, so a screen reader hears a few sentences, not every step.
    if (view.announcement && view.announcement !== this.lastAnnouncement) {
      this.announcer.textContent = view.announcement;
      this.lastAnnouncement = view.announcement;
    }
    this.fallback.hidden = view.fallback === null;
    this.fallback.textContent = view.fallback ? `Backend changed: ${view.fallback}` : '';
  }

  /** Says something outside the stage flow (cancelled, failed). */
  announce(text: string): void {
    this.announcer.textContent = text;
  }

  private addRow(key: string, label: string) {
    const row = document.createElement('li');
    row.dataset.stage = key;
    const id = `stage-${key}`;
    const name = document.createElement('label');
    name.htmlFor = id;
    name.textContent = label;
    const bar = document.createElement('progress');
    bar.id = id;
    bar.max = 1;
    bar.value = 0;
    const text = document.createElement('span');
    text.className = 'num';
    row.append(name, bar, text);
    this.list.append(row);
    const entry = { row, bar, text };
    this.rows.set(key, entry);
    return entry;
  }
}
