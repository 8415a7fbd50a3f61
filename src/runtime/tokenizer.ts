/**
 * Prompt tokenization through @huggingface/transformers' AutoTokenizer, fed from the manifest's
 * files that the loader already downloaded and verified — never from a remote hub.
 */
import { KinemaError } from '../errors';
import type { Ort } from './ort';

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

interface HfTokenizer {
  (texts: string[], options: Record<string, unknown>): { input_ids: { data: BigInt64Array }; attention_mask: { data: BigInt64Array } };
  encode(text: string, options: { add_special_tokens: boolean }): number[];
  unk_token_id?: number | null;
}

// transformers.js configuration is global to its module; this worker is its only user, and loads run
// one at a time (the engine serializes them), so the files for the load in progress are kept here.
let servedFiles: Map<string, Uint8Array> | undefined;
// A path, not a URL: transformers.js only looks "locally" (through env.fetch) for non-URL paths.
const LOCAL_ROOT = '/__kinema__/tokenizers/';

export async function loadTokenizer(ort: Ort, modelKey: string, files: Map<string, Uint8Array>, maxLength: number): Promise<PromptTokenizer> {
  for (const required of ['tokenizer.json', 'tokenizer_config.json']) {
    if (!files.has(required)) {
      throw new KinemaError('INVALID_MANIFEST', `the manifest's tokenizer.files must include ${required}`, { details: { field: 'tokenizer.files' } });
    }
  }
  (globalThis as Record<symbol, unknown>)[Symbol.for('onnxruntime')] = ort;
  const transformers = await import('@huggingface/transformers');
  const { env, AutoTokenizer } = transformers;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = LOCAL_ROOT;
  env.useBrowserCache = false;
  env.useCustomCache = false;
  env.useWasmCache = false;
  // transformers.js treats a Hub-style id ("owner/name") as a folder under localModelPath.
  const modelId = `kinema/${modelKey.replace(/[^A-Za-z0-9._-]/g, '-')}`;
  const prefix = `${LOCAL_ROOT}${modelId}/`;
  env.fetch = async (input: string | URL) => {
    const url = String(input);
    const bytes = url.startsWith(prefix) ? servedFiles?.get(url.slice(prefix.length)) : undefined;
    if (!bytes) return new Response(null, { status: 404, statusText: 'Not Found' });
    return new Response(bytes.slice().buffer, { status: 200, headers: { 'content-type': 'application/json', 'content-length': String(bytes.byteLength) } });
  };
  servedFiles = files;
  let tokenizer: HfTokenizer;
  try {
    tokenizer = (await AutoTokenizer.from_pretrained(modelId, { local_files_only: true })) as unknown as HfTokenizer;
  } catch (error) {
    throw new KinemaError('INVALID_MANIFEST', `the model's tokenizer files could not be loaded: ${(error as Error).message}`, { cause: error });
  } finally {
    servedFiles = undefined;
  }
  // tokenize() returns the words; a WordLevel vocabulary maps unknown ones to [UNK] only as ids.
  const unkId = tokenizer.unk_token_id;
  return {
    encode(prompts: string[]): EncodedPrompts {
      const out = tokenizer(prompts, { padding: 'max_length', max_length: maxLength, truncation: true, add_special_tokens: true });
      const unknownWords = prompts.map((prompt) => {
        // CJK characters are words of their own (as the BERT pre-tokenizer splits them); the rest split on spaces.
        const words = prompt.match(/[\u3400-\u9fff\uf900-\ufaff]|[^\s\u3400-\u9fff\uf900-\ufaff]+/g) ?? [];
        if (unkId === undefined || unkId === null) return [];
        return [...new Set(words.filter((word) => tokenizer.encode(word, { add_special_tokens: false }).includes(unkId)))];
      });
      return { inputIds: out.input_ids.data, attentionMask: out.attention_mask.data, batch: prompts.length, maxLength, unknownWords };
    },
  };
}
