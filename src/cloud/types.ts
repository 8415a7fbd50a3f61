/**
 * The public shapes of kinema's cloud path: the request an adapter accepts, the snapshots it reports
 * while a provider job runs, and the adapter interface the one polling driver (`driver.ts`) drives.
 * Nothing here touches the GPU, the DOM or Node: it runs in browsers and in Node tests.
 */
import type { CloudState } from '../progress/events';

import type { CloudProvider } from '../contract/domain';

export type { CloudProvider };

/** A provider job's state, common to all providers (the progress event adds submitting/downloading). */
export type CloudJobState = Extract<CloudState, 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled' | 'expired'>;

/** Why a cloud call failed, common to all providers; kept in `KinemaError.details.kind`. */
export type CloudErrorKind =
  | 'auth'
  | 'rate_limit'
  | 'quota'
  | 'moderation'
  | 'invalid_request'
  | 'not_found'
  | 'timeout'
  | 'canceled'
  | 'server'
  | 'network';

/** DashScope (Wan) extras; see docs/cloud.md for which models accept which. */
export interface DashScopeOptions {
  /** Let the provider rewrite the prompt (`prompt_extend`, provider default true). */
  promptExtend?: boolean;
  /** Add the provider's watermark (`watermark`, default false). */
  watermark?: boolean;
  /** `shot_type`, wan2.6-t2v only. */
  shotType?: 'single' | 'multi';
  /** `input.audio_url`: an audio track the video should follow (http(s) URL). */
  audioUrl?: string;
}

export interface ModelsLabOptions {
  /** `num_inference_steps`, 1..50 (provider default 20). */
  numInferenceSteps?: number;
  /** `guidance_scale`, 0..8 (provider default 7). */
  guidanceScale?: number;
  /** `track_id`, echoed back by the provider. */
  trackId?: string;
}

export interface CloudProviderOptions {
  dashscope?: DashScopeOptions;
  modelslab?: ModelsLabOptions;
}

/** What kinema asks a provider for. Fields a provider cannot honour exactly are snapped and reported in `notes`. */
export interface CloudRequest {
  prompt: string;
  negativePrompt?: string;
  seed?: number;
  width?: number;
  height?: number;
  numFrames?: number;
  fps?: number;
  /** Provider model id; each adapter has a default. */
  model?: string;
  providerOptions?: CloudProviderOptions;
}

/** A request after an adapter normalized and validated it: what will actually be asked for. */
export interface PreparedJob {
  provider: CloudProvider;
  model: string;
  /** The JSON body of the create call (never containing a key). */
  body: Record<string, unknown>;
  width: number;
  height: number;
  numFrames?: number;
  fps?: number;
  durationSeconds: number;
  seed?: number;
  /** Human-readable adjustments, e.g. "size snapped to 832*480". */
  notes: string[];
}

/** The provider's own error, normalized. */
export interface ProviderErrorInfo {
  kind: CloudErrorKind;
  providerCode?: string;
  providerMessage?: string;
  httpStatus?: number;
}

/** One observation of a provider job (from create or from a poll). */
export interface TaskSnapshot {
  taskId: string;
  state: CloudJobState;
  /** The provider's own status string, e.g. "PENDING" or "processing". */
  providerStatus?: string;
  /** Seconds the provider expects until the result (ModelsLab `eta`). */
  etaSeconds?: number;
  /** From a `Retry-After` header or `retry_after` field. */
  retryAfterMs?: number;
  videoUrl?: string;
  /** Where the result will appear (ModelsLab `future_links`). */
  futureUrls?: string[];
  error?: ProviderErrorInfo;
  /** Anything else worth keeping (e.g. DashScope `actual_prompt`, `usage`). */
  extra?: Record<string, unknown>;
}

/** How an adapter reaches its provider: directly (server side) or through the kinema proxy. */
export interface CloudEndpoint {
  /** e.g. `https://dashscope-intl.aliyuncs.com` or `http://127.0.0.1:8787/v1/dashscope`. */
  baseUrl: string;
  /** Sent on every call, e.g. `{ Authorization: 'Bearer <proxy token>' }`. */
  headers?: Record<string, string>;
  /**
   * Turns a provider result URL into the URL to download from. Through the proxy this is
   * `{proxy}/v1/video?url=…`, so browsers never touch the provider's storage host.
   */
  videoUrl?: (providerUrl: string) => string;
}

/** Passed to every adapter call by the driver. */
export interface CallContext {
  fetch: typeof fetch;
  signal: AbortSignal;
}

export interface DownloadedVideo {
  bytes: Uint8Array;
  mimeType: string;
}

export interface PollPolicy {
  /** First delay between polls. */
  initialDelayMs: number;
  factor: number;
  maxDelayMs: number;
}

/** One provider, behind the one interface the driver knows. */
export interface ProviderAdapter {
  readonly provider: CloudProvider;
  readonly pollPolicy: PollPolicy;
  /** Validate and normalize at once; caller mistakes throw TypeError/RangeError. */
  prepare(request: CloudRequest): PreparedJob;
  submit(job: PreparedJob, ctx: CallContext): Promise<TaskSnapshot>;
  poll(taskId: string, ctx: CallContext): Promise<TaskSnapshot>;
  /** Best effort; providers without a cancel endpoint leave it out. */
  cancel?(taskId: string, ctx: CallContext): Promise<void>;
  download(url: string, ctx: CallContext): Promise<DownloadedVideo>;
  /** A provider-specific delay before the next poll (e.g. from `eta`); undefined → the policy's backoff. */
  nextPollDelay?(snapshot: TaskSnapshot, attempt: number): number | undefined;
}

/** Clock and sleep, injected so tests run on fake time. */
export interface CloudClock {
  now(): number;
  /** Resolves after `ms`; rejects (with anything) if `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface CloudTimings {
  submittedAt: number;
  /** Submit → provider reports success. */
  generateMs: number;
  downloadMs: number;
  totalMs: number;
  polls: number;
}

export interface CloudResult {
  video: Blob;
  mimeType: string;
  /** WebCodecs-style codec string probed from the MP4 (e.g. `avc1.64000a`), when recognizable. */
  codec?: string;
  width: number;
  height: number;
  numFrames?: number;
  fps?: number;
  seed?: number;
  provider: CloudProvider;
  model: string;
  taskId: string;
  durationSeconds: number;
  notes: string[];
  timings: CloudTimings;
}
