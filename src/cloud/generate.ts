/**
 * `generateInCloud`: the one call the library makes for the cloud path. It always goes through the
 * kinema proxy (which holds the provider keys), runs the provider's adapter under the shared driver,
 * and returns the video as a Blob with what was actually generated.
 */
import type { ProgressListener } from '../progress/events';
import { createDashScopeAdapter } from './dashscope';
import { runCloudJob } from './driver';
import { createModelsLabAdapter } from './modelslab';
import { probeMp4 } from './mp4';
import type { CloudClock, CloudEndpoint, CloudProvider, CloudRequest, CloudResult, ProviderAdapter } from './types';

export const CLOUD_PROVIDERS: readonly CloudProvider[] = ['dashscope', 'modelslab'];

export interface GenerateInCloudOptions {
  provider: CloudProvider;
  /** Base URL of a running kinema proxy, e.g. `http://127.0.0.1:8787` (relative URLs resolve against the page). */
  proxyUrl: string;
  /** Sent as `Authorization: Bearer <token>` when the proxy was started with KINEMA_PROXY_TOKEN. */
  proxyToken?: string;
  /** Overrides `request.model`. */
  model?: string;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  fetch?: typeof fetch;
  /** Whole job, default 15 min. */
  timeoutMs?: number;
  maxRetries?: number;
  /** One API call to the proxy, default 60 s; a hung call is retried like a network error. */
  requestTimeoutMs?: number;
  /** For tests: fake time. */
  clock?: CloudClock;
}

/** The adapter for `provider`, talking to `endpoint`. */
export function createCloudAdapter(provider: CloudProvider, endpoint: CloudEndpoint): ProviderAdapter {
  if (provider === 'dashscope') return createDashScopeAdapter(endpoint);
  if (provider === 'modelslab') return createModelsLabAdapter(endpoint);
  throw new RangeError(`unknown cloud provider "${String(provider)}"; use one of ${CLOUD_PROVIDERS.join(', ')}`);
}

/** The endpoint of `provider` behind a kinema proxy: `{proxy}/v1/{provider}/…`, videos via `{proxy}/v1/video?url=…`. */
export function proxyEndpoint(provider: CloudProvider, proxyUrl: string, proxyToken?: string): CloudEndpoint {
  let base: URL;
  try {
    base = new URL(proxyUrl, (globalThis as { location?: { href: string } }).location?.href);
  } catch {
    throw new TypeError(`proxyUrl must be a URL such as http://127.0.0.1:8787 (got ${JSON.stringify(proxyUrl)})`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`proxyUrl must be http(s) (got ${base.protocol})`);
  const root = base.href.replace(/[?#].*$/, '').replace(/\/+$/, '');
  return {
    baseUrl: `${root}/v1/${provider}`,
    headers: proxyToken ? { Authorization: `Bearer ${proxyToken}` } : {},
    videoUrl: (providerUrl) => `${root}/v1/video?url=${encodeURIComponent(providerUrl)}`,
  };
}

export async function generateInCloud(request: CloudRequest, options: GenerateInCloudOptions): Promise<CloudResult> {
  if (typeof options !== 'object' || options === null) throw new TypeError('generateInCloud needs options with provider and proxyUrl');
  if (!CLOUD_PROVIDERS.includes(options.provider)) {
    throw new RangeError(`provider must be one of ${CLOUD_PROVIDERS.join(', ')} (got ${JSON.stringify(options.provider)})`);
  }
  const adapter = createCloudAdapter(options.provider, proxyEndpoint(options.provider, options.proxyUrl, options.proxyToken));
  const model = options.model ?? request.model;
  const outcome = await runCloudJob(adapter, model === undefined ? request : { ...request, model }, {
    ...(options.fetch && { fetch: options.fetch }),
    ...(options.clock && { clock: options.clock }),
    ...(options.signal && { signal: options.signal }),
    ...(options.onProgress && { onProgress: options.onProgress }),
    ...(options.timeoutMs !== undefined && { timeoutMs: options.timeoutMs }),
    ...(options.maxRetries !== undefined && { maxRetries: options.maxRetries }),
    ...(options.requestTimeoutMs !== undefined && { requestTimeoutMs: options.requestTimeoutMs }),
  });
  const { job, video } = outcome;
  const notes = [...job.notes];
  const probe = video.mimeType === 'video/mp4' || video.mimeType === 'video/quicktime' ? probeMp4(video.bytes) : undefined;
  if (probe && (probe.width !== job.width || probe.height !== job.height)) {
    notes.push(`the provider returned ${probe.width}x${probe.height} (asked for ${job.width}x${job.height})`);
  }
  const numFrames = probe?.numFrames ?? job.numFrames;
  const durationSeconds = probe?.durationSeconds ?? job.durationSeconds;
  const fps = probe?.numFrames !== undefined && probe.durationSeconds ? Math.round((probe.numFrames / probe.durationSeconds) * 100) / 100 : job.fps;
  return {
    video: new Blob([video.bytes as Uint8Array<ArrayBuffer>], { type: video.mimeType }),
    mimeType: video.mimeType,
    ...(probe && { codec: probe.codec }),
    width: probe?.width ?? job.width,
    height: probe?.height ?? job.height,
    ...(numFrames !== undefined && { numFrames }),
    ...(fps !== undefined && { fps }),
    ...(job.seed !== undefined && { seed: job.seed }),
    provider: options.provider,
    model: job.model,
    taskId: outcome.snapshot.taskId,
    durationSeconds,
    notes,
    timings: {
      submittedAt: outcome.submittedAt,
      generateMs: outcome.generateMs,
      downloadMs: outcome.downloadMs,
      totalMs: outcome.totalMs,
      polls: outcome.polls,
    },
  };
}
