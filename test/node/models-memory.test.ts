// The memory plan (src/models/memory.ts): the manifest's per-variant `memory`, which stages stay loaded
// together, and the refusal before any download naming the stage, its need and the limit.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import {
  checkDeviceLimits, DEFAULT_WASM_HEAP_BYTES, describeMemoryPlan, formatByteSize, parseManifest, planMemory, selectVariants,
  WASM_MEMORY_BYTES, type MemoryTarget, type ModelManifest, type SelectedVariants,
} from '../../src/models';

const URL_ = 'https://example.com/models/wan/manifest.json';
const GB = 1e9;
/** Whole bytes (2.9 * 1e9 is not an integer in floating point). */
const gb = (x: number) => Math.round(x * GB);
const GiB = 2 ** 30;
let shaCounter = 0;
const sha = () => (shaCounter++ % 16).toString(16).repeat(64);

interface VariantIn {
  dtype: string;
  /** The .onnx file's bytes (no role). */
  graph: number;
  /** External-data bytes (0: none). */
  data?: number;
  memory?: unknown;
}

function variantJson(component: string, v: VariantIn): any {
  const base = `${component}/${component}.${v.dtype}`;
  const files: any[] = [{ path: `${base}.onnx`, bytes: v.graph, sha256: sha() }];
  if (v.data) files.push({ path: `${base}.onnx.data`, bytes: v.data, sha256: sha(), role: 'external-data' });
  return { dtype: v.dtype, compute: 'fp32', graphs: [{ name: `${component}_0`, files }], ...(v.memory !== undefined ? { memory: v.memory } : {}) };
}

function manifestJson(components: Record<string, VariantIn[]>, extra: Record<string, unknown> = {}): any {
  const json: any = {
    format: 'kinema-model/2', pipeline: 'wan2.1', id: 'wan-test', version: '1',
    tokenizer: { files: [{ path: 'tokenizer.json', bytes: 1000, sha256: sha() }], maxLength: 8 },
    components: {},
    latent: { channels: 1, temporalCompression: 1, spatialCompression: 8, mean: [0], std: [1] },
    scheduler: { type: 'flow-match-euler', config: {} },
    defaults: { steps: 4, guidanceScale: 0, numFrames: 1, fps: 16, width: 416, height: 240 },
    limits: { steps: { min: 1, max: 4 }, guidanceScale: { min: 0, max: 10 }, numFrames: { min: 1, max: 1 }, sizes: [{ width: 416, height: 240 }] },
    ...extra,
  };
  for (const [name, variants] of Object.entries(components)) {
    json.components[name] = { variants: variants.map((v) => variantJson(name, v)), ...(name === 'textEncoder' ? { hiddenSize: 8 } : {}) };
  }
  return json;
}

const bigGpu = { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: 4 * GiB };
const memory = (weightsBytes: number, activationBytes: number) => ({ weightsBytes, activationBytes });

/** Wan2.1-1.3B-shaped figures (not measured; what the plan is tested against): int4 umT5, int8 DiT, fp16 decoder. */
function wanLike(): ModelManifest {
  return parseManifest(manifestJson({
    textEncoder: [
      { dtype: 'int4', graph: 1_000_000, data: gb(2.9), memory: memory(gb(2.9), gb(0.3)) },
      { dtype: 'fp16', graph: 1_000_000, data: gb(9.4), memory: memory(gb(9.4), gb(0.3)) },
    ],
    denoiser: [{ dtype: 'int8', graph: 2_000_000, data: gb(1.5), memory: memory(gb(1.5), gb(1.2)) }],
    vaeDecoder: [{ dtype: 'fp16', graph: 30_000_000, memory: memory(30_000_000, gb(0.2)) }],
  }), URL_);
}

const pick = (manifest: ModelManifest, dtype?: string): SelectedVariants => selectVariants(manifest, { shaderF16: false, ...(dtype ? { preferDtype: dtype as 'int4' } : {}) });

function refusal(run: () => unknown): KinemaError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('DEVICE_LIMITS');
    return error as KinemaError;
  }
  throw new Error('planMemory accepted a plan that does not fit');
}

function manifestRejection(json: unknown): KinemaError {
  try {
    parseManifest(json, URL_);
  } catch (error) {
    expect(error).toBeInstanceOf(KinemaError);
    return error as KinemaError;
  }
  throw new Error('parseManifest accepted a bad manifest');
}

describe('variant memory in the manifest', () => {
  it('parses memory when declared and leaves it absent otherwise', () => {
    const manifest = parseManifest(manifestJson({
      denoiser: [{ dtype: 'int8', graph: 10, data: 100, memory: memory(120, 5000) }, { dtype: 'fp32', graph: 10, data: 400 }],
    }), URL_);
    const [int8, fp32] = manifest.components.denoiser!.variants;
    expect(int8!.memory).toEqual({ weightsBytes: 120, activationBytes: 5000 });
    expect(fp32!.memory).toBeUndefined();
  });

  it.each([
    [{ weightsBytes: -1, activationBytes: 0 }, 'components.denoiser.variants[0].memory.weightsBytes', 'non-negative'],
    [{ weightsBytes: 10, activationBytes: 1.5 }, 'components.denoiser.variants[0].memory.activationBytes', 'non-negative'],
    [{ weightsBytes: 10 }, 'components.denoiser.variants[0].memory.activationBytes', 'missing'],
    [{ weightsBytes: '10', activationBytes: 0 }, 'components.denoiser.variants[0].memory.weightsBytes', 'non-negative'],
    [[1, 2], 'components.denoiser.variants[0].memory', 'an object'],
  ])('refuses memory %j, naming the field', (bad, field, words) => {
    const error = manifestRejection(manifestJson({ denoiser: [{ dtype: 'int8', graph: 10, memory: bad }] }));
    expect(error.code).toBe('INVALID_MANIFEST');
    expect(error.details.field).toBe(field);
    expect(error.message).toContain(field);
    expect(error.message).toContain(words);
  });
});

describe('planMemory on wasm', () => {
  it('keeps every stage loaded when they fit together', () => {
    const manifest = parseManifest(manifestJson({
      textEncoder: [{ dtype: 'fp32', graph: 400_000, memory: memory(400_000, 100_000) }],
      denoiser: [{ dtype: 'fp32', graph: 20_000, data: 3_000_000, memory: memory(3_020_000, 2_000_000) }],
      vaeDecoder: [{ dtype: 'fp32', graph: 600_000 }],
    }), URL_);
    const plan = planMemory(manifest, pick(manifest), { backend: 'wasm' });
    expect(plan.residency).toEqual([['textEncoder', 'denoiser', 'vaeDecoder']]);
    expect(plan.stages.map((s) => [s.component, s.weightsBytes, s.activationBytes, s.needBytes, s.declared])).toEqual([
      ['textEncoder', 400_000, 100_000, 500_000, true],
      ['denoiser', 3_020_000, 2_000_000, 5_020_000, true],
      // No memory declared: the variant's bytes stand in for its weights, no activations.
      ['vaeDecoder', 600_000, 0, 600_000, false],
    ]);
    expect(plan.peakBytes).toBe(500_000 + 5_020_000 + 600_000);
    expect(plan.downloadBytes).toBe(1000 + 400_000 + 3_020_000 + 600_000); // tokenizer included
    expect(plan).toMatchObject({ backend: 'wasm', limit: 'wasm-heap', limitBytes: DEFAULT_WASM_HEAP_BYTES });
    expect(describeMemoryPlan(plan)).toBe('download 4.0 MB, needs 6.1 MB of memory at most');
  });

  it('releases the text encoder before the denoiser when they do not fit together', () => {
    const manifest = wanLike();
    const plan = planMemory(manifest, pick(manifest), { backend: 'wasm' });
    expect(plan.stages.map((s) => s.needBytes)).toEqual([gb(3.2), gb(2.7), gb(0.23)]);
    expect(plan.residency).toEqual([['textEncoder'], ['denoiser', 'vaeDecoder']]);
    expect(plan.peakBytes).toBe(gb(3.2)); // the text encoder alone; the denoiser and decoder need 2.93 GB
    expect(plan.downloadBytes).toBe(1000 + 1_000_000 + gb(2.9) + 2_000_000 + gb(1.5) + 30_000_000);
    expect(describeMemoryPlan(plan)).toBe('download 4.43 GB, needs 3.20 GB of memory at most (the text encoder is released before the denoiser)');
    // A page may use its own byte format.
    expect(describeMemoryPlan(plan, (b) => `${Math.round(b / 1e8)}`)).toBe('download 44, needs 32 of memory at most (the text encoder is released before the denoiser)');
  });

  it('releases the denoiser before the decoder only when they do not fit together', () => {
    const manifest = wanLike();
    const variants = pick(manifest);
    // 2.93 GB fits the denoiser with the decoder: two groups.
    expect(planMemory(manifest, variants, { backend: 'wasm', wasmHeapBytes: gb(3.3) }).residency).toEqual([['textEncoder'], ['denoiser', 'vaeDecoder']]);
    const small = parseManifest(manifestJson({
      textEncoder: [{ dtype: 'int4', graph: 100, memory: memory(gb(1), 0) }],
      denoiser: [{ dtype: 'int8', graph: 100, memory: memory(gb(1), gb(1)) }],
      vaeDecoder: [{ dtype: 'fp16', graph: 100, memory: memory(gb(0.5), gb(0.6)) }],
    }), URL_);
    const three = planMemory(small, pick(small), { backend: 'wasm', wasmHeapBytes: gb(2.5) });
    expect(three.residency).toEqual([['textEncoder'], ['denoiser'], ['vaeDecoder']]);
    expect(three.peakBytes).toBe(gb(2));
    expect(describeMemoryPlan(three)).toBe('download 1.3 kB, needs 2.00 GB of memory at most (the text encoder is released before the denoiser, the denoiser is released before the VAE decoder)');
    // The text encoder fits with the denoiser but the decoder does not fit with it: [te, den], [dec].
    const late = parseManifest(manifestJson({
      textEncoder: [{ dtype: 'int4', graph: 100, memory: memory(gb(0.2), 0) }],
      denoiser: [{ dtype: 'int8', graph: 100, memory: memory(gb(1), gb(1)) }],
      vaeDecoder: [{ dtype: 'fp16', graph: 100, memory: memory(gb(0.5), gb(0.6)) }],
    }), URL_);
    expect(planMemory(late, pick(late), { backend: 'wasm', wasmHeapBytes: gb(2.5) }).residency).toEqual([['textEncoder', 'denoiser'], ['vaeDecoder']]);
    // With room for all three, one group again.
    expect(planMemory(late, pick(late), { backend: 'wasm', wasmHeapBytes: gb(3.4) }).residency).toEqual([['textEncoder', 'denoiser', 'vaeDecoder']]);
  });

  it('refuses a stage larger than the wasm heap, naming the stage, its need, the limit and a fix', () => {
    const manifest = wanLike();
    const error = refusal(() => planMemory(manifest, pick(manifest, 'fp16'), { backend: 'wasm' }));
    expect(error.details).toMatchObject({
      stage: 'textEncoder', needBytes: gb(9.7), limitBytes: DEFAULT_WASM_HEAP_BYTES, limit: 'wasm-heap',
      weightsBytes: gb(9.4), activationBytes: gb(0.3), model: 'wan-test',
    });
    expect(error.message).toContain('the text encoder stage needs 9.70 GB (weights 9.40 GB + activations 300.0 MB) but wasm memory stops at 4.03 GB');
    expect(error.message).toContain("weights: 'int4'"); // the smaller variant the manifest has
    expect(error.message).toContain("backend: 'webgpu'");
    // The smaller variant it suggests does plan.
    expect(planMemory(manifest, pick(manifest, 'int4'), { backend: 'wasm' }).residency).toHaveLength(2);
  });

  it('plans against a lowered wasm ceiling and says where the ceiling came from', () => {
    const manifest = wanLike();
    const error = refusal(() => planMemory(manifest, pick(manifest), { backend: 'wasm', wasmHeapBytes: gb(3) }));
    expect(error.details).toMatchObject({ stage: 'textEncoder', needBytes: gb(3.2), limitBytes: gb(3), limit: 'wasm-heap' });
    expect(error.message).toContain('memoryLimits.wasmHeapBytes');
    expect(error.message).toContain('200.0 MB short');
  });

  it('says when the download size stands in for an undeclared need', () => {
    const manifest = parseManifest(manifestJson({ denoiser: [{ dtype: 'fp32', graph: 100, data: gb(5) }] }), URL_);
    const error = refusal(() => planMemory(manifest, pick(manifest), { backend: 'wasm' }));
    expect(error.details).toMatchObject({ stage: 'denoiser', needBytes: gb(5) + 100, activationBytes: 0 });
    expect(error.message).toContain('declares no memory');
    expect(error.message).toContain('smaller weights (e.g. int4)'); // no smaller variant in the manifest: convert one
  });
});

describe('planMemory on webgpu', () => {
  it('keeps everything loaded when the GPU memory is not known', () => {
    const manifest = wanLike();
    const plan = planMemory(manifest, pick(manifest), { backend: 'webgpu', gpu: bigGpu });
    expect(plan.residency).toEqual([['textEncoder', 'denoiser', 'vaeDecoder']]);
    expect(plan.peakBytes).toBe(gb(3.2) + gb(2.7) + gb(0.23));
    expect(plan.limit).toBeUndefined();
    expect(plan.limitBytes).toBeUndefined();
    expect(describeMemoryPlan(plan)).toBe('download 4.43 GB, needs 6.13 GB of GPU memory at most');
  });

  it('stages against gpu.memoryBytes, and refuses a stage larger than it', () => {
    const manifest = wanLike();
    const plan = planMemory(manifest, pick(manifest), { backend: 'webgpu', gpu: { ...bigGpu, memoryBytes: gb(4) } });
    expect(plan.residency).toEqual([['textEncoder'], ['denoiser', 'vaeDecoder']]);
    expect(plan).toMatchObject({ limit: 'gpu-memory', limitBytes: gb(4), peakBytes: gb(3.2) });
    const error = refusal(() => planMemory(manifest, pick(manifest), { backend: 'webgpu', gpu: { ...bigGpu, memoryBytes: gb(3) } }));
    expect(error.details).toMatchObject({ stage: 'textEncoder', needBytes: gb(3.2), limitBytes: gb(3), limit: 'gpu-memory' });
    expect(error.message).toContain('memoryLimits.gpuMemoryBytes');
    expect(error.message).toContain("backend: 'wasm'");
  });

  it('refuses a graph whose largest tensor exceeds maxBufferSize, naming its stage (checkDeviceLimits per stage)', () => {
    // The decoder's 30 MB graph (embedded weights) is the largest graph file: the estimate checkDeviceLimits makes.
    const manifest = wanLike();
    const variants = pick(manifest);
    const gpu = { maxBufferSize: 16_000_000, maxStorageBufferBindingSize: 4 * GiB };
    const whole = checkDeviceLimits(manifest, variants, gpu);
    expect(whole?.code).toBe('DEVICE_LIMITS');
    const error = refusal(() => planMemory(manifest, variants, { backend: 'webgpu', gpu }));
    expect(error.details).toMatchObject({ stage: 'vaeDecoder', needBytes: 30_000_000, limitBytes: 16_000_000, limit: 'maxBufferSize' });
    expect(error.details.short).toEqual(whole!.details.short);
    expect(error.message).toContain('the VAE decoder stage does not fit this GPU: maxBufferSize needs 30000000 bytes');
    // Declared requirements apply to the whole model: the first stage is named.
    const declared = parseManifest({ ...manifestJson({ denoiser: [{ dtype: 'int8', graph: 100 }] }), requirements: { webgpu: { maxStorageBufferBindingSize: 2 * GiB } } }, URL_);
    const bound = refusal(() => planMemory(declared, pick(declared), { backend: 'webgpu', gpu: { maxBufferSize: 4 * GiB, maxStorageBufferBindingSize: GiB } }));
    expect(bound.details).toMatchObject({ stage: 'denoiser', needBytes: 2 * GiB, limitBytes: GiB, limit: 'maxStorageBufferBindingSize' });
  });

  it('refuses a graph file that cannot be copied into the wasm heap to create its session', () => {
    const manifest = parseManifest(manifestJson({ denoiser: [{ dtype: 'fp32', graph: gb(3), memory: memory(gb(3), 0) }] }), URL_);
    const error = refusal(() => planMemory(manifest, pick(manifest), { backend: 'webgpu', gpu: bigGpu, wasmHeapBytes: gb(2) }));
    expect(error.details).toMatchObject({ stage: 'denoiser', needBytes: gb(3), limitBytes: gb(2), limit: 'wasm-heap' });
    expect(error.message).toContain('denoiser/denoiser.fp32.onnx');
    expect(error.message).toContain('--max-file-bytes');
  });
});

describe('planMemory and navigator.deviceMemory', () => {
  it('refuses a stage that needs more than the device reports, never at the reporting cap', () => {
    const manifest = wanLike();
    const variants = pick(manifest);
    const error = refusal(() => planMemory(manifest, variants, { backend: 'wasm', deviceMemoryGiB: 2 }));
    expect(error.details).toMatchObject({ stage: 'textEncoder', needBytes: gb(3.2), limitBytes: 2 * GiB, limit: 'deviceMemory' });
    expect(error.message).toContain('navigator.deviceMemory');
    // 4 GiB holds each stage alone (the plan stages them): no refusal.
    expect(planMemory(manifest, variants, { backend: 'wasm', deviceMemoryGiB: 4 }).residency).toHaveLength(2);
    // Browsers cap the report at 8: a stage above 8 GiB is not refused for it (the GPU limit is what decides there).
    const huge = parseManifest(manifestJson({ denoiser: [{ dtype: 'fp32', graph: 100, memory: memory(9 * GiB, 0) }] }), URL_);
    expect(planMemory(huge, pick(huge), { backend: 'webgpu', gpu: bigGpu, deviceMemoryGiB: 8 }).peakBytes).toBe(9 * GiB);
    expect(refusal(() => planMemory(huge, pick(huge), { backend: 'webgpu', gpu: bigGpu, deviceMemoryGiB: 4 })).details.limit).toBe('deviceMemory');
  });
});

describe('planMemory caller mistakes', () => {
  const manifest = wanLike();
  const variants = pick(manifest);
  it.each([
    [{ backend: 'cpu' }, TypeError, 'target.backend must be "wasm" or "webgpu"'],
    [{ backend: 'wasm', wasmHeapBytes: WASM_MEMORY_BYTES + 1 }, RangeError, 'can only lower'],
    [{ backend: 'wasm', wasmHeapBytes: 0 }, RangeError, 'positive integer'],
    [{ backend: 'webgpu' }, TypeError, 'target.gpu is required'],
    [{ backend: 'webgpu', gpu: { maxBufferSize: 1, maxStorageBufferBindingSize: 1, memoryBytes: -5 } }, RangeError, 'gpu.memoryBytes'],
    [{ backend: 'wasm', deviceMemoryGiB: 0 }, RangeError, 'deviceMemoryGiB'],
  ])('refuses target %j at once', (target, type, words) => {
    expect(() => planMemory(manifest, variants, target as MemoryTarget)).toThrow(type);
    expect(() => planMemory(manifest, variants, target as MemoryTarget)).toThrow(words);
  });

  it('refuses a selection missing a component', () => {
    expect(() => planMemory(manifest, { denoiser: variants.denoiser }, { backend: 'wasm' })).toThrow(/variants\.textEncoder is missing/);
  });
});

describe('formatByteSize', () => {
  it('writes decimal units', () => {
    expect([0, 999, 1500, 2_500_000, 3_904_000_000, -1].map(formatByteSize)).toEqual(['0 B', '999 B', '1.5 kB', '2.5 MB', '3.90 GB', '? B']);
  });
});

describe('the planner stays pure', () => {
  it('imports nothing from the runtime, the kernels, onnxruntime, the worker or the DOM helpers', () => {
    // Walk memory.ts's relative imports: the main thread imports it, so none may lead to the runtime.
    const seen = new Set<string>();
    const root = resolve(dirname(new URL(import.meta.url).pathname), '../../src');
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const source = readFileSync(file, 'utf8');
      for (const [, spec] of source.matchAll(/^(?:import|export)[^'"]*?from\s+'([^']+)'/gm)) {
        if (!spec!.startsWith('.')) {
          expect(spec, `${file} imports ${spec}`).not.toMatch(/onnxruntime/);
          continue;
        }
        const target = resolve(dirname(file), spec!);
        const path = [`${target}.ts`, `${target}/index.ts`].find((p) => { try { readFileSync(p); return true; } catch { return false; } });
        if (path) visit(path);
      }
    };
    visit(resolve(root, 'models/memory.ts'));
    const reached = [...seen].map((p) => p.slice(root.length + 1));
    expect(reached).toContain('models/variants.ts');
    expect(reached.filter((p) => /^(runtime|kernels|engine|pipeline|worker)/.test(p))).toEqual([]);
  });
});
