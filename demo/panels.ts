// The capability and cache panels: what this device offers kinema, and what the model cache holds.
import type { Capabilities, VideoGenerator } from '../src/index';
import { formatBytes } from '../src/widget/format';

/** Codecs kinema can write, probed here on the main thread (the worker probes again before encoding). */
const CODECS: readonly [label: string, codec: string][] = [
  ['H.264', 'avc1.42001f'],
  ['VP9', 'vp09.00.10.08'],
  ['VP8', 'vp8'],
  ['AV1', 'av01.0.04M.08'],
];

export async function probeCodecs(): Promise<{ label: string; supported: boolean }[]> {
  const Encoder = (globalThis as { VideoEncoder?: typeof VideoEncoder }).VideoEncoder;
  return Promise.all(CODECS.map(async ([label, codec]) => {
    if (!Encoder) return { label, supported: false };
    try {
      const { supported } = await Encoder.isConfigSupported({ codec, width: 256, height: 256, framerate: 8, bitrate: 1_000_000 });
      return { label, supported: supported === true };
    } catch {
      return { label, supported: false };
    }
  }));
}

export function fillFacts(list: HTMLElement, facts: readonly [string, string][]): void {
  list.replaceChildren(...facts.flatMap(([term, value]) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = value;
    return [dt, dd];
  }));
}

const mib = (n: number | undefined) => (n === undefined ? '?' : `${Math.round(n / 1024 / 1024)} MiB`);

export function capabilityFacts(caps: Capabilities, codecs: { label: string; supported: boolean }[]): [string, string][] {
  const { webgpu, wasm } = caps;
  const facts: [string, string][] = [];
  if (webgpu.available) {
    const adapter = [webgpu.vendor, webgpu.architecture, webgpu.description].filter(Boolean).join(' · ') || 'unnamed adapter';
    facts.push(['WebGPU', webgpu.isFallbackAdapter ? `${adapter} (software fallback: slow)` : adapter]);
    facts.push(['shader-f16', webgpu.shaderF16 ? 'yes' : 'no (fp32 weights)']);
    if (webgpu.limits) {
      facts.push(['Max buffer', mib(webgpu.limits.maxBufferSize)]);
      facts.push(['Max storage binding', mib(webgpu.limits.maxStorageBufferBindingSize)]);
      facts.push(['Workgroup', `${webgpu.limits.maxComputeInvocationsPerWorkgroup} invocations, ${webgpu.limits.maxComputeWorkgroupStorageSize / 1024} KiB shared`]);
    }
  } else {
    facts.push(['WebGPU', `unavailable: ${webgpu.reason ?? 'unknown reason'}`]);
  }
  facts.push(['wasm', wasm.available ? `${wasm.threads} thread${wasm.threads === 1 ? '' : 's'}${wasm.simd ? ', SIMD' : ''}` : 'unavailable']);
  facts.push(['Cross-origin isolated', wasm.crossOriginIsolated ? 'yes (wasm threads allowed)' : 'no (wasm runs on one thread)']);
  const supported = codecs.filter((c) => c.supported).map((c) => c.label);
  facts.push(['Video encoders', caps.webcodecs.videoEncoder ? supported.join(', ') || 'none of H.264/VP9/VP8/AV1' : 'no WebCodecs']);
  facts.push(['Cache storage', caps.cacheStorage ? 'yes' : 'no (models kept in memory)']);
  facts.push(['CPU cores', String(caps.hardwareConcurrency)]);
  return facts;
}

/** Fills the cache panel. Per-model sizes are not in the public API; the origin's storage estimate is. */
export async function renderCache(list: HTMLElement, generator: VideoGenerator, model: string): Promise<boolean | null> {
  let cached: boolean | null = null;
  let status: string;
  try {
    cached = await generator.isCached();
    status = cached ? `${model} is cached: the next load needs no download` : `${model} is not cached yet`;
  } catch (error) {
    status = `unknown (${(error as Error).message})`;
  }
  const facts: [string, string][] = [['Status', status]];
  try {
    const estimate = await navigator.storage?.estimate?.();
    if (estimate?.usage !== undefined) facts.push(['Site storage', `${formatBytes(estimate.usage)}${estimate.quota ? ` of ${formatBytes(estimate.quota)}` : ''}`]);
  } catch {
    // No estimate in this browser: the status line is enough.
  }
  fillFacts(list, facts);
  list.dataset.cached = cached === null ? 'unknown' : String(cached);
  return cached;
}
