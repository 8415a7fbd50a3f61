// Memory staging through the engine, on the tiny random Wan model (prepared by wan-setup.ts when this
// run's filters include test/browser/wan-generate.test.ts): with a wasm ceiling that fits each stage
// alone but not all together, the plan releases the text encoder before the denoiser, and the frames
// are the same as with everything loaded. Also a warm load from the Cache API generates the same frames.
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createEngine } from '../../src/engine/engine';
import type { Engine, EngineLoadSpec } from '../../src/contract';
import { fetchManifest, planMemory, selectVariants } from '../../src/models';
import { concatFrames, generateSpec } from './support/model';

const wan = inject('wanTiny');
const skipped = 'skipped' in wan ? wan.skipped : undefined;
if (skipped) console.warn(`\n*** test/browser/engine-staging: ${skipped} (run it with test/browser/wan-generate.test.ts): SKIPPED ***\n`);

const engines: Engine[] = [];
// A cache of this test's own (other files share the origin's storage): the engine opens names through it.
const PREFIX = `kinema-test-staging-${Math.random().toString(36).slice(2)}-`;
const ownCaches = { open: (name: string) => caches.open(PREFIX + name), has: (name: string) => caches.has(PREFIX + name) } as unknown as CacheStorage;
const clearOwn = async () => { for (const name of await caches.keys()) if (name.startsWith(PREFIX)) await caches.delete(name); };
afterAll(async () => {
  for (const e of engines) await e.dispose();
  await clearOwn();
});

describe.skipIf(skipped !== undefined)('engine: staging and warm loads on the tiny Wan model', () => {
  const manifestUrl = () => {
    if (!('manifest' in wan)) throw new Error(`the tiny Wan model could not be prepared: ${'failed' in wan ? wan.failed : wan.skipped}`);
    return new URL(wan.manifest, location.origin).href;
  };
  const request = () => {
    if (!('manifest' in wan)) throw new Error('no model');
    return generateSpec({ prompt: wan.prompt, seed: wan.seed, steps: wan.steps, guidanceScale: 1, numFrames: wan.numFrames, width: wan.width, height: wan.height });
  };
  const spec = (extra: Partial<EngineLoadSpec> = {}): EngineLoadSpec => ({ manifestUrl: manifestUrl(), backend: 'wasm', allowWasm: true, weights: 'fp32', cache: 'memory', ...extra });
  let reference: Uint8Array;

  it('a ceiling that splits the stages: same frames as with everything loaded', async () => {
    const manifest = await fetchManifest(manifestUrl(), { fetch: fetch.bind(globalThis), baseUrl: location.href });
    const variants = selectVariants(manifest, { shaderF16: false, preferDtype: 'fp32' });
    const all = planMemory(manifest, variants, { backend: 'wasm' });
    const ceiling = Math.max(...all.stages.map((s) => s.needBytes));
    const staged = planMemory(manifest, variants, { backend: 'wasm', wasmHeapBytes: ceiling });
    expect(all.residency).toHaveLength(1);
    expect(staged.residency.length, 'the ceiling must split the stages, else this test proves nothing').toBeGreaterThan(1);
    expect(staged.residency[0]).toEqual(['textEncoder']);

    const plain = createEngine();
    engines.push(plain);
    await plain.load(spec());
    reference = concatFrames((await plain.generate(request())).frames!);
    await plain.dispose();

    const limited = createEngine();
    engines.push(limited);
    const info = await limited.load(spec({ memoryLimits: { wasmHeapBytes: ceiling } }));
    expect(info.memory).toEqual({ residency: staged.residency, peakBytes: staged.peakBytes, limitBytes: ceiling, limit: 'wasm-heap' });
    const first = concatFrames((await limited.generate(request())).frames!);
    expect(first).toEqual(reference);
    // A second generation re-creates the text encoder (released for the denoiser) and still matches.
    expect(concatFrames((await limited.generate(request())).frames!)).toEqual(reference);
  });

  it('a warm load from the Cache API fetches no model file and gives the same frames', async () => {
    const requested: string[] = [];
    const counting = ((input: RequestInfo | URL, init?: RequestInit) => {
      requested.push(String(input instanceof Request ? input.url : input));
      return fetch(input, init);
    }) as typeof fetch;
    const cold = createEngine({ fetch: counting, caches: ownCaches });
    engines.push(cold);
    const coldInfo = await cold.load(spec({ cache: 'cache-api' }));
    expect(coldInfo.downloadedBytes).toBe(coldInfo.totalBytes);
    await cold.dispose();
    requested.length = 0;
    const warm = createEngine({ fetch: counting, caches: ownCaches });
    engines.push(warm);
    const info = await warm.load(spec({ cache: 'cache-api' }));
    expect(info.downloadedBytes).toBe(0);
    expect(requested.filter((url) => !url.endsWith('manifest.json'))).toEqual([]);
    expect(concatFrames((await warm.generate(request())).frames!)).toEqual(reference);
  });
});
