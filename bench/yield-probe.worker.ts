// (a)'s trace: what one yieldToEventLoop costs inside a worker on this machine (the engine's loop yields
// once per denoising step and before the decoded frames), measured as the loop meets it: right after a burst of
// synchronous work standing in for a session.run. A setTimeout(0) and a
// scheduler.postTask (where the worker has it) are measured the same way, for scale.
import { yieldToEventLoop } from '../src/pipeline/loop';

function busy(ms: number): void {
  const end = performance.now() + ms;
  let x = 0;
  while (performance.now() < end) x += Math.sqrt(x + 1);
  if (x < 0) console.log(x);
}

async function timed(count: number, workMs: number, pause: () => Promise<unknown>): Promise<number> {
  let total = 0;
  for (let i = 0; i < count; i++) {
    busy(workMs);
    const t = performance.now();
    await pause();
    total += performance.now() - t;
  }
  return total / count;
}

self.onmessage = async (event: MessageEvent<{ count: number; workMs: number }>) => {
  const { count, workMs } = event.data;
  const yieldMs = await timed(count, workMs, yieldToEventLoop);
  const timeoutMs = await timed(count, workMs, () => new Promise((resolve) => setTimeout(resolve, 0)));
  const scheduler = (globalThis as { scheduler?: { postTask(task: () => void, options?: { priority?: string }): Promise<void> } }).scheduler;
  const postTaskMs = scheduler ? await timed(count, workMs, () => scheduler.postTask(() => undefined, { priority: 'user-visible' })) : null;
  self.postMessage({ yieldMs, timeoutMs, postTaskMs });
};
