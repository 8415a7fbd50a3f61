// Ground-truth clips in JavaScript, a port of training/kinema_micro/world.py's renderer (same
// geometry rules and palette; its own seeded RNG). Used for the detector's sanity check without Python.
import { BACKGROUND_RGB, COLOR_RGB } from './captions.mjs';

function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function geometry(rand, motion, size, frames) {
  const u = (a, b) => a + (b - a) * rand();
  if (['left', 'right', 'up', 'down'].includes(motion)) {
    const r = u(4.5, 7.0);
    const start = r + u(0.5, 3.0);
    const speed = Math.min(u(1.5, 2.4), (size - r - 0.5 - start) / (frames - 1));
    const other = u(r + 1, size - r - 1);
    let pos = Array.from({ length: frames }, (_, k) => start + speed * k);
    if (motion === 'left' || motion === 'up') pos = pos.map((p) => size - p);
    return pos.map((p) => (motion === 'left' || motion === 'right' ? [p, other, r] : [other, p, r]));
  }
  const rs0 = u(3.0, 4.5);
  const rs1 = u(9.0, 11.5);
  const cx = u(rs1 + 0.5, size - rs1 - 0.5);
  const cy = u(rs1 + 0.5, size - rs1 - 0.5);
  let rs = Array.from({ length: frames }, (_, k) => rs0 + ((rs1 - rs0) * k) / (frames - 1));
  if (motion === 'shrink') rs = rs.reverse();
  return rs.map((r) => [cx, cy, r]);
}

function inside(shape, dx, dy, r) {
  if (shape === 'circle') return dx * dx + dy * dy <= r * r;
  if (shape === 'square') return Math.abs(dx) <= r * 0.88 && Math.abs(dy) <= r * 0.88;
  const top = -r;
  const bot = r * 0.8;
  if (dy < top || dy > bot) return false;
  return Math.abs(dx) <= r * 1.05 * ((dy - top) / (bot - top));
}

/**
 * Render one clip as RGB uint8 [F][H][W][3].
 * @param {{color:string, shape:string, motion:string, background:string}} attrs
 */
export function renderClip(attrs, seed, { size = 32, frames = 8, supersample = 2 } = {}) {
  const rand = rng(seed);
  const geom = geometry(rand, attrs.motion, size, frames);
  const fg = COLOR_RGB[attrs.color];
  const bg = BACKGROUND_RGB[attrs.background];
  const out = new Uint8Array(frames * size * size * 3);
  const ss = supersample;
  for (let f = 0; f < frames; f++) {
    const [cx, cy, r] = geom[f];
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let hit = 0;
        for (let sy = 0; sy < ss; sy++) {
          for (let sx = 0; sx < ss; sx++) {
            const X = x + (sx + 0.5) / ss;
            const Y = y + (sy + 0.5) / ss;
            if (inside(attrs.shape, X - cx, Y - cy, r)) hit++;
          }
        }
        const m = hit / (ss * ss);
        const o = ((f * size + y) * size + x) * 3;
        for (let c = 0; c < 3; c++) out[o + c] = Math.round(bg[c] * (1 - m) + fg[c] * m);
      }
    }
  }
  return out;
}
