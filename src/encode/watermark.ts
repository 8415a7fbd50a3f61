/**
 * The optional visible mark: text drawn into the bottom-right corner of each frame with OffscreenCanvas 2D,
 * which exists in workers (no DOM needed). A dark offset copy under a light one keeps it legible on any colour.
 */

export interface Watermarker {
  /** Draws `rgba` plus the mark and returns the canvas holding the result (reused for every frame). */
  draw(rgba: Uint8Array | Uint8ClampedArray): OffscreenCanvas;
}

/** Font size and margin in pixels: about 9 % of the short side, at least 7 px so it stays readable. */
export function watermarkLayout(width: number, height: number): { fontSize: number; margin: number } {
  const fontSize = Math.max(7, Math.min(48, Math.round(Math.min(width, height) * 0.09)));
  return { fontSize, margin: Math.max(2, Math.round(fontSize * 0.4)) };
}

export function createWatermarker(width: number, height: number, text: string): Watermarker {
  if (typeof OffscreenCanvas === 'undefined') {
    throw new TypeError('watermark needs OffscreenCanvas (a browser window or worker)');
  }
  const canvas = new OffscreenCanvas(width, height);
  const context = canvas.getContext('2d', { alpha: false });
  if (!context) throw new TypeError('watermark needs a 2D OffscreenCanvas context');
  let { fontSize, margin } = watermarkLayout(width, height);
  context.font = `600 ${fontSize}px sans-serif`;
  const measured = context.measureText(text).width;
  const room = width - 2 * margin;
  if (measured > room && measured > 0) {
    // Long custom text on a narrow clip: shrink to fit rather than run off the edge.
    fontSize = Math.max(5, Math.floor((fontSize * room) / measured));
  }
  const font = `600 ${fontSize}px sans-serif`;
  const shadow = Math.max(1, Math.round(fontSize / 12));
  const image = new ImageData(width, height);

  return {
    draw(rgba) {
      image.data.set(rgba);
      context.putImageData(image, 0, 0);
      context.font = font;
      context.textAlign = 'right';
      context.textBaseline = 'bottom';
      context.fillStyle = 'rgba(0, 0, 0, 0.55)';
      context.fillText(text, width - margin + shadow, height - margin + shadow);
      context.fillStyle = 'rgba(255, 255, 255, 0.85)';
      context.fillText(text, width - margin, height - margin);
      return canvas;
    },
  };
}
