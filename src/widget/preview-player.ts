/**
 * Shows the denoiser's preview frames (RGBA8, frame-major, from `preview` progress events) on a canvas,
 * looping through the frames at the clip's fps. The canvas is the model's size; CSS scales it up with
 * `image-rendering: pixelated`. Drawing a 32×32 frame is far below a millisecond, so the main thread
 * stays free.
 */
import type { ProgressEvent } from '../progress/events';

type PreviewEvent = Extract<ProgressEvent, { type: 'preview' }>;

export class PreviewPlayer {
  private frames: ImageData[] = [];
  private index = 0;
  private timer: ReturnType<typeof setInterval> | undefined;
  /** How many preview events were shown since the last reset (tests and displays read it). */
  shown = 0;
  lastStep = 0;

  private context: CanvasRenderingContext2D | null = null;

  constructor(private readonly canvas: HTMLCanvasElement, private fps = 8) {}

  /**
   * A CPU-backed context: the frames are tiny, and a GPU-backed canvas makes putImageData wait on the GPU
   * process, which stalls the page for a second at a time when a software GPU is busy (measured here).
   */
  private get ctx(): CanvasRenderingContext2D | null {
    this.context ??= this.canvas.getContext('2d', { willReadFrequently: true });
    return this.context;
  }

  show(event: PreviewEvent, fps = this.fps): void {
    const { width, height, numFrames, rgba } = event;
    const frameBytes = width * height * 4;
    if (numFrames < 1 || rgba.length < frameBytes * numFrames) return;
    this.frames = [];
    for (let f = 0; f < numFrames; f++) {
      // Copy: the event's buffer may be reused or transferred by the caller.
      this.frames.push(new ImageData(new Uint8ClampedArray(rgba.subarray(f * frameBytes, (f + 1) * frameBytes)), width, height));
    }
    if (this.canvas.width !== width || this.canvas.height !== height) {
      this.canvas.width = width;
      this.canvas.height = height;
    }
    this.shown++;
    this.lastStep = event.step;
    this.canvas.dataset.previews = String(this.shown);
    this.canvas.dataset.step = String(event.step);
    this.index %= numFrames;
    this.draw();
    if (fps !== this.fps || this.timer === undefined) {
      this.fps = fps;
      this.stopTimer();
      this.timer = setInterval(() => this.draw(), 1000 / Math.max(1, this.fps));
    }
  }

  /** Stops animating and keeps the last frame on screen. */
  stop(): void {
    this.stopTimer();
  }

  /** Clears the canvas for a new generation. */
  reset(): void {
    this.stopTimer();
    this.frames = [];
    this.index = 0;
    this.shown = 0;
    this.canvas.dataset.previews = '0';
    delete this.canvas.dataset.step;
    this.ctx?.clearRect(0, 0, this.canvas.width, this.canvas.height);
  }

  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private draw(): void {
    const frame = this.frames[this.index];
    if (!frame) return;
    this.ctx?.putImageData(frame, 0, 0);
    this.index = (this.index + 1) % this.frames.length;
  }
}
