const status = document.querySelector<HTMLElement>('[data-testid="status"]');
if (status) {
  const gpu = 'gpu' in navigator ? 'WebGPU available' : 'WebGPU unavailable';
  status.dataset.ready = 'true';
  status.textContent = `Text to video, generated on this device. (${gpu}; cross-origin isolated: ${globalThis.crossOriginIsolated})`;
}
