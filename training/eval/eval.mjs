// Evaluate kinema-micro's exported ONNX files end to end with onnxruntime from Node and score
// every clip with the detector. Ship gate, per language: colour >= 97 %, motion >= 95 %,
// background >= 97 %, shape >= 85 %.
//
//   node training/eval/eval.mjs [--model public/models/kinema-micro] [--backend web|node]
//        [--ci] [--steps N] [--guidance G] [--shift S] [--denoiser fp32|fp16|int8]
//        [--sheet training/contact-sheet.png] [--json training/out/eval.json] [--batch 8]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseCaption } from './captions.mjs';
import { detect } from './detector.mjs';
import { generate, loadPipeline, releasePipeline } from './pipeline.mjs';
import { contactSheet } from './png.mjs';
import { renderClip } from './render.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ATTRS = ['color', 'motion', 'background', 'shape'];
export const TARGETS = { color: 0.97, motion: 0.95, background: 0.97, shape: 0.85 };

export function loadEvalSet(file = path.join(HERE, 'eval-set.json')) {
  return JSON.parse(fs.readFileSync(file, 'utf8')).items;
}

function tally(rows, key) {
  const out = {};
  for (const r of rows) {
    const k = key(r);
    out[k] ??= { n: 0, color: 0, motion: 0, background: 0, shape: 0 };
    out[k].n++;
    for (const a of ATTRS) if (r.detected[a] === r.expected[a]) out[k][a]++;
  }
  for (const v of Object.values(out)) for (const a of ATTRS) v[a] = v[a] / v.n;
  return out;
}

/** Score GT clips rendered in JS for the same items: the detector's own accuracy. */
export function detectorSanity(items) {
  const rows = items.map((it) => {
    const clip = renderClip(it.expected, it.seed);
    return { ...it, detected: detect(clip, 32, 32, 8) };
  });
  return tally(rows, (r) => r.language);
}

/**
 * Run the evaluation. Returns { rows, byLanguage, byGroup, seconds }.
 */
export async function runEval({
  modelDir = path.resolve(HERE, '../../public/models/kinema-micro'),
  items = loadEvalSet(),
  backend = 'web',
  dtypes = {},
  steps,
  guidanceScale,
  shift,
  batch = 8,
  onProgress,
} = {}) {
  const t0 = Date.now();
  const p = await loadPipeline({ modelDir, backend, dtypes });
  const rows = [];
  try {
    for (let i = 0; i < items.length; i += batch) {
      const group = items.slice(i, i + batch);
      const clips = await generate(p, group, { steps, guidanceScale, shift });
      group.forEach((it, j) => {
        const parsed = parseCaption(it.prompt);
        const expected = it.expected ?? parsed;
        const c = clips[j];
        rows.push({ ...it, expected, parsed, detected: detect(c.frames, c.width, c.height, c.numFrames), frames: c.frames });
      });
      onProgress?.(rows.length, items.length);
    }
  } finally {
    await releasePipeline(p);
  }
  return {
    rows,
    byLanguage: tally(rows, (r) => r.language),
    byGroup: tally(rows, (r) => `${r.language}/${r.heldOut ? 'heldout' : 'seen'}`),
    seconds: (Date.now() - t0) / 1000,
  };
}

function pct(v) {
  return `${(v * 100).toFixed(1)}%`.padStart(7);
}

function printTable(title, t) {
  console.log(`\n${title}`);
  console.log(`${'group'.padEnd(14)}${'n'.padStart(5)}${ATTRS.map((a) => a.padStart(11)).join('')}`);
  for (const [k, v] of Object.entries(t)) {
    console.log(`${k.padEnd(14)}${String(v.n).padStart(5)}${ATTRS.map((a) => pct(v[a]).padStart(11)).join('')}`);
  }
}

async function main() {
  const argv = process.argv.slice(2);
  const opt = (name, def) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : def;
  };
  const num = (name) => (opt(name) === undefined ? undefined : Number(opt(name)));
  let items = loadEvalSet(opt('set', path.join(HERE, 'eval-set.json')));
  if (argv.includes('--ci')) items = items.filter((it) => it.ci);
  if (opt('limit')) items = items.slice(0, Number(opt('limit')));
  const backend = opt('backend', 'web');
  const dtypes = { denoiser: opt('denoiser', 'fp32'), textEncoder: opt('text-encoder', 'fp32'), vaeDecoder: opt('vae', 'fp32') };
  const res = await runEval({
    modelDir: path.resolve(opt('model', path.join(HERE, '../../public/models/kinema-micro'))),
    items, backend, dtypes, steps: num('steps'), guidanceScale: num('guidance'), shift: num('shift'),
    batch: num('batch') ?? 8,
    onProgress: (d, n) => process.stderr.write(`\r${d}/${n}`),
  });
  process.stderr.write('\n');
  console.log(`kinema-micro ONNX eval: ${res.rows.length} (prompt, seed) pairs, backend ${backend}, variants ${JSON.stringify(dtypes)}, ${res.seconds.toFixed(1)} s`);
  printTable('accuracy by language', res.byLanguage);
  printTable('accuracy by language and split (heldout = caption combination never seen in training)', res.byGroup);
  const sanity = detectorSanity(items);
  printTable('detector on ground-truth clips (JS renderer, same attributes and seeds)', sanity);
  const reconDir = path.join(HERE, '../out/recon');
  let recon = null;
  if (fs.existsSync(path.join(reconDir, 'recon.json'))) {
    const meta = JSON.parse(fs.readFileSync(path.join(reconDir, 'recon.json'), 'utf8'));
    const per = meta.frames * meta.width * meta.height * 3;
    const score = (file) => {
      const buf = fs.readFileSync(path.join(reconDir, file));
      const rows = meta.expected.map((expected, i) => ({
        language: file.replace('.bin', ''), expected,
        detected: detect(new Uint8Array(buf.buffer, buf.byteOffset + i * per, per), meta.width, meta.height, meta.frames),
      }));
      return tally(rows, (r) => r.language);
    };
    recon = { ...score('gt.bin'), ...score('recon.bin'), mse: meta.mse };
    printTable(`detector on Python ground truth (gt) and autoencoder reconstructions (recon, mse ${meta.mse.toFixed(5)})`,
      { gt: recon.gt, recon: recon.recon });
  }
  let pass = true;
  for (const [lang, v] of Object.entries(res.byLanguage)) {
    for (const a of ATTRS) if (v[a] < TARGETS[a]) pass = false;
  }
  console.log(`\nship gate (per language: colour >= 97%, motion >= 95%, background >= 97%, shape >= 85%): ${pass ? 'PASS' : 'FAIL'}`);
  const failures = res.rows.filter((r) => ATTRS.some((a) => r.detected[a] !== r.expected[a]));
  if (argv.includes('--verbose')) {
    for (const r of failures) {
      console.log(`miss [${r.language}${r.heldOut ? ' heldout' : ''}] "${r.prompt}" seed ${r.seed}: ` +
        ATTRS.filter((a) => r.detected[a] !== r.expected[a]).map((a) => `${a} ${r.expected[a]} -> ${r.detected[a]}`).join(', '));
    }
  }
  const jsonOut = opt('json', argv.includes('--ci') ? null : path.join(HERE, '../out/eval.json'));
  if (jsonOut) {
    fs.mkdirSync(path.dirname(jsonOut), { recursive: true });
    fs.writeFileSync(jsonOut, JSON.stringify({
      backend, dtypes, seconds: res.seconds, pairs: res.rows.length, byLanguage: res.byLanguage, byGroup: res.byGroup,
      detectorOnGroundTruth: sanity, autoencoder: recon, pass,
      failures: failures.map(({ frames, ...r }) => r),
    }, null, 1));
  }
  const sheet = opt('sheet', argv.includes('--ci') ? null : path.join(HERE, '../contact-sheet.png'));
  if (sheet) {
    // Eight rows per language spread evenly over the set (held-out combinations come first in it).
    const pick = [];
    for (const lang of ['en', 'zh']) {
      const rows = res.rows.filter((r) => r.language === lang);
      for (let i = 0; i < 8 && rows.length; i++) pick.push(rows[Math.floor((i * rows.length) / 8 + (lang === 'zh' ? 3 : 0)) % rows.length]);
    }
    fs.writeFileSync(sheet, contactSheet(pick.map((r) => r.frames), { width: 32, height: 32, numFrames: 8 }));
    fs.writeFileSync(sheet.replace(/\.png$/, '.txt'), pick.map((r, i) =>
      `${String(i + 1).padStart(2)}. [${r.language}${r.heldOut ? ', held out' : ''}] seed ${r.seed}: ${r.prompt}  ->  ` +
      `${ATTRS.map((a) => r.detected[a]).join(' / ')}`).join('\n') + '\n');
    console.log(`contact sheet: ${sheet}`);
  }
  process.exitCode = pass ? 0 : 1;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  await main();
}
