#!/usr/bin/env node
// node bench/wan/native.mjs DIR [--threads=1] [--steps=4] [--batch=1] [--size=64x64] [--frames=5] [--json]
//
// The native twin of bench/wan/run.mjs: the same converted graphs (each component's first variant, as
// the browser run loads them) on onnxruntime-node's CPU provider, with the same input shapes and thread
// count, one component at a time (sessions created, run, released: the browser's staging at most keeps
// fewer alive). Inputs are random values of the contract's shapes (docs/wan.md "The ONNX contract"):
// the speed of these graphs does not depend on the values. Prints one line per figure, or one JSON line
// with --json (what run.mjs reads).
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const ort = require('onnxruntime-node');
const argv = process.argv.slice(2);
const flag = (name, fallback) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const dir = argv.find((a) => !a.startsWith('--'));
if (!dir || !existsSync(join(dir, 'manifest.json'))) {
  console.error('usage: node bench/wan/native.mjs DIR [--threads=1] [--steps=4] [--batch=1] [--size=64x64] [--frames=5] [--json]\n  DIR: a converted Wan2.1 model folder with manifest.json');
  process.exit(2);
}
const threads = Number(flag('threads', '1'));
const steps = Number(flag('steps', '4'));
const batch = Number(flag('batch', '1'));
const [width, height] = flag('size', '64x64').split('x').map(Number);
const numFrames = Number(flag('frames', '5'));
const json = argv.includes('--json');
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const L = manifest.tokenizer?.maxLength ?? 512;
const latentFrames = (numFrames - 1) / 4 + 1;
const h = height / 8;
const w = width / 8;

let seed = 12345;
const rand = () => { seed = (seed * 1664525 + 1013904223) >>> 0; return seed / 2 ** 32 * 2 - 1; };
const tensor = (dims, fill = rand) => {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = fill(i);
  return new ort.Tensor('float32', data, dims);
};
const options = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
const median = (xs) => { const v = [...xs].sort((a, b) => a - b); const m = v.length >> 1; return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2; };

/** Sessions for one component's graphs (first variant), in order. */
async function open(component) {
  const variant = manifest.components[component].variants[0];
  const start = performance.now();
  const graphs = [];
  for (const g of variant.graphs) {
    const onnx = g.files.find((f) => f.path.endsWith('.onnx'));
    graphs.push({ name: g.name, perPrompt: g.perPrompt === true, session: await ort.InferenceSession.create(resolve(dir, onnx.path), options) });
  }
  return { graphs, dtype: variant.dtype, createMs: performance.now() - start };
}
async function close(c) { for (const g of c.graphs) await g.session.release(); }

/** Runs graphs in order, each taking its inputs by name from what is known so far. */
async function chain(graphs, known) {
  for (const g of graphs) {
    const feeds = {};
    for (const name of g.session.inputNames) {
      if (!(name in known)) throw new Error(`${g.name}: no value for input "${name}" (known: ${Object.keys(known).join(', ')})`);
      feeds[name] = known[name];
    }
    Object.assign(known, await g.session.run(feeds));
  }
  return known;
}

const out = { version: ort.env.versions?.node ?? require('onnxruntime-node/package.json').version, threads, steps, batch, createMs: 0 };

// text encoder: the gathered embeddings of one prompt (B rows of L tokens), 12 real tokens
const te = await open('textEncoder');
out.createMs += te.createMs;
const D = manifest.components.textEncoder.hiddenSize;
const mask = new BigInt64Array(batch * L);
for (let b = 0; b < batch; b++) for (let i = 0; i < 12; i++) mask[b * L + i] = 1n;
let t0 = performance.now();
const encoded = await chain(te.graphs, { hidden_states: tensor([batch, L, D]), attention_mask: new ort.Tensor('int64', mask, [batch, L]) });
out.textEncoderMs = performance.now() - t0;
const promptEmbeds = encoded.prompt_embeds;
await close(te);

// denoiser: the context graph once, then the per-step graphs `steps` times
const dn = await open('denoiser');
out.createMs += dn.createMs;
const cfg = manifest.components.denoiser.config;
const tokens = latentFrames * (h / cfg.patchSize[1]) * (w / cfg.patchSize[2]);
const angle = () => rand() * Math.PI;
const known = {
  encoder_hidden_states: promptEmbeds,
  rope_cos: tensor([tokens, cfg.headDim / 2], () => Math.cos(angle())),
  rope_sin: tensor([tokens, cfg.headDim / 2], () => Math.sin(angle())),
};
t0 = performance.now();
await chain(dn.graphs.filter((g) => g.perPrompt), known);
out.contextMs = performance.now() - t0;
const perStep = dn.graphs.filter((g) => !g.perPrompt);
const forwards = [];
for (let i = 0; i < steps; i++) {
  known.hidden_states = tensor([batch, cfg.inChannels, latentFrames, h, w]);
  known.timestep = tensor([batch], () => 1000 * (1 - i / steps));
  t0 = performance.now();
  await chain(perStep, known);
  forwards.push(performance.now() - t0);
}
out.denoiserForwardMs = median(forwards);
out.denoiserForwards = forwards;
await close(dn);

// decoder: one step per latent frame, memories fed back
const dec = await open('vaeDecoder');
out.createMs += dec.createMs;
const memory = manifest.components.vaeDecoder.streaming.memory;
const feeds = {};
for (const m of memory) feeds[m.input] = tensor([1, m.channels, h * m.scale, w * m.scale], () => 0);
t0 = performance.now();
for (let f = 0; f < latentFrames; f++) {
  feeds.latent = tensor([1, manifest.latent?.channels ?? 16, h, w]);
  const res = await dec.graphs[0].session.run(feeds);
  for (const m of memory) feeds[m.input] = res[m.output];
}
out.decoderMs = performance.now() - t0;
out.decoderFrameMs = out.decoderMs / numFrames;
await close(dec);
out.peakRss = process.resourceUsage().maxRSS * 1024;

if (json) console.log(JSON.stringify(out));
else {
  console.log(`onnxruntime-node ${out.version}, ${threads} thread(s); sessions ${(out.createMs / 1000).toFixed(2)} s`);
  console.log(`text encoder [${batch}, ${L}]: ${(out.textEncoderMs / 1000).toFixed(2)} s`);
  console.log(`denoiser: context ${(out.contextMs / 1000).toFixed(2)} s, forward ${(out.denoiserForwardMs / 1000).toFixed(2)} s (median of ${steps})`);
  console.log(`decoder: ${(out.decoderFrameMs / 1000).toFixed(3)} s per frame (${numFrames} frames, ${latentFrames} steps)`);
  console.log(`peak RSS ${(out.peakRss / 1e9).toFixed(2)} GB`);
}
