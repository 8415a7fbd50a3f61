// The Wan family's pure parts: prompt cleaning against Python's html.unescape + diffusers' prompt_clean,
// RoPE tables against an independent formula and values from the converter's Python rope_tables, the
// embedding gather in fp32/fp16, umT5-style tokenizing (padding, mask, </s> kept when truncating), and the
// Wan manifest fields.
import { describe, expect, it } from 'vitest';
import { KinemaError } from '../../src/errors';
import { checkEmbeddingTable, gatherEmbeddings, halfToFloat } from '../../src/families/wan/embedding';
import { frameCount, wanLatentDims } from '../../src/families/wan/frames';
import { parseWanManifest } from '../../src/families/wan/manifest';
import { cleanPrompt, unescapeHtml } from '../../src/families/wan/prompt';
import { ropeChannels, ropeTables } from '../../src/families/wan/rope';
import { loadWanTokenizer } from '../../src/families/wan/tokenizer';

describe('wan prompt cleaning', () => {
  // Expected values printed by Python 3.11: html.unescape twice, strip, re.sub(r"\s+", " "), strip.
  const cases: [string, string][] = [
    ['  a  cat &amp;amp; dog\n\t', 'a cat & dog'],
    ['&lt;b&gt; &quot;hi&quot;', '<b> "hi"'],
    ['&#39;&#x27;&#X27;&#039', "''''"],
    ['&notit; &ampx &amp', '\u00acit; &x &'],
    ['&#0;|&#128;|&#1;|&#xD800;|&#1114112;|&#99999999999999999999;|&#x1F600;', '\ufffd|\u20ac||\ufffd|\ufffd|\ufffd|\u{1f600}'],
    ['&unknown; &constructor; &__proto__; &', '&unknown; &constructor; &__proto__; &'],
    ['\u3000a\u00a0b\u2028c\u0085', 'a b c'],
    ['\ufeffa', '\ufeffa'],
    ['x&NotNestedGreaterGreater;y&nbsp;z', 'x\u2aa2\u0338y z'],
    ['&amp;lt;tag&amp;gt;', '<tag>'],
    ['&AMP;&AMP &Aacute &aacute;x', '&& \u00c1 \u00e1x'],
    ['&#65&#66;C', 'ABC'],
    ['a&#x85;b', 'a\u2026b'],
  ];
  it.each(cases)('cleans %j as diffusers does without ftfy', (input, expected) => {
    expect(cleanPrompt(input)).toBe(expected);
  });

  it('unescapes once per call (diffusers calls it twice)', () => {
    expect(unescapeHtml('&amp;amp;')).toBe('&amp;');
    expect(unescapeHtml('no references')).toBe('no references');
  });
});

describe('wan rope tables', () => {
  it('splits a 128-channel head 44/42/42 for both frequency and position', () => {
    const { frequency, axis } = ropeChannels(128, 10000);
    expect([...axis].filter((a) => a === 0)).toHaveLength(44);
    expect(axis[43]).toBe(0);
    expect(axis[44]).toBe(1);
    expect(axis[86]).toBe(2);
    expect(frequency[0]).toBe(1);
    expect(frequency[1]).toBe(1);
    expect(frequency[2]).toBeCloseTo(10000 ** (-2 / 44), 15);
    expect(frequency[44]).toBe(1);
    expect(frequency[46]).toBeCloseTo(10000 ** (-2 / 42), 15);
  });

  it('matches an independent formula for a small head (12 channels: 2/2/2 pairs)', () => {
    const tables = ropeTables({ headDim: 12, patchSize: [1, 2, 2], ropeTheta: 10000 }, { frames: 2, height: 4, width: 6 });
    expect(tables.grid).toEqual([2, 2, 3]);
    expect(tables.tokens).toBe(12);
    expect(tables.pairs).toBe(6);
    for (let f = 0; f < 2; f++) {
      for (let y = 0; y < 2; y++) {
        for (let x = 0; x < 3; x++) {
          const n = (f * 2 + y) * 3 + x;
          const positions = [f, y, x];
          for (let i = 0; i < 6; i++) {
            const section = Math.floor(i / 2);
            const j = i % 2;
            const angle = positions[section]! * 10000 ** (-(2 * j) / 4);
            expect(tables.cos[n * 6 + i]).toBe(Math.fround(Math.cos(angle)));
            expect(tables.sin[n * 6 + i]).toBe(Math.fround(Math.sin(angle)));
          }
        }
      }
    }
  });

  it('equals the converter\'s Python rope_tables (values printed from kinema_convert.wan_transformer)', () => {
    // rope_tables(default_config('tiny'), 2, 4, 6)[:, token 7] and rope_tables(default_config(), 3, 4, 6) entries.
    const tiny = ropeTables({ headDim: 12, patchSize: [1, 2, 2], ropeTheta: 10000 }, { frames: 2, height: 4, width: 6 });
    expect([...tiny.cos.subarray(42, 48)]).toEqual([0.5403022766113281, 0.9999499917030334, 1, 1, 0.5403022766113281, 0.9999499917030334]);
    expect([...tiny.sin.subarray(42, 48)]).toEqual([0.8414709568023682, 0.009999833069741726, 0, 0, 0.8414709568023682, 0.009999833069741726]);
    const wan = ropeTables({ headDim: 128, patchSize: [1, 2, 2], ropeTheta: 10000 }, { frames: 3, height: 4, width: 6 });
    expect(wan.tokens).toBe(18);
    expect(wan.cos).toHaveLength(18 * 64);
    const reference: [number, number, number, number][] = [
      [13, 5, 0.9697554707527161, 0.24407850205898285], [17, 21, 0.9999999403953552, 0.0003039822040591389],
      [17, 22, 0.5403022766113281, 0.8414709568023682], [17, 23, 0.7991318106651306, 0.6011558175086975],
      [17, 42, 1.0, 0.0001550515735289082], [17, 43, -0.416146844625473, 0.9092974066734314],
      [17, 63, 0.9999999403953552, 0.0003101031470578164], [10, 30, 0.9995519518852234, 0.02993130125105381],
    ];
    for (const [n, i, c, s] of reference) {
      expect(wan.cos[n * 64 + i]).toBe(c);
      expect(wan.sin[n * 64 + i]).toBe(s);
    }
    // Sums of the whole float32 tables, from numpy (float64 accumulation).
    expect(wan.cos.reduce((a, b) => a + b, 0)).toBeCloseTo(1101.8748158812523, 9);
    expect(wan.sin.reduce((a, b) => a + b, 0)).toBeCloseTo(105.23514509892266, 9);
  });

  it('refuses a latent that is not a multiple of the patch', () => {
    expect(() => ropeTables({ headDim: 12, patchSize: [1, 2, 2], ropeTheta: 10000 }, { frames: 1, height: 3, width: 4 })).toThrow(/height must be a positive multiple of the patch size 2; got 3/);
  });
});

describe('wan embedding gather', () => {
  it('converts every float16 bit pattern like the IEEE formula', () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    const values = halfToFloat(bits);
    const wrong: number[] = [];
    for (let h = 0; h < 65536; h++) {
      const sign = h & 0x8000 ? -1 : 1;
      const e = (h >> 10) & 0x1f;
      const m = h & 0x3ff;
      const expected = e === 0 ? sign * 2 ** -14 * (m / 1024) : e === 31 ? (m === 0 ? sign * Infinity : NaN) : sign * 2 ** (e - 15) * (1 + m / 1024);
      if (!Object.is(values[h], expected)) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  const V = 5;
  const D = 3;
  const rows = Array.from({ length: V * D }, (_, i) => (i % 2 ? -1 : 1) * (0.5 + i));

  function fp32Table(offset = 0): Uint8Array {
    const bytes = new Uint8Array(offset + V * D * 4);
    const view = new DataView(bytes.buffer);
    rows.forEach((v, i) => view.setFloat32(offset + i * 4, v, true));
    return bytes.subarray(offset);
  }

  it('gathers fp32 rows, aligned or not', () => {
    const ids = BigInt64Array.from([4n, 0n, 2n, 2n]);
    const expected = [4, 0, 2, 2].flatMap((id) => rows.slice(id * D, id * D + D));
    expect([...gatherEmbeddings(fp32Table(), { vocabSize: V, dim: D, dtype: 'fp32' }, ids)]).toEqual(expected);
    expect([...gatherEmbeddings(fp32Table(1), { vocabSize: V, dim: D, dtype: 'fp32' }, ids)]).toEqual(expected);
  });

  it('gathers fp16 rows as float32', () => {
    // 1, −2, 0.5, 65504, 2^−24, −0, +Inf, 1/3 rounded, … (bits written by hand).
    const halfBits = [0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x3555, 0x0400, 0x3c01, 0xfbff, 0x2e66, 0x4248, 0x0000, 0x3e00];
    const values = [1, -2, 0.5, 65504, 2 ** -24, -0, Infinity, 0.333251953125, 2 ** -14, 1.0009765625, -65504, 0.0999755859375, 3.140625, 0, 1.5];
    for (const offset of [0, 1]) {
      const bytes = new Uint8Array(offset + V * D * 2);
      const view = new DataView(bytes.buffer);
      halfBits.forEach((b, i) => view.setUint16(offset + i * 2, b, true));
      const out = gatherEmbeddings(bytes.subarray(offset), { vocabSize: V, dim: D, dtype: 'fp16' }, [3, 1]);
      expect([...out].map((v, i) => Object.is(v, [...values.slice(9, 12), ...values.slice(3, 6)][i]))).toEqual(Array(6).fill(true));
    }
  });

  it('refuses an id outside the table and a table of the wrong size', () => {
    expect(() => gatherEmbeddings(fp32Table(), { vocabSize: V, dim: D, dtype: 'fp32' }, BigInt64Array.from([1n, 5n])))
      .toThrow('token id 5 at position 1 is outside the embedding table (ids 0 … 4)');
    expect(() => gatherEmbeddings(fp32Table(), { vocabSize: V, dim: D, dtype: 'fp32' }, [-1])).toThrow(RangeError);
    expect(() => checkEmbeddingTable(fp32Table(), { vocabSize: V, dim: D, dtype: 'fp16' })).toThrow(/has 60 bytes; \[5, 3\] fp16 needs 30/);
  });
});

/** A umT5-shaped tokenizer.json (Unigram, Metaspace, "$A </s>" template; <pad> 0, </s> 1, <unk> 2). */
function tinyUmt5Tokenizer(): Map<string, Uint8Array> {
  const words = ['▁a', '▁cat', '▁dog', '▁and', '▁the', '▁&', '▁runs', 'a', 'c', 't', 'd', 'o', 'g', 's', '▁'];
  const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  const json = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
    normalizer: null,
    pre_tokenizer: metaspace,
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 2, vocab: [['<pad>', 0], ['</s>', 0], ['<unk>', 0], ...words.map((w, i) => [w, -1 - i * 0.1])], byte_fallback: false },
  };
  const encode = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  return new Map([
    ['tokenizer.json', encode(json)],
    ['tokenizer_config.json', encode({ pad_token: '<pad>', eos_token: '</s>', unk_token: '<unk>', model_max_length: 512 })],
  ]);
}

describe('wan tokenizer', () => {
  it('cleans, pads to maxLength with <pad> and masks the real tokens (</s> included)', () => {
    const tokenizer = loadWanTokenizer(tinyUmt5Tokenizer(), 8);
    const tokens = tokenizer.encode(['', '  a&nbsp;cat   and the dog ']);
    expect(tokens.cleaned).toEqual(['', 'a cat and the dog']);
    expect(tokens.batch).toBe(2);
    expect([...tokens.inputIds]).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 3n, 4n, 6n, 7n, 5n, 1n, 0n, 0n]);
    expect([...tokens.attentionMask]).toEqual([1n, 0n, 0n, 0n, 0n, 0n, 0n, 0n, 1n, 1n, 1n, 1n, 1n, 1n, 0n, 0n]);
    expect(tokens.lengths).toEqual([1, 6]);
    expect(tokenizer.vocabularySize).toBe(18);
  });

  it('truncates the text, not the final </s> (as the fast tokenizer with truncation=True)', () => {
    const tokens = loadWanTokenizer(tinyUmt5Tokenizer(), 4).encode(['a cat and the dog']);
    expect([...tokens.inputIds]).toEqual([3n, 4n, 6n, 1n]);
    expect([...tokens.attentionMask]).toEqual([1n, 1n, 1n, 1n]);
  });

  it('says which tokenizer file is missing', () => {
    const files = tinyUmt5Tokenizer();
    files.delete('tokenizer.json');
    expect(() => loadWanTokenizer(files, 8)).toThrow(/tokenizer.files must include tokenizer.json/);
  });
});

/** A Wan manifest's JSON with the fields the family reads (graph files abbreviated: the shared parser checks them). */
function wanManifestJson(): Record<string, any> {
  const file = (path: string, role?: string) => ({ path, bytes: 1, sha256: '0'.repeat(64), ...(role ? { role } : {}) });
  return {
    format: 'kinema-model/2',
    pipeline: 'wan2.1',
    tokenizer: { files: [file('tokenizer/tokenizer.json'), file('tokenizer/tokenizer_config.json')], maxLength: 512 },
    components: {
      textEncoder: {
        hiddenSize: 4096,
        embedding: { vocabSize: 256384, dim: 4096, dtype: 'fp16' },
        variants: [{ dtype: 'fp16', compute: 'fp32', graphs: [{ name: 'text_encoder', files: [file('te.onnx')] }], data: [file('text_encoder/embed_tokens.fp16.bin', 'embedding')] }],
      },
      denoiser: {
        config: { numHeads: 12, headDim: 128, patchSize: [1, 2, 2], inChannels: 16, outChannels: 16, textDim: 4096, ropeTheta: 10000 },
        variants: [{ dtype: 'fp16', compute: 'fp32', graphs: [{ name: 'denoiser_context', perPrompt: true, files: [file('c.onnx')] }, { name: 'denoiser', files: [file('d.onnx')] }] }],
      },
      vaeDecoder: {
        streaming: { memory: [{ input: 'mem_0', output: 'mem_out_0', channels: 64, scale: 1 }, { input: 'mem_1', output: 'mem_out_1', channels: 64, scale: 2 }], framesPerLatent: 4, trimFrames: 3 },
        variants: [{ dtype: 'fp16', compute: 'fp32', graphs: [{ name: 'vae_decoder_step', files: [file('v.onnx')] }] }],
      },
    },
    latent: { channels: 16, temporalCompression: 4, spatialCompression: 8, mean: Array(16).fill(0), std: Array(16).fill(1) },
    scheduler: { type: 'unipc', config: { flow_shift: 3.0, use_flow_sigmas: true, prediction_type: 'flow_prediction' } },
    guidance: { cfg: true, negativePrompt: '' },
  };
}

function invalidField(mutate: (json: Record<string, any>) => void): string | undefined {
  const json = wanManifestJson();
  mutate(json);
  try {
    parseWanManifest(json, 'https://example.test/manifest.json');
  } catch (error) {
    expect(error).toBeInstanceOf(KinemaError);
    expect((error as KinemaError).code).toBe('INVALID_MANIFEST');
    expect((error as KinemaError).message).toContain((error as KinemaError).details.field as string);
    return (error as KinemaError).details.field as string;
  }
  return undefined;
}

describe('wan manifest fields', () => {
  it('reads a complete manifest', () => {
    const config = parseWanManifest(wanManifestJson());
    expect(config.missingComponents).toEqual([]);
    expect(config.textEncoder?.embedding).toEqual({ vocabSize: 256384, dim: 4096, dtype: 'fp16' });
    expect(config.denoiser?.patchSize).toEqual([1, 2, 2]);
    expect(config.vaeDecoder?.streaming.memory[1]).toEqual({ input: 'mem_1', output: 'mem_out_1', channels: 64, scale: 2 });
    expect(config.guidance).toEqual({ cfg: true, negativePrompt: '' });
    expect(config.maxLength).toBe(512);
  });

  it('reads an int8 or int4 embedding table with its block size', () => {
    for (const dtype of ['int8', 'int4'] as const) {
      const json = wanManifestJson();
      Object.assign(json.components.textEncoder.embedding, { dtype, blockSize: 32 });
      expect(parseWanManifest(json).textEncoder?.embedding).toEqual({ vocabSize: 256384, dim: 4096, dtype, blockSize: 32 });
    }
  });

  it('accepts a manifest without some components and says which', () => {
    const json = wanManifestJson();
    delete json.components.textEncoder;
    delete json.components.vaeDecoder;
    expect(parseWanManifest(json).missingComponents).toEqual(['textEncoder', 'vaeDecoder']);
  });

  it.each([
    ['components.textEncoder.embedding.dtype', (j: any) => { j.components.textEncoder.embedding.dtype = 'bf16'; }],
    ['components.textEncoder.embedding.dim', (j: any) => { j.components.textEncoder.embedding.dim = 1024; }],
    ['components.textEncoder.embedding', (j: any) => { delete j.components.textEncoder.embedding; }],
    ['components.textEncoder.embedding.blockSize', (j: any) => { j.components.textEncoder.embedding.dtype = 'int4'; }],
    ['components.textEncoder.embedding.blockSize', (j: any) => { Object.assign(j.components.textEncoder.embedding, { dtype: 'int8', blockSize: 48 }); }],
    ['components.textEncoder.embedding.blockSize', (j: any) => { j.components.textEncoder.embedding.blockSize = 32; }],
    ['components.textEncoder.embedding.dtype', (j: any) => { Object.assign(j.components.textEncoder.embedding, { dtype: 'int2', blockSize: 32 }); }],
    ['components.textEncoder.variants[0].data', (j: any) => { delete j.components.textEncoder.variants[0].data; }],
    ['components.denoiser.config.numHeads', (j: any) => { j.components.denoiser.config.numHeads = 0; }],
    ['components.denoiser.config.headDim', (j: any) => { j.components.denoiser.config.headDim = 64; }],
    ['components.denoiser.config.patchSize', (j: any) => { j.components.denoiser.config.patchSize = [2, 2]; }],
    ['components.denoiser.config.textDim', (j: any) => { j.components.denoiser.config.textDim = 512; }],
    ['components.denoiser.config.inChannels', (j: any) => { j.components.denoiser.config.inChannels = 4; }],
    ['components.denoiser.variants[0].graphs', (j: any) => { j.components.denoiser.variants[0].graphs[0].perPrompt = false; }],
    ['components.vaeDecoder.streaming.memory[1].input', (j: any) => { j.components.vaeDecoder.streaming.memory[1].input = 'mem_0'; }],
    ['components.vaeDecoder.streaming.trimFrames', (j: any) => { j.components.vaeDecoder.streaming.trimFrames = 4; }],
    ['components.vaeDecoder.streaming.framesPerLatent', (j: any) => { j.components.vaeDecoder.streaming.framesPerLatent = 8; j.components.vaeDecoder.streaming.trimFrames = 7; }],
    ['guidance.cfg', (j: any) => { delete j.guidance; }],
    ['scheduler.type', (j: any) => { j.scheduler.type = 'ddim'; }],
    ['scheduler.config.sigmas', (j: any) => { j.scheduler = { type: 'rcm', config: {} }; j.guidance.cfg = false; }],
    ['scheduler.config.sigmas[1]', (j: any) => { j.scheduler = { type: 'rcm', config: { sigmas: [0.5, 0.7] } }; j.guidance.cfg = false; }],
    ['guidance.cfg', (j: any) => { j.scheduler = { type: 'rcm', config: { sigmas: [0.98765, 0.78271, 0.60898, 0.40622] } }; }],
  ])('names %s when it is wrong', (field, mutate) => {
    expect(invalidField(mutate)).toBe(field);
  });
});

describe('wan latent sizes', () => {
  const layout = { channels: 16, temporalCompression: 4, spatialCompression: 8 };
  it('maps a request to [1, 16, (n−1)/4+1, h/8, w/8] and T latent frames to 4T−3 frames', () => {
    expect(wanLatentDims(layout, [1, 2, 2], { numFrames: 81, width: 832, height: 480 })).toEqual([1, 16, 21, 60, 104]);
    expect(wanLatentDims(layout, [1, 2, 2], { numFrames: 1, width: 16, height: 32 })).toEqual([1, 16, 1, 4, 2]);
    expect(frameCount(21, { framesPerLatent: 4, trimFrames: 3 })).toBe(81);
  });
  it('refuses frame counts and sizes the model cannot make', () => {
    expect(() => wanLatentDims(layout, [1, 2, 2], { numFrames: 80, width: 832, height: 480 })).toThrow('numFrames must be 4k + 1 for this model (1, 5, 9, …); got 80');
    expect(() => wanLatentDims(layout, [1, 2, 2], { numFrames: 81, width: 840, height: 480 })).toThrow('width must be a positive multiple of 16 for this model (VAE ×8, patch 2); got 840');
  });
});
