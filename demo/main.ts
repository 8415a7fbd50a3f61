const statusLine = document.querySelector<HTMLElement>('[data-testid="status"]');
if (statusLine) {
  const gpu = 'gpu' in navigator ? 'WebGPU available' : 'WebGPU unavailable';
  statusLine.dataset.ready = 'true';
  statusLine.textContent = `Text to video, generated on this device. (${gpu}; cross-origin isolated: ${globalThis.crossOriginIsolated})`;
}
