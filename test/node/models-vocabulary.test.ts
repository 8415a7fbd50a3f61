import { describe, expect, it } from 'vitest';
import { describeVocabulary, promptLanguage, unknownWordsMessage } from '../../src/models/vocabulary';
import type { ModelManifest } from '../../src/models/types';

const manifest = {
  id: 'kinema-micro',
  vocabulary: { en: { shape: ['circle', 'square'], color: ['red'] }, zh: { shape: ['圆形'] } },
} as unknown as ModelManifest;

describe('vocabulary messages', () => {
  it('picks the prompt language', () => {
    expect(promptLanguage('a red circle')).toBe('en');
    expect(promptLanguage('a red 圆')).toBe('zh');
  });

  it('says which words are unknown and what the model knows, in the prompt language', () => {
    expect(unknownWordsMessage(manifest, 'a purple dog', ['purple', 'dog'])).toBe(
      'kinema-micro does not know "purple", "dog", so they are ignored. It knows shape: circle, square; color: red.',
    );
    expect(unknownWordsMessage(manifest, '一只狗', ['只'])).toBe('kinema-micro does not know "只", so it is ignored. It knows shape: 圆形.');
    expect(describeVocabulary({ ...manifest, vocabulary: {} } as ModelManifest, 'en')).toBe('');
  });
});
