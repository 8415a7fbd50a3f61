/**
 * `<kinema-generator>`: a prompt box, Generate/Cancel, progress, a live preview and the looping result,
 * in shadow DOM. One module script and one tag:
 *
 *   <script type="module" src="…/widget.js"></script>
 *   <kinema-generator prompt="a red circle moving right on a black background" show-settings></kinema-generator>
 *
 * Attributes: `model` (a built-in id, or the URL of a converted model's manifest.json, relative to the page
 * or absolute, e.g. `https://huggingface.co/<repo>/resolve/main/manifest.json`), `backend` (auto | webgpu |
 * wasm | cloud), `provider` and `proxy-url` (cloud), `prompt`, `autoplay` (generate as soon as the element
 * is on the page), `show-settings`. A bad `model` (an unknown id, a URL that is not http(s)) is reported as
 * soon as it is set. Changing `model`, `backend`, `provider` or `proxy-url` after the element has loaded a
 * model releases that model and loads the new one at once (progress as `kinema-progress`; a running
 * generation is cancelled first); before the first generation it only takes effect on the next one.
 * Events (bubbling, composed): `kinema-progress` (detail: the progress event), `kinema-done`
 * (detail: { blob, result }), `kinema-error` (detail: { code, message }; a cancel is code ABORTED).
 * Nothing here throws at the page: bad attributes and failures become `kinema-error` events.
 */
import { createVideoGenerator } from '../api/generator';
import type { GenerateResult, GeneratorOptions, VideoGenerator } from '../api/types';
import { KinemaError } from '../errors';
import type { ProgressEvent } from '../progress/events';
import { clipFileName, describeError, extensionFor, formatDuration } from './format';
import { fetchManifestOrCached } from '../loader/manifest-cache';
import { viewingScale } from './model-summary';
import { generatorOptionsFrom, requestFrom } from './options';
import { PreviewPlayer } from './preview-player';
import { initialProgress, reduceProgress, type ProgressView } from './progress-model';
import { WIDGET_CSS } from './styles';

export interface KinemaDoneDetail {
  blob: Blob | null;
  result: GenerateResult;
}

export interface KinemaErrorDetail {
  code: string;
  message: string;
}

declare global {
  interface HTMLElementEventMap {
    'kinema-progress': CustomEvent<ProgressEvent>;
    'kinema-done': CustomEvent<KinemaDoneDetail>;
    'kinema-error': CustomEvent<KinemaErrorDetail>;
  }
}

const GENERATOR_ATTRIBUTES = ['model', 'backend', 'provider', 'proxy-url'] as const;

// Lets the module be imported where there is no DOM (server rendering, Node tests); defining needs a browser.
const Base = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

const TEMPLATE = `
<form part="form" novalidate>
  <div>
    <label for="prompt" part="label">Prompt</label>
    <textarea id="prompt" part="prompt" data-testid="prompt" rows="2" maxlength="2000" placeholder="a red circle moving right on a black background"></textarea>
  </div>
  <div class="settings" part="settings" hidden>
    <div><label for="seed">Seed</label><input id="seed" type="number" min="0" max="2147483647" step="1" placeholder="random" data-testid="seed" /></div>
    <div><label for="steps">Steps</label><input id="steps" type="number" min="1" step="1" placeholder="default" /></div>
    <div><label for="guidance">Guidance</label><input id="guidance" type="number" min="0" step="0.5" placeholder="default" /></div>
    <div><label for="scale">Output scale</label><select id="scale"><option value="" selected>auto</option><option>1</option><option>2</option><option>4</option><option>8</option><option>16</option></select></div>
  </div>
  <div class="actions" part="actions">
    <button type="submit" class="primary" part="generate button" data-testid="generate">Generate</button>
    <button type="button" part="cancel button" data-testid="cancel" disabled>Cancel</button>
  </div>
</form>
<div class="progress" part="progress" data-testid="progress" hidden>
  <progress max="1" value="0" part="progress-bar" aria-label="Progress"></progress>
  <span class="stage" part="progress-percent">0 %</span>
  <span class="text" part="progress-text"></span>
  <span class="sr-only" role="status" aria-live="polite"></span>
</div>
<div class="media" part="media">
  <canvas part="preview" data-testid="preview" width="32" height="32" role="img" aria-label="Live preview while denoising" hidden></canvas>
  <video part="video" data-testid="result-video" loop muted autoplay playsinline controls hidden></video>
  <div class="actions" hidden><a class="download" part="download" data-testid="download" href="#" download="kinema.mp4">Download</a></div>
  <p class="facts" part="facts" data-testid="facts"></p>
</div>
<p class="error" part="error" data-testid="error" role="alert" hidden></p>
`;

export class KinemaGeneratorElement extends Base {
  static readonly observedAttributes = ['prompt', 'show-settings', 'autoplay', ...GENERATOR_ATTRIBUTES];

  /** The last finished generation, if any. */
  lastResult: GenerateResult | null = null;
  /** The last error reported through `kinema-error`, if any. */
  lastError: KinemaErrorDetail | null = null;

  #generator: VideoGenerator | undefined;
  #generatorKey = '';
  #controller: AbortController | undefined;
  #videoUrl: string | undefined;
  #view: ProgressView = initialProgress();
  #preview: PreviewPlayer;
  #pendingConfigError: number | undefined;
  #reloadWanted = false;
  #scale: { key: string; scale: Promise<number> } | undefined;
  #els: {
    form: HTMLFormElement; prompt: HTMLTextAreaElement; settings: HTMLElement; seed: HTMLInputElement; steps: HTMLInputElement;
    guidance: HTMLInputElement; scale: HTMLSelectElement; generate: HTMLButtonElement; cancel: HTMLButtonElement;
    progress: HTMLElement; bar: HTMLProgressElement; percent: HTMLElement; text: HTMLElement; live: HTMLElement; preview: HTMLCanvasElement;
    video: HTMLVideoElement; download: HTMLAnchorElement; facts: HTMLElement; error: HTMLElement;
  };

  constructor() {
    super();
    const root = this.attachShadow({ mode: 'open' });
    root.innerHTML = `<style>${WIDGET_CSS}</style>${TEMPLATE}`;
    const q = <T extends Element>(selector: string) => root.querySelector(selector) as T;
    this.#els = {
      form: q('form'), prompt: q('#prompt'), settings: q('[part="settings"]'), seed: q('#seed'), steps: q('#steps'),
      guidance: q('#guidance'), scale: q('#scale'), generate: q('[data-testid="generate"]'), cancel: q('[data-testid="cancel"]'),
      progress: q('[part="progress"]'), bar: q('progress'), percent: q('[part="progress-percent"]'), text: q('[part="progress-text"]'), live: q('[role="status"]'),
      preview: q('canvas'), video: q('video'), download: q('a.download'), facts: q('[part="facts"]'), error: q('[part="error"]'),
    };
    this.#preview = new PreviewPlayer(this.#els.preview);
    this.#els.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.generate();
    });
    this.#els.prompt.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        void this.generate();
      }
    });
    this.#els.cancel.addEventListener('click', () => this.cancel());
    root.addEventListener('keydown', (event) => {
      if ((event as KeyboardEvent).key === 'Escape' && this.#controller) this.cancel();
    });
  }

  /** True while a generation runs. */
  get generating(): boolean {
    return this.#controller !== undefined;
  }

  connectedCallback(): void {
    this.#els.prompt.value ||= this.getAttribute('prompt') ?? '';
    this.#els.settings.hidden = !this.hasAttribute('show-settings');
    this.#checkConfigSoon();
    if (this.hasAttribute('autoplay') && this.#els.prompt.value.trim()) queueMicrotask(() => void this.generate());
  }

  disconnectedCallback(): void {
    this.cancel();
    this.#preview.stop();
    const generator = this.#generator;
    this.#generator = undefined;
    this.#generatorKey = '';
    void generator?.dispose();
  }

  attributeChangedCallback(name: string, oldValue: string | null, value: string | null): void {
    if (oldValue === value) return;
    if (name === 'prompt') this.#els.prompt.value = value ?? '';
    else if (name === 'show-settings') this.#els.settings.hidden = value === null;
    else if ((GENERATOR_ATTRIBUTES as readonly string[]).includes(name) && this.isConnected) this.#configChanged();
  }

  /**
   * Generates a clip from the prompt box. Resolves to the result, or to null when it failed or was cancelled
   * (the reason is in the `kinema-error` event); never rejects.
   */
  async generate(): Promise<GenerateResult | null> {
    if (this.#controller) return this.#fail(new KinemaError('BUSY', 'a generation is already running; cancel it first'));
    this.#els.error.hidden = true;
    let generator: VideoGenerator;
    let options: GeneratorOptions;
    let request;
    try {
      options = this.#options();
      generator = this.#generatorFor(options);
      request = requestFrom({
        prompt: this.#els.prompt.value || this.getAttribute('prompt'),
        seed: this.#els.seed.value,
        randomSeed: this.#els.seed.value.trim() === '',
        steps: this.#els.steps.value,
        guidanceScale: this.#els.guidance.value,
        outputScale: this.#els.scale.value,
        previewEvery: 1,
      });
    } catch (error) {
      return this.#fail(error);
    }
    const controller = new AbortController();
    this.#controller = controller;
    this.#busy(true);
    this.#view = initialProgress();
    this.#preview.reset();
    this.#els.preview.hidden = false;
    this.#renderProgress();
    try {
      // "auto" (the default): the model's own frame size decides, read from its manifest.
      if (request.outputScale === undefined) request = { ...request, outputScale: await this.#viewingScale(options) };
      const result = await generator.generate(request, { signal: controller.signal, onProgress: (event) => this.#onProgress(event) });
      this.#showResult(request.prompt, result);
      this.lastResult = result;
      this.#emit('kinema-done', { blob: result.video, result });
      return result;
    } catch (error) {
      return this.#fail(error);
    } finally {
      this.#controller = undefined;
      this.#preview.stop();
      this.#busy(false);
      // An attribute changed while this ran (and cancelled it): load what the attributes say now.
      if (this.#reloadWanted) queueMicrotask(() => this.#reloadIfWanted());
    }
  }

  /** Stops the running generation; it ends with a `kinema-error` whose code is ABORTED. */
  cancel(): void {
    this.#controller?.abort(new KinemaError('ABORTED', 'generation was cancelled'));
  }

  #options(): GeneratorOptions {
    return generatorOptionsFrom({
      model: this.getAttribute('model'),
      backend: this.getAttribute('backend'),
      provider: this.getAttribute('provider'),
      proxyUrl: this.getAttribute('proxy-url'),
    }, (globalThis as { location?: Location }).location?.href ?? 'http://localhost/');
  }

  /** Reports bad generator attributes as an event, after the current task so listeners added right after the tag see it. */
  #checkConfigSoon(): void {
    if (this.#pendingConfigError !== undefined) return;
    this.#pendingConfigError = setTimeout(() => {
      this.#pendingConfigError = undefined;
      try {
        this.#options();
      } catch (error) {
        this.#fail(error);
      }
    }, 0) as unknown as number;
  }

  /** A generator attribute changed: report a bad value, and reload when a model was already in use. */
  #configChanged(): void {
    this.#checkConfigSoon();
    if (!this.#generator) return; // nothing loaded yet: the next generate() uses the new attributes
    this.#reloadWanted = true;
    if (this.#controller) {
      this.cancel(); // generate()'s finally reloads once the cancelled run has settled
      return;
    }
    // After the current task, so attributes set one after another reload once.
    setTimeout(() => this.#reloadIfWanted(), 0);
  }

  #reloadIfWanted(): void {
    if (!this.#reloadWanted || !this.isConnected || this.#controller) return;
    this.#reloadWanted = false;
    let options: GeneratorOptions;
    try {
      options = this.#options();
    } catch {
      return; // #checkConfigSoon reports it as a kinema-error
    }
    if (this.#generator && JSON.stringify(options) === this.#generatorKey) return;
    const generator = this.#generatorFor(options); // disposes the previous generator and its model
    this.#els.error.hidden = true;
    this.#view = initialProgress();
    this.#renderProgress();
    // A generate() meanwhile joins this load. A failure is reported unless this generator was replaced since.
    generator.load({ onProgress: (event) => { if (this.#generator === generator) this.#onProgress(event); } }).catch((error) => {
      if (this.#generator === generator) this.#fail(error);
    });
  }

  /** viewingScale of the model the options name; 1 when its manifest cannot be read (the load then says why). */
  #viewingScale(options: GeneratorOptions): Promise<number> {
    const ref = options.model ?? 'kinema-micro';
    const key = `${options.modelBaseUrl ?? ''} ${ref}`;
    if (this.#scale?.key !== key) {
      const scale = fetchManifestOrCached(ref, {
        fetch: globalThis.fetch.bind(globalThis),
        baseUrl: options.modelBaseUrl ?? new URL('models/', (globalThis as { location?: Location }).location?.href ?? 'http://localhost/').href,
        caches: (globalThis as { caches?: CacheStorage }).caches,
      }).then(viewingScale, () => {
        if (this.#scale?.key === key) this.#scale = undefined; // read again next time
        return 1;
      });
      this.#scale = { key, scale };
    }
    return this.#scale.scale;
  }

  #generatorFor(options: GeneratorOptions): VideoGenerator {
    const key = JSON.stringify(options);
    if (!this.#generator || key !== this.#generatorKey) {
      void this.#generator?.dispose();
      this.#generator = createVideoGenerator(options);
      this.#generatorKey = key;
    }
    return this.#generator;
  }

  #onProgress(event: ProgressEvent): void {
    if (event.type === 'preview') this.#preview.show(event);
    this.#view = reduceProgress(this.#view, event);
    this.#renderProgress();
    this.#emit('kinema-progress', event);
  }

  #renderProgress(): void {
    const view = this.#view;
    const { progress, bar, percent, text, live } = this.#els;
    progress.hidden = false;
    bar.value = view.overall;
    percent.textContent = `${Math.floor(view.overall * 100)} %`;
    const stage = view.stages.find((s) => s.key === view.current);
    text.textContent = stage ? `${stage.label}: ${stage.text}` : view.done ? 'Done' : 'Starting…';
    // The live region hears stage changes only (it is polite; every step would be noise).
    if (view.announcement && live.textContent !== view.announcement) live.textContent = view.announcement;
  }

  #showResult(prompt: string, result: GenerateResult): void {
    const { video, download, facts, preview } = this.#els;
    if (this.#videoUrl) URL.revokeObjectURL(this.#videoUrl);
    this.#videoUrl = result.video ? URL.createObjectURL(result.video) : undefined;
    if (this.#videoUrl) {
      video.src = this.#videoUrl;
      video.hidden = false;
      preview.hidden = true;
      download.href = this.#videoUrl;
      download.download = clipFileName(prompt, result.seed, extensionFor(result.mimeType));
      download.parentElement!.hidden = false;
    }
    facts.textContent = `seed ${result.seed} · ${result.backend} · ${result.numFrames} frames at ${result.fps} fps · ${formatDuration(result.timings.totalMs)}`;
  }

  #busy(busy: boolean): void {
    this.#els.generate.disabled = busy;
    this.#els.cancel.disabled = !busy;
    this.toggleAttribute('generating', busy);
    this.#els.form.setAttribute('aria-busy', String(busy));
  }

  #fail(error: unknown): null {
    const detail = describeError(error);
    this.lastError = detail;
    if (detail.code === 'ABORTED') {
      this.#els.text.textContent = 'Cancelled';
      this.#els.live.textContent = 'Cancelled';
    } else {
      this.#els.error.hidden = false;
      this.#els.error.textContent = `${detail.code}: ${detail.message}`;
    }
    this.#emit('kinema-error', detail);
    return null;
  }

  #emit<K extends 'kinema-progress' | 'kinema-done' | 'kinema-error'>(type: K, detail: HTMLElementEventMap[K]['detail']): void {
    this.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }
}
