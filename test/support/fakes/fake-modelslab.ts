/**
 * A local ModelsLab v6 video server with its quirks: the key travels in the JSON body, the body's
 * `status` is authoritative (errors arrive with HTTP 200), legacy bodies spell `messege`, `processing`
 * carries `eta` and `future_links`, polling is `POST /api/v6/video/fetch/{id}`, 429 carries both
 * `Retry-After` and `retry_after`. Reusable by browser end-to-end tests: `startFakeModelsLab()`.
 *
 * A prompt containing `[fake:<outcome>]` overrides `outcome` for that job.
 */
import { parseJson, sendJson, sendVideo, startFakeServer, type FakeServer } from './fake-server';
import { tinyMp4 } from './tiny-video';

export const FAKE_MODELSLAB_KEY = 'ml-fake-key-fedcba9876543210';

export type FakeModelsLabOutcome = 'succeed' | 'failed' | 'nsfw' | 'legacy-error';

export interface FakeModelsLabOptions {
  /** The key required in the body; `null` accepts any key or none (for adapter tests without the proxy). */
  apiKey?: string | null;
  /** Fetches answered `processing` before the outcome (default 1). */
  processingFetches?: number;
  /** `eta` in seconds reported while processing (default 2). */
  eta?: number;
  outcome?: FakeModelsLabOutcome;
  /** Answer the create call with this error inside an HTTP 200 body. */
  createErrorInBody?: { message: string; legacySpelling?: boolean };
  /** Answer the create call with this HTTP status and `{ status: 'error', message }`. */
  createHttpError?: { status: number; message: string };
  /** The first N fetches answer 429 with `Retry-After` and `retry_after` = retryAfterSeconds. */
  rateLimitFetches?: number;
  retryAfterSeconds?: number;
  /** Then N fetches answer 500. */
  transientFetches?: number;
  /** Then N fetches answer 200 with a truncated body. */
  malformedFetches?: number;
  /** Echo the key back in a `meta` object and an `X-Echo-Key` header, as a careless upstream might. */
  echoKey?: boolean;
  /** Success carries only `future_links`, which answer 404 for the first `notReadyDownloads` GETs. */
  futureLinksOnly?: boolean;
  notReadyDownloads?: number;
  video?: Uint8Array;
}

interface FakeJob {
  id: number;
  outcome: FakeModelsLabOutcome;
  fetches: number;
  downloads: number;
  body: Record<string, unknown>;
}

export interface FakeModelsLab extends FakeServer {
  jobs: Map<number, FakeJob>;
  options: FakeModelsLabOptions;
}

export async function startFakeModelsLab(options: FakeModelsLabOptions = {}): Promise<FakeModelsLab> {
  const apiKey = options.apiKey === undefined ? FAKE_MODELSLAB_KEY : options.apiKey;
  const video = options.video ?? tinyMp4();
  const jobs = new Map<number, FakeJob>();
  let nextId = 81000;

  const server = await startFakeServer((req, res, self) => {
    const url = new URL(req.path, self.url);
    const link = (job: FakeJob) => `${self.url}/generations/${job.id}.mp4`;

    const file = /^\/generations\/(\d+)\.mp4$/.exec(url.pathname);
    if (file && req.method === 'GET') {
      const job = jobs.get(Number(file[1]));
      if (!job || job.downloads++ < (options.notReadyDownloads ?? 0)) {
        res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found');
        return;
      }
      return sendVideo(res, video);
    }

    const body = parseJson(req.body);
    const echo = (extra: Record<string, unknown>): Record<string, unknown> =>
      options.echoKey ? { ...extra, meta: { ...body, key: body?.key } } : extra;
    const echoHeaders: Record<string, string> = options.echoKey && typeof body?.key === 'string' ? { 'X-Echo-Key': body.key } : {};

    if (req.method !== 'POST') return sendJson(res, 405, { status: 'error', message: 'Method not allowed' });
    if (!body) return sendJson(res, 400, { status: 'error', message: 'Invalid JSON body' });
    if (apiKey !== null && body.key !== apiKey) {
      // The real API answers a bad key inside HTTP 200.
      return sendJson(res, 200, echo({ status: 'error', message: 'Invalid Api Key' }), echoHeaders);
    }

    if (url.pathname === '/api/v6/video/text2video') {
      if (options.createHttpError) {
        return sendJson(res, options.createHttpError.status, { status: 'error', message: options.createHttpError.message });
      }
      if (options.createErrorInBody) {
        const { message, legacySpelling } = options.createErrorInBody;
        return sendJson(res, 200, echo(legacySpelling ? { status: 'error', messege: message } : { status: 'error', message }), echoHeaders);
      }
      for (const [field, max] of [['width', 512], ['height', 512], ['num_frames', 25], ['fps', 16]] as const) {
        if (typeof body[field] === 'number' && (body[field] as number) > max) {
          return sendJson(res, 200, { status: 'error', message: `The ${field} field must not be greater than ${max}.` });
        }
      }
      const prompt = typeof body.prompt === 'string' ? body.prompt : '';
      const marker = /\[fake:([a-z-]+)\]/.exec(prompt)?.[1] as FakeModelsLabOutcome | undefined;
      const job: FakeJob = { id: nextId++, outcome: marker ?? options.outcome ?? 'succeed', fetches: 0, downloads: 0, body };
      jobs.set(job.id, job);
      return sendJson(
        res,
        200,
        echo({
          status: 'processing',
          tip: 'Your request is being processed',
          eta: options.eta ?? 2,
          messege: 'Request processing in background, you can fetch at fetch_result url',
          fetch_result: `${self.url}/api/v6/video/fetch/${job.id}`,
          id: job.id,
          output: [],
          future_links: [link(job)],
        }),
        echoHeaders,
      );
    }

    const fetchRoute = /^\/api\/v6\/video\/fetch\/([^/]+)$/.exec(url.pathname);
    if (fetchRoute) {
      const job = jobs.get(Number(decodeURIComponent(fetchRoute[1]!)));
      if (!job) return sendJson(res, 200, { status: 'error', message: 'Request not found' });
      let fault = job.fetches++;
      if (fault < (options.rateLimitFetches ?? 0)) {
        const after = options.retryAfterSeconds ?? 1;
        return sendJson(res, 429, { status: 'error', message: 'Too many requests', retry_after: after }, { 'Retry-After': String(after) });
      }
      fault -= options.rateLimitFetches ?? 0;
      if (fault < (options.transientFetches ?? 0)) return sendJson(res, 500, { status: 'error', message: 'Server error' });
      fault -= options.transientFetches ?? 0;
      if (fault < (options.malformedFetches ?? 0)) {
        res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"succ');
        return;
      }
      fault -= options.malformedFetches ?? 0;
      if (fault < (options.processingFetches ?? 1)) {
        return sendJson(res, 200, echo({ status: 'processing', id: job.id, eta: options.eta ?? 2, messege: 'Video is processing', future_links: [link(job)] }), echoHeaders);
      }
      switch (job.outcome) {
        case 'failed':
          return sendJson(res, 200, { status: 'failed', id: job.id, message: 'Video generation failed, please try again' });
        case 'nsfw':
          return sendJson(res, 200, { status: 'error', id: job.id, message: 'NSFW content detected in the prompt' });
        case 'legacy-error':
          return sendJson(res, 200, { status: 'error', id: job.id, messege: 'Something went wrong' });
        default:
          return sendJson(
            res,
            200,
            echo({ status: 'success', id: job.id, output: options.futureLinksOnly ? [] : [link(job)], future_links: [link(job)], generationTime: 3.2 }),
            echoHeaders,
          );
      }
    }

    return sendJson(res, 404, { status: 'error', message: `no route ${url.pathname}` });
  });

  return Object.assign(server, { jobs, options });
}
