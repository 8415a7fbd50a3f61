/**
 * Alibaba Cloud Model Studio / DashScope (Wan) text-to-video. Async only: create with
 * `X-DashScope-Async: enable`, poll `GET /api/v1/tasks/{id}`, cancel `POST /api/v1/tasks/{id}/cancel`.
 * The region is only the base URL; the key (direct) or the proxy token (browser) rides in `endpoint.headers`.
 */
import models from './dashscope-models.json';
import { downloadVideo, isRecord, joinUrl, kindForStatus, parseRetryAfter, providerError, proxyErrorInfo, requestJson, stringField } from './http';
import type {
  CallContext,
  CloudEndpoint,
  CloudErrorKind,
  CloudJobState,
  CloudRequest,
  PreparedJob,
  ProviderAdapter,
  ProviderErrorInfo,
  TaskSnapshot,
} from './types';
import { charLength, checkCommonRequest } from './validate';

const PROVIDER = 'dashscope';
export const DASHSCOPE_CREATE_PATH = '/api/v1/services/aigc/video-generation/video-synthesis';
const MAX_NEGATIVE_CHARS = 500;

interface ModelRecord {
  tiers: string[];
  durations: number[] | { min: number; max: number };
  maxPromptChars: number;
  shotType: boolean;
}

const MODELS = models.models as Record<string, ModelRecord>;
const TIERS = models.tiers as Record<string, string[]>;

export type DashScopeModel = 'wan2.6-t2v' | 'wan2.5-t2v-preview' | 'wan2.2-t2v-plus' | 'wan2.1-t2v-turbo' | 'wan2.1-t2v-plus';
export const DASHSCOPE_MODELS = Object.keys(MODELS) as DashScopeModel[];
export const DASHSCOPE_DEFAULT_MODEL = models.defaultModel as DashScopeModel;
export const DASHSCOPE_OUTPUT_FPS = models.outputFps;

/** The sizes ("W*H") a model accepts, over all its resolution tiers. */
export function dashScopeSizes(model: string): string[] {
  const record = modelRecord(model);
  return record.tiers.flatMap((tier) => TIERS[tier] ?? []);
}

/**
 * The allowed size nearest to width×height: aspect ratio first (sizes within 5 % of the best aspect count
 * as the same shape, so 1280×720 can land on 832*480 or 1920*1080), then the closest area.
 */
export function snapDashScopeSize(model: string, width: number, height: number): { width: number; height: number; size: string } {
  const sizes = dashScopeSizes(model).map((size) => {
    const [w, h] = size.split('*').map(Number) as [number, number];
    return { size, width: w, height: h, aspect: Math.abs(Math.log(w / h / (width / height))), area: Math.abs(Math.log((w * h) / (width * height))) };
  });
  const bestAspect = Math.min(...sizes.map((s) => s.aspect));
  const shaped = sizes.filter((s) => s.aspect <= bestAspect + 0.05);
  shaped.sort((a, b) => a.area - b.area || a.aspect - b.aspect);
  const best = shaped[0]!;
  return { width: best.width, height: best.height, size: best.size };
}

/** The allowed duration (whole seconds) nearest to `seconds`. */
export function snapDashScopeDuration(model: string, seconds: number): number {
  const { durations } = modelRecord(model);
  if (Array.isArray(durations)) {
    return durations.reduce((best, d) => (Math.abs(d - seconds) < Math.abs(best - seconds) ? d : best), durations[0]!);
  }
  return Math.min(durations.max, Math.max(durations.min, Math.round(seconds)));
}

function modelRecord(model: string): ModelRecord {
  const record = MODELS[model];
  if (!record) throw new RangeError(`dashscope: unknown model "${model}"; use one of ${Object.keys(MODELS).join(', ')}`);
  return record;
}

/** DashScope error code (+ HTTP status) → common kind. Specific codes first, then the status. */
export function dashScopeErrorKind(code: string | undefined, status: number | undefined): CloudErrorKind {
  const c = code ?? '';
  if (c === 'DataInspectionFailed' || c.startsWith('DataInspection') || c === 'IPInfringementSuspect') return 'moderation';
  if (c === 'Arrearage' || c === 'Throttling.AllocationQuota' || c.endsWith('.AllocationQuota')) return 'quota';
  if (c.startsWith('Throttling')) return 'rate_limit';
  if (c === 'InvalidApiKey' || (c === 'AccessDenied' && status !== 400)) return 'auth';
  if (c === 'ModelNotFound') return 'not_found';
  if (c.startsWith('InvalidParameter')) return 'invalid_request';
  if (c === 'InternalError' || c.startsWith('InternalError.') || c === 'ModelUnavailable') return 'server';
  return status !== undefined ? kindForStatus(status) : 'server';
}

const STATES: Record<string, CloudJobState> = {
  PENDING: 'queued',
  RUNNING: 'running',
  SUCCEEDED: 'succeeded',
  FAILED: 'failed',
  CANCELED: 'canceled',
  UNKNOWN: 'expired',
};

export function createDashScopeAdapter(endpoint: CloudEndpoint): ProviderAdapter {
  const headers = (json: boolean): Record<string, string> => ({
    ...endpoint.headers,
    ...(json && { 'Content-Type': 'application/json' }),
  });

  async function call(path: string, init: RequestInit, ctx: CallContext, what: string): Promise<Record<string, unknown>> {
    const response = await requestJson(PROVIDER, joinUrl(endpoint.baseUrl, path), init, ctx, what);
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
    if (response.status >= 200 && response.status < 300 && isRecord(response.body)) return response.body;
    const proxied = proxyErrorInfo(response.status, response.body);
    if (proxied) throw providerError(PROVIDER, { ...proxied, ...(retryAfterMs !== undefined && { retryAfterMs }) }, what);
    const body = isRecord(response.body) ? response.body : {};
    const providerCode = stringField(body, 'code');
    const providerMessage = stringField(body, 'message');
    throw providerError(
      PROVIDER,
      {
        kind: dashScopeErrorKind(providerCode, response.status),
        httpStatus: response.status,
        ...(providerCode !== undefined && { providerCode }),
        ...(providerMessage !== undefined && { providerMessage }),
        ...(retryAfterMs !== undefined && { retryAfterMs }),
        ...(providerCode === 'ModelNotFound' && { code: 'MODEL_NOT_FOUND' as const }),
        extra: { requestId: stringField(body, 'request_id') },
      },
      what,
    );
  }

  return {
    provider: PROVIDER,
    // The official SDKs: 1 s → 2 s → 4 s → 5 s cap.
    pollPolicy: { initialDelayMs: 1000, factor: 2, maxDelayMs: 5000 },

    prepare(request: CloudRequest): PreparedJob {
      checkCommonRequest(request, PROVIDER);
      const model = request.model ?? DASHSCOPE_DEFAULT_MODEL;
      const record = modelRecord(model);
      const options = request.providerOptions?.dashscope ?? {};
      const notes: string[] = [];

      const promptChars = charLength(request.prompt);
      if (promptChars > record.maxPromptChars) {
        throw new RangeError(`dashscope: prompt is ${promptChars} characters; ${model} accepts at most ${record.maxPromptChars}`);
      }
      if (request.negativePrompt !== undefined && charLength(request.negativePrompt) > MAX_NEGATIVE_CHARS) {
        throw new RangeError(`dashscope: negativePrompt is ${charLength(request.negativePrompt)} characters; at most ${MAX_NEGATIVE_CHARS} are accepted`);
      }
      if (options.shotType !== undefined) {
        if (options.shotType !== 'single' && options.shotType !== 'multi') {
          throw new RangeError(`dashscope: shotType must be "single" or "multi" (got ${String(options.shotType)})`);
        }
        if (!record.shotType) throw new RangeError(`dashscope: shotType is only accepted by wan2.6-t2v, not ${model}`);
      }
      if (options.audioUrl !== undefined && (typeof options.audioUrl !== 'string' || !/^https?:\/\//i.test(options.audioUrl))) {
        throw new TypeError('dashscope: audioUrl must be an http(s) URL the provider can fetch');
      }
      for (const flag of ['promptExtend', 'watermark'] as const) {
        if (options[flag] !== undefined && typeof options[flag] !== 'boolean') throw new TypeError(`dashscope: ${flag} must be a boolean`);
      }

      const firstSize = dashScopeSizes(model)[0]!.split('*').map(Number) as [number, number];
      const wantW = request.width ?? firstSize[0];
      const wantH = request.height ?? firstSize[1];
      const size = snapDashScopeSize(model, wantW, wantH);
      if (request.width === undefined || request.height === undefined) notes.push(`size defaulted to ${size.size}`);
      else if (size.width !== request.width || size.height !== request.height) notes.push(`size snapped to ${size.size}`);

      const wantSeconds = request.numFrames !== undefined && request.fps !== undefined ? request.numFrames / request.fps : 5;
      const duration = snapDashScopeDuration(model, wantSeconds);
      if (Math.abs(duration - wantSeconds) > 1e-6) {
        notes.push(`duration ${round(wantSeconds)} s → ${duration} s (the range ${model} accepts)`);
      }
      if (request.fps !== undefined && request.fps !== DASHSCOPE_OUTPUT_FPS) notes.push(`fps is fixed at ${DASHSCOPE_OUTPUT_FPS} by the provider`);

      const input: Record<string, unknown> = { prompt: request.prompt };
      if (request.negativePrompt) input.negative_prompt = request.negativePrompt;
      if (options.audioUrl !== undefined) input.audio_url = options.audioUrl;
      const parameters: Record<string, unknown> = {
        size: size.size,
        duration,
        prompt_extend: options.promptExtend ?? true,
        watermark: options.watermark ?? false,
      };
      if (request.seed !== undefined) parameters.seed = request.seed;
      if (options.shotType !== undefined) parameters.shot_type = options.shotType;

      return {
        provider: PROVIDER,
        model,
        body: { model, input, parameters },
        width: size.width,
        height: size.height,
        numFrames: duration * DASHSCOPE_OUTPUT_FPS,
        fps: DASHSCOPE_OUTPUT_FPS,
        durationSeconds: duration,
        ...(request.seed !== undefined && { seed: request.seed }),
        notes,
      };
    },

    async submit(job, ctx) {
      const body = await call(
        DASHSCOPE_CREATE_PATH,
        { method: 'POST', headers: { ...headers(true), 'X-DashScope-Async': 'enable' }, body: JSON.stringify(job.body) },
        ctx,
        'create task',
      );
      return snapshotOf(body, 'create task');
    },

    async poll(taskId, ctx) {
      const body = await call(`/api/v1/tasks/${encodeURIComponent(taskId)}`, { method: 'GET', headers: headers(false) }, ctx, 'task poll');
      return snapshotOf(body, 'task poll', taskId);
    },

    async cancel(taskId, ctx) {
      await call(`/api/v1/tasks/${encodeURIComponent(taskId)}/cancel`, { method: 'POST', headers: headers(false) }, ctx, 'task cancel');
    },

    download(url, ctx) {
      // Endpoint headers (the proxy token) go only to the proxy's video route, never to a storage host.
      return endpoint.videoUrl ? downloadVideo(PROVIDER, endpoint.videoUrl(url), ctx, endpoint.headers) : downloadVideo(PROVIDER, url, ctx);
    },
  };
}

function snapshotOf(body: Record<string, unknown>, what: string, knownTaskId?: string): TaskSnapshot {
  const output = isRecord(body.output) ? body.output : undefined;
  const taskId = (output && stringField(output, 'task_id')) ?? knownTaskId;
  const status = output && stringField(output, 'task_status');
  if (!output || taskId === undefined || status === undefined) {
    throw providerError(PROVIDER, { kind: 'server', providerMessage: 'response has no output.task_id/task_status' }, what);
  }
  const state = STATES[status] ?? 'running';
  const snapshot: TaskSnapshot = { taskId, state, providerStatus: status };
  if (state === 'succeeded') {
    const videoUrl = stringField(output, 'video_url');
    if (!videoUrl) throw providerError(PROVIDER, { kind: 'server', providerMessage: 'SUCCEEDED without output.video_url' }, what);
    snapshot.videoUrl = videoUrl;
    snapshot.extra = {
      ...(stringField(output, 'orig_prompt') !== undefined && { origPrompt: stringField(output, 'orig_prompt') }),
      ...(stringField(output, 'actual_prompt') !== undefined && { actualPrompt: stringField(output, 'actual_prompt') }),
      // Fields differ per model; keep whatever numbers and strings are there.
      ...(isRecord(body.usage) && { usage: body.usage }),
    };
  } else if (state === 'failed') {
    const providerCode = stringField(output, 'code');
    const providerMessage = stringField(output, 'message');
    const info: ProviderErrorInfo = { kind: dashScopeErrorKind(providerCode, undefined) };
    if (providerCode !== undefined) info.providerCode = providerCode;
    if (providerMessage !== undefined) info.providerMessage = providerMessage;
    snapshot.error = info;
  } else if (state === 'expired') {
    snapshot.error = { kind: 'not_found', providerCode: 'UNKNOWN', providerMessage: 'the task id is unknown or has expired' };
  }
  return snapshot;
}

function round(value: number): number {
  return Math.round(value * 100) / 100;
}
