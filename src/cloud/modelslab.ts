/**
 * ModelsLab v6 text-to-video: `POST /api/v6/video/text2video`, then `POST /api/v6/video/fetch/{id}`.
 * The API key travels inside the JSON body, so this adapter NEVER adds one: in the browser it talks to
 * the kinema proxy, which injects the key server-side. The body's `status` is authoritative (errors
 * arrive with HTTP 200), and legacy bodies spell `message` as `messege`.
 */
import { downloadVideo, isRecord, joinUrl, kindForStatus, parseRetryAfter, providerError, proxyErrorInfo, requestJson, stringField } from './http';
import type { CallContext, CloudEndpoint, CloudErrorKind, CloudRequest, PreparedJob, ProviderAdapter, TaskSnapshot } from './types';
import { checkCommonRequest, checkInteger, checkNumber } from './validate';

const PROVIDER = 'modelslab';
export const MODELSLAB_CREATE_PATH = '/api/v6/video/text2video';
export const MODELSLAB_FETCH_PATH = '/api/v6/video/fetch/';

export type ModelsLabModel = 'wan2.2' | 'ltx-2.3';
export const MODELSLAB_MODELS: readonly ModelsLabModel[] = ['wan2.2', 'ltx-2.3'];
export const MODELSLAB_DEFAULT_MODEL: ModelsLabModel = 'wan2.2';
export const MODELSLAB_LIMITS = { maxSide: 512, maxFrames: 25, maxFps: 16, maxSteps: 50, maxGuidance: 8 } as const;
const DEFAULTS = { side: 512, numFrames: 25, fps: 16 } as const;

/** Words in a ModelsLab error message → common kind. The provider has no error codes, only prose. */
export function modelsLabMessageKind(message: string | undefined, status?: number): CloudErrorKind {
  const m = (message ?? '').toLowerCase();
  if (/nsfw|inappropriate|moderat|safety|not allowed content|prohibited/.test(m)) return 'moderation';
  if (/api key|apikey|unauthori[sz]ed|invalid key|key is invalid|authentication/.test(m)) return 'auth';
  if (/credit|balance|insufficient|subscription|upgrade|plan limit|quota/.test(m)) return 'quota';
  if (/rate limit|too many requests|slow down/.test(m)) return 'rate_limit';
  if (/not found|no such|invalid id|does not exist|expired/.test(m)) return 'not_found';
  if (status !== undefined && status !== 200) return kindForStatus(status);
  if (/required|invalid|must (not )?be|should be|exceed|maximum|minimum|greater than|less than|field/.test(m)) return 'invalid_request';
  return 'server';
}

export function createModelsLabAdapter(endpoint: CloudEndpoint): ProviderAdapter {
  async function call(path: string, body: Record<string, unknown>, ctx: CallContext, what: string, knownId?: string): Promise<TaskSnapshot> {
    const response = await requestJson(
      PROVIDER,
      joinUrl(endpoint.baseUrl, path),
      { method: 'POST', headers: { ...endpoint.headers, 'Content-Type': 'application/json' }, body: JSON.stringify(body) },
      ctx,
      what,
    );
    const record = isRecord(response.body) ? response.body : {};
    const headerRetry = parseRetryAfter(response.headers.get('retry-after'), Date.now());
    const bodyRetry = typeof record.retry_after === 'number' ? record.retry_after * 1000 : undefined;
    const retryAfterMs = headerRetry ?? bodyRetry;
    const message = stringField(record, 'message') ?? stringField(record, 'messege') ?? textOf(record.error);

    if (response.status < 200 || response.status >= 300) {
      const proxied = proxyErrorInfo(response.status, response.body);
      if (proxied) throw providerError(PROVIDER, { ...proxied, ...(retryAfterMs !== undefined && { retryAfterMs }) }, what);
      const byMessage = modelsLabMessageKind(message, undefined);
      const kind = response.status === 400 && byMessage === 'moderation' ? 'moderation' : kindForStatus(response.status);
      throw providerError(
        PROVIDER,
        { kind, httpStatus: response.status, ...(message !== undefined && { providerMessage: message }), ...(retryAfterMs !== undefined && { retryAfterMs }) },
        what,
      );
    }

    const status = stringField(record, 'status');
    const id = stringField(record, 'id') ?? knownId ?? '';
    const futureUrls = urls(record.future_links);
    const eta = typeof record.eta === 'number' ? record.eta : typeof record.eta === 'string' && record.eta !== '' ? Number(record.eta) : undefined;

    if (status === 'success') {
      const videoUrl = urls(record.output)[0] ?? futureUrls[0];
      if (videoUrl === undefined) throw providerError(PROVIDER, { kind: 'server', httpStatus: 200, providerMessage: 'success without output or future_links' }, what);
      return { taskId: id, state: 'succeeded', providerStatus: status, videoUrl, futureUrls };
    }
    if (status === 'processing' || status === 'queued' || status === 'starting') {
      if (id === '') throw providerError(PROVIDER, { kind: 'server', httpStatus: 200, providerMessage: 'processing without an id to fetch' }, what);
      return {
        taskId: id,
        state: 'running',
        providerStatus: status,
        ...(eta !== undefined && Number.isFinite(eta) && { etaSeconds: eta }),
        ...(retryAfterMs !== undefined && { retryAfterMs }),
        futureUrls,
      };
    }
    // "error" / "failed" / anything else: HTTP 200 carrying a failure.
    const kind = modelsLabMessageKind(message, undefined);
    if (kind === 'rate_limit') {
      // Transient: thrown so the driver waits and retries instead of ending the job.
      throw providerError(PROVIDER, { kind, httpStatus: 200, ...(message !== undefined && { providerMessage: message }), ...(retryAfterMs !== undefined && { retryAfterMs }) }, what);
    }
    return {
      taskId: id,
      state: 'failed',
      ...(status !== undefined && { providerStatus: status }),
      error: { kind, httpStatus: 200, providerCode: status ?? 'missing status', ...(message !== undefined && { providerMessage: message }) },
    };
  }

  return {
    provider: PROVIDER,
    // The docs poll every 5 s; `nextPollDelay` shortens that when `eta` says the result is nearer.
    pollPolicy: { initialDelayMs: 5000, factor: 1, maxDelayMs: 5000 },

    prepare(request: CloudRequest): PreparedJob {
      checkCommonRequest(request, PROVIDER);
      const model = request.model ?? MODELSLAB_DEFAULT_MODEL;
      if (!(MODELSLAB_MODELS as readonly string[]).includes(model)) {
        // The provider silently falls back to wan2.2 for unknown ids; refuse instead, so users get what they asked for.
        throw new RangeError(`modelslab: unknown model "${model}"; use one of ${MODELSLAB_MODELS.join(', ')}`);
      }
      const width = request.width ?? DEFAULTS.side;
      const height = request.height ?? DEFAULTS.side;
      const numFrames = request.numFrames ?? DEFAULTS.numFrames;
      const fps = request.fps ?? DEFAULTS.fps;
      checkInteger(width, 'width', 1, MODELSLAB_LIMITS.maxSide, PROVIDER);
      checkInteger(height, 'height', 1, MODELSLAB_LIMITS.maxSide, PROVIDER);
      checkInteger(numFrames, 'numFrames', 1, MODELSLAB_LIMITS.maxFrames, PROVIDER);
      checkInteger(fps, 'fps', 1, MODELSLAB_LIMITS.maxFps, PROVIDER);
      const options = request.providerOptions?.modelslab ?? {};
      if (options.numInferenceSteps !== undefined) checkInteger(options.numInferenceSteps, 'numInferenceSteps', 1, MODELSLAB_LIMITS.maxSteps, PROVIDER);
      if (options.guidanceScale !== undefined) checkNumber(options.guidanceScale, 'guidanceScale', 0, MODELSLAB_LIMITS.maxGuidance, PROVIDER);
      if (options.trackId !== undefined && typeof options.trackId !== 'string') throw new TypeError('modelslab: trackId must be a string');

      const notes: string[] = [];
      if (request.width === undefined || request.height === undefined) notes.push(`size defaulted to ${width}x${height}`);
      const body: Record<string, unknown> = {
        model_id: model,
        prompt: request.prompt,
        negative_prompt: request.negativePrompt ?? '',
        seed: request.seed ?? null,
        width,
        height,
        num_frames: numFrames,
        fps,
        // The provider defaults to gif; kinema always wants a real video.
        output_type: 'mp4',
      };
      if (options.numInferenceSteps !== undefined) body.num_inference_steps = options.numInferenceSteps;
      if (options.guidanceScale !== undefined) body.guidance_scale = options.guidanceScale;
      if (options.trackId !== undefined) body.track_id = options.trackId;
      return {
        provider: PROVIDER,
        model,
        body,
        width,
        height,
        numFrames,
        fps,
        durationSeconds: numFrames / fps,
        ...(request.seed !== undefined && { seed: request.seed }),
        notes,
      };
    },

    submit(job, ctx) {
      return call(MODELSLAB_CREATE_PATH, job.body, ctx, 'create');
    },

    poll(taskId, ctx) {
      return call(`${MODELSLAB_FETCH_PATH}${encodeURIComponent(taskId)}`, {}, ctx, 'fetch', taskId);
    },

    download(url, ctx) {
      // Endpoint headers (the proxy token) go only to the proxy's video route, never to a storage host.
      return endpoint.videoUrl ? downloadVideo(PROVIDER, endpoint.videoUrl(url), ctx, endpoint.headers) : downloadVideo(PROVIDER, url, ctx);
    },

    nextPollDelay(snapshot) {
      if (snapshot.etaSeconds === undefined || !(snapshot.etaSeconds > 0)) return undefined;
      return Math.min(5000, Math.max(1000, Math.round(snapshot.etaSeconds * 1000)));
    },
  };
}

function urls(value: unknown): string[] {
  if (typeof value === 'string' && value !== '') return [value];
  if (!Array.isArray(value)) return [];
  return value.filter((item): item is string => typeof item === 'string' && item !== '');
}

function textOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isRecord(value)) return stringField(value, 'message') ?? JSON.stringify(value).slice(0, 200);
  return undefined;
}
