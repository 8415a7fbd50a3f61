/**
 * Prompt cleaning as diffusers' Wan pipeline does it before tokenizing (`prompt_clean`): HTML character
 * references unescaped twice (so `&amp;amp;` becomes `&`), then every run of whitespace becomes one space
 * and the ends are trimmed. diffusers also runs `ftfy.fix_text` first *when ftfy is installed*; kinema does
 * not (no ftfy port exists for JavaScript), so prompts with mojibake or curly quotes may tokenize
 * differently from a diffusers install that has ftfy — exactly like one that does not. Pure.
 */
import { ENTITIES, LEGACY } from './html-entities';

/** Python's `html.unescape` remaps these C1 references the way browsers do (windows-1252). */
const C1_REMAP: Readonly<Record<number, string>> = {
  0x00: '\ufffd', 0x0d: '\r', 0x80: '\u20ac', 0x81: '\x81', 0x82: '\u201a', 0x83: '\u0192', 0x84: '\u201e',
  0x85: '\u2026', 0x86: '\u2020', 0x87: '\u2021', 0x88: '\u02c6', 0x89: '\u2030', 0x8a: '\u0160', 0x8b: '\u2039',
  0x8c: '\u0152', 0x8d: '\x8d', 0x8e: '\u017d', 0x8f: '\x8f', 0x90: '\x90', 0x91: '\u2018', 0x92: '\u2019',
  0x93: '\u201c', 0x94: '\u201d', 0x95: '\u2022', 0x96: '\u2013', 0x97: '\u2014', 0x98: '\u02dc', 0x99: '\u2122',
  0x9a: '\u0161', 0x9b: '\u203a', 0x9c: '\u0153', 0x9d: '\x9d', 0x9e: '\u017e', 0x9f: '\u0178',
};

/** Code points a numeric reference may not produce (controls, noncharacters): they become nothing. */
function isDroppedCodePoint(n: number): boolean {
  return (n >= 0x01 && n <= 0x08) || n === 0x0b || (n >= 0x0e && n <= 0x1f) || (n >= 0x7f && n <= 0x9f)
    || (n >= 0xfdd0 && n <= 0xfdef) || (n & 0xfffe) === 0xfffe;
}

function numericReference(digits: string, hex: boolean): string {
  // Long digit strings overflow to a huge number (or Infinity), which is out of range like in Python.
  const n = hex ? parseInt(digits, 16) : parseInt(digits, 10);
  const remapped = C1_REMAP[n];
  if (remapped !== undefined) return remapped;
  if ((n >= 0xd800 && n <= 0xdfff) || !(n <= 0x10ffff)) return '\ufffd';
  if (isDroppedCodePoint(n)) return '';
  return String.fromCodePoint(n);
}

function namedReference(body: string): string {
  const name = body.endsWith(';') ? body.slice(0, -1) : body;
  if (body.endsWith(';') && Object.hasOwn(ENTITIES, name)) return ENTITIES[name]!;
  if (LEGACY.has(body)) return ENTITIES[body]!;
  // The longest legacy name that prefixes the text wins (`&notit;` → `¬it;`), at least 2 characters.
  const chars = Array.from(body);
  for (let length = chars.length - 1; length > 1; length--) {
    const prefix = chars.slice(0, length).join('');
    if (LEGACY.has(prefix)) return ENTITIES[prefix]! + chars.slice(length).join('');
  }
  return `&${body}`;
}

// Python's html module: `&#123;`, `&#x7b;` (the `;` optional) and `&name;` with up to 32 characters.
const REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** HTML unescaping with the rules and the table of Python's `html.unescape` (HTML5 named references). */
export function unescapeHtml(text: string): string {
  if (!text.includes('&')) return text;
  return text.replace(REFERENCE, (_match, body: string) => {
    if (body[0] !== '#') return namedReference(body);
    const hex = body[1] === 'x' || body[1] === 'X';
    return numericReference(body.slice(hex ? 2 : 1).replace(/;$/, ''), hex);
  });
}

// Python's str.strip() removes what str.isspace() calls space (it includes the separators U+001C–U+001F
// and U+0085, which JavaScript's trim() does not, and excludes U+FEFF, which trim() removes). The regex
// module's `\s` in whitespace_clean is Unicode's White_Space: the same without U+001C–U+001F.
const STRIP = /^[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu;
const WHITE_SPACE_RUN = /[\t\n\v\f\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+/gu;

/** diffusers' `prompt_clean` without ftfy: unescape twice, strip, collapse whitespace runs to one space, strip. */
export function cleanPrompt(text: string): string {
  const unescaped = unescapeHtml(unescapeHtml(text)).replace(STRIP, '');
  return unescaped.replace(WHITE_SPACE_RUN, ' ').replace(STRIP, '');
}
