/**
 * The small HTTP layer every adapter shares: JSON calls that never throw raw fetch errors, `Retry-After`
 * parsing, the error-kind → KinemaError code mapping, and the kinema proxy's own error envelope.
 */
import { KinemaError, type KinemaErrorCode } from '../errors';
import type { CallContext, CloudErrorKind, CloudProvider, DownloadedVideo, ProviderErrorInfo } from './types';

const CODE_FOR_KIND: Record<CloudErrorKind, KinemaErrorCode> = {
  auth: 'PROVIDER_AUTH',
  rate_limit: 'PROVIDER_RATE_LIMITED',
  quota: 'PROVIDER_QUOTA',
  moderation: 'PROVIDER_MODERATION',
  invalid_request: 'INVALID_REQUEST',
  not_found: 'PROVIDER_FAILED',
  timeout: 'TIMEOUT',
  canceled: 'PROVIDER_FAILED',
  server: 'PROVIDER_FAILED',
  network: 'PROVIDER_FAILED',
};

export function codeForKind(kind: CloudErrorKind): KinemaErrorCode {
  return CODE_FOR_KIND[kind];
}

/**
 * The one way a provider failure becomes a KinemaError: `details` always holds `provider`, `kind`, and
 * the provider's own `providerCode`/`providerMessage`/`httpStatus` when there were any.
 */
export function providerError(
  provider: CloudProvider,
  info: ProviderErrorInfo & { retryAfterMs?: number; code?: KinemaErrorCode; extra?: Record<string, unknown> },
  what: string,
): KinemaError {
  const code = info.code ?? codeForKind(info.kind);
  const said = info.providerCode || info.providerMessage ? `: ${[info.providerCode, info.providerMessage].filter(Boolean).join(' ')}` : '';
  const status = info.httpStatus ? ` (HTTP ${info.httpStatus})` : '';
  return new KinemaError(code, `${provider} ${what} failed${status}${said}`, {
    details: {
      provider,
      kind: info.kind,
      ...(info.providerCode !== undefined && { providerCode: info.providerCode }),
      ...(info.providerMessage !== undefined && { providerMessage: info.providerMessage }),
      ...(info.httpStatus !== undefined && { httpStatus: info.httpStatus }),
      ...(info.retryAfterMs !== undefined && { retryAfterMs: info.retryAfterMs }),
      ...info.extra,
    },
  });
}

/** `Retry-After` as delta-seconds or an HTTP date → milliseconds from `now`. */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value == null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Kind for an HTTP status when the body says nothing more specific. */
export function kindForStatus(status: number): CloudErrorKind {
  if (status === 401 || status === 403) return 'auth';
  if (status === 402) return 'quota';
  if (status === 404 || status === 410) return 'not_found';
  if (status === 408) return 'timeout';
  if (status === 413 || status === 422 || (status >= 400 && status < 500 && status !== 429)) return 'invalid_request';
  if (status === 429) return 'rate_limit';
  return 'server';
}

export interface JsonResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined when the body was empty. */
  body: unknown;
}

/**
 * One JSON call. Network failures and unparseable bodies become PROVIDER_FAILED with kind
 * `network`/`server` (both retried by the driver while polling); an abort is rethrown untouched so the
 * driver can tell it apart.
 */
export async function requestJson(
  provider: CloudProvider,
  url: string,
  init: RequestInit,
  ctx: CallContext,
  what: string,
): Promise<JsonResponse> {
  let response: Response;
  try {
    response = await ctx.fetch(url, { ...init, signal: ctx.signal });
  } catch (cause) {
    if (ctx.signal.aborted) throw cause;
    throw Object.assign(providerError(provider, { kind: 'network', providerMessage: messageOf(cause) }, what), { cause });
  }
  let text: string;
  try {
    text = await response.text();
  } catch (cause) {
    if (ctx.signal.aborted) throw cause;
    throw providerError(provider, { kind: 'network', httpStatus: response.status, providerMessage: messageOf(cause) }, what);
  }
  if (text.trim() === '') return { status: response.status, headers: response.headers, body: undefined };
  try {
    return { status: response.status, headers: response.headers, body: JSON.parse(text) as unknown };
  } catch {
    // A proxy or gateway error page, or a truncated body: treat as a server hiccup, retried while polling.
    const kind: CloudErrorKind = response.ok || response.status >= 500 ? 'server' : kindForStatus(response.status);
    throw providerError(
      provider,
      { kind, httpStatus: response.status, providerMessage: `malformed JSON: ${text.slice(0, 120)}` },
      what,
    );
  }
}

/** The kinema proxy answers its own refusals as `{ error: { code, message }, source: 'kinema-proxy' }`. */
export function proxyErrorInfo(status: number, body: unknown): (ProviderErrorInfo & { retryAfterMs?: number }) | undefined {
  if (!isRecord(body) || body.source !== 'kinema-proxy' || !isRecord(body.error)) return undefined;
  const code = typeof body.error.code === 'string' ? body.error.code : 'PROXY_ERROR';
  const message = typeof body.error.message === 'string' ? body.error.message : undefined;
  const kind: CloudErrorKind =
    code === 'PROXY_NOT_CONFIGURED' || code === 'PROXY_UNAUTHORIZED' || code === 'PROXY_ORIGIN_REFUSED'
      ? 'auth'
      : code === 'PROXY_RATE_LIMITED'
        ? 'rate_limit'
        : code === 'PROXY_UPSTREAM_UNREACHABLE'
          ? 'network'
          : kindForStatus(status);
  return { kind, providerCode: code, ...(message !== undefined && { providerMessage: message }), httpStatus: status };
}

/** GET the finished video. Any failure is DOWNLOAD_FAILED; `details.kind` says why (expired URLs → not_found). */
export async function downloadVideo(provider: CloudProvider, url: string, ctx: CallContext, headers?: Record<string, string>): Promise<DownloadedVideo> {
  let response: Response;
  try {
    response = await ctx.fetch(url, { signal: ctx.signal, ...(headers && { headers }) });
  } catch (cause) {
    if (ctx.signal.aborted) throw cause;
    throw Object.assign(providerError(provider, { kind: 'network', code: 'DOWNLOAD_FAILED', providerMessage: messageOf(cause) }, 'video download'), { cause });
  }
  if (!response.ok) {
    let body: unknown;
    const text = await response.text().catch(() => '');
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const proxied = proxyErrorInfo(response.status, body);
    // The proxy reports the storage host's own status as `upstreamStatus` (e.g. 403 for an expired signed URL).
    const upstream = isRecord(body) && isRecord(body.error) && typeof body.error.upstreamStatus === 'number' ? body.error.upstreamStatus : undefined;
    const effective = upstream ?? response.status;
    const kind: CloudErrorKind =
      upstream !== undefined ? (effective >= 500 ? 'server' : 'not_found') : proxied?.kind ?? (effective === 403 ? 'not_found' : kindForStatus(effective));
    const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
    throw providerError(
      provider,
      {
        kind,
        code: 'DOWNLOAD_FAILED',
        ...(retryAfterMs !== undefined && { retryAfterMs }),
        httpStatus: response.status,
        ...(proxied?.providerCode !== undefined && { providerCode: proxied.providerCode }),
        providerMessage: proxied?.providerMessage ?? text.slice(0, 200),
        ...(upstream !== undefined && { extra: { upstreamStatus: upstream } }),
      },
      'video download',
    );
  }
  const mimeType = (response.headers.get('content-type') ?? '').split(';')[0]?.trim() || 'video/mp4';
  // A login or error page answered with 200 (a CDN, a captive portal) is not a video; never hand it on as one.
  if (/^text\/|^application\/(json|xml)$/.test(mimeType)) {
    const text = await response.text().catch(() => '');
    throw providerError(provider, { kind: 'server', code: 'DOWNLOAD_FAILED', httpStatus: response.status, providerMessage: `the video URL answered ${mimeType}, not a video: ${text.slice(0, 120)}` }, 'video download');
  }
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { bytes, mimeType: mimeType === 'application/octet-stream' || mimeType === 'binary/octet-stream' ? 'video/mp4' : mimeType };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

export function joinUrl(base: string, path: string): string {
  return `${base.replace(/\/+$/, '')}${path.startsWith('/') ? path : `/${path}`}`;
}

function messageOf(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}
