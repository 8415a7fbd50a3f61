// Detect what a kinema-micro clip shows: foreground colour, shape, motion and background.
// Dependency-free ESM (Node, browser, TypeScript tests).
//
// Method: the background is the median border colour, snapped to the background palette. The
// foreground colour is a vote over pixels far from the background, snapped to the shape palette.
// Each pixel then gets a coverage alpha = projection of (pixel - bg) onto (fg - bg), which gives
// sub-pixel area and centroid even on blurry or antialiased frames. Motion comes from the area
// trend (grow/shrink) or the centroid path; shape from fill ratio against the bounding box plus
// the top-versus-bottom width of the mask (a triangle's apex row is narrow).
import { BACKGROUND_RGB, COLOR_RGB } from './captions.mjs';

const COLOR_NAMES = Object.keys(COLOR_RGB);
const BG_NAMES = Object.keys(BACKGROUND_RGB);

function dist2(r, g, b, c) {
  const dr = r - c[0];
  const dg = g - c[1];
  const db = b - c[2];
  return dr * dr + dg * dg + db * db;
}

function nearest(names, table, r, g, b, exclude) {
  let best = null;
  let bd = Infinity;
  for (const n of names) {
    if (n === exclude) continue;
    const d = dist2(r, g, b, table[n]);
    if (d < bd) {
      bd = d;
      best = n;
    }
  }
  return best;
}

function median(values) {
  if (values.length === 0) return NaN;
  const s = Float64Array.from(values).sort();
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Shape features of one frame's mask (alpha > 0.5). */
function shapeFeatures(alpha, W, H) {
  let x0 = W;
  let x1 = -1;
  let y0 = H;
  let y1 = -1;
  let soft = 0;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const a = alpha[y * W + x];
      if (a > 0.5) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
      }
    }
  }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  for (let y = Math.max(0, y0 - 1); y <= Math.min(H - 1, y1 + 1); y++) {
    for (let x = Math.max(0, x0 - 1); x <= Math.min(W - 1, x1 + 1); x++) soft += alpha[y * W + x];
  }
  const touches = x0 === 0 || y0 === 0 || x1 === W - 1 || y1 === H - 1;
  // Width profile: mean row coverage in the top and bottom quarter of the box.
  const band = Math.max(1, Math.round(bh / 4));
  let top = 0;
  let bottom = 0;
  for (let y = y0; y < y0 + band; y++) for (let x = x0; x <= x1; x++) top += Math.min(1, Math.max(0, alpha[y * W + x]));
  for (let y = y1 - band + 1; y <= y1; y++) for (let x = x0; x <= x1; x++) bottom += Math.min(1, Math.max(0, alpha[y * W + x]));
  // Corner coverage: the four corner cells (a quarter of each side) of the box.
  const cw = Math.max(1, Math.round(bw / 4));
  const ch = Math.max(1, Math.round(bh / 4));
  let corners = 0;
  for (const [cx, cy] of [[x0, y0], [x1 - cw + 1, y0], [x0, y1 - ch + 1], [x1 - cw + 1, y1 - ch + 1]]) {
    for (let y = cy; y < cy + ch; y++) for (let x = cx; x < cx + cw; x++) corners += Math.min(1, Math.max(0, alpha[y * W + x]));
  }
  return {
    fill: soft / (bw * bh),
    topBottom: top / Math.max(bottom, 1e-6),
    corners: corners / (4 * cw * ch),
    size: Math.min(bw, bh),
    touches,
  };
}

/** Classify one frame's features; null when the frame is unusable. */
export function classifyShape(f) {
  if (!f || f.size < 5 || f.touches) return null;
  if (f.topBottom < 0.55) return 'triangle';
  if (f.corners > 0.64) return 'square';
  return 'circle';
}

/**
 * @param {Uint8Array|Uint8ClampedArray} frames  frame-major pixels, RGB or RGBA, [F][H][W][C]
 * @param {number} width
 * @param {number} height
 * @param {number} numFrames
 */
export function detect(frames, width, height, numFrames) {
  const W = width;
  const H = height;
  const F = numFrames;
  const P = W * H;
  const C = frames.length / (P * F);
  if (C !== 3 && C !== 4) throw new RangeError(`frames must hold RGB or RGBA pixels: got ${frames.length} values for ${F}x${H}x${W}`);
  const px = (f, i) => {
    const o = (f * P + i) * C;
    return [frames[o], frames[o + 1], frames[o + 2]];
  };
  // Background: median border colour over all frames.
  const br = [];
  const bgc = [];
  const bb = [];
  for (let f = 0; f < F; f++) {
    for (let i = 0; i < P; i++) {
      const x = i % W;
      const y = (i / W) | 0;
      if (x !== 0 && y !== 0 && x !== W - 1 && y !== H - 1) continue;
      const [r, g, b] = px(f, i);
      br.push(r);
      bgc.push(g);
      bb.push(b);
    }
  }
  const bgRgb = [median(br), median(bgc), median(bb)];
  const background = nearest(BG_NAMES, BACKGROUND_RGB, ...bgRgb);
  const bgRef = BACKGROUND_RGB[background];
  // Foreground colour: vote among pixels far from the background.
  let maxD = 0;
  for (let f = 0; f < F; f++) for (let i = 0; i < P; i++) maxD = Math.max(maxD, dist2(...px(f, i), bgRef));
  const votes = {};
  const thr = Math.max(0.36 * maxD, 60 * 60);
  for (let f = 0; f < F; f++) {
    for (let i = 0; i < P; i++) {
      const [r, g, b] = px(f, i);
      if (dist2(r, g, b, bgRef) < thr) continue;
      const c = nearest(COLOR_NAMES, COLOR_RGB, r, g, b, background === 'white' ? 'white' : null);
      votes[c] = (votes[c] ?? 0) + 1;
    }
  }
  let color = null;
  let bestVotes = 0;
  for (const [c, n] of Object.entries(votes)) {
    if (n > bestVotes) {
      bestVotes = n;
      color = c;
    }
  }
  const result = { color, shape: null, motion: null, background, details: { frames: [] } };
  if (!color) return result;
  // Coverage alpha, area, centroid and shape features per frame.
  const fg = COLOR_RGB[color];
  const d = [fg[0] - bgRef[0], fg[1] - bgRef[1], fg[2] - bgRef[2]];
  const dd = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  const areas = [];
  const cxs = [];
  const cys = [];
  const shapes = [];
  const alpha = new Float32Array(P);
  for (let f = 0; f < F; f++) {
    let area = 0;
    let sx = 0;
    let sy = 0;
    for (let i = 0; i < P; i++) {
      const [r, g, b] = px(f, i);
      let a = ((r - bgRef[0]) * d[0] + (g - bgRef[1]) * d[1] + (b - bgRef[2]) * d[2]) / dd;
      a = a < 0.15 ? 0 : Math.min(1, a);
      alpha[i] = a;
      area += a;
      sx += a * (i % W);
      sy += a * ((i / W) | 0);
    }
    areas.push(area);
    cxs.push(area > 0 ? sx / area : NaN);
    cys.push(area > 0 ? sy / area : NaN);
    const feats = shapeFeatures(alpha, W, H);
    shapes.push(classifyShape(feats));
    result.details.frames.push({ area, cx: cxs[f], cy: cys[f], ...(feats ?? {}) });
  }
  // Motion.
  const k = Math.max(1, Math.floor(F / 4));
  const mean = (a) => a.reduce((s, v) => s + v, 0) / a.length;
  const aStart = mean(areas.slice(0, k));
  const aEnd = mean(areas.slice(F - k));
  const dx = mean(cxs.slice(F - k)) - mean(cxs.slice(0, k));
  const dy = mean(cys.slice(F - k)) - mean(cys.slice(0, k));
  const ratio = aEnd / Math.max(aStart, 1e-6);
  result.details.areaRatio = ratio;
  result.details.displacement = [dx, dy];
  const moved = Math.hypot(dx, dy) / Math.max(W, H);
  if (ratio > 1.6 && moved < 0.2) result.motion = 'grow';
  else if (ratio < 1 / 1.6 && moved < 0.2) result.motion = 'shrink';
  else if (Number.isFinite(dx) && Number.isFinite(dy) && Math.max(Math.abs(dx), Math.abs(dy)) > 0.1 * Math.max(W, H)) {
    result.motion = Math.abs(dx) >= Math.abs(dy) ? (dx > 0 ? 'right' : 'left') : dy > 0 ? 'down' : 'up';
  }
  // Shape: majority over usable frames.
  const tally = {};
  for (const s of shapes) if (s) tally[s] = (tally[s] ?? 0) + 1;
  let bestN = 0;
  for (const [s, n] of Object.entries(tally)) {
    if (n > bestN) {
      bestN = n;
      result.shape = s;
    }
  }
  return result;
}
