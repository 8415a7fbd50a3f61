/**
 * The kinema cloud proxy: a small Node `http` server that holds the provider API keys so browsers never
 * see them. It forwards a fixed set of provider routes to the configured upstream bases (adding the key
 * server-side), and streams finished videos from URLs it saw in task results, so a page never talks to
 * the provider or its storage host. Self-contained (imports only `node:*`) so `tsc` can emit it to
 * `dist/node/proxy.js` for `bin/kinema-proxy.mjs`.
 *
 * Security model (see docs/cloud.md): optional bearer token; an Origin allowlist (loopback origins only
 * by default, so a random website cannot drive a developer's local proxy); fixed upstream routes with
 * validated ids; the video route only fetches URLs the proxy itself saw in a provider result (or hosts
 * explicitly allowlisted); a per-IP token bucket; a request-size limit; keys and the token are redacted
 * from every log line and upstream response, and upstream headers are dropped except a small allowlist.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';

export interface ProxyConfig {
  dashscopeApiKey?: string;
  modelslabApiKey?: string;
  /** Default `https://dashscope-intl.aliyuncs.com` (the region is just the base URL). */
  dashscopeBaseUrl?: string;
  /** Default `https://modelslab.com`. */
  modelslabBaseUrl?: string;
  /** When set, clients must send `Authorization: Bearer <token>`. */
  token?: string;
  /** Allowed browser origins (`*` for any). Default: loopback origins only (http://localhost:*, 127.0.0.1, [::1]). */
  origins?: string[];
  /** Extra hosts the video route may fetch from even if the proxy did not see the URL (https only). */
  videoHosts?: string[];
  /** Per client IP. Default 60 requests burst, refilled at 2/s. `false` disables. */
  rateLimit?: { burst: number; perSecond: number } | false;
  /** Request body limit, default 64 KiB. */
  maxBodyBytes?: number;
  /** Video size limit, default 512 MiB. */
  maxVideoBytes?: number;
  /** Upstream API call (and video first byte) timeout, default 60 s. */
  upstreamTimeoutMs?: number;
  /** One line per request and per upstream failure, secrets already redacted. Default: stderr. */
  log?: (line: string) => void;
  fetch?: typeof fetch;
  now?: () => number;
}

export const DEFAULT_PORT = 8787;
export const DEFAULT_HOST = '127.0.0.1';
const DEFAULTS = {
  dashscopeBaseUrl: 'https://dashscope-intl.aliyuncs.com',
  modelslabBaseUrl: 'https://modelslab.com',
  rateLimit: { burst: 60, perSecond: 2 },
  maxBodyBytes: 64 * 1024,
  maxVideoBytes: 512 * 1024 * 1024,
  upstreamTimeoutMs: 60_000,
} as const;
/** Signed result URLs live 24 h at DashScope; the proxy remembers what it saw for as long. */
const SEEN_URL_TTL_MS = 24 * 3600_000;
const MAX_SEEN_URLS = 10_000;
const MAX_REDIRECTS = 3;

/** Upstream response headers a client may see; everything else (cookies, echoes, tracing) is dropped. */
const PASS_HEADERS = ['content-type', 'retry-after'];
const PASS_VIDEO_HEADERS = ['content-type', 'content-length', 'content-range', 'accept-ranges', 'last-modified', 'etag'];

const TASK_ID = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

type Upstream = 'dashscope' | 'modelslab';
interface Route {
  upstream: Upstream;
  method: 'GET' | 'POST';
  path: string;
  /** Responses of this route may carry result URLs the video route will then accept. */
  recordsUrls: boolean;
}

/** The whole client-facing surface for the providers: anything else is 404. */
function matchRoute(method: string, pathname: string): Route | undefined {
  let m: RegExpExecArray | null;
  if (method === 'POST' && pathname === '/v1/dashscope/api/v1/services/aigc/video-generation/video-synthesis') {
    return { upstream: 'dashscope', method: 'POST', path: '/api/v1/services/aigc/video-generation/video-synthesis', recordsUrls: false };
  }
  if ((m = /^\/v1\/dashscope\/api\/v1\/tasks\/([^/]+)$/.exec(pathname)) && method === 'GET' && TASK_ID.test(m[1]!)) {
    return { upstream: 'dashscope', method: 'GET', path: `/api/v1/tasks/${m[1]}`, recordsUrls: true };
  }
  if ((m = /^\/v1\/dashscope\/api\/v1\/tasks\/([^/]+)\/cancel$/.exec(pathname)) && method === 'POST' && TASK_ID.test(m[1]!)) {
    return { upstream: 'dashscope', method: 'POST', path: `/api/v1/tasks/${m[1]}/cancel`, recordsUrls: false };
  }
  if (method === 'POST' && pathname === '/v1/modelslab/api/v6/video/text2video') {
    return { upstream: 'modelslab', method: 'POST', path: '/api/v6/video/text2video', recordsUrls: true };
  }
  if ((m = /^\/v1\/modelslab\/api\/v6\/video\/fetch\/([^/]+)$/.exec(pathname)) && method === 'POST' && TASK_ID.test(m[1]!)) {
    return { upstream: 'modelslab', method: 'POST', path: `/api/v6/video/fetch/${m[1]}`, recordsUrls: true };
  }
  return undefined;
}

class ProxyRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

/** Reads env the way the bin does; unset or empty variables fall back to the defaults. */
export function proxyConfigFromEnv(env: Record<string, string | undefined> = process.env): ProxyConfig {
  const list = (value: string | undefined) => value?.split(',').map((s) => s.trim()).filter(Boolean);
  const config: ProxyConfig = {};
  if (env.DASHSCOPE_API_KEY) config.dashscopeApiKey = env.DASHSCOPE_API_KEY;
  if (env.MODELSLAB_API_KEY) config.modelslabApiKey = env.MODELSLAB_API_KEY;
  if (env.KINEMA_DASHSCOPE_BASE_URL) config.dashscopeBaseUrl = env.KINEMA_DASHSCOPE_BASE_URL;
  if (env.KINEMA_MODELSLAB_BASE_URL) config.modelslabBaseUrl = env.KINEMA_MODELSLAB_BASE_URL;
  if (env.KINEMA_PROXY_TOKEN) config.token = env.KINEMA_PROXY_TOKEN;
  const origins = list(env.KINEMA_PROXY_ORIGINS);
  if (origins?.length) config.origins = origins;
  const videoHosts = list(env.KINEMA_PROXY_VIDEO_HOSTS);
  if (videoHosts?.length) config.videoHosts = videoHosts;
  return config;
}

function checkBaseUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new TypeError(`${name} must be an absolute URL such as https://dashscope-intl.aliyuncs.com (got ${JSON.stringify(value)})`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`${name} must be http(s) (got ${url.protocol})`);
  return url.href.replace(/\/+$/, '');
}

function isLoopbackOrigin(origin: string): boolean {
  try {
    const { hostname, protocol } = new URL(origin);
    return (protocol === 'http:' || protocol === 'https:') && (hostname === 'localhost' || hostname === '127.0.0.1' || hostname === '[::1]');
  } catch {
    return false;
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export function createProxyServer(config: ProxyConfig = {}): Server {
  const bases: Record<Upstream, string> = {
    dashscope: checkBaseUrl(config.dashscopeBaseUrl ?? DEFAULTS.dashscopeBaseUrl, 'dashscopeBaseUrl'),
    modelslab: checkBaseUrl(config.modelslabBaseUrl ?? DEFAULTS.modelslabBaseUrl, 'modelslabBaseUrl'),
  };
  const keys: Record<Upstream, string | undefined> = { dashscope: config.dashscopeApiKey, modelslab: config.modelslabApiKey };
  const secrets = [config.dashscopeApiKey, config.modelslabApiKey, config.token].filter((s): s is string => !!s && s.length >= 4);
  const tokenDigest = config.token ? digest(config.token) : undefined;
  const limit = config.rateLimit === undefined ? DEFAULTS.rateLimit : config.rateLimit;
  const maxBodyBytes = config.maxBodyBytes ?? DEFAULTS.maxBodyBytes;
  const maxVideoBytes = config.maxVideoBytes ?? DEFAULTS.maxVideoBytes;
  const upstreamTimeoutMs = config.upstreamTimeoutMs ?? DEFAULTS.upstreamTimeoutMs;
  const fetchImpl = config.fetch ?? globalThis.fetch.bind(globalThis);
  const now = config.now ?? Date.now;
  const videoHosts = new Set((config.videoHosts ?? []).map((h) => h.toLowerCase()));
  const buckets = new Map<string, { tokens: number; at: number }>();
  const seenUrls = new Map<string, number>();

  const redact = (text: string): string => secrets.reduce((out, secret) => out.split(secret).join('[redacted]'), text);
  const log = (line: string) => (config.log ?? ((l: string) => process.stderr.write(`${l}\n`)))(redact(line));

  const originAllowed = (origin: string) =>
    config.origins ? config.origins.includes('*') || config.origins.includes(origin) : isLoopbackOrigin(origin);

  function takeToken(client: string): number | undefined {
    if (!limit) return undefined;
    const t = now();
    const bucket = buckets.get(client) ?? { tokens: limit.burst, at: t };
    bucket.tokens = Math.min(limit.burst, bucket.tokens + ((t - bucket.at) / 1000) * limit.perSecond);
    bucket.at = t;
    buckets.set(client, bucket);
    if (buckets.size > 10_000) for (const [k, b] of buckets) if (b.tokens >= limit.burst) buckets.delete(k);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return undefined;
    }
    return Math.max(1, Math.ceil((1 - bucket.tokens) / limit.perSecond));
  }

  function authorized(req: IncomingMessage): boolean {
    if (!tokenDigest) return true;
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    return !!match && timingSafeEqual(digest(match[1]!), tokenDigest);
  }

  function rememberUrls(body: unknown): void {
    const found: string[] = [];
    const output = isRecord(body) ? body.output : undefined;
    if (isRecord(output) && typeof output.video_url === 'string') found.push(output.video_url); // DashScope
    for (const field of [output, isRecord(body) ? body.future_links : undefined]) {
      if (Array.isArray(field)) for (const item of field) if (typeof item === 'string') found.push(item); // ModelsLab
    }
    const t = now();
    for (const raw of found) {
      try {
        const url = new URL(raw);
        // Stored normalized: the video route compares `new URL(?url=).href`.
        if (url.protocol === 'https:' || url.protocol === 'http:') seenUrls.set(url.href, t + SEEN_URL_TTL_MS);
      } catch {
        // Not a URL: nothing to allow.
      }
    }
    if (seenUrls.size > MAX_SEEN_URLS) {
      for (const [url, until] of seenUrls) if (until < t || seenUrls.size > MAX_SEEN_URLS) seenUrls.delete(url);
    }
  }

  function videoUrlAllowed(url: URL): boolean {
    const until = seenUrls.get(url.href);
    if (until !== undefined && until > now()) return true;
    return url.protocol === 'https:' && videoHosts.has(url.host.toLowerCase());
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBodyBytes) throw new ProxyRefusal(413, 'PROXY_BODY_TOO_LARGE', `request body over ${maxBodyBytes} bytes`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBodyBytes) throw new ProxyRefusal(413, 'PROXY_BODY_TOO_LARGE', `request body over ${maxBodyBytes} bytes`);
      chunks.push(chunk);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async function forward(route: Route, req: IncomingMessage, res: ServerResponse): Promise<number> {
    const key = keys[route.upstream];
    if (!key) {
      const variable = route.upstream === 'dashscope' ? 'DASHSCOPE_API_KEY' : 'MODELSLAB_API_KEY';
      throw new ProxyRefusal(503, 'PROXY_NOT_CONFIGURED', `${variable} is not set on the proxy`);
    }
    const raw = route.method === 'POST' ? await readBody(req) : '';
    const headers: Record<string, string> = {};
    let body: string | undefined;
    if (route.upstream === 'dashscope') {
      headers.Authorization = `Bearer ${key}`;
      if (route.method === 'POST') {
        headers['Content-Type'] = 'application/json';
        body = raw === '' ? undefined : raw;
      }
      // Video synthesis is async-only; sending the header here keeps hand-written clients working.
      if (route.path.endsWith('/video-synthesis')) headers['X-DashScope-Async'] = 'enable';
    } else {
      let parsed: unknown;
      try {
        parsed = raw === '' ? {} : JSON.parse(raw);
      } catch {
        throw new ProxyRefusal(400, 'PROXY_INVALID_JSON', 'the request body must be a JSON object');
      }
      if (!isRecord(parsed)) throw new ProxyRefusal(400, 'PROXY_INVALID_JSON', 'the request body must be a JSON object');
      // The key goes in the body; a client-supplied webhook could receive payloads outside our control.
      const { key: _ignored, webhook: _webhook, ...rest } = parsed;
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify({ ...rest, key });
    }

    let upstream: Response;
    try {
      upstream = await fetchImpl(`${bases[route.upstream]}${route.path}`, {
        method: route.method,
        headers,
        ...(body !== undefined && { body }),
        redirect: 'manual',
        signal: AbortSignal.timeout(upstreamTimeoutMs),
      });
    } catch (error) {
      log(`upstream ${route.upstream} ${route.path} unreachable: ${error instanceof Error ? error.message : String(error)}`);
      throw new ProxyRefusal(502, 'PROXY_UPSTREAM_UNREACHABLE', `${route.upstream} did not answer`);
    }
    const text = redact(await upstream.text());
    if (route.recordsUrls && upstream.ok) {
      try {
        rememberUrls(JSON.parse(text));
      } catch {
        // Not JSON: nothing to remember; the client sees the body as it came.
      }
    }
    const out: Record<string, string> = {};
    for (const name of PASS_HEADERS) {
      const value = upstream.headers.get(name);
      if (value !== null) out[name] = redact(value);
    }
    out['content-length'] = String(Buffer.byteLength(text));
    res.writeHead(upstream.status >= 300 && upstream.status < 400 ? 502 : upstream.status, out);
    res.end(text);
    return upstream.status;
  }

  async function streamVideo(requestUrl: URL, req: IncomingMessage, res: ServerResponse): Promise<number> {
    const target = requestUrl.searchParams.get('url');
    let url: URL;
    try {
      url = new URL(target ?? '');
    } catch {
      throw new ProxyRefusal(400, 'PROXY_BAD_URL', 'pass the provider result URL as ?url=');
    }
    if (!videoUrlAllowed(url)) {
      throw new ProxyRefusal(403, 'PROXY_HOST_REFUSED', 'this proxy only streams result URLs it saw in a provider task result');
    }
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('upstream timeout')), upstreamTimeoutMs);
    res.on('close', () => controller.abort(new Error('client went away')));
    let upstream: Response;
    try {
      for (let hop = 0; ; hop++) {
        upstream = await fetchImpl(url.href, {
          redirect: 'manual',
          signal: controller.signal,
          ...(typeof req.headers.range === 'string' && { headers: { Range: req.headers.range } }),
        });
        const location = upstream.headers.get('location');
        if (upstream.status < 300 || upstream.status >= 400 || !location) break;
        const next = new URL(location, url);
        // A storage host may redirect to a CDN; only ever to https (or the same origin), and not forever.
        if (hop >= MAX_REDIRECTS || (next.protocol !== 'https:' && next.origin !== url.origin)) {
          throw new ProxyRefusal(502, 'PROXY_UPSTREAM_REDIRECT', 'the storage host redirected somewhere the proxy will not follow');
        }
        await upstream.body?.cancel();
        url = next;
      }
    } catch (error) {
      clearTimeout(timer);
      if (error instanceof ProxyRefusal) throw error;
      log(`upstream video ${url.host} unreachable: ${error instanceof Error ? error.message : String(error)}`);
      throw new ProxyRefusal(502, 'PROXY_UPSTREAM_UNREACHABLE', 'the storage host did not answer');
    }
    clearTimeout(timer);
    if (!upstream.ok) {
      await upstream.body?.cancel();
      throw new ProxyRefusal(502, 'PROXY_UPSTREAM_STATUS', `the storage host answered HTTP ${upstream.status}`, {}, { upstreamStatus: upstream.status });
    }
    const length = Number(upstream.headers.get('content-length'));
    if (Number.isFinite(length) && length > maxVideoBytes) {
      await upstream.body?.cancel();
      throw new ProxyRefusal(502, 'PROXY_VIDEO_TOO_LARGE', `the video is over ${maxVideoBytes} bytes`);
    }
    const headers: Record<string, string> = {
      // A cross-origin-isolated page (COEP require-corp) may embed or fetch this.
      'Cross-Origin-Resource-Policy': 'cross-origin',
      'Cache-Control': 'private, max-age=3600',
    };
    for (const name of PASS_VIDEO_HEADERS) {
      const value = upstream.headers.get(name);
      if (value !== null && !(name === 'content-length' && upstream.headers.has('content-encoding'))) headers[name] = value;
    }
    headers['content-type'] ??= 'video/mp4';
    res.writeHead(upstream.status, headers);
    if (!upstream.body) {
      res.end();
      return upstream.status;
    }
    let sent = 0;
    const body = Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream<Uint8Array>);
    await new Promise<void>((resolve) => {
      body.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        if (sent > maxVideoBytes) {
          body.destroy();
          res.destroy();
        }
      });
      body.on('error', () => {
        res.destroy();
        resolve();
      });
      res.on('close', resolve);
      body.pipe(res);
    });
    return upstream.status;
  }

  function refuse(res: ServerResponse, refusal: ProxyRefusal): void {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const text = JSON.stringify({ source: 'kinema-proxy', error: { code: refusal.code, message: refusal.message, ...refusal.extra } });
    res.writeHead(refusal.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...refusal.headers });
    res.end(text);
  }

  async function handle(req: IncomingMessage, res: ServerResponse, client: string): Promise<number> {
    const method = req.method ?? 'GET';
    const origin = typeof req.headers.origin === 'string' ? req.headers.origin : undefined;
    if (origin !== undefined) {
      if (!originAllowed(origin)) throw new ProxyRefusal(403, 'PROXY_ORIGIN_REFUSED', 'this origin is not in KINEMA_PROXY_ORIGINS');
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Vary', 'Origin');
      res.setHeader('Access-Control-Expose-Headers', 'Retry-After, Content-Length, Content-Range');
    }
    if (method === 'OPTIONS') {
      res.writeHead(204, {
        'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
        'Access-Control-Allow-Headers': 'Authorization, Content-Type, X-DashScope-Async, Range',
        'Access-Control-Max-Age': '600',
        // Chrome's Private Network Access: a public page may call this proxy on localhost.
        ...(req.headers['access-control-request-private-network'] === 'true' && { 'Access-Control-Allow-Private-Network': 'true' }),
      });
      res.end();
      return 204;
    }
    const url = new URL(req.url ?? '/', 'http://proxy.invalid');
    if (method === 'GET' && url.pathname === '/healthz') {
      const text = JSON.stringify({ ok: true, providers: { dashscope: !!keys.dashscope, modelslab: !!keys.modelslab } });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
      res.end(text);
      return 200;
    }
    const retryAfter = takeToken(client);
    if (retryAfter !== undefined) {
      throw new ProxyRefusal(429, 'PROXY_RATE_LIMITED', 'too many requests from this client', { 'Retry-After': String(retryAfter) });
    }
    if (!authorized(req)) throw new ProxyRefusal(401, 'PROXY_UNAUTHORIZED', 'send Authorization: Bearer <KINEMA_PROXY_TOKEN>');
    if (url.pathname === '/v1/video') {
      if (method !== 'GET') throw new ProxyRefusal(405, 'PROXY_METHOD', 'use GET');
      return streamVideo(url, req, res);
    }
    const route = matchRoute(method, url.pathname);
    if (!route) throw new ProxyRefusal(404, 'PROXY_NO_ROUTE', `no route ${method} ${url.pathname}`);
    return forward(route, req, res);
  }

  return createServer((req, res) => {
    const started = now();
    const path = (req.url ?? '/').split('?')[0]; // never log the query: it can carry a signed URL
    const client = req.socket.remoteAddress ?? 'unknown';
    handle(req, res, client)
      .catch((error: unknown) => {
        const refusal =
          error instanceof ProxyRefusal ? error : new ProxyRefusal(500, 'PROXY_INTERNAL', 'the proxy failed; see its log');
        if (!(error instanceof ProxyRefusal)) log(`internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}`);
        refuse(res, refusal);
        // Drain what the client still sends (e.g. an oversized body) so the socket can close cleanly.
        req.resume();
        return refusal.status;
      })
      .then((status) => log(`${req.method} ${path} ${status} ${now() - started}ms ${client}`))
      .catch(() => {
        // A throwing logger must not crash the server.
      });
  });
}

export interface RunningProxy {
  server: Server;
  url: string;
  close(): Promise<void>;
}

/** Starts a proxy from env (keys, bases, token, origins); what the bin runs. */
export async function startProxy(
  options: { port?: number; host?: string; env?: Record<string, string | undefined>; log?: (line: string) => void } = {},
): Promise<RunningProxy> {
  const config = proxyConfigFromEnv(options.env ?? process.env);
  if (options.log) config.log = options.log;
  const server = createProxyServer(config);
  const host = options.host ?? DEFAULT_HOST;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_PORT, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const say = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  say(
    `kinema proxy on ${url} — dashscope: ${config.dashscopeApiKey ? 'key set' : 'no key'}, modelslab: ${config.modelslabApiKey ? 'key set' : 'no key'}, ` +
      `token: ${config.token ? 'required' : 'none'}, origins: ${config.origins?.join(' ') ?? 'loopback only'}`,
  );
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
