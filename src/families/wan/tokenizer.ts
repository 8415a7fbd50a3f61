/**
 * Wan's prompt tokenization: diffusers' `prompt_clean` (./prompt.ts), then the checkpoint's umT5
 * `tokenizer.json` through @huggingface/tokenizers, padded and truncated to `maxLength` as transformers'
 * fast tokenizer does with `padding="max_length", truncation=True, add_special_tokens=True`: the text's
 * tokens are cut to leave room for the special tokens the post-processor adds (umT5: a final `</s>`), so a
 * long prompt still ends in `</s>`. The attention mask is 1 on the real tokens (specials included).
 * Pure: runs in Node and in the worker alike.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { KinemaError } from '../../errors';
import { cleanPrompt } from './prompt';

export interface WanTokens {
  /** int64 [batch, maxLength] */
  readonly inputIds: BigInt64Array;
  readonly attentionMask: BigInt64Array;
  readonly batch: number;
  readonly maxLength: number;
  /** Real tokens per prompt (the mask's sum per row). */
  readonly lengths: readonly number[];
  /** The prompts after cleaning, as tokenized. */
  readonly cleaned: readonly string[];
}

export interface WanTokenizer {
  encode(prompts: readonly string[]): WanTokens;
  /** Largest token id the tokenizer can produce + 1 (its vocabulary with added tokens). */
  readonly vocabularySize: number;
}

interface TokenizerJson {
  padding?: { pad_id?: number } | null;
}
interface TokenizerConfig {
  pad_token?: string | { content?: string };
}

function parseJson<T>(files: ReadonlyMap<string, Uint8Array>, name: string): T {
  const bytes = files.get(name);
  if (!bytes) {
    throw new KinemaError('INVALID_MANIFEST', `the manifest's tokenizer.files must include ${name} (the checkpoint's umT5 tokenizer)`, {
      details: { field: 'tokenizer.files' },
    });
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (error) {
    throw new KinemaError('INVALID_MANIFEST', `the model's ${name} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/** Where `inner` sits in `outer` (the post-processor's prefix length), or −1. */
function indexOfRun(outer: readonly number[], inner: readonly number[]): number {
  for (let start = 0; start + inner.length <= outer.length; start++) {
    let match = true;
    for (let i = 0; i < inner.length && match; i++) match = outer[start + i] === inner[i];
    if (match) return start;
  }
  return -1;
}

/**
 * `files` holds `tokenizer.json` and `tokenizer_config.json` by name (the manifest's tokenizer files).
 * `tokenizer_config.json` may be absent; the pad id then comes from tokenizer.json's padding or `<pad>`.
 */
export function loadWanTokenizer(files: ReadonlyMap<string, Uint8Array>, maxLength: number): WanTokenizer {
  if (!Number.isInteger(maxLength) || maxLength < 2) throw new RangeError(`maxLength must be an integer ≥ 2; got ${maxLength}`);
  const json = parseJson<TokenizerJson>(files, 'tokenizer.json');
  const config = files.has('tokenizer_config.json') ? parseJson<TokenizerConfig>(files, 'tokenizer_config.json') : {};
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (error) {
    throw new KinemaError('INVALID_MANIFEST', `the model's tokenizer files could not be loaded: ${(error as Error).message}`, { cause: error });
  }
  const padToken = typeof config.pad_token === 'string' ? config.pad_token : config.pad_token?.content ?? '<pad>';
  const padId = json.padding?.pad_id ?? tokenizer.token_to_id(padToken);
  if (padId === undefined) {
    throw new KinemaError('INVALID_MANIFEST', `the model's tokenizer has no padding id: tokenizer.json has no padding and no ${padToken} token`, {
      details: { field: 'tokenizer.files' },
    });
  }
  let vocabularySize = 0;
  for (const id of tokenizer.get_vocab(true).values()) vocabularySize = Math.max(vocabularySize, id + 1);

  const tokenize = (text: string): number[] => {
    const plain = tokenizer.encode(text, { add_special_tokens: false }).ids;
    const full = tokenizer.encode(text, { add_special_tokens: true }).ids;
    if (full.length <= maxLength) return full;
    const prefix = indexOfRun(full, plain);
    if (prefix < 0) throw new KinemaError('INTERNAL', 'the tokenizer\'s post-processor changed the text\'s tokens; cannot truncate them');
    const suffix = full.length - prefix - plain.length;
    const keep = maxLength - prefix - suffix;
    if (keep < 0) throw new RangeError(`maxLength ${maxLength} leaves no room for the tokenizer's ${prefix + suffix} special tokens`);
    return [...full.slice(0, prefix), ...plain.slice(0, keep), ...full.slice(prefix + plain.length)];
  };

  return {
    vocabularySize,
    encode(prompts: readonly string[]): WanTokens {
      const cleaned = prompts.map(cleanPrompt);
      const inputIds = new BigInt64Array(prompts.length * maxLength).fill(BigInt(padId));
      const attentionMask = new BigInt64Array(prompts.length * maxLength);
      const lengths = cleaned.map((text, row) => {
        const ids = tokenize(text);
        ids.forEach((id, column) => {
          inputIds[row * maxLength + column] = BigInt(id);
          attentionMask[row * maxLength + column] = 1n;
        });
        return ids.length;
      });
      return { inputIds, attentionMask, batch: prompts.length, maxLength, lengths, cleaned };
    },
  };
}
