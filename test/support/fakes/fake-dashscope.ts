/**
 * A local DashScope (Wan video-synthesis) server speaking the async protocol with its quirks: the
 * `X-DashScope-Async: enable` header is required, failures and unknown tasks come back as HTTP 200
 * (`FAILED` with output.code/message, `UNKNOWN`), 429 Throttling carries Retry-After, and the
 * result URL is "signed" and expires. Reusable by browser end-to-end tests: `startFakeDashScope()`.
 *
 * A prompt containing `[fake:<outcome>]` overrides `outcome` for that task, so one server can serve
 * several scenarios; `[fake:moderation-create]` makes the create call itself answer 400 DataInspectionFailed.
 */
import type { ServerResponse } from 'node:http';
import { parseJson, sendJson, sendVideo, startFakeServer, type FakeServer, type RecordedRequest } from './fake-server';
import { tinyMp4 } from './tiny-video';

export const FAKE_DASHSCOPE_KEY = 'sk-fake-dashscope-0123456789abcdef';

export type FakeDashScopeOutcome = 'succeed' | 'moderation' | 'internal-error' | 'unknown' | 'canceled';

export interface FakeDashScopeOptions {
  /** The key the fake accepts as `Authorization: Bearer <key>`. */
  apiKey?: string;
  /** Polls answered PENDING before RUNNING (default 1). */
  pendingPolls?: number;
  /** Polls answered RUNNING before the outcome (default 1). */
  runningPolls?: number;
  outcome?: FakeDashScopeOutcome;
  /** Make the create call fail with this HTTP status and DashScope error body. */
  createError?: { status: number; code: string; message: string };
  /** The first N polls of each task answer 429 Throttling with `Retry-After: retryAfterSeconds`. */
  rateLimitPolls?: number;
  retryAfterSeconds?: number;
  /** Then N polls answer 503 ModelUnavailable. */
  transientPolls?: number;
  /** Then N polls answer 200 with a truncated JSON body. */
  malformedPolls?: number;
  /** Then N polls never answer (the connection hangs until the client gives up). */
  hangPolls?: number;
  /** How long the signed video URL stays valid (default 24 h). */
  resultTtlMs?: number;
  video?: Uint8Array;
  now?: () => number;
}

interface FakeTask {
  id: string;
  outcome: FakeDashScopeOutcome;
  prompt: string;
  size: string;
  duration: number;
  polls: number;
  canceled: boolean;
  videoExpiresAt?: number;
}

export interface FakeDashScope extends FakeServer {
  tasks: Map<string, FakeTask>;
  options: FakeDashScopeOptions;
}

const CREATE_PATH = '/api/v1/services/aigc/video-generation/video-synthesis';

export async function startFakeDashScope(options: FakeDashScopeOptions = {}): Promise<FakeDashScope> {
  const apiKey = options.apiKey ?? FAKE_DASHSCOPE_KEY;
  const now = options.now ?? Date.now;
  const video = options.video ?? tinyMp4();
  const tasks = new Map<string, FakeTask>();
  let nextId = 1;
  let requestSeq = 0;
  const requestId = () => `req-${++requestSeq}`;

  const error = (res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}) =>
    sendJson(res, status, { request_id: requestId(), code, message }, headers);

  const server = await startFakeServer((req: RecordedRequest, res, self) => {
    const url = new URL(req.path, self.url);

    // The "OSS" storage host: a signed URL that expires (403 XML like the real one).
    const file = /^\/oss\/([\w-]+)\.mp4$/.exec(url.pathname);
    if (file && req.method === 'GET') {
      const task = tasks.get(file[1]!);
      const expires = Number(url.searchParams.get('Expires'));
      if (!task || url.searchParams.get('Signature') !== 'fake' || !(expires > now())) {
        res.writeHead(403, { 'Content-Type': 'application/xml' });
        res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired.</Message></Error>');
        return;
      }
      sendVideo(res, video);
      return;
    }

    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return error(res, 401, 'InvalidApiKey', 'Invalid API-key provided.');
    }

    if (url.pathname === CREATE_PATH && req.method === 'POST') {
      if (req.headers['x-dashscope-async'] !== 'enable') {
        return error(res, 400, 'AccessDenied', 'current user api does not support synchronous calls');
      }
      if (options.createError) return error(res, options.createError.status, options.createError.code, options.createError.message);
      const body = parseJson(req.body);
      const input = body?.input as Record<string, unknown> | undefined;
      const parameters = (body?.parameters ?? {}) as Record<string, unknown>;
      if (!body || typeof body.model !== 'string' || typeof input?.prompt !== 'string') {
        return error(res, 400, 'InvalidParameter', 'Field required: input.prompt');
      }
      if (!body.model.startsWith('wan')) return error(res, 404, 'ModelNotFound', 'Model not exist.');
      const prompt = input.prompt;
      const marker = /\[fake:([a-z-]+)\]/.exec(prompt)?.[1] as FakeDashScopeOutcome | undefined;
      if ((marker as string) === 'moderation-create') {
        return error(res, 400, 'DataInspectionFailed', 'Input data may contain inappropriate content.');
      }
      const id = `fake-task-${nextId++}`;
      tasks.set(id, {
        id,
        outcome: marker ?? options.outcome ?? 'succeed',
        prompt,
        size: String(parameters.size ?? '1280*720'),
        duration: Number(parameters.duration ?? 5),
        polls: 0,
        canceled: false,
      });
      return sendJson(res, 200, { request_id: requestId(), output: { task_id: id, task_status: 'PENDING' } });
    }

    const cancel = /^\/api\/v1\/tasks\/([^/]+)\/cancel$/.exec(url.pathname);
    if (cancel && req.method === 'POST') {
      const task = tasks.get(decodeURIComponent(cancel[1]!));
      if (!task) return error(res, 404, 'NotFound', 'Task not found.');
      if (stateOf(task, Math.max(0, task.polls - faultPolls())) !== 'PENDING') {
        return error(res, 400, 'UnsupportedOperation', 'Failed to cancel the task, please confirm if the task is in PENDING status.');
      }
      task.canceled = true;
      return sendJson(res, 200, { request_id: requestId() });
    }

    const poll = /^\/api\/v1\/tasks\/([^/]+)$/.exec(url.pathname);
    if (poll && req.method === 'GET') {
      const id = decodeURIComponent(poll[1]!);
      const task = tasks.get(id);
      if (!task) return sendJson(res, 200, { request_id: requestId(), output: { task_id: id, task_status: 'UNKNOWN' } });
      let fault = task.polls++;
      if (fault < (options.rateLimitPolls ?? 0)) {
        return error(res, 429, 'Throttling.RateQuota', 'Requests rate limit exceeded, please try again later.', {
          'Retry-After': String(options.retryAfterSeconds ?? 1),
        });
      }
      fault -= options.rateLimitPolls ?? 0;
      if (fault < (options.transientPolls ?? 0)) return error(res, 503, 'ModelUnavailable', 'Model is unavailable, please try again later.');
      fault -= options.transientPolls ?? 0;
      if (fault < (options.malformedPolls ?? 0)) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end('{"request_id":"req-x","output":{"task_id":');
        return;
      }
      fault -= options.malformedPolls ?? 0;
      if (fault < (options.hangPolls ?? 0)) return; // never answered
      fault -= options.hangPolls ?? 0;
      return sendJson(res, 200, taskBody(task, fault + 1));
    }

    return error(res, 404, 'NotFound', `no route ${req.method} ${url.pathname}`);
  });

  function faultPolls(): number {
    return (options.rateLimitPolls ?? 0) + (options.transientPolls ?? 0) + (options.malformedPolls ?? 0) + (options.hangPolls ?? 0);
  }

  /** The status after the `normalPolls`-th poll that was not a scripted fault (0 = not polled yet). */
  function stateOf(task: FakeTask, normalPolls: number): string {
    if (task.canceled) return 'CANCELED';
    if (normalPolls <= (options.pendingPolls ?? 1)) return 'PENDING';
    if (normalPolls <= (options.pendingPolls ?? 1) + (options.runningPolls ?? 1)) return 'RUNNING';
    switch (task.outcome) {
      case 'moderation':
      case 'internal-error':
        return 'FAILED';
      case 'unknown':
        return 'UNKNOWN';
      case 'canceled':
        return 'CANCELED';
      default:
        return 'SUCCEEDED';
    }
  }

  function taskBody(task: FakeTask, normalPolls: number): Record<string, unknown> {
    const status = stateOf(task, normalPolls);
    const output: Record<string, unknown> = { task_id: task.id, task_status: status, submit_time: '2026-01-01 00:00:00.000' };
    const body: Record<string, unknown> = { request_id: requestId(), output };
    if (status === 'SUCCEEDED') {
      task.videoExpiresAt ??= now() + (options.resultTtlMs ?? 24 * 3600_000);
      output.video_url = `${server.url}/oss/${task.id}.mp4?Expires=${task.videoExpiresAt}&OSSAccessKeyId=fake&Signature=fake`;
      output.orig_prompt = task.prompt;
      output.actual_prompt = `${task.prompt}, cinematic lighting`;
      // The shape of `usage` varies by model; the adapter must not depend on it.
      body.usage = { video_duration: task.duration, video_ratio: task.size, video_count: 1 };
    } else if (status === 'FAILED') {
      output.code = task.outcome === 'moderation' ? 'DataInspectionFailed' : 'InternalError';
      output.message = task.outcome === 'moderation' ? 'Output data may contain inappropriate content.' : 'An internal error has occured, please try again later.';
    }
    return body;
  }

  return Object.assign(server, { tasks, options });
}
