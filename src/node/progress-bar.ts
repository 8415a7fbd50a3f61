/** A one-line terminal progress bar for `kinema generate` (plain lines when stderr is not a terminal). */
interface Event { type: string; overall: number; step?: number; total?: number; frame?: number; loaded?: number; state?: string; elapsedMs?: number; reason?: string; to?: string; message?: string }

const LABELS: Record<string, string> = {
  download: 'downloading', compile: 'compiling', 'encode-text': 'reading the prompt', denoise: 'denoising',
  preview: 'denoising', decode: 'decoding', encode: 'encoding', cloud: 'cloud', done: 'done',
};

export function createProgressBar(stream: NodeJS.WriteStream, { quiet }: { quiet: boolean }) {
  const tty = stream.isTTY === true;
  let lastLine = '';
  let lastStage = '';
  let active = false;
  const render = (event: Event) => {
    const label = LABELS[event.type] ?? event.type;
    const detail = event.type === 'denoise' ? ` step ${event.step}/${event.total}`
      : event.type === 'decode' || event.type === 'encode' ? ` frame ${event.frame}/${event.total}`
      : event.type === 'download' ? ` ${((event.loaded ?? 0) / 1e6).toFixed(1)}/${((event.total ?? 0) / 1e6).toFixed(1)} MB`
      : event.type === 'cloud' ? ` ${event.state} ${((event.elapsedMs ?? 0) / 1000).toFixed(0)} s` : '';
    const width = 24;
    const filled = Math.round(Math.min(1, Math.max(0, event.overall)) * width);
    return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(event.overall * 100)).padStart(3)}% ${label}${detail}`;
  };
  return {
    update(event: Event) {
      if (quiet) return;
      if (event.type === 'fallback') {
        if (active && tty) stream.write('\n');
        stream.write(`note: falling back to ${event.to}: ${event.reason}\n`);
        active = false;
        return;
      }
      if (event.type === 'warning' || event.type === 'preview') return;
      const line = render(event);
      if (tty) {
        stream.write(`\r${line.padEnd(lastLine.length)}`);
        active = true;
      } else if (event.type !== lastStage) {
        stream.write(`${line}\n`);
      }
      lastLine = line;
      lastStage = event.type;
    },
    finish() {
      if (active && tty) stream.write('\n');
      active = false;
    },
  };
}
