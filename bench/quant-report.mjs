#!/usr/bin/env node
// npm run quant-report [-- --tokens N --only NAME --out FILE --keep --no-webgpu]
//
// The error of quantize.py's weight-only quantization, layer type by layer type at the real shapes of
// umT5-XXL and the Wan2.1 1.3B DiT: bench/quant_report.py writes each layer (random normal weights) as an
// fp32 graph and as MatMulNBits graphs (int8 and int4, blocks 32/64/128, with and without zero points);
// this script runs them on the same random input in onnxruntime-web's wasm backend (one thread, in Node)
// and compares each quantized output with the fp32 graph's output. The umT5 embedding rows (dequantized in
// JavaScript, not by onnxruntime) are measured in numpy. Prints markdown and writes it to
// bench/quant-report.md (or --out). Then the small layout cases of test/convert/quantize-ort.test.ts run in
// headless Chromium on WebGPU with both onnxruntime-web builds that have it (the JSEP build kinema loads today
// and onnxruntime-web/webgpu, the native WebGPU EP), to show which MatMulNBits forms each kernel accepts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = process.env.KINEMA_PYTHON ?? '/usr/bin/python3';

function usage(message) {
  process.stderr.write(`quant-report: ${message}\nusage: npm run quant-report [-- --tokens N --only NAME --out FILE --keep --no-webgpu]\n`);
  process.exit(2);
}

const options = { tokens: 64, only: undefined, out: join(root, 'bench/quant-report.md'), keep: false, webgpu: true };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const arg = argv[i];
  const value = () => argv[++i] ?? usage(`${arg} needs a value`);
  if (arg === '--tokens') {
    options.tokens = Number(value());
    if (!Number.isInteger(options.tokens) || options.tokens < 1) usage('--tokens must be a positive integer');
  } else if (arg === '--only') options.only = value();
  else if (arg === '--out') options.out = resolve(value());
  else if (arg === '--keep') options.keep = true;
  else if (arg === '--no-webgpu') options.webgpu = false;
  else usage(`unknown argument ${arg}`);
}

const started = Date.now();
const loadBefore = loadavg()[0];
const dir = mkdtempSync(join(tmpdir(), 'kinema-quant-report-'));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (!options.keep) rmSync(dir, { recursive: true, force: true }); // the graphs are GBs
    process.exit(130);
  });
}
try {
  const args = ['bench/quant_report.py', 'report', '--out', dir, '--tokens', String(options.tokens)];
  if (options.only) args.push('--only', options.only);
  const py = spawnSync(PYTHON, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'inherit', 'inherit'] });
  if (py.status !== 0) throw new Error(`${PYTHON} ${args.join(' ')} failed (exit ${py.status})`);
  const cases = JSON.parse(readFileSync(join(dir, 'cases.json'), 'utf8'));

  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const version = JSON.parse(readFileSync(join(root, 'node_modules/onnxruntime-web/package.json'), 'utf8')).version;

  const readF32 = (a) => {
    const b = readFileSync(join(dir, a.file));
    return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  };
  async function run(file, input) {
    const path = join(dir, file);
    const session = await ort.InferenceSession.create(readFileSync(path));
    try {
      const feed = { A: new ort.Tensor('float32', readF32(input), input.shape) };
      const out = await session.run(feed);
      return { y: out.Y.data };
    } finally {
      await session.release();
      if (!options.keep) unlinkSync(path); // the fp32 graphs are GBs together
    }
  }

  const results = [];
  for (const layer of cases.layers) {
    const ref = await run(layer.fp32, layer.input);
    let refSq = 0;
    let refMax = 0;
    for (const v of ref.y) { refSq += v * v; refMax = Math.max(refMax, Math.abs(v)); }
    const variants = [];
    for (const variant of layer.variants) {
      const q = await run(variant.model, layer.input);
      let errSq = 0;
      let errMax = 0;
      for (let i = 0; i < q.y.length; i++) {
        const d = q.y[i] - ref.y[i];
        errSq += d * d;
        errMax = Math.max(errMax, Math.abs(d));
      }
      variants.push({ ...variant, outRelRms: Math.sqrt(errSq / refSq), outMaxRel: errMax / refMax });
    }
    results.push({ ...layer, fp32Bytes: layer.K * layer.N * 4, variants });
    process.stderr.write(`${layer.component} ${layer.layer}: done\n`);
  }

  const pct = (x) => `${(x * 100).toFixed(x < 0.01 ? 3 : 2)} %`;
  const label = (v) => (v.op === 'DequantizeLinear' ? 'int8/column (DQ)' : `int${v.bits}/${v.blockSize}${v.zeroPoints ? '+zp' : ''}`);
  const lines = [];
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  lines.push('# Weight quantization error at the real layer shapes (random weights)', '');
  lines.push(`Command: \`npm run quant-report${options.tokens !== 64 ? ` -- --tokens ${options.tokens}` : ''}\`; ` +
    `measured ${new Date().toISOString().slice(0, 16)} UTC in ${seconds} s on ${cpus().length} CPU cores ` +
    `(load average ${loadBefore.toFixed(1)} at the start, ${loadavg()[0].toFixed(1)} at the end; ` +
    `Python took ${cases.pythonSeconds} s of it), onnxruntime-web ${version} wasm, one thread, in Node.`, '');
  lines.push(`Each layer is Y = A·W with W [K, N] random normal (std 1/√(3K), torch's Linear init) and A [1, ${cases.tokens}, K] ` +
    'random normal; the quantized graph (convert/kinema_convert/quantize.py → com.microsoft MatMulNBits, symmetric ' +
    'unless "+zp"; "int8/column (DQ)" is the DequantizeLinear → MatMul form with one scale per column) runs on the same A ' +
    'in the same runtime as the fp32 graph. **out rel RMS** = ‖Y_q − Y‖ / ‖Y‖; ' +
    '**out max** = max |Y_q − Y| / max |Y|; **w rel RMS** = ‖dequant(W_q) − W‖ / ‖W‖ (numpy); bytes = B + scales (+ zero points).', '');

  lines.push('## Output error per layer type (onnxruntime-web wasm vs the fp32 graph)', '');
  const heads = results[0]?.variants.map(label) ?? [];
  lines.push(`| component | layer | K × N | ${heads.join(' | ')} |`, `|---|---|---|${heads.map(() => '---:').join('|')}|`);
  for (const r of results) {
    lines.push(`| ${r.component} | ${r.layer} | ${r.K} × ${r.N} | ${r.variants.map((v) => pct(v.outRelRms)).join(' | ')} |`);
  }
  lines.push('', '## Details', '');
  lines.push('| layer | variant | bytes (÷ fp32) | w rel RMS | w max / max|W| | out rel RMS | out max |',
    '|---|---|---:|---:|---:|---:|---:|');
  for (const r of results) {
    for (const v of r.variants) {
      lines.push(`| ${r.layer} | ${label(v)} | ${v.weightBytes} (${(v.weightBytes / r.fp32Bytes).toFixed(3)}) | ${pct(v.weight.relRms)} | ` +
        `${pct(v.weight.maxAbs / v.weight.maxAbsWeight)} | ${pct(v.outRelRms)} | ${pct(v.outMaxRel)} |`);
    }
  }
  lines.push('', ...(await wholeEncoder()));
  const e = cases.embedding;
  lines.push('', `## umT5 embedding rows (${e.rows} rows × ${e.dim}, random normal std 1, dequantized per row in numpy)`, '');
  lines.push('| format | bytes per row (fp16: ' + e.dim * 2 + ') | rel RMS | max abs / max |x| |', '|---|---:|---:|---:|');
  for (const v of e.variants) {
    lines.push(`| int${v.bits}/${v.blockSize} | ${v.bytesPerRow} | ${pct(v.weight.relRms)} | ${pct(v.weight.maxAbs / v.weight.maxAbsWeight)} |`);
  }

  // What the numbers say, computed from them (the text around them is the reading this report supports)
  const byLabel = (name) => results.map((r) => r.variants.find((v) => label(v) === name)).filter(Boolean);
  const spread = (name) => {
    const errs = byLabel(name).map((v) => v.outRelRms);
    return errs.length ? `${pct(Math.min(...errs))} – ${pct(Math.max(...errs))}` : 'n/a';
  };
  lines.push('', '## Reading', '');
  lines.push(`- int8 block 128 (the DiT default): output rel RMS ${spread('int8/128')} over all layer types; ` +
    `int8/32 ${spread('int8/32')}. int4 block 32 (the umT5 default): ${spread('int4/32')}; with zero points ${spread('int4/32+zp')}; ` +
    `int4/128 ${spread('int4/128')}; the int8 DequantizeLinear form (one scale per column) ${spread('int8/column (DQ)')}.`);
  const kept = results.filter((r) => r.keptByDefault);
  const keptParams = kept.reduce((n, r) => n + r.K * r.N, 0);
  const int8Bytes = kept.reduce((n, r) => n + (r.variants.find((v) => label(v) === 'int8/128')?.weightBytes ?? 0), 0);
  lines.push('- On random normal weights the relative error is a property of the format, not of the layer: every layer ' +
    'type lands in the same narrow band, so this measurement alone cannot single out a sensitive layer. Real ' +
    'checkpoints can have heavier tails and outlier columns than a normal draw (not measured here); smaller ' +
    'blocks and zero points are the knobs for that (`--block-size`, `--zero-points`).');
  lines.push(`- Kept in float by \`default_keep\` (convert/kinema_convert/quantize.py), by role rather than by this ` +
    `per-layer error: ${kept.map((r) => `\`${r.layer}\``).join(', ')}. The timestep MLP and \`time_proj\` produce the ` +
    'shift/scale/gate of every block, so one error reaches all 30 blocks and every token; `proj_out` is the output ' +
    'head, whose error goes straight into the predicted velocity; the patch embedding is the input projection. ' +
    `Together ${(keptParams / 1e6).toFixed(1)} M parameters (${(keptParams * 2 / 1e6).toFixed(1)} MB in fp16, ` +
    `${(int8Bytes / 1e6).toFixed(1)} MB as int8/128): keeping them costs ${((keptParams * 2 - int8Bytes) / 1e6).toFixed(1)} MB ` +
    'of a ~1.5 GB int8 DiT. Weights under 4,096 values stay float too (quantize.MIN_ELEMENTS). Norms and ' +
    'the umT5 relative attention bias are not MatMuls and stay float anyway; every umT5 block linear is ' +
    'quantized (int4/32 by default, as in the public 4-bit browser build), and the text embedder of the DiT ' +
    'is quantized with the blocks.');
  if (options.webgpu) lines.push('', ...(await webgpuSupport()));
  const md = `${lines.join('\n')}\n`;
  process.stdout.write(md);
  if (!options.only) writeFileSync(options.out, md);
  else process.stderr.write(`(--only: ${options.out} not written)\n`);
} finally {
  if (!options.keep) rmSync(dir, { recursive: true, force: true });
  else process.stderr.write(`graphs kept in ${dir}\n`);
}

/** The layout cases in Chromium's WebGPU with each onnxruntime-web build: markdown lines. */
async function webgpuSupport() {
  const out = ['## Which MatMulNBits forms the WebGPU kernels run (headless Chromium)', ''];
  const layoutDir = join(dir, 'layout');
  const py = spawnSync(PYTHON, ['bench/quant_report.py', 'layout', '--out', layoutDir], { cwd: root, encoding: 'utf8' });
  if (py.status !== 0) throw new Error(`bench/quant_report.py layout failed:\n${py.stderr}`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    return [...out, 'Skipped: playwright-core is not installed.'];
  }
  const executablePath = process.env.CHROME_PATH ?? '/usr/bin/chromium';
  if (!existsSync(executablePath)) return [...out, `Skipped: no Chromium at ${executablePath} (set CHROME_PATH).`];
  const dist = join(root, 'node_modules/onnxruntime-web/dist');
  const page = `<!doctype html><script type="module">
const [file, wasm] = JSON.parse(decodeURIComponent(location.hash.slice(1)));
const ort = await import('/ort/' + file);
ort.env.wasm.numThreads = 1;
ort.env.wasm.wasmPaths = wasm;
const adapter = await navigator.gpu?.requestAdapter();
const { cases } = await (await fetch('/cases/cases.json')).json();
const f32 = async (a) => new Float32Array(await (await fetch('/cases/' + a.file)).arrayBuffer());
const results = [];
for (const c of cases) {
  try {
    const model = new Uint8Array(await (await fetch('/cases/' + c.model)).arrayBuffer());
    const s = await ort.InferenceSession.create(model, { executionProviders: ['webgpu'] });
    const y = (await s.run({ A: new ort.Tensor('float32', await f32(c.input), c.input.shape) })).Y.data;
    const e = await f32(c.expected);
    let err = 0, m = 0;
    for (let i = 0; i < e.length; i++) { err = Math.max(err, Math.abs(y[i] - e[i])); m = Math.max(m, Math.abs(e[i])); }
    results.push({ ok: true, rel: err / m });
    await s.release();
  } catch (error) {
    results.push({ ok: false, error: String(error?.message ?? error) });
  }
}
window.done = { adapter: adapter ? adapter.info?.architecture + ' / ' + adapter.info?.vendor : 'none', results };
</script>`;
  const types = { '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };
    const file = url.startsWith('/ort/') ? join(dist, url.slice(5)) : url.startsWith('/cases/') ? join(layoutDir, url.slice(7)) : undefined;
    if (url === '/') {
      res.writeHead(200, { ...headers, 'content-type': 'text/html' });
      res.end(page);
    } else if (file && !file.includes('..') && existsSync(file)) {
      res.writeHead(200, { ...headers, 'content-type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(readFileSync(file));
    } else {
      res.writeHead(404, headers);
      res.end();
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  const builds = [
    ['`onnxruntime-web` (JSEP; what src/runtime/ort.ts loads for WebGPU)', ['ort.min.mjs', { wasm: `${base}/ort/ort-wasm-simd-threaded.jsep.wasm` }]],
    ['`onnxruntime-web/webgpu` (the native WebGPU EP)', ['ort.webgpu.min.mjs', `${base}/ort/`]],
  ];
  const browser = await chromium.launch({ executablePath, args: ['--no-sandbox', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic', '--enable-unsafe-webgpu'] });
  const columns = [];
  let adapter = 'none';
  try {
    for (const [, spec] of builds) {
      const tab = await browser.newPage();
      await tab.goto(`${base}/#${encodeURIComponent(JSON.stringify(spec))}`);
      const done = await (await tab.waitForFunction(() => window.done, null, { timeout: 300_000 })).jsonValue();
      adapter = done.adapter;
      columns.push(done.results);
      await tab.close();
    }
  } finally {
    await browser.close();
    server.close();
  }
  const cases = JSON.parse(readFileSync(join(layoutDir, 'cases.json'), 'utf8')).cases;
  out.push(`Adapter: ${adapter}. Each case is checked against A·dequantize(B) (+ bias) from numpy; "ok" gives max |error| ÷ max |Y|.`, '');
  // ORT's messages carry its build machine's source path and a stack: keep the reason
  const reason = (e) => e.replace(/\s+/g, ' ').replace(/Can't create a session\. ERROR_CODE: \d+, ERROR_MESSAGE: /, '')
    .replace(/\S*onnxruntime\/(\S+) \S+::\S+\([^)]*\) /, '$1: ').replace(/ Stacktrace:.*$/, '').replace(/\|/g, '/').slice(0, 160);
  const cell = (r) => (r.ok ? (r.rel < 1e-5 ? `ok (${r.rel.toExponential(1)})` : `WRONG (${r.rel.toExponential(1)})`) : `fails: ${reason(r.error)}`);
  // What fails where, from the table: every 8-bit case; 4-bit with a partial last block; 4-bit with a bias input
  const nbits = (c) => c.op !== 'DequantizeLinear';
  const groups = [['8-bit MatMulNBits', (c) => nbits(c) && c.bits === 8], ['a partial last block (4-bit)', (c) => nbits(c) && c.bits === 4 && c.K % c.blockSize !== 0],
    ['a bias input (4-bit)', (c) => nbits(c) && c.bits === 4 && c.bias], ['4-bit, whole blocks, no bias', (c) => nbits(c) && c.bits === 4 && c.K % c.blockSize === 0 && !c.bias],
    ['int8 DequantizeLinear → MatMul', (c) => !nbits(c)]];
  builds.forEach(([name], b) => {
    const verdicts = groups.map(([what, pick]) => {
      const rs = cases.map((c, i) => [c, columns[b][i]]).filter(([c]) => pick(c)).map(([, r]) => r.ok && r.rel < 1e-5);
      return `${what}: ${rs.every(Boolean) ? 'runs' : rs.some(Boolean) ? 'runs in some cases' : 'fails'}`;
    });
    out.push(`- ${name}: ${verdicts.join('; ')}.`);
  });
  out.push('');
  out.push(`| form | bits | block | zero points | K | bias input | fp16 weight | ${builds.map(([name]) => name).join(' | ')} |`, `|---|---|---|---|---|---|---|${builds.map(() => '---').join('|')}|`);
  cases.forEach((c, i) => {
    const dq = !nbits(c);
    out.push(`| ${dq ? 'DequantizeLinear + MatMul' : 'MatMulNBits'} | ${c.bits} | ${dq ? 'column' : c.blockSize} | ${c.zeroPoints ? 'yes' : 'no'} | ${c.K}${!dq && c.K % c.blockSize ? ' (partial block)' : ''} | ${c.bias ? (dq ? 'Add' : 'yes') : 'no'} | ${c.fp16 ? 'yes' : 'no'} | ${columns.map((col) => cell(col[i])).join(' | ')} |`);
  });
  return out;
}

/** The error through a whole (tiny, 2-layer) umT5 encoder exported by the converter: markdown lines. */
async function wholeEncoder() {
  const out = ['## Through a whole encoder (the converter\'s tiny random umT5: 2 layers, d_model 32, blocks of 16)', ''];
  const folder = join(dir, 'exported');
  const py = spawnSync(PYTHON, ['bench/quant_report.py', 'exported', '--out', folder], { cwd: root, encoding: 'utf8' });
  if (py.status !== 0) return [...out, `Skipped: bench/quant_report.py exported failed (torch missing?): ${py.stderr.trim().split('\n').pop()}`];
  const spec = JSON.parse(readFileSync(join(folder, 'cases.json'), 'utf8'));
  const ort = await import('onnxruntime-web');
  const raw = (f) => readFileSync(join(folder, f));
  const buf = (b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength);
  const feeds = {
    hidden_states: new ort.Tensor('float32', new Float32Array(buf(raw(spec.hidden.file))), spec.hidden.shape),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(buf(raw(spec.mask.file))), spec.mask.shape),
  };
  const ys = new Map();
  for (const g of spec.graphs) {
    const session = await ort.InferenceSession.create(raw(g.model));
    ys.set(g.model, (await session.run(feeds)).prompt_embeds.data);
    await session.release();
  }
  const ref = ys.get('te.fp32.onnx');
  out.push('All 14 linears as MatMulNBits (int4 with zero points); `prompt_embeds` against the fp32 graph in onnxruntime-web wasm:', '');
  out.push('| stored weights | format | MatMulNBits nodes | prompt_embeds rel RMS |', '|---|---|---:|---:|');
  for (const g of spec.graphs.filter((x) => x.bits !== null)) {
    const y = ys.get(g.model);
    let e2 = 0;
    let r2 = 0;
    for (let i = 0; i < y.length; i++) { e2 += (y[i] - ref[i]) ** 2; r2 += ref[i] ** 2; }
    out.push(`| ${g.weights} | int${g.bits}/16${g.bits === 4 ? '+zp' : ''} | ${g.matMulNBits} | ${((Math.sqrt(e2 / r2)) * 100).toFixed(2)} % |`);
  }
  out.push('', 'Errors compound through the layers (here above the single-layer figures); the real 24-layer encoder was not run.');
  return out;
}
