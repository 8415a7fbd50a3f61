// Manifest format kinema-model/2 (pipeline, graphs, data files, optional components) next to /1, and the
// family lookup every load runs before downloading anything.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { checkComplete, checkedFamily, familyFor, KNOWN_PIPELINES, missingParts } from '../../src/families';
import { parseManifest, selectedFiles, selectVariants, type ModelManifest } from '../../src/models';

const URL_ = 'https://example.com/models/m/manifest.json';
const v1Json = (): any => JSON.parse(readFileSync(new URL('../fixtures/manifests/good.json', import.meta.url), 'utf8'));
const shippedJson = (): any => JSON.parse(readFileSync(new URL('../../public/models/kinema-micro/manifest.json', import.meta.url), 'utf8'));

/** The same model written as kinema-model/2: each variant's files become one graph named after its file. */
function toV2(json: any): any {
  const out = structuredClone(json);
  out.format = 'kinema-model/2';
  out.pipeline = 'kinema-micro';
  for (const component of Object.values(out.components) as any[]) {
    for (const variant of component.variants) {
      const model = variant.files.find((f: any) => f.role === undefined);
      const name = (model.path ?? new URL(model.url).pathname.split('/').pop()).replace(/\.onnx$/, '');
      variant.graphs = [{ name, files: variant.files }];
      delete variant.files;
    }
  }
  return out;
}

const sha = (c: string) => c.repeat(64);

/** A Wan-shaped /2 variant: a per-prompt graph, two shards with external data, an embedding table. */
function shardedVariant(): any {
  return {
    dtype: 'fp32',
    compute: 'fp32',
    graphs: [
      { name: 'denoiser_context', perPrompt: true, files: [{ path: 'denoiser/context.onnx', bytes: 10, sha256: sha('1') }] },
      { name: 'denoiser_0', files: [
        { path: 'denoiser/block_0.onnx', bytes: 20, sha256: sha('2') },
        { path: 'denoiser/block_0.onnx.data', bytes: 2000, sha256: sha('3'), role: 'external-data' },
      ] },
      { name: 'denoiser_1', files: [
        { path: 'denoiser/block_1.onnx', bytes: 30, sha256: sha('4') },
        { path: 'denoiser/block_1.onnx.data', bytes: 3000, sha256: sha('5'), role: 'external-data' },
      ] },
    ],
    data: [{ path: 'denoiser/table.bin', bytes: 7, sha256: sha('6'), role: 'embedding' }],
  };
}

function rejection(json: unknown): KinemaError {
  try {
    parseManifest(json, URL_);
  } catch (error) {
    expect(error).toBeInstanceOf(KinemaError);
    return error as KinemaError;
  }
  throw new Error('parseManifest accepted a bad manifest');
}

describe('kinema-model/1 and /2 parse to the same model', () => {
  it.each([['the test fixture', v1Json], ['the shipped kinema-micro manifest', shippedJson]])('%s', (_name, json) => {
    const v1 = parseManifest(json(), URL_);
    const v2 = parseManifest(toV2(json()), URL_);
    expect(v1.format).toBe('kinema-model/1');
    expect(v2.format).toBe('kinema-model/2');
    expect(v1.pipeline).toBe('kinema-micro');
    expect(v2.pipeline).toBe('kinema-micro');
    for (const name of ['textEncoder', 'denoiser', 'vaeDecoder'] as const) {
      const a = v1.components[name]!;
      const b = v2.components[name]!;
      expect(b.variants.map((v) => ({ graphs: v.graphs, files: v.files, bytes: v.bytes, data: v.data }))).toEqual(
        a.variants.map((v) => ({ graphs: v.graphs, files: v.files, bytes: v.bytes, data: v.data })),
      );
      for (const variant of a.variants) {
        expect(variant.graphs).toHaveLength(1);
        expect(variant.graphs[0]!.model).toBe(variant.files.find((f) => f.role === undefined));
        expect(variant.graphs[0]!.externalData).toEqual(variant.files.filter((f) => f.role === 'external-data'));
      }
    }
    expect(selectedFiles(v2, selectVariants(v2, { shaderF16: false }))).toEqual(selectedFiles(v1, selectVariants(v1, { shaderF16: false })));
    // Both run as kinema-micro: the family accepts them.
    expect(checkedFamily(v1).pipeline).toBe('kinema-micro');
    expect(checkedFamily(v2).pipeline).toBe('kinema-micro');
  });

  it('names a /1 graph after its file', () => {
    const m = parseManifest(v1Json(), URL_);
    expect(m.components.denoiser!.variants.map((v) => v.graphs[0]!.name)).toEqual(['denoiser', 'denoiser_fp16', 'denoiser_int8']);
  });
});

describe('kinema-model/2: graphs, data, perPrompt', () => {
  const json = () => {
    const j = toV2(v1Json());
    j.components.denoiser.variants = [shardedVariant()];
    return j;
  };

  it('keeps the graphs in order with their external data, and lists every file once for the loader', () => {
    const m = parseManifest(json(), URL_);
    const variant = m.components.denoiser!.variants[0]!;
    expect(variant.graphs.map((g) => [g.name, g.perPrompt, g.model.path, g.externalData.map((f) => f.path)])).toEqual([
      ['denoiser_context', true, 'denoiser/context.onnx', []],
      ['denoiser_0', false, 'denoiser/block_0.onnx', ['denoiser/block_0.onnx.data']],
      ['denoiser_1', false, 'denoiser/block_1.onnx', ['denoiser/block_1.onnx.data']],
    ]);
    expect(variant.data).toEqual([{ path: 'denoiser/table.bin', url: 'https://example.com/models/m/denoiser/table.bin', bytes: 7, sha256: sha('6'), role: 'embedding' }]);
    expect(variant.files.map((f) => f.path)).toEqual([
      'denoiser/context.onnx', 'denoiser/block_0.onnx', 'denoiser/block_0.onnx.data', 'denoiser/block_1.onnx', 'denoiser/block_1.onnx.data', 'denoiser/table.bin',
    ]);
    expect(variant.bytes).toBe(10 + 20 + 2000 + 30 + 3000 + 7);
    const files = selectedFiles(m, selectVariants(m, { shaderF16: false, preferDtype: 'fp32' })).map((f) => f.path);
    expect(files).toContain('denoiser/table.bin');
    expect(files).toContain('denoiser/block_1.onnx.data');
  });

  it('keeps the family fields for the family: the component JSON and the whole manifest', () => {
    const j = json();
    j.components.denoiser.config = { numHeads: 2 };
    j.guidance = { cfg: false };
    const m = parseManifest(j, URL_);
    expect(m.components.denoiser!.json.config).toEqual({ numHeads: 2 });
    expect(m.json.guidance).toEqual({ cfg: false });
  });

  it('the micro family refuses what it cannot run: several graphs, data files', () => {
    const m = parseManifest(json(), URL_);
    const error = (() => { try { checkedFamily(m); } catch (e) { return e as KinemaError; } throw new Error('accepted'); })();
    expect(error.code).toBe('INVALID_MANIFEST');
    expect(error.details.field).toBe('components.denoiser.variants[0].graphs');
    expect(error.message).toContain('kinema-micro');
  });

  const BAD: [string, (j: any) => void, string, RegExp][] = [
    ['no pipeline', (j) => { delete j.pipeline; }, 'pipeline', /model family/],
    ['a /1 files list', (j) => { j.components.denoiser.variants[0].files = []; }, 'components.denoiser.variants[0].files', /graphs/],
    ['no graphs', (j) => { delete j.components.denoiser.variants[0].graphs; }, 'components.denoiser.variants[0].graphs', /non-empty array/],
    ['a graph without a name', (j) => { delete j.components.denoiser.variants[0].graphs[1].name; }, 'components.denoiser.variants[0].graphs[1].name', /graph name/],
    ['two graphs of one name', (j) => { j.components.denoiser.variants[0].graphs[2].name = 'denoiser_0'; }, 'components.denoiser.variants[0].graphs[2].name', /unique/],
    ['a graph with two .onnx', (j) => { j.components.denoiser.variants[0].graphs[1].files[1].role = undefined; }, 'components.denoiser.variants[0].graphs[1].files', /exactly one file without a role/],
    ['a graph of external data only', (j) => { j.components.denoiser.variants[0].graphs[1].files.shift(); }, 'components.denoiser.variants[0].graphs[1].files', /exactly one file without a role/],
    ['perPrompt not a boolean', (j) => { j.components.denoiser.variants[0].graphs[0].perPrompt = 'yes'; }, 'components.denoiser.variants[0].graphs[0].perPrompt', /true or false/],
    ['a per-prompt graph after a per-step one', (j) => { j.components.denoiser.variants[0].graphs[2].perPrompt = true; }, 'components.denoiser.variants[0].graphs[2].perPrompt', /before every per-step graph/],
    ['data as external data', (j) => { j.components.denoiser.variants[0].data[0].role = 'external-data'; }, 'components.denoiser.variants[0].data[0].role', /belongs to its graph/],
    ['a data role that is no label', (j) => { j.components.denoiser.variants[0].data[0].role = 'Embedding Table'; }, 'components.denoiser.variants[0].data[0].role', /lowercase label/],
    ['an unknown component', (j) => { j.components.refiner = j.components.denoiser; }, 'components.refiner', /textEncoder, denoiser, vaeDecoder/],
    ['a releaseOrder naming an absent component', (j) => { delete j.components.vaeDecoder; }, 'releaseOrder[2]', /"textEncoder", "denoiser"/],
    ['a text encoder without hiddenSize', (j) => { delete j.components.textEncoder.hiddenSize; }, 'components.textEncoder.hiddenSize', /positive/],
  ];
  it.each(BAD)('rejects %s, naming the field', (_name, mutate, field, expected) => {
    const j = json();
    mutate(j);
    const error = rejection(j);
    expect(error.code).toBe('INVALID_MANIFEST');
    expect(error.details.field).toBe(field);
    expect(error.message).toContain(`${field} must be`);
    expect(error.message).toMatch(expected);
  });

  it('a /1 manifest may not name another family (that needs /2), nor may /1 drop a component', () => {
    const j = v1Json();
    j.pipeline = 'wan2.1';
    expect(rejection(j).details.field).toBe('pipeline');
    const k = v1Json();
    delete k.components.vaeDecoder;
    expect(rejection(k).details.field).toBe('components.vaeDecoder');
    const t = v1Json();
    delete t.tokenizer;
    expect(rejection(t).details.field).toBe('tokenizer');
  });
});

describe('kinema-model/2 with components left out (a converter given only some)', () => {
  function partial(drop: readonly string[], options: { tokenizer?: boolean } = {}): ModelManifest {
    const j = toV2(v1Json());
    for (const name of drop) delete j.components[name];
    j.releaseOrder = j.releaseOrder.filter((n: string) => !drop.includes(n));
    if (options.tokenizer === false) delete j.tokenizer;
    return parseManifest(j, URL_);
  }

  it('parses and selects variants only for what is there', () => {
    const m = partial(['textEncoder', 'vaeDecoder'], { tokenizer: false });
    expect(Object.keys(m.components)).toEqual(['denoiser']);
    expect(m.tokenizer).toBeUndefined();
    expect(m.releaseOrder).toEqual(['denoiser']);
    const selected = selectVariants(m, { shaderF16: false });
    expect(Object.keys(selected)).toEqual(['denoiser']);
    expect(selectedFiles(m, selected).every((f) => f.path.startsWith('denoiser'))).toBe(true);
    // The family accepts it (it loads for component runs) ...
    expect(checkedFamily(m).pipeline).toBe('kinema-micro');
  });

  it('generation refuses it with MODEL_INCOMPLETE naming what is missing', () => {
    const family = familyFor(partial([]));
    expect(() => checkComplete(partial([]), family)).not.toThrow();
    expect(missingParts(partial(['vaeDecoder']), family)).toEqual(['vaeDecoder']);
    expect(missingParts(partial(['textEncoder'], { tokenizer: false }), family)).toEqual(['textEncoder']);
    expect(missingParts(partial([], { tokenizer: false }), family)).toEqual(['tokenizer']);
    let error: KinemaError | undefined;
    try {
      checkComplete(partial(['textEncoder', 'vaeDecoder']), family);
    } catch (e) {
      error = e as KinemaError;
    }
    expect(error?.code).toBe('MODEL_INCOMPLETE');
    expect(error?.message).toMatch(/no textEncoder, vaeDecoder/);
    expect(error?.details.missing).toEqual(['textEncoder', 'vaeDecoder']);
  });
});

describe('family lookup', () => {
  it('knows kinema-micro, and refuses an unknown pipeline naming the field and the known ones', () => {
    expect(KNOWN_PIPELINES).toEqual(['kinema-micro', 'wan2.1']);
    const j = toV2(v1Json());
    j.pipeline = 'sora';
    const m = parseManifest(j, URL_); // the common rules pass: the family is the engine's question
    let error: KinemaError | undefined;
    try {
      familyFor(m);
    } catch (e) {
      error = e as KinemaError;
    }
    expect(error?.code).toBe('INVALID_MANIFEST');
    expect(error?.details.field).toBe('pipeline');
    expect(error?.message).toContain('pipeline must be one of');
    for (const known of KNOWN_PIPELINES) expect(error?.message).toContain(`"${known}"`);
    expect(error?.message).toContain('"sora"');
  });

  it('the micro family runs only the linear-update schedulers', () => {
    const j = toV2(v1Json());
    j.scheduler = { type: 'ddim', config: { num_train_timesteps: 1000 } };
    const m = parseManifest(j, URL_);
    expect(checkedFamily(m).pipeline).toBe('kinema-micro');
    // A sampler of another family (the parser knows it; kinema-micro's loop does not run it).
    const other = { ...m, scheduler: { type: 'unipc', config: {} } } as unknown as ModelManifest;
    let error: KinemaError | undefined;
    try {
      checkedFamily(other);
    } catch (e) {
      error = e as KinemaError;
    }
    expect(error?.code).toBe('INVALID_MANIFEST');
    expect(error?.details.field).toBe('scheduler.type');
    expect(error?.message).toMatch(/"flow-match-euler", "ddim"/);
  });
});
