import type { Attributes, Language } from './captions.mjs';
import type { Detection } from './detector.mjs';

export interface EvalItem {
  language: Language;
  prompt: string;
  seed: number;
  heldOut?: boolean;
  ci?: boolean;
  expected?: { [K in keyof Attributes]: NonNullable<Attributes[K]> };
}

export interface Accuracy {
  n: number;
  color: number;
  motion: number;
  background: number;
  shape: number;
}

export interface EvalResult {
  rows: Array<EvalItem & { detected: Detection; frames: Uint8Array }>;
  byLanguage: Record<string, Accuracy>;
  byGroup: Record<string, Accuracy>;
  seconds: number;
}

export declare const ATTRS: readonly ['color', 'motion', 'background', 'shape'];
export declare const TARGETS: Readonly<Record<'color' | 'motion' | 'background' | 'shape', number>>;
export declare function loadEvalSet(file?: string): EvalItem[];
export declare function detectorSanity(items: EvalItem[]): Record<string, Accuracy>;
export declare function runEval(options?: {
  modelDir?: string;
  items?: EvalItem[];
  backend?: 'web' | 'node';
  dtypes?: { textEncoder?: string; denoiser?: string; vaeDecoder?: string };
  steps?: number;
  guidanceScale?: number;
  shift?: number;
  batch?: number;
  onProgress?: (done: number, total: number) => void;
}): Promise<EvalResult>;
