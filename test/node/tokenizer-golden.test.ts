// The Python tokenizer (training/kinema_micro/tokenizer.py) and kinema's own (src/runtime/tokenizer.ts,
// on @huggingface/tokenizers) must give the same ids for kinema-micro's tokenizer.json, and so must the
// Node eval's (training/eval/runtime.mjs): the golden file is written by the export from Python.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadTokenizer as loadEvalTokenizer, tokenize } from '../../training/eval/runtime.mjs';
import { loadTokenizer as loadKinemaTokenizer } from '../../src/runtime/tokenizer';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const modelDir = path.join(root, 'public/models/kinema-micro');
interface GoldenCase { text: string; tokens: string[]; input_ids: number[]; attention_mask: number[] }
const golden = JSON.parse(fs.readFileSync(path.join(root, 'training/eval/tokenizer-golden.json'), 'utf8')) as {
  maxLength: number;
  cases: GoldenCase[];
};

describe('kinema-micro tokenizer golden ids', () => {
  it('has enough cases in both languages', () => {
    expect(golden.cases.length).toBeGreaterThanOrEqual(50);
    expect(golden.cases.filter((c) => /[\u4e00-\u9fff]/.test(c.text)).length).toBeGreaterThanOrEqual(20);
    expect(golden.cases.filter((c) => /^[\x20-\x7e]+$/.test(c.text)).length).toBeGreaterThanOrEqual(20);
  });

  function kinemaTokenizer(maxLength: number) {
    const files = new Map(['tokenizer.json', 'tokenizer_config.json'].map((name) => [name, new Uint8Array(fs.readFileSync(path.join(modelDir, name)))]));
    return loadKinemaTokenizer(files, maxLength);
  }

  it("kinema's tokenizer gives the Python ids and masks for every case", () => {
    const out = kinemaTokenizer(golden.maxLength).encode(golden.cases.map((c) => c.text));
    expect(out.batch).toBe(golden.cases.length);
    golden.cases.forEach((c, i) => {
      const got = Array.from(out.inputIds.subarray(i * golden.maxLength, (i + 1) * golden.maxLength), Number);
      const gotMask = Array.from(out.attentionMask.subarray(i * golden.maxLength, (i + 1) * golden.maxLength), Number);
      expect({ text: c.text, ids: got, mask: gotMask }).toEqual({ text: c.text, ids: c.input_ids, mask: c.attention_mask });
    });
  });

  it('names the words the vocabulary does not know, per prompt, and only those', () => {
    const out = kinemaTokenizer(golden.maxLength).encode(['a red circle moving left', 'a purple zebra 红色 圆 龙', '']);
    expect(out.unknownWords).toEqual([[], ['purple', 'zebra', '龙'], []]);
  });

  it('the Node eval gives the Python ids and masks for every case', async () => {
    const tokenizer = await loadEvalTokenizer(modelDir);
    const { ids, mask } = tokenize(tokenizer, golden.cases.map((c) => c.text), golden.maxLength);
    golden.cases.forEach((c, i) => {
      const got = Array.from(ids.subarray(i * golden.maxLength, (i + 1) * golden.maxLength), Number);
      const gotMask = Array.from(mask.subarray(i * golden.maxLength, (i + 1) * golden.maxLength), Number);
      expect({ text: c.text, ids: got, mask: gotMask }).toEqual({ text: c.text, ids: c.input_ids, mask: c.attention_mask });
    });
  });

  it('encodes the empty prompt (the unconditional input) as all padding', async () => {
    const tokenizer = await loadEvalTokenizer(modelDir);
    const { ids, mask } = tokenize(tokenizer, [''], golden.maxLength);
    expect(Array.from(ids, Number)).toEqual(new Array(golden.maxLength).fill(0));
    expect(Array.from(mask, Number)).toEqual(new Array(golden.maxLength).fill(0));
  });

  it('splits Chinese per character and keeps every required word in vocabulary', async () => {
    const tokenizer = await loadEvalTokenizer(modelDir);
    const words = ['circle square triangle red green blue yellow white cyan magenta orange moving left right up down growing shrinking on a black gray background',
      '圆形 圆 正方形 方形 三角形 红色 绿色 蓝色 黄色 白色 青色 品红色 洋红色 橙色 向左移动 向右移动 向上移动 向下移动 变大 变小 黑色背景 白色背景 灰色背景'];
    for (const w of words) {
      const { ids, mask } = tokenize(tokenizer, [w], 128);
      const n = Array.from(mask, Number).reduce((a, b) => a + b, 0);
      expect(n).toBeGreaterThan(10);
      expect(Array.from(ids.subarray(0, n), Number)).not.toContain(1); // [UNK]
    }
  });
});
