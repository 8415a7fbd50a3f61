// The demo page: plain DOM over the public API. Pure parts (options, progress model, file names) live in
// src/widget/ and are tested in Node; this file only wires them to the page.
import { createVideoGenerator, type Capabilities, type GenerateRequest, type GenerateResult, type GeneratorOptions, type ProgressEvent, type VideoGenerator } from '../src/index';
import { fetchManifestOrCached } from '../src/loader/manifest-cache';
import type { ModelManifest } from '../src/models';
import { clipFileName, describeError, extensionFor, formatDuration } from '../src/widget/format';
import { summarizeModel, summaryError, summaryFacts, viewingScale } from '../src/widget/model-summary';
import { generatorOptionsFrom, requestFrom } from '../src/widget/options';
import { PreviewPlayer } from '../src/widget/preview-player';
import { initialProgress, reduceProgress, type ProgressView } from '../src/widget/progress-model';
import { capabilityFacts, fillFacts, probeCodecs, renderCache } from './panels';
import { ProgressDisplay } from './progress-view';

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;

const form = $<HTMLFormElement>('generate-form');
const status = document.querySelector<HTMLElement>('[data-testid="status"]')!;
const promptField = $<HTMLTextAreaElement>('prompt');
const negativeField = $<HTMLInputElement>('negative-prompt');
const seedField = $<HTMLInputElement>('seed');
const seedRandom = $<HTMLInputElement>('seed-random');
const stepsField = $<HTMLInputElement>('steps');
const guidanceField = $<HTMLInputElement>('guidance');
const framesField = $<HTMLInputElement>('frames');
const fpsField = $<HTMLInputElement>('fps');
const scaleField = $<HTMLSelectElement>('scale');
const backendField = $<HTMLSelectElement>('backend');
const modelField = $<HTMLInputElement>('model');
const providerField = $<HTMLSelectElement>('provider');
const proxyField = $<HTMLInputElement>('proxy-url');
const proxyTokenField = $<HTMLInputElement>('proxy-token');
const allowWasmField = $<HTMLInputElement>('allow-wasm');
const cloudFields = $<HTMLFieldSetElement>('cloud-fields');
const generateButton = $<HTMLButtonElement>('generate');
const cancelButton = $<HTMLButtonElement>('cancel');
const errorBox = $('error');
const elapsed = $('elapsed');
const notice = document.querySelector<HTMLElement>('[data-testid="webgpu-notice"]')!;
const resultSection = $('result');
const video = $<HTMLVideoElement>('result-video');
const download = $<HTMLAnchorElement>('download');
const againButton = $<HTMLButtonElement>('again');
const resultFacts = $('result-facts');
const resultWarnings = $('result-warnings');
const capabilitiesList = $('capabilities');
const cacheList = $('cache-facts');
const clearCacheButton = $<HTMLButtonElement>('clear-cache');
const examplesStatus = $('examples-status');
const previewFigure = $('preview-figure');
const modelFacts = $('model-facts');

const progress = new ProgressDisplay($<HTMLOListElement>('stages'), $<HTMLProgressElement>('overall-bar'), $('overall-text'), $('announcer'), $('fallback'));
const preview = new PreviewPlayer($<HTMLCanvasElement>('preview'));

let generator: VideoGenerator | undefined;
let generatorKey = '';
let controller: AbortController | undefined;
let videoUrl: string | undefined;
let lastResult: { request: GenerateRequest; result: GenerateResult } | undefined;
/** The worker's capability probe, once it answered (the model panel waits for it to say where a model runs). */
let capabilities: Promise<Capabilities | undefined> = Promise.resolve(undefined);
/** The manifest read for the model field's current value; one read per value. */
let manifestRead: { ref: string; manifest: Promise<ModelManifest> } | undefined;
let summarySeq = 0;
/** `?wasmHeapBytes=…&gpuMemoryBytes=…`: lowered memory ceilings (GeneratorOptions.memoryLimits), to see a refusal. */
const memoryQuery = new URLSearchParams(location.search);

type PageState = 'starting' | 'ready' | 'generating';

function setState(state: PageState, text: string): void {
  status.dataset.state = state;
  status.dataset.ready = String(state === 'ready');
  status.textContent = text;
  const busy = state === 'generating';
  generateButton.disabled = state !== 'ready';
  cancelButton.disabled = !busy;
  clearCacheButton.disabled = busy;
  form.setAttribute('aria-busy', String(busy));
}

function showError(error: unknown): void {
  const { code, message } = describeError(error);
  errorBox.hidden = false;
  errorBox.dataset.code = code;
  errorBox.replaceChildren(Object.assign(document.createElement('strong'), { textContent: code }), document.createTextNode(` ${message}`));
}

function clearError(): void {
  errorBox.hidden = true;
  errorBox.textContent = '';
  delete errorBox.dataset.code;
}

function currentOptions(): GeneratorOptions {
  return generatorOptionsFrom({
    model: modelField.value,
    backend: backendField.value,
    provider: providerField.value,
    proxyUrl: backendField.value === 'cloud' || proxyField.value.trim() ? proxyField.value : '',
    proxyToken: proxyTokenField.value,
    allowWasm: allowWasmField.checked,
    wasmHeapBytes: memoryQuery.get('wasmHeapBytes'),
    gpuMemoryBytes: memoryQuery.get('gpuMemoryBytes'),
  }, location.href);
}

/** One generator per settings that need a new one (model, backend, cloud); it keeps its model loaded. */
function generatorFor(options: GeneratorOptions): VideoGenerator {
  const key = JSON.stringify(options);
  if (!generator || key !== generatorKey) {
    void generator?.dispose();
    generator = createVideoGenerator(options);
    generatorKey = key;
  }
  return generator;
}

function onProgress(view: { current: ProgressView }) {
  let scheduled = false;
  return (event: ProgressEvent) => {
    if (event.type === 'preview') {
      previewFigure.hidden = false;
      preview.show(event, Number(fpsField.value) || Number(fpsField.placeholder) || 8);
    }
    view.current = reduceProgress(view.current, event);
    // Bursts of events (download chunks) render once per frame: the main thread stays nearly idle.
    if (!scheduled) {
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        progress.render(view.current);
      });
    }
  };
}

async function generate(): Promise<void> {
  if (status.dataset.state !== 'ready') return;
  clearError();
  let request: GenerateRequest;
  let gen: VideoGenerator;
  try {
    request = requestFrom({
      prompt: promptField.value, negativePrompt: negativeField.value, seed: seedField.value, randomSeed: seedRandom.checked,
      steps: stepsField.value, guidanceScale: guidanceField.value, numFrames: framesField.value, fps: fpsField.value,
      outputScale: scaleField.value, previewEvery: 1,
    });
    gen = generatorFor(currentOptions());
  } catch (error) {
    showError(error);
    return;
  }
  controller = new AbortController();
  const view = { current: initialProgress() };
  progress.render(view.current);
  preview.reset();
  const started = performance.now();
  const tick = setInterval(() => { elapsed.textContent = formatDuration(performance.now() - started); }, 500);
  setState('generating', 'Generating…');
  let outcome: string;
  try {
    // A manifest that is not there or not valid stops here, before the worker downloads anything.
    if (backendField.value !== 'cloud') await manifestForStart();
    const result = await gen.generate(request, { signal: controller.signal, onProgress: onProgress(view) });
    showResult(request, result);
    outcome = `Done: ${result.numFrames} frames in ${formatDuration(result.timings.totalMs)}`;
  } catch (error) {
    const { code } = describeError(error);
    if (code !== 'ABORTED') showError(error);
    outcome = code === 'ABORTED' ? 'Cancelled' : `Failed: ${code}`;
  }
  clearInterval(tick);
  progress.render(view.current);
  progress.announce(outcome);
  elapsed.textContent = formatDuration(performance.now() - started);
  preview.stop();
  controller = undefined;
  setState('ready', 'Ready.');
  void refreshCache();
}

function showResult(request: GenerateRequest, result: GenerateResult): void {
  lastResult = { request, result };
  if (!seedRandom.checked || !seedField.value) seedField.value = String(result.seed);
  if (videoUrl) URL.revokeObjectURL(videoUrl);
  videoUrl = result.video ? URL.createObjectURL(result.video) : undefined;
  resultSection.hidden = false;
  if (videoUrl) {
    video.src = videoUrl;
    download.href = videoUrl;
    download.download = clipFileName(request.prompt, result.seed, extensionFor(result.mimeType));
  }
  video.dataset.seed = String(result.seed);
  video.dataset.backend = result.backend;
  const t = result.timings;
  fillFacts(resultFacts, [
    ['Seed', String(result.seed)],
    ['Backend', result.backend + (result.provider ? ` (${result.provider})` : '')],
    ['Clip', `${result.width}×${result.height}, ${result.numFrames} frames at ${result.fps} fps${result.codec ? `, ${result.codec}` : ''}`],
    ['Steps', `${result.steps}, guidance ${result.guidanceScale}`],
    ['Load', formatDuration(t.loadMs)],
    ['Prompt encoding', formatDuration(t.encodeTextMs)],
    ['Denoising', formatDuration(t.denoiseMs)],
    ['Decoding', formatDuration(t.decodeMs)],
    ['Video encoding', formatDuration(t.encodeMs)],
    ['Total', formatDuration(t.totalMs)],
    ...(t.firstPreviewMs !== undefined ? [['First preview', formatDuration(t.firstPreviewMs)] as [string, string]] : []),
  ]);
  resultWarnings.replaceChildren(...result.warnings.map((w) => Object.assign(document.createElement('li'), { textContent: w })));
}

function cancel(): void {
  controller?.abort(new DOMException('cancelled by the user', 'AbortError'));
}

async function refreshCache(): Promise<void> {
  if (!generator || backendField.value === 'cloud') {
    fillFacts(cacheList, [['Status', backendField.value === 'cloud' ? 'cloud generation downloads no model' : 'no generator yet']]);
    return;
  }
  await renderCache(cacheList, generator, modelField.value.trim() || 'kinema-micro');
}

// ---- examples and model defaults from the manifest ----

function fillExamples(manifest: ModelManifest): void {
  for (const lang of ['en', 'zh']) {
    const list = $(`examples-${lang}`);
    list.replaceChildren(...(manifest.examples[lang] ?? []).map((text) => {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'example';
      button.textContent = text;
      button.lang = lang;
      button.addEventListener('click', () => {
        promptField.value = text;
        promptField.focus();
      });
      item.append(button);
      return item;
    }));
  }
  const vocabulary = $('vocabulary');
  vocabulary.replaceChildren(...Object.entries(manifest.vocabulary).map(([lang, categories]) => {
    const dl = document.createElement('dl');
    dl.lang = lang;
    dl.className = 'facts';
    fillFacts(dl, Object.entries(categories).map(([category, words]) => [`${lang} · ${category}`, words.join(', ')]));
    return dl;
  }));
  const hasExamples = Object.values(manifest.examples).some((list) => list.length > 0);
  // kinema-micro lists what it knows; a general model (Wan) lists nothing and takes any prompt.
  examplesStatus.textContent = hasExamples
    ? `${manifest.name} ${manifest.version} knows shapes, colours, motions and backgrounds, in ${manifest.languages.join(' and ')}. Click one to use it.`
    : `${manifest.name} ${manifest.version} takes any prompt${manifest.languages.length ? ` (${manifest.languages.join(', ')})` : ''}; its manifest lists no examples.`;
  $('vocabulary-details').hidden = Object.keys(manifest.vocabulary).length === 0;
  const { defaults, limits } = manifest;
  stepsField.placeholder = String(defaults.steps);
  stepsField.min = String(limits.steps.min);
  stepsField.max = String(limits.steps.max);
  guidanceField.placeholder = String(defaults.guidanceScale);
  guidanceField.min = String(limits.guidanceScale.min);
  guidanceField.max = String(limits.guidanceScale.max);
  framesField.placeholder = String(defaults.numFrames);
  framesField.min = String(limits.numFrames.min);
  framesField.max = String(limits.numFrames.max);
  fpsField.placeholder = String(defaults.fps);
  // kinema-micro's 32 px frames are shown 8× larger; a real model's 416×240 at its own size.
  scaleField.value = String(viewingScale(manifest));
  if (!promptField.value) promptField.value = manifest.examples.en?.[0] ?? '';
}

/** Reads (once per model value) and validates the manifest the model field names. Throws on a bad field. */
function readManifest(): Promise<ModelManifest> {
  const options = currentOptions();
  const ref = options.model ?? 'kinema-micro';
  if (manifestRead?.ref === ref) return manifestRead.manifest;
  // Offline, the verified copy cached with the model stands in, as it does for the generator itself.
  const manifest = fetchManifestOrCached(ref, {
    fetch: globalThis.fetch.bind(globalThis), baseUrl: String(options.modelBaseUrl), caches: (globalThis as { caches?: CacheStorage }).caches,
  });
  const read = { ref, manifest };
  manifestRead = read;
  // A network failure is not remembered: the next look tries again.
  manifest.catch((error) => { if (describeError(error).code === 'DOWNLOAD_FAILED' && manifestRead === read) manifestRead = undefined; });
  return manifest;
}

/** Codes that mean the manifest itself is wrong; a network failure is left to the engine, which may hold a verified copy in its cache. */
const BAD_MANIFEST = new Set(['INVALID_MANIFEST', 'MODEL_NOT_FOUND', 'INVALID_REQUEST']);

async function manifestForStart(): Promise<void> {
  try {
    await readManifest();
  } catch (error) {
    if (BAD_MANIFEST.has(describeError(error).code)) throw error;
  }
}

async function loadManifest(): Promise<void> {
  const seq = ++summarySeq;
  modelFacts.dataset.state = 'checking';
  delete modelFacts.dataset.downloadBytes;
  fillFacts(modelFacts, [['Status', 'reading the manifest…']]);
  let manifest: ModelManifest;
  try {
    manifest = await readManifest();
  } catch (error) {
    if (seq !== summarySeq) return;
    const { code, message } = describeError(error);
    examplesStatus.textContent = `The model's manifest could not be read (${code}): ${message}`;
    modelFacts.dataset.state = 'error';
    modelFacts.dataset.code = code;
    fillFacts(modelFacts, [['Status', `not usable (${code}): ${message}`], ['Download', 'nothing was downloaded']]);
    return;
  }
  if (seq !== summarySeq) return;
  fillExamples(manifest);
  await renderSummary(manifest, seq);
}

/** The model panel: where it would run, what a cold load downloads, per component. */
async function renderSummary(manifest: ModelManifest, seq = ++summarySeq): Promise<void> {
  const caps = await capabilities;
  if (seq !== summarySeq) return;
  const pageHasGpu = 'gpu' in navigator && Boolean(navigator.gpu);
  // Chromium only; rounded and capped at 8 GiB, so the planner treats it as a coarse hint.
  const deviceMemory = (navigator as { deviceMemory?: unknown }).deviceMemory;
  try {
    const options = currentOptions();
    const summary = summarizeModel(manifest, {
      backend: options.backend ?? 'auto',
      allowWasm: options.allowWasm ?? true,
      webgpu: caps && pageHasGpu ? caps.webgpu : { available: false, reason: caps ? 'this page has no navigator.gpu' : 'not probed' },
      ...(typeof deviceMemory === 'number' ? { deviceMemoryGiB: deviceMemory } : {}),
      ...(options.memoryLimits ? { memoryLimits: options.memoryLimits } : {}),
    });
    fillFacts(modelFacts, summaryFacts(summary));
    modelFacts.dataset.state = 'ready';
    modelFacts.dataset.downloadBytes = String(summary.downloadBytes);
    delete modelFacts.dataset.code;
  } catch (error) {
    fillFacts(modelFacts, summaryError(error));
    modelFacts.dataset.state = 'error';
    modelFacts.dataset.code = describeError(error).code;
  }
}

async function refreshSummary(): Promise<void> {
  try {
    const manifest = await readManifest();
    await renderSummary(manifest);
  } catch {
    // loadManifest already shows why the manifest cannot be used.
  }
}

// ---- capabilities ----

async function showCapabilities(gen: VideoGenerator): Promise<void> {
  const pageHasGpu = 'gpu' in navigator && Boolean(navigator.gpu);
  const probe = gen.capabilities();
  capabilities = probe.catch(() => undefined);
  try {
    const [probed, codecs] = await Promise.all([probe, probeCodecs()]);
    // The worker probes its own navigator.gpu; a page without one gets no WebGPU from kinema either.
    const caps = pageHasGpu ? probed : { ...probed, webgpu: { available: false, reason: 'this page has no navigator.gpu' } };
    fillFacts(capabilitiesList, capabilityFacts(caps, codecs));
    capabilitiesList.dataset.webgpu = String(caps.webgpu.available && pageHasGpu);
    if (!caps.webgpu.available || !pageHasGpu) {
      const why = !pageHasGpu ? 'this browser exposes no navigator.gpu' : caps.webgpu.reason ?? 'no adapter';
      notice.hidden = false;
      notice.textContent = `WebGPU is not available here (${why}). kinema will generate on wasm, on the CPU, instead: the same clip, only slower.`;
    } else if (caps.webgpu.isFallbackAdapter) {
      notice.hidden = false;
      notice.textContent = 'WebGPU here is a software fallback adapter (no GPU), slower than wasm: auto generates on wasm. Choose WebGPU in Settings to try it anyway.';
    }
  } catch (error) {
    const { code, message } = describeError(error);
    fillFacts(capabilitiesList, [['Status', `could not probe (${code}): ${message}`]]);
  }
}

// ---- wiring ----

form.addEventListener('submit', (event) => {
  event.preventDefault();
  void generate();
});
promptField.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
    event.preventDefault();
    void generate();
  }
});
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && controller) cancel();
});
cancelButton.addEventListener('click', cancel);
seedRandom.addEventListener('change', () => {
  seedField.disabled = seedRandom.checked;
  if (!seedRandom.checked) seedField.focus();
});
backendField.addEventListener('change', () => {
  // Cloud settings are the backend itself for 'cloud', and the optional fallback for 'auto'.
  cloudFields.hidden = backendField.value !== 'cloud' && backendField.value !== 'auto';
  void refreshCache();
  void refreshSummary();
});
allowWasmField.addEventListener('change', () => void refreshSummary());
modelField.addEventListener('change', () => void loadManifest());
againButton.addEventListener('click', () => {
  if (!lastResult) return;
  promptField.value = lastResult.request.prompt;
  negativeField.value = lastResult.request.negativePrompt ?? '';
  seedRandom.checked = false;
  seedField.disabled = false;
  seedField.value = String(lastResult.result.seed);
  void generate();
});
clearCacheButton.addEventListener('click', async () => {
  if (!generator) return;
  clearCacheButton.disabled = true;
  try {
    await generator.clearCache();
  } catch (error) {
    showError(error);
  } finally {
    clearCacheButton.disabled = status.dataset.state === 'generating';
    await refreshCache();
  }
});

/** `?model=…&prompt=…&backend=…` prefill the form, so a setup can be linked to (memory ceilings: see memoryQuery). */
function applyQuery(): void {
  const query = new URLSearchParams(location.search);
  const model = query.get('model');
  const prompt = query.get('prompt');
  const backend = query.get('backend');
  if (model) modelField.value = model;
  if (prompt) promptField.value = prompt;
  if (backend && [...backendField.options].some((o) => o.value === backend)) backendField.value = backend;
  cloudFields.hidden = backendField.value !== 'cloud' && backendField.value !== 'auto';
}

async function start(): Promise<void> {
  applyQuery();
  progress.render(initialProgress());
  let gen: VideoGenerator;
  try {
    gen = generatorFor(currentOptions());
  } catch (error) {
    showError(error);
    setState('ready', 'Ready, but the settings need fixing.');
    await loadManifest(); // the model panel says what is wrong with the model field too
    return;
  }
  setState('ready', 'Ready.');
  await Promise.all([loadManifest(), showCapabilities(gen), refreshCache()]);
}

void start();
