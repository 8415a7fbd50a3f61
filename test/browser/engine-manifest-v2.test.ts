// The engine loads kinema-micro from a kinema-model/2 manifest exactly as from its shipped /1 manifest
// (same frames, byte for byte), loads a /2 manifest that leaves a component out but refuses to generate
// with it (MODEL_INCOMPLETE), and refuses an unknown family before downloading anything. wasm, in Chromium.
import { afterAll, describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { createEngine } from '../../src/engine/engine';
import type { Engine } from '../../src/contract';
import type { ProgressEvent } from '../../src/progress/events';
import { generateSpec, loadSpec, manifestUrl } from './support/model';

/** The shipped manifest rewritten as /2: each variant's files become one graph. */
async function v2Json(edit: (json: any) => void = () => undefined): Promise<any> {
  const json = await (await fetch(manifestUrl)).json();
  json.format = 'kinema-model/2';
  json.pipeline = 'kinema-micro';
  for (const component of Object.values(json.components) as any[]) {
    for (const variant of component.variants) {
      variant.graphs = [{ name: variant.files[0].path.replace(/\.onnx$/, ''), files: variant.files }];
      delete variant.files;
    }
  }
  edit(json);
  return json;
}

/** An engine whose fetch serves `json` at a manifest URL next to the shipped one (so file paths resolve to the same folder). */
function engineServing(json: unknown, name: string) {
  const url = new URL(name, manifestUrl).href;
  const fileRequests: string[] = [];
  const engine = createEngine({
    fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
      const requested = String(input instanceof Request ? input.url : input);
      if (requested === url) return new Response(JSON.stringify(json), { headers: { 'content-type': 'application/json' } });
      fileRequests.push(requested);
      return fetch(input, init);
    }) as typeof fetch,
  });
  return { engine, url, fileRequests };
}

const engines: Engine[] = [];
afterAll(async () => {
  for (const engine of engines) await engine.dispose();
});

const spec = generateSpec({ prompt: 'a red circle moving right on a black background', seed: 5, steps: 4 });

describe('engine with kinema-model/2 manifests', () => {
  it('a /2 manifest of kinema-micro gives the same frames as its /1 manifest', async () => {
    const v1 = createEngine();
    engines.push(v1);
    await v1.load(loadSpec('wasm'));
    const expected = await v1.generate(spec);

    const { engine, url } = engineServing(await v2Json(), 'manifest.v2-test.json');
    engines.push(engine);
    const events: ProgressEvent[] = [];
    const info = await engine.load({ ...loadSpec('wasm'), manifestUrl: url }, (e) => events.push(e));
    expect(info.variants).toEqual({ textEncoder: 'fp32', denoiser: 'fp32', vaeDecoder: 'fp32' });
    expect(events.filter((e) => e.type === 'compile').map((e) => (e as { component: string }).component)).toEqual(['textEncoder', 'denoiser', 'vaeDecoder']);
    const result = await engine.generate(spec);
    expect(result.frames!.length).toBe(expected.frames!.length);
    result.frames!.forEach((frame, i) => expect(frame, `frame ${i}`).toEqual(expected.frames![i]));
  });

  it('a /2 manifest without its decoder loads, and generate refuses it naming the component', async () => {
    const json = await v2Json((j) => {
      delete j.components.vaeDecoder;
      j.releaseOrder = ['textEncoder', 'denoiser'];
    });
    const { engine, url } = engineServing(json, 'manifest.v2-partial-test.json');
    engines.push(engine);
    const events: ProgressEvent[] = [];
    const info = await engine.load({ ...loadSpec('wasm'), manifestUrl: url }, (e) => events.push(e));
    expect(info.variants).toEqual({ textEncoder: 'fp32', denoiser: 'fp32' });
    expect(events.filter((e) => e.type === 'compile').map((e) => (e as { total: number }).total)).toEqual([2, 2]);
    const error = await engine.generate(spec).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('MODEL_INCOMPLETE');
    expect((error as KinemaError).message).toContain('no vaeDecoder');
    expect((error as KinemaError).details.missing).toEqual(['vaeDecoder']);
  });

  it('an unknown pipeline is INVALID_MANIFEST naming the field, before any file is fetched', async () => {
    const { engine, url, fileRequests } = engineServing(await v2Json((j) => { j.pipeline = 'not-a-family'; }), 'manifest.v2-unknown-test.json');
    engines.push(engine);
    const error = await engine.load({ ...loadSpec('wasm'), manifestUrl: url }).catch((e: unknown) => e);
    expect((error as KinemaError).code).toBe('INVALID_MANIFEST');
    expect((error as KinemaError).details.field).toBe('pipeline');
    expect((error as KinemaError).message).toContain('"kinema-micro"');
    expect(fileRequests).toEqual([]);
  });
});
