// Parse a kinema-micro prompt (English or Chinese) into the attributes it asks for.
// Dependency-free ESM so TypeScript tests, Node scripts and the browser can share it.
// Word lists mirror training/kinema_micro/world.py.

export const COLORS = ['red', 'green', 'blue', 'yellow', 'white', 'cyan', 'magenta', 'orange'];
export const SHAPES = ['circle', 'square', 'triangle'];
export const MOTIONS = ['left', 'right', 'up', 'down', 'grow', 'shrink'];
export const BACKGROUNDS = ['black', 'white', 'gray'];

/** Palette used to render training clips (0–255 RGB). */
export const COLOR_RGB = {
  red: [255, 0, 0], green: [0, 255, 0], blue: [0, 0, 255], yellow: [255, 255, 0],
  white: [255, 255, 255], cyan: [0, 255, 255], magenta: [255, 0, 255], orange: [255, 128, 0],
};
export const BACKGROUND_RGB = { black: [0, 0, 0], white: [255, 255, 255], gray: [128, 128, 128] };

const EN_SHAPE = [['circle', 'circle'], ['disc', 'circle'], ['square', 'square'], ['box', 'square'], ['triangle', 'triangle']];
const EN_MOTION = [
  [/\b(moving|moves|going|sliding)\s+(to\s+the\s+)?left\b/, 'left'],
  [/\b(moving|moves|going|sliding)\s+(to\s+the\s+)?right\b/, 'right'],
  [/\b((moving|moves|going)\s+up(ward)?|rising)\b/, 'up'],
  [/\b((moving|moves|going)\s+down(ward)?|falling)\b/, 'down'],
  [/\b(growing|grows|getting\s+bigger|expanding)\b/, 'grow'],
  [/\b(shrinking|shrinks|getting\s+smaller|contracting)\b/, 'shrink'],
];
const ZH_COLOR = [
  ['品红', 'magenta'], ['洋红', 'magenta'], ['红', 'red'], ['绿', 'green'], ['蓝', 'blue'], ['黄', 'yellow'],
  ['白', 'white'], ['青', 'cyan'], ['橙', 'orange'],
];
const ZH_SHAPE = [['正方形', 'square'], ['方形', 'square'], ['三角形', 'triangle'], ['圆形', 'circle'], ['圆', 'circle']];
const ZH_BG = { 黑: 'black', 白: 'white', 灰: 'gray' };
const ZH_DIR = { 左: 'left', 右: 'right', 上: 'up', 下: 'down' };

/** Language of a prompt: 'zh' if it contains any CJK ideograph, else 'en'. */
export function detectLanguage(prompt) {
  return /[\u4e00-\u9fff]/.test(prompt) ? 'zh' : 'en';
}

function parseEn(text) {
  const t = ` ${text.toLowerCase().replace(/[.,!?;:]/g, ' ').replace(/\s+/g, ' ')} `;
  let background = null;
  let rest = t;
  const bg = t.match(/\b(black|white|gray|grey)\s+background\b/);
  if (bg) {
    background = bg[1] === 'grey' ? 'gray' : bg[1];
    rest = t.replace(bg[0], ' ');
  }
  let color = null;
  for (const w of rest.split(' ')) {
    if (COLORS.includes(w)) {
      color = w;
      break;
    }
  }
  let shape = null;
  for (const [w, s] of EN_SHAPE) {
    if (new RegExp(`\\b${w}\\b`).test(rest)) {
      shape = s;
      break;
    }
  }
  let motion = null;
  for (const [re, m] of EN_MOTION) {
    if (re.test(rest)) {
      motion = m;
      break;
    }
  }
  return { color, shape, motion, background };
}

function parseZh(text) {
  let rest = text;
  let background = null;
  const bg = rest.match(/([黑白灰])色?背景/);
  if (bg) {
    background = ZH_BG[bg[1]];
    rest = rest.replace(bg[0], '');
  }
  let motion = null;
  const mv = rest.match(/[向往]([左右上下])(移动|运动)/);
  if (mv) {
    motion = ZH_DIR[mv[1]];
    rest = rest.replace(mv[0], '');
  } else if (/变大/.test(rest)) {
    motion = 'grow';
  } else if (/变小/.test(rest)) {
    motion = 'shrink';
  }
  let shape = null;
  for (const [w, s] of ZH_SHAPE) {
    if (rest.includes(w)) {
      shape = s;
      rest = rest.replace(w, '');
      break;
    }
  }
  let color = null;
  let best = Infinity;
  for (const [w, c] of ZH_COLOR) {
    const i = rest.indexOf(w);
    if (i >= 0 && i < best) {
      best = i;
      color = c;
    }
  }
  return { color, shape, motion, background };
}

/**
 * Parse a prompt into { color, shape, motion, background } (each null when the prompt does not
 * say it), plus the detected language.
 * @param {string} prompt
 */
export function parseCaption(prompt) {
  if (typeof prompt !== 'string') throw new TypeError('prompt must be a string');
  const language = detectLanguage(prompt);
  const attrs = language === 'zh' ? parseZh(prompt) : parseEn(prompt);
  return { language, ...attrs };
}
