// GeneratorOptions.wasmThreads reaches onnxruntime-web, and a count that cannot apply is reported.
import { afterAll, expect, it } from 'vitest';
import { createEngine } from '../../src/engine/engine';
import type { Engine } from '../../src/contract';
import { loadOrt } from '../../src/runtime/ort';
import type { ProgressEvent } from '../../src/progress/events';
import { generateSpec, loadSpec } from './support/model';

const engines: Engine[] = [];
afterAll(async () => { for (const engine of engines) await engine.dispose(); });

async function loadWith(wasmThreads: number) {
  const engine = createEngine();
  engines.push(engine);
  const events: ProgressEvent[] = [];
  const info = await engine.load({ ...loadSpec('wasm'), wasmThreads }, (e) => events.push(e));
  const warned = events.filter((e) => e.type === 'warning' && e.code === 'WASM_THREADS_NOT_APPLIED');
  expect(warned.length, 'a warning event for each warning').toBe(info.warnings.length);
  return { engine, info };
}

// This file has its own page, so its runtime starts here, with the first load's count. Threads need a
// cross-origin isolated page (the demo is; this test page is not, which the runtime answers with 1).
it('sets the thread count at the first load; a count that cannot apply is a warning, not silently dropped', async () => {
  const first = await loadWith(2);
  const running = crossOriginIsolated ? 2 : 1;
  expect((await loadOrt('wasm')).env.wasm.numThreads).toBe(running);
  if (crossOriginIsolated) expect(first.info.warnings).toEqual([]);
  else expect(first.info.warnings.join('\n')).toMatch(/wasmThreads 2 was not applied: the runtime runs 1 thread\(s\) \(threads need a cross-origin isolated page/);
  const result = await first.engine.generate(generateSpec({ prompt: 'a red circle moving right on a black background', steps: 1 }));
  expect(result.frames).toHaveLength(8);

  // The runtime is started: another count is reported; the running count is not.
  const other = running === 2 ? 1 : 3;
  expect((await loadWith(other)).info.warnings.join('\n')).toMatch(new RegExp(`wasmThreads ${other} was not applied: the runtime runs ${running} thread`));
  expect((await loadWith(running)).info.warnings).toEqual([]);
});
