import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { parseManifest } from '../../src/models';

const MANIFEST_URL = 'https://example.com/models/kinema-micro/manifest.json';
const goodJson = (): any => JSON.parse(readFileSync(new URL('../fixtures/manifests/good.json', import.meta.url), 'utf8'));

function rejection(json: unknown): KinemaError {
  try {
    parseManifest(json, MANIFEST_URL);
  } catch (error) {
    expect(error).toBeInstanceOf(KinemaError);
    return error as KinemaError;
  }
  throw new Error('parseManifest accepted a bad manifest');
}

describe('parseManifest: a good manifest', () => {
  const manifest = parseManifest(goodJson(), MANIFEST_URL);

  it('keeps the fields and fills defaults', () => {
    expect(manifest.id).toBe('kinema-micro');
    expect(manifest.version).toBe('1.0.0');
    expect(manifest.components.textEncoder!.hiddenSize).toBe(128);
    expect(manifest.components.denoiser!.variants.map((v) => `${v.dtype}/${v.compute}`)).toEqual(['fp32/fp32', 'fp16/fp16', 'int8/fp32']);
    expect(manifest.components.denoiser!.variants[0]?.bytes).toBe(3_020_000);
    expect(manifest.latent.std).toHaveLength(8);
    expect(manifest.scheduler).toEqual({ type: 'flow-match-euler', config: { num_train_timesteps: 1000, shift: 3 } });
    expect(manifest.releaseOrder).toEqual(['textEncoder', 'denoiser', 'vaeDecoder']);
    expect(manifest.vocabulary.en?.shape).toEqual(['circle', 'square']);
    expect(manifest.manifestUrl).toBe(MANIFEST_URL);
  });

  it('resolves relative paths against the manifest URL and keeps absolute URLs (Hugging Face resolve)', () => {
    const tokenizer = manifest.tokenizer!.files[0];
    expect(tokenizer?.url).toBe('https://example.com/models/kinema-micro/tokenizer.json');
    const data = manifest.components.denoiser!.variants[0]?.files[1];
    expect(data).toMatchObject({ path: 'denoiser.onnx.data', role: 'external-data', url: 'https://example.com/models/kinema-micro/denoiser.onnx.data' });
    const vae = manifest.components.vaeDecoder!.variants[0]?.files[0];
    expect(vae).toMatchObject({ path: 'vae_decoder.onnx', url: 'https://huggingface.co/kinema/kinema-micro/resolve/main/vae_decoder.onnx' });
    // Only a url: the file is named after its last segment.
    expect(manifest.components.vaeDecoder!.variants[1]?.files[0]?.path).toBe('vae_decoder_fp16.onnx');
  });

  it('resolves nested paths and a manifest served from a Hugging Face resolve URL', () => {
    const json = goodJson();
    json.tokenizer.files[0].path = 'tok/tokenizer.json';
    const hf = parseManifest(json, 'https://huggingface.co/kinema/kinema-micro/resolve/main/manifest.json');
    expect(hf.tokenizer!.files[0]?.url).toBe('https://huggingface.co/kinema/kinema-micro/resolve/main/tok/tokenizer.json');
  });

  it('accepts optional fields missing, and a path shared by two variants when it is the same file', () => {
    const json = goodJson();
    for (const key of ['name', 'description', 'license', 'languages', 'releaseOrder', 'requirements', 'vocabulary', 'examples']) delete json[key];
    json.components.denoiser.variants[2].files.push({ ...json.components.denoiser.variants[0].files[1] });
    const m = parseManifest(json, MANIFEST_URL);
    expect(m.name).toBe('kinema-micro');
    expect(m.requirements).toEqual({});
    expect(m.vocabulary).toEqual({});
  });

  it('a variant may split large weights over several external-data files (the > 2 GB path)', () => {
    const json = goodJson();
    const files = json.components.denoiser.variants[0].files;
    files[1].bytes = 2 ** 31 - 1;
    files.push({ path: 'denoiser.onnx.data_1', bytes: 2 ** 31 - 1, sha256: 'b'.repeat(64), role: 'external-data' });
    const m = parseManifest(json, MANIFEST_URL);
    expect(m.components.denoiser!.variants[0]?.bytes).toBe(20_000 + 2 * (2 ** 31 - 1));
  });

  it('says how to fix a relative manifest URL (caller mistake → TypeError)', () => {
    expect(() => parseManifest(goodJson(), 'models/manifest.json')).toThrow(TypeError);
  });
});

type Mutation = [name: string, mutate: (m: any) => unknown, field: string, expected?: RegExp];

const h = (c: string) => c.repeat(64);
const BAD: Mutation[] = [
  ['not an object', () => [], '(root)', /an object/],
  ['wrong format', (m) => { m.format = 'kinema-model/9'; }, 'format', /"kinema-model\/1", "kinema-model\/2"/],
  ['id with capitals', (m) => { m.id = 'Kinema'; }, 'id', /\[a-z0-9\]/],
  ['missing version', (m) => { delete m.version; }, 'version', /non-empty string.*missing/],
  ['missing tokenizer', (m) => { delete m.tokenizer; }, 'tokenizer', /an object/],
  ['tokenizer without files', (m) => { m.tokenizer.files = []; }, 'tokenizer.files', /non-empty array/],
  ['tokenizer maxLength 0', (m) => { m.tokenizer.maxLength = 0; }, 'tokenizer.maxLength', /positive safe integer/],
  ['missing component', (m) => { delete m.components.vaeDecoder; }, 'components.vaeDecoder', /an object/],
  ['unknown component', (m) => { m.components.vae_decoder = m.components.vaeDecoder; }, 'components.vae_decoder', /known components/],
  ['no variants', (m) => { m.components.denoiser!.variants = []; }, 'components.denoiser.variants', /non-empty array/],
  ['hash in upper case', (m) => { m.components.denoiser!.variants[1].files[0].sha256 = h('A'); }, 'components.denoiser.variants[1].files[0].sha256', /64 lowercase hex/],
  ['hash too short', (m) => { m.tokenizer.files[1].sha256 = 'abc'; }, 'tokenizer.files[1].sha256', /64 lowercase hex.*"abc"/],
  ['negative bytes', (m) => { m.components.denoiser!.variants[0].files[1].bytes = -1; }, 'components.denoiser.variants[0].files[1].bytes', /non-negative safe integer/],
  ['fractional bytes', (m) => { m.components.textEncoder!.variants[0].files[0].bytes = 1.5; }, 'components.textEncoder.variants[0].files[0].bytes', /non-negative safe integer/],
  ['bytes beyond 2^53', (m) => { m.components.textEncoder!.variants[0].files[0].bytes = 2 ** 53; }, 'components.textEncoder.variants[0].files[0].bytes', /safe integer/],
  ['bytes as a string', (m) => { m.components.textEncoder!.variants[0].files[0].bytes = '400000'; }, 'components.textEncoder.variants[0].files[0].bytes'],
  ['path with ..', (m) => { m.tokenizer.files[0].path = '../secret.json'; }, 'tokenizer.files[0].path', /relative path/],
  ['absolute path', (m) => { m.tokenizer.files[0].path = '/tokenizer.json'; }, 'tokenizer.files[0].path', /relative path/],
  ['non-http url', (m) => { m.tokenizer.files[0].url = 'file:///etc/passwd'; }, 'tokenizer.files[0].url', /http\(s\)/],
  ['duplicate path in a variant', (m) => { m.components.denoiser!.variants[0].files[1].path = 'denoiser.onnx'; }, 'components.denoiser.variants[0].files[1].path', /unique/],
  ['same path, different file', (m) => { m.components.denoiser!.variants[2].files[0].path = 'text_encoder.onnx'; }, 'components.denoiser.variants[2].files[0].path', /same file.*components\.textEncoder\.variants\[0\]\.files\[0\]/],
  ['unknown role', (m) => { m.components.denoiser!.variants[0].files[1].role = 'weights'; }, 'components.denoiser.variants[0].files[1].role', /"external-data"/],
  ['two graphs in a variant', (m) => { delete m.components.denoiser!.variants[0].files[1].role; }, 'components.denoiser.variants[0].files', /exactly one file without a role/],
  ['only external data', (m) => { m.components.denoiser!.variants[2].files[0].role = 'external-data'; }, 'components.denoiser.variants[2].files', /exactly one/],
  ['unknown dtype', (m) => { m.components.denoiser!.variants[2].dtype = 'bf16'; }, 'components.denoiser.variants[2].dtype', /"fp32", "fp16", "int8", "int4"/],
  ['unknown compute', (m) => { m.components.denoiser!.variants[2].compute = 'int8'; }, 'components.denoiser.variants[2].compute', /"fp32", "fp16"/],
  ['no fp32-compute variant', (m) => { m.components.vaeDecoder!.variants.shift(); }, 'components.vaeDecoder.variants', /compute is "fp32"/],
  ['two variants of the same kind', (m) => { m.components.textEncoder!.variants[1].dtype = 'fp32'; }, 'components.textEncoder.variants[1]', /only variant/],
  ['missing hiddenSize', (m) => { delete m.components.textEncoder!.hiddenSize; }, 'components.textEncoder.hiddenSize', /positive/],
  ['releaseOrder incomplete', (m) => { m.releaseOrder = ['textEncoder', 'denoiser', 'denoiser']; }, 'releaseOrder', /exactly once/],
  ['releaseOrder unknown name', (m) => { m.releaseOrder = ['textEncoder', 'unet', 'vaeDecoder']; }, 'releaseOrder[1]'],
  ['mean length ≠ channels', (m) => { m.latent.mean.pop(); }, 'latent.mean', /latent.channels = 8/],
  ['std length ≠ channels', (m) => { m.latent.std.push(1); }, 'latent.std', /latent.channels = 8/],
  ['zero std', (m) => { m.latent.std[3] = 0; }, 'latent.std[3]', /> 0/],
  ['NaN-ish mean', (m) => { m.latent.mean[0] = 'x'; }, 'latent.mean[0]', /finite number/],
  ['spatialCompression 0', (m) => { m.latent.spatialCompression = 0; }, 'latent.spatialCompression', /positive/],
  ['unknown scheduler', (m) => { m.scheduler.type = 'dpm++'; }, 'scheduler.type', /"flow-match-euler", "ddim"/],
  ['bad shift', (m) => { m.scheduler.config.shift = -1; }, 'scheduler.config.shift', /> 0/],
  // Scheduler configs are built and planned at parse time, so these fail before any file downloads.
  ['unsupported scheduler key', (m) => { m.scheduler.config.use_karras_sigmas = true; }, 'scheduler.config.use_karras_sigmas', /not supported/],
  ['ddim thresholding', (m) => { m.scheduler = { type: 'ddim', config: { thresholding: true } }; }, 'scheduler.config.thresholding', /not implemented/],
  ['scheduler choice unknown', (m) => { m.scheduler.config.time_shift_type = 'cubic'; }, 'scheduler.config.time_shift_type', /exponential \| linear.*"cubic"/],
  ['scheduler key of the wrong type', (m) => { m.scheduler.config.base_shift = 'big'; }, 'scheduler.config.base_shift', /a number/],
  ['dynamic shifting (needs μ)', (m) => { m.scheduler.config.use_dynamic_shifting = true; }, 'scheduler.config.use_dynamic_shifting', /μ/],
  ['ddim steps beyond num_train_timesteps', (m) => { m.scheduler = { type: 'ddim', config: { num_train_timesteps: 50 } }; }, 'limits.steps.max', /num_train_timesteps.*got 51/],
  ['ddim steps_offset past the schedule', (m) => {
    m.scheduler = { type: 'ddim', config: { num_train_timesteps: 100, steps_offset: 5 } };
  }, 'scheduler.config.steps_offset', /steps_offset 5/],
  ['width not divisible', (m) => { m.limits.sizes[1].width = 50; }, 'limits.sizes[1].width', /divisible by latent.spatialCompression \(4\)/],
  ['height not divisible', (m) => { m.latent.spatialCompression = 8; m.limits.sizes = [{ width: 32, height: 36 }]; }, 'limits.sizes[0].height', /divisible/],
  ['no sizes', (m) => { m.limits.sizes = []; }, 'limits.sizes', /non-empty/],
  ['steps range upside down', (m) => { m.limits.steps = { min: 10, max: 2 }; }, 'limits.steps.max', /≥ limits.steps.min/],
  ['steps min 0', (m) => { m.limits.steps.min = 0; }, 'limits.steps.min', /positive/],
  ['negative guidance', (m) => { m.limits.guidanceScale.min = -1; }, 'limits.guidanceScale.min', /≥ 0/],
  ['frames impossible for temporal compression', (m) => { m.latent.temporalCompression = 4; }, 'limits.numFrames', /k·4 \+ 1/],
  ['default frames impossible for temporal compression', (m) => {
    m.latent.temporalCompression = 4; m.limits.numFrames = { min: 1, max: 21 }; m.defaults.numFrames = 8;
  }, 'defaults.numFrames', /k·4 \+ 1/],
  ['default steps above limit', (m) => { m.defaults.steps = 101; }, 'defaults.steps', /within limits.steps \(1..100\)/],
  ['default guidance above limit', (m) => { m.defaults.guidanceScale = 25; }, 'defaults.guidanceScale', /within limits.guidanceScale/],
  ['default frames outside limit', (m) => { m.defaults.numFrames = 16; }, 'defaults.numFrames', /within limits.numFrames \(8..8\)/],
  ['default size not listed', (m) => { m.defaults.width = 64; }, 'defaults', /listed in limits.sizes \(32×32, 48×32\).*"64×32"/],
  ['zero fps', (m) => { m.defaults.fps = 0; }, 'defaults.fps', /> 0/],
  ['negative requirement', (m) => { m.requirements.webgpu.maxBufferSize = -5; }, 'requirements.webgpu.maxBufferSize', /non-negative/],
  ['vocabulary word not a string', (m) => { m.vocabulary.en.color[1] = 7; }, 'vocabulary.en.color[1]', /string/],
  ['examples not a list', (m) => { m.examples.zh = 'x'; }, 'examples.zh', /an array/],
];

describe('parseManifest: a catalogue of bad manifests', () => {
  it.each(BAD)('rejects %s, naming the field', (_name, mutate, field, expected) => {
    const json = goodJson();
    const replaced = mutate(json);
    const error = rejection(replaced ?? json);
    expect(error.code).toBe('INVALID_MANIFEST');
    expect(error.details.field).toBe(field === '(root)' ? '' : field);
    expect(error.message).toContain(`${field} must be`);
    expect(error.message).toContain(MANIFEST_URL);
    if (expected) expect(error.message).toMatch(expected);
  });

  it('the catalogue mutates a manifest that is otherwise valid', () => {
    expect(() => parseManifest(goodJson(), MANIFEST_URL)).not.toThrow();
  });
});

// The model ships in the repository, so this check must run: a missing manifest fails, never skips.
const shipped = new URL('../../public/models/kinema-micro/manifest.json', import.meta.url);
describe('the shipped kinema-micro manifest', () => {
  it('is in the repository', () => {
    expect(existsSync(shipped), 'public/models/kinema-micro/manifest.json').toBe(true);
  });

  it('validates, with an fp32-compute variant per component', () => {
    const manifest = parseManifest(JSON.parse(readFileSync(shipped, 'utf8')), 'https://example.com/models/kinema-micro/manifest.json');
    expect(manifest.id).toBe('kinema-micro');
    for (const component of ['textEncoder', 'denoiser', 'vaeDecoder'] as const) {
      expect(manifest.components[component]!.variants.some((v) => v.compute === 'fp32')).toBe(true);
    }
  });
});
