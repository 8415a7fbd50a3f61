/** What a model's manifest says it understands, phrased for people. Pure. */
import type { ModelManifest } from './types';

const CJK = /[\u3400-\u9fff\uf900-\ufaff]/;

/** 'zh' when the text has a CJK ideograph, else 'en'. */
export function promptLanguage(text: string): 'zh' | 'en' {
  return CJK.test(text) ? 'zh' : 'en';
}

/** e.g. `shape: circle, square, triangle; color: red, green, …` for the prompt's language (empty if unknown). */
export function describeVocabulary(manifest: ModelManifest, language: string): string {
  const vocabulary = manifest.vocabulary[language] ?? manifest.vocabulary.en ?? Object.values(manifest.vocabulary)[0];
  if (!vocabulary) return '';
  return Object.entries(vocabulary).map(([category, words]) => `${category}: ${words.join(', ')}`).join('; ');
}

/** The warning for words a model does not know: which ones, and what it does know. */
export function unknownWordsMessage(manifest: ModelManifest, prompt: string, words: readonly string[]): string {
  const known = describeVocabulary(manifest, promptLanguage(prompt));
  const list = words.map((word) => `"${word}"`).join(', ');
  return `${manifest.id} does not know ${list}, so ${words.length === 1 ? 'it is' : 'they are'} ignored.${known ? ` It knows ${known}.` : ''}`;
}
