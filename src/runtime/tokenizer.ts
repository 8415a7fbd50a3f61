/**
 * Prompt tokenization through @huggingface/tokenizers (the pure tokenizer package transformers.js is
 * built on), fed from the manifest's files that the loader already downloaded and verified. It is
 * constructed from the parsed JSON, so nothing is fetched and no library's global settings are touched.
 * Pure: runs in Node and in the worker alike.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { KinemaError } from '../errors';

export interface EncodedPrompts {
  /** int64 [batch, maxLength] */
  inputIds: BigInt64Array;
  attentionMask: BigInt64Array;
  batch: number;
  maxLength: number;
  /** Words of each prompt that the vocabulary does not know (they became [UNK]). */
  unknownWords: string[][];
}

export interface PromptTokenizer {
  encode(prompts: string[]): EncodedPrompts;
}

interface TokenizerJson {
  padding?: { pad_id?: number } | null;
  model?: { unk_token?: string };
}
interface TokenizerConfig {
  pad_token?: string;
  unk_token?: string;
}

function parseJson<T>(files: Map<string, Uint8Array>, name: string): T {
  const bytes = files.get(name);
  if (!bytes) {
    throw new KinemaError('INVALID_MANIFEST', `the manifest's tokenizer.files must include ${name}`, { details: { field: 'tokenizer.files' } });
  }
  try {
    return JSON.parse(new TextDecoder().decode(bytes)) as T;
  } catch (error) {
    throw new KinemaError('INVALID_MANIFEST', `the model's ${name} is not valid JSON: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * A tokenizer that pads and truncates every prompt to `maxLength` on the right, as the model was trained
 * (kinema-micro's tokenizer.json has no post-processor, so truncation cannot cut a special token).
 */
export function loadTokenizer(files: Map<string, Uint8Array>, maxLength: number): PromptTokenizer {
  const json = parseJson<TokenizerJson>(files, 'tokenizer.json');
  const config = parseJson<TokenizerConfig>(files, 'tokenizer_config.json');
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, config);
  } catch (error) {
    throw new KinemaError('INVALID_MANIFEST', `the model's tokenizer files could not be loaded: ${(error as Error).message}`, { cause: error });
  }
  const padId = json.padding?.pad_id ?? (config.pad_token !== undefined ? tokenizer.token_to_id(config.pad_token) : undefined) ?? 0;
  const unkToken = config.unk_token ?? json.model?.unk_token;
  const unkId = unkToken !== undefined ? tokenizer.token_to_id(unkToken) : undefined;
  const ids = (text: string, special: boolean): number[] => tokenizer.encode(text, { add_special_tokens: special }).ids;

  return {
    encode(prompts: string[]): EncodedPrompts {
      const inputIds = new BigInt64Array(prompts.length * maxLength).fill(BigInt(padId));
      const attentionMask = new BigInt64Array(prompts.length * maxLength);
      prompts.forEach((prompt, row) => {
        ids(prompt, true).slice(0, maxLength).forEach((id, column) => {
          inputIds[row * maxLength + column] = BigInt(id);
          attentionMask[row * maxLength + column] = 1n;
        });
      });
      const unknownWords = prompts.map((prompt) => {
        if (unkId === undefined) return [];
        // CJK characters are words of their own (as the BERT pre-tokenizer splits them); the rest split on spaces.
        const words = prompt.match(/[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+/g) ?? [];
        return [...new Set(words.filter((word) => ids(word, false).includes(unkId)))];
      });
      return { inputIds, attentionMask, batch: prompts.length, maxLength, unknownWords };
    },
  };
}
