/**
 * `parseManifest`: checks every rule of docs/model-manifest.md and returns a `ModelManifest` with file
 * URLs resolved. The first broken rule throws `KinemaError('INVALID_MANIFEST')` whose message names the
 * field path (`components.denoiser.variants[1].files[0].sha256`) and what was expected, so whoever
 * produced the manifest can fix it without reading this file.
 */
import { KinemaError } from '../errors';
import { createScheduler } from '../schedulers';
import { createSampler } from '../schedulers/sampler';
import {
  COMPONENT_NAMES, COMPUTE_PRECISIONS, DTYPES, MANIFEST_FORMATS, SCHEDULER_TYPES,
  type ComponentName, type ComponentSpec, type ComputePrecision, type Dtype, type FileSpec,
  type GenerationDefaults, type GenerationLimits, type GraphSpec, type LatentSpec, type ManifestFormat,
  type ModelManifest, type Range, type SchedulerSpec, type SchedulerType, type Size, type TextEncoderSpec,
  type TokenizerSpec, type VariantMemory, type VariantSpec, type WebGpuRequirements,
} from './types';

const ID_PATTERN = /^[a-z0-9][a-z0-9._-]*$/;
const GRAPH_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const DATA_ROLE_PATTERN = /^[a-z][a-z0-9-]*$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;
/** Relative, forward slashes, no `.`/`..` segments, no query or fragment: safe as a cache key and a URL path. */
const PATH_SEGMENT_PATTERN = /^[A-Za-z0-9_@+=,~-][A-Za-z0-9._@+=,~-]*$/;

type Json = Record<string, unknown>;

class Checker {
  constructor(readonly manifestUrl: string) {}

  fail(path: string, expected: string, got: unknown): never {
    throw new KinemaError('INVALID_MANIFEST', `Invalid model manifest ${this.manifestUrl}: ${path || '(root)'} must be ${expected}, got ${describe(got)}`, {
      details: { field: path, manifestUrl: this.manifestUrl },
    });
  }

  object(value: unknown, path: string): Json {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) this.fail(path, 'an object', value);
    return value as Json;
  }

  array(value: unknown, path: string, options: { nonEmpty?: boolean } = {}): unknown[] {
    if (!Array.isArray(value)) this.fail(path, options.nonEmpty ? 'a non-empty array' : 'an array', value);
    if (options.nonEmpty && value.length === 0) this.fail(path, 'a non-empty array', value);
    return value;
  }

  string(value: unknown, path: string, options: { nonEmpty?: boolean; pattern?: RegExp; patternText?: string } = {}): string {
    if (typeof value !== 'string') this.fail(path, options.patternText ?? (options.nonEmpty ? 'a non-empty string' : 'a string'), value);
    if (options.nonEmpty && value.trim() === '') this.fail(path, 'a non-empty string', value);
    if (options.pattern && !options.pattern.test(value)) this.fail(path, options.patternText ?? `a string matching ${options.pattern}`, value);
    return value;
  }

  optionalString(value: unknown, path: string, fallback: string): string {
    return value === undefined ? fallback : this.string(value, path);
  }

  oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
    if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
      this.fail(path, `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, value);
    }
    return value as T;
  }

  number(value: unknown, path: string, options: { min?: number; exclusiveMin?: number } = {}): number {
    if (typeof value !== 'number' || !Number.isFinite(value)) this.fail(path, 'a finite number', value);
    if (options.min !== undefined && value < options.min) this.fail(path, `a number ≥ ${options.min}`, value);
    if (options.exclusiveMin !== undefined && value <= options.exclusiveMin) this.fail(path, `a number > ${options.exclusiveMin}`, value);
    return value;
  }

  /** A safe integer ≥ min (bytes, sizes, counts). */
  integer(value: unknown, path: string, min: number): number {
    const expected = min === 0 ? 'a non-negative safe integer' : min === 1 ? 'a positive safe integer' : `a safe integer ≥ ${min}`;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) this.fail(path, expected, value);
    return value;
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'nothing (the field is missing)';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value !== null && typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length > 80 ? `${text.slice(0, 77)}…` : text;
}

/**
 * Validates `json` (the parsed manifest, format `kinema-model/2` or `/1`) and resolves its file URLs
 * against `manifestUrl`, which must be absolute (a caller mistake otherwise: TypeError). The rules
 * common to every family are checked here; the family's own fields by its `validate`
 * (src/families), which also rejects an unknown `pipeline`.
 */
export function parseManifest(json: unknown, manifestUrl: string): ModelManifest {
  let base: URL;
  try {
    base = new URL(manifestUrl);
  } catch {
    throw new TypeError(`parseManifest: manifestUrl must be an absolute URL (resolve it against location.href first), got ${JSON.stringify(manifestUrl)}`);
  }
  const c = new Checker(base.href);
  const root = c.object(json, '');

  const format: ManifestFormat = c.oneOf(root.format, 'format', MANIFEST_FORMATS);
  const v1 = format === 'kinema-model/1';
  // Every /1 model is kinema-micro: the field came with /2.
  let pipeline = 'kinema-micro';
  if (!v1) pipeline = c.string(root.pipeline, 'pipeline', { pattern: ID_PATTERN, patternText: 'the model family, e.g. "kinema-micro" or "wan2.1"' });
  else if (root.pipeline !== undefined && root.pipeline !== 'kinema-micro') c.fail('pipeline', 'absent or "kinema-micro" in kinema-model/1 (name another family with format "kinema-model/2")', root.pipeline);
  const id = c.string(root.id, 'id', { pattern: ID_PATTERN, patternText: 'a lowercase id matching [a-z0-9][a-z0-9._-]*' });
  const version = c.string(root.version, 'version', { nonEmpty: true });
  const name = c.optionalString(root.name, 'name', id);
  const description = c.optionalString(root.description, 'description', '');
  const license = c.optionalString(root.license, 'license', '');
  const languages = root.languages === undefined
    ? []
    : c.array(root.languages, 'languages').map((l, i) => c.string(l, `languages[${i}]`, { nonEmpty: true }));

  const seenFiles = new Map<string, { field: string; file: FileSpec }>();
  const parseFiles = (value: unknown, path: string, roles: 'graph' | 'data' = 'graph'): FileSpec[] => {
    const list = c.array(value, path, { nonEmpty: true });
    const inThisList = new Set<string>();
    return list.map((raw, i) => {
      const field = `${path}[${i}]`;
      const file = parseFile(c, raw, field, base, roles);
      if (inThisList.has(file.path)) c.fail(`${field}.path`, `unique within ${path}`, file.path);
      inThisList.add(file.path);
      // The same path may be shared between variants, but then it must be the same file: the cache and
      // `loadFiles` key files by path.
      const earlier = seenFiles.get(file.path);
      if (earlier && (earlier.file.sha256 !== file.sha256 || earlier.file.bytes !== file.bytes || earlier.file.url !== file.url)) {
        c.fail(`${field}.path`, `unique, or the same file (url, bytes, sha256) as ${earlier.field}`, file.path);
      }
      if (!earlier) seenFiles.set(file.path, { field, file });
      return file;
    });
  };

  // A /2 model converted without its text encoder may have no tokenizer either.
  let tokenizer: TokenizerSpec | undefined;
  if (v1 || root.tokenizer !== undefined) {
    const tokenizerJson = c.object(root.tokenizer, 'tokenizer');
    tokenizer = {
      files: parseFiles(tokenizerJson.files, 'tokenizer.files'),
      maxLength: c.integer(tokenizerJson.maxLength, 'tokenizer.maxLength', 1),
    };
  }

  const componentsJson = c.object(root.components, 'components');
  for (const key of Object.keys(componentsJson)) {
    if (!(COMPONENT_NAMES as readonly string[]).includes(key)) c.fail(`components.${key}`, `absent: the known components are ${COMPONENT_NAMES.join(', ')}`, key);
  }
  const parseComponent = (name: ComponentName): ComponentSpec => {
    const path = `components.${name}`;
    const json = c.object(componentsJson[name], path);
    const variantsJson = c.array(json.variants, `${path}.variants`, { nonEmpty: true });
    const kinds = new Set<string>();
    const variants = variantsJson.map((raw, i) => {
      const variant = parseVariant(c, raw, `${path}.variants[${i}]`, parseFiles, format);
      const kind = `${variant.dtype}/${variant.compute}`;
      if (kinds.has(kind)) c.fail(`${path}.variants[${i}]`, `the only variant with dtype "${variant.dtype}" and compute "${variant.compute}"`, kind);
      kinds.add(kind);
      return variant;
    });
    if (!variants.some((v) => v.compute === 'fp32')) {
      c.fail(`${path}.variants`, 'a list with at least one variant whose compute is "fp32" (devices without shader-f16 need it)', `compute ${variants.map((v) => v.compute).join(', ')}`);
    }
    return { variants, json: structuredCloneJson(json) };
  };
  // /1 has all three components; /2 those the converter was given (the family says which it needs).
  const present = COMPONENT_NAMES.filter((name) => v1 || componentsJson[name] !== undefined);
  const components: { textEncoder?: TextEncoderSpec; denoiser?: ComponentSpec; vaeDecoder?: ComponentSpec } = {};
  for (const name of present) {
    if (name === 'textEncoder') {
      components.textEncoder = {
        ...parseComponent('textEncoder'),
        hiddenSize: c.integer(c.object(componentsJson.textEncoder, 'components.textEncoder').hiddenSize, 'components.textEncoder.hiddenSize', 1),
      };
    } else {
      components[name] = parseComponent(name);
    }
  }

  let releaseOrder: ComponentName[] = [...present];
  if (root.releaseOrder !== undefined) {
    releaseOrder = c.array(root.releaseOrder, 'releaseOrder').map((n, i) => c.oneOf(n, `releaseOrder[${i}]`, present));
    if (releaseOrder.length !== present.length || new Set(releaseOrder).size !== present.length) {
      c.fail('releaseOrder', `each of ${present.join(', ')} exactly once (the components the manifest has)`, root.releaseOrder);
    }
  }

  const latent = parseLatent(c, c.object(root.latent, 'latent'));
  const scheduler = parseScheduler(c, c.object(root.scheduler, 'scheduler'));
  const limits = parseLimits(c, c.object(root.limits, 'limits'), latent);
  checkSchedulerPlans(c, scheduler, limits.steps);
  const defaults = parseDefaults(c, c.object(root.defaults, 'defaults'), limits, latent);

  const requirements: { webgpu?: WebGpuRequirements } = {};
  if (root.requirements !== undefined) {
    const req = c.object(root.requirements, 'requirements');
    if (req.webgpu !== undefined) {
      const gpu = c.object(req.webgpu, 'requirements.webgpu');
      const webgpu: { maxBufferSize?: number; maxStorageBufferBindingSize?: number } = {};
      if (gpu.maxBufferSize !== undefined) webgpu.maxBufferSize = c.integer(gpu.maxBufferSize, 'requirements.webgpu.maxBufferSize', 0);
      if (gpu.maxStorageBufferBindingSize !== undefined) {
        webgpu.maxStorageBufferBindingSize = c.integer(gpu.maxStorageBufferBindingSize, 'requirements.webgpu.maxStorageBufferBindingSize', 0);
      }
      requirements.webgpu = webgpu;
    }
  }

  const vocabulary: Record<string, Record<string, string[]>> = {};
  if (root.vocabulary !== undefined) {
    for (const [lang, categories] of Object.entries(c.object(root.vocabulary, 'vocabulary'))) {
      vocabulary[lang] = {};
      for (const [category, words] of Object.entries(c.object(categories, `vocabulary.${lang}`))) {
        vocabulary[lang][category] = c.array(words, `vocabulary.${lang}.${category}`)
          .map((w, i) => c.string(w, `vocabulary.${lang}.${category}[${i}]`, { nonEmpty: true }));
      }
    }
  }
  const examples: Record<string, string[]> = {};
  if (root.examples !== undefined) {
    for (const [lang, list] of Object.entries(c.object(root.examples, 'examples'))) {
      examples[lang] = c.array(list, `examples.${lang}`).map((p, i) => c.string(p, `examples.${lang}[${i}]`, { nonEmpty: true }));
    }
  }

  return {
    format, pipeline, id, version, name, description, license, languages, manifestUrl: base.href,
    ...(tokenizer ? { tokenizer } : {}),
    components, releaseOrder, latent, scheduler, defaults, limits, requirements, vocabulary, examples,
    json: structuredCloneJson(root),
  };
}

/** `roles`: a graph's files may be `external-data`; a variant's `data` files carry the family's own label, if any. */
function parseFile(c: Checker, raw: unknown, field: string, base: URL, roles: 'graph' | 'data'): FileSpec {
  const json = c.object(raw, field);
  let url: string | undefined;
  if (json.url !== undefined) {
    const text = c.string(json.url, `${field}.url`, { nonEmpty: true });
    let parsed: URL | undefined;
    try {
      parsed = new URL(text);
    } catch {
      // handled below
    }
    if (!parsed || (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')) c.fail(`${field}.url`, 'an absolute http(s) URL', text);
    url = parsed.href;
  }
  let path: string;
  if (json.path !== undefined || url === undefined) {
    path = c.string(json.path, `${field}.path`, { nonEmpty: true });
    const segments = path.split('/');
    if (!segments.every((s) => PATH_SEGMENT_PATTERN.test(s))) {
      c.fail(`${field}.path`, 'a relative path of name segments separated by "/" (no leading "/", no "." or ".." segments, no "?" or "#", no spaces)', path);
    }
  } else {
    // Only a `url`: name the file after the URL's last segment (what a Hugging Face resolve URL ends with).
    const last = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
    if (!PATH_SEGMENT_PATTERN.test(last)) c.fail(`${field}.path`, 'given when the url does not end in a usable file name', undefined);
    path = last;
  }
  const bytes = c.integer(json.bytes, `${field}.bytes`, 0);
  const sha256 = c.string(json.sha256, `${field}.sha256`, { pattern: SHA256_PATTERN, patternText: '64 lowercase hex digits (the SHA-256 of the file)' });
  const file: { path: string; url: string; bytes: number; sha256: string; role?: string } = {
    path, url: url ?? new URL(path, base).href, bytes, sha256,
  };
  if (json.role !== undefined) {
    if (roles === 'graph') {
      file.role = c.oneOf(json.role, `${field}.role`, ['external-data'] as const);
    } else {
      file.role = c.string(json.role, `${field}.role`, { pattern: DATA_ROLE_PATTERN, patternText: 'a lowercase label such as "embedding"' });
      if (file.role === 'external-data') c.fail(`${field}.role`, 'not "external-data" here: external data belongs to its graph (graphs[i].files)', file.role);
    }
  }
  return file;
}

type ParseFiles = (value: unknown, path: string, roles?: 'graph' | 'data') => FileSpec[];

function parseVariant(c: Checker, raw: unknown, field: string, parseFiles: ParseFiles, format: ManifestFormat): VariantSpec {
  const json = c.object(raw, field);
  const dtype: Dtype = c.oneOf(json.dtype, `${field}.dtype`, DTYPES);
  const compute: ComputePrecision = c.oneOf(json.compute, `${field}.compute`, COMPUTE_PRECISIONS);
  let graphs: GraphSpec[];
  let data: FileSpec[] = [];
  if (format === 'kinema-model/1') {
    // A /1 variant is one graph: its files.
    graphs = [parseGraphFiles(c, parseFiles(json.files, `${field}.files`), `${field}.files`, undefined, false)];
  } else {
    if (json.files !== undefined) c.fail(`${field}.files`, 'absent in kinema-model/2: list the variant\'s ONNX graphs as graphs: [{ name, files }] (files was kinema-model/1)', json.files);
    const names = new Set<string>();
    let perStepSeen = false;
    graphs = c.array(json.graphs, `${field}.graphs`, { nonEmpty: true }).map((rawGraph, i) => {
      const path = `${field}.graphs[${i}]`;
      const graphJson = c.object(rawGraph, path);
      const name = c.string(graphJson.name, `${path}.name`, { pattern: GRAPH_NAME_PATTERN, patternText: 'a graph name of letters, digits, "_", "." or "-"' });
      if (names.has(name)) c.fail(`${path}.name`, `unique within ${field}.graphs`, name);
      names.add(name);
      let perPrompt = false;
      if (graphJson.perPrompt !== undefined) {
        if (typeof graphJson.perPrompt !== 'boolean') c.fail(`${path}.perPrompt`, 'true or false', graphJson.perPrompt);
        perPrompt = graphJson.perPrompt;
      }
      // Per-prompt graphs run before the per-step ones; listing them in that order keeps one reading of the chain.
      if (perPrompt && perStepSeen) c.fail(`${path}.perPrompt`, 'false here: per-prompt graphs come before every per-step graph', true);
      if (!perPrompt) perStepSeen = true;
      return parseGraphFiles(c, parseFiles(graphJson.files, `${path}.files`), `${path}.files`, name, perPrompt);
    });
    if (json.data !== undefined) data = parseFiles(json.data, `${field}.data`, 'data');
  }
  const byPath = new Map<string, FileSpec>();
  for (const file of [...graphs.flatMap((g) => [g.model, ...g.externalData]), ...data]) {
    const earlier = byPath.get(file.path);
    if (earlier && earlier.role !== file.role) c.fail(`${field}`, `a variant whose files each have one role; ${file.path} is listed with two`, file.path);
    if (!earlier) byPath.set(file.path, file);
  }
  const files = [...byPath.values()];
  const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
  if (!Number.isSafeInteger(bytes)) c.fail(`${field}`, 'a variant whose files\' bytes add up to a safe integer', bytes);
  let memory: VariantMemory | undefined;
  if (json.memory !== undefined) {
    const memoryJson = c.object(json.memory, `${field}.memory`);
    memory = {
      weightsBytes: c.integer(memoryJson.weightsBytes, `${field}.memory.weightsBytes`, 0),
      activationBytes: c.integer(memoryJson.activationBytes, `${field}.memory.activationBytes`, 0),
    };
  }
  return { dtype, compute, graphs, data, files, bytes, ...(memory ? { memory } : {}) };
}

/** One graph from its file list: exactly one file without a role (the .onnx) plus its external data. */
function parseGraphFiles(c: Checker, files: FileSpec[], field: string, name: string | undefined, perPrompt: boolean): GraphSpec {
  const models = files.filter((f) => f.role === undefined);
  if (models.length !== 1) {
    c.fail(field, 'a list with exactly one file without a role (the ONNX graph) plus any "external-data" files', `${models.length} such files${models.length ? ` (${models.map((f) => f.path).join(', ')})` : ''}`);
  }
  const model = models[0]!;
  // A /1 graph is named after its file: text_encoder.fp16.onnx → text_encoder.fp16.
  const graphName = name ?? (model.path.split('/').pop() ?? model.path).replace(/\.onnx$/i, '');
  return { name: graphName, model, externalData: files.filter((f) => f.role === 'external-data'), perPrompt };
}

function parseLatent(c: Checker, json: Json): LatentSpec {
  const channels = c.integer(json.channels, 'latent.channels', 1);
  const temporalCompression = c.integer(json.temporalCompression, 'latent.temporalCompression', 1);
  const spatialCompression = c.integer(json.spatialCompression, 'latent.spatialCompression', 1);
  const vector = (key: 'mean' | 'std', positive: boolean): number[] => {
    const list = c.array(json[key], `latent.${key}`);
    if (list.length !== channels) c.fail(`latent.${key}`, `an array of latent.channels = ${channels} numbers`, list);
    return list.map((v, i) => c.number(v, `latent.${key}[${i}]`, positive ? { exclusiveMin: 0 } : {}));
  };
  return { channels, temporalCompression, spatialCompression, mean: vector('mean', false), std: vector('std', true) };
}

function parseScheduler(c: Checker, json: Json): SchedulerSpec {
  const type: SchedulerType = c.oneOf(json.type, 'scheduler.type', SCHEDULER_TYPES);
  const config = c.object(json.config ?? {}, 'scheduler.config');
  if (config.num_train_timesteps !== undefined) c.integer(config.num_train_timesteps, 'scheduler.config.num_train_timesteps', 1);
  if (config.shift !== undefined) c.number(config.shift, 'scheduler.config.shift', { exclusiveMin: 0 });
  return { type, config: structuredCloneJson(config) };
}

/**
 * Builds the scheduler and plans every step count the limits allow, exactly as a generation will
 * (no μ), so a config kinema cannot run is INVALID_MANIFEST naming the key before any file is
 * downloaded. The schedulers' errors all read "<type> config: <key> …", which gives the field.
 * Keys the schedulers never read (diffusers metadata such as _class_name, or other schedulers' keys
 * such as skip_prk_steps) stay ignored: they do not change the math kinema runs.
 */
function checkSchedulerPlans(c: Checker, scheduler: SchedulerSpec, steps: Range): void {
  const { type, config } = scheduler;
  const fail = (error: unknown, stepCount?: number): never => {
    if (!(error instanceof TypeError || error instanceof RangeError)) throw error;
    const why = error.message;
    const key = /config: ([A-Za-z_][A-Za-z0-9_]*)/.exec(why)?.[1];
    if (key) c.fail(`scheduler.config.${key}`, `a value the ${type} scheduler supports (${why.replace(/^.*?config: /, '')})`, config[key]);
    if (/needs mu/.test(why)) {
      c.fail('scheduler.config.use_dynamic_shifting', 'false: kinema plans without a sequence-dependent μ', config.use_dynamic_shifting);
    }
    c.fail('limits.steps.max', `a step count the scheduler can plan (${why})`, stepCount ?? steps.max);
  };
  if (type === 'unipc' || type === 'rcm') {
    // Multistep/few-step samplers have no LinearUpdate plan: building the sampler for each step count checks the same things.
    const last = Math.min(steps.max, steps.min + 10_000);
    for (let n = steps.min; n <= last; n++) {
      try {
        createSampler({ type, config }, n, { seed: 0 });
      } catch (error) {
        fail(error, n);
      }
    }
    return;
  }
  let built: ReturnType<typeof createScheduler>;
  try {
    built = createScheduler({ type, config });
  } catch (error) {
    return fail(error);
  }
  // Step counts are few (limits.steps is a small range): plan them all, as each can fail on its own.
  const last = Math.min(steps.max, steps.min + 10_000);
  for (let n = steps.min; n <= last; n++) {
    try {
      built.plan(n);
    } catch (error) {
      fail(error, n);
    }
  }
}

function structuredCloneJson(value: Json): Json {
  return JSON.parse(JSON.stringify(value)) as Json;
}

function parseRange(c: Checker, raw: unknown, path: string, kind: 'integer' | 'number', min: number): Range {
  const json = c.object(raw, path);
  const read = (key: 'min' | 'max') => (kind === 'integer' ? c.integer(json[key], `${path}.${key}`, min) : c.number(json[key], `${path}.${key}`, { min }));
  const range = { min: read('min'), max: read('max') };
  if (range.max < range.min) c.fail(`${path}.max`, `≥ ${path}.min (${range.min})`, range.max);
  return range;
}

function parseLimits(c: Checker, json: Json, latent: LatentSpec): GenerationLimits {
  const steps = parseRange(c, json.steps, 'limits.steps', 'integer', 1);
  const guidanceScale = parseRange(c, json.guidanceScale, 'limits.guidanceScale', 'number', 0);
  const numFrames = parseRange(c, json.numFrames, 'limits.numFrames', 'integer', 1);
  const sizes: Size[] = c.array(json.sizes, 'limits.sizes', { nonEmpty: true }).map((raw, i) => {
    const path = `limits.sizes[${i}]`;
    const size = c.object(raw, path);
    const dims = { width: c.integer(size.width, `${path}.width`, 1), height: c.integer(size.height, `${path}.height`, 1) };
    for (const key of ['width', 'height'] as const) {
      if (dims[key] % latent.spatialCompression !== 0) c.fail(`${path}.${key}`, `divisible by latent.spatialCompression (${latent.spatialCompression})`, dims[key]);
    }
    return dims;
  });
  if (latent.temporalCompression > 1) {
    const tc = latent.temporalCompression;
    let anyValid = false;
    for (let n = numFrames.min; n <= numFrames.max && !anyValid; n++) anyValid = (n - 1) % tc === 0;
    if (!anyValid) c.fail('limits.numFrames', `a range containing a frame count of the form k·${tc} + 1 (latent.temporalCompression = ${tc})`, numFrames);
  }
  return { steps, guidanceScale, numFrames, sizes };
}

function parseDefaults(c: Checker, json: Json, limits: GenerationLimits, latent: LatentSpec): GenerationDefaults {
  const within = (value: number, path: string, range: Range, limitPath: string) => {
    if (value < range.min || value > range.max) c.fail(path, `within ${limitPath} (${range.min}..${range.max})`, value);
    return value;
  };
  const steps = within(c.integer(json.steps, 'defaults.steps', 1), 'defaults.steps', limits.steps, 'limits.steps');
  const guidanceScale = within(c.number(json.guidanceScale, 'defaults.guidanceScale'), 'defaults.guidanceScale', limits.guidanceScale, 'limits.guidanceScale');
  const numFrames = within(c.integer(json.numFrames, 'defaults.numFrames', 1), 'defaults.numFrames', limits.numFrames, 'limits.numFrames');
  const tc = latent.temporalCompression;
  if (tc > 1 && (numFrames - 1) % tc !== 0) c.fail('defaults.numFrames', `of the form k·${tc} + 1 (latent.temporalCompression = ${tc})`, numFrames);
  const fps = c.number(json.fps, 'defaults.fps', { exclusiveMin: 0 });
  const width = c.integer(json.width, 'defaults.width', 1);
  const height = c.integer(json.height, 'defaults.height', 1);
  if (!limits.sizes.some((s) => s.width === width && s.height === height)) {
    c.fail('defaults', `a width × height listed in limits.sizes (${limits.sizes.map((s) => `${s.width}×${s.height}`).join(', ')})`, `${width}×${height}`);
  }
  return { steps, guidanceScale, numFrames, fps, width, height };
}
