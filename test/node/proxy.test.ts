import { afterEach, describe, expect, it } from 'vitest';
import { createProxyServer, proxyConfigFromEnv, startProxy } from '../../src/node/proxy';
import { FAKE_DASHSCOPE_KEY } from '../support/fakes/fake-dashscope';
import { FAKE_MODELSLAB_KEY } from '../support/fakes/fake-modelslab';
import { FAKE_PROXY_TOKEN, listen, startProxyHarness, type ProxyHarness } from '../support/fakes/proxy-harness';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((close) => close()));
});

async function harness(options: Parameters<typeof startProxyHarness>[0] = {}): Promise<ProxyHarness> {
  const h = await startProxyHarness(options);
  cleanups.push(() => h.close());
  return h;
}

const auth = { Authorization: `Bearer ${FAKE_PROXY_TOKEN}` };
const CREATE = '/v1/dashscope/api/v1/services/aigc/video-generation/video-synthesis';
const createBody = JSON.stringify({ model: 'wan2.2-t2v-plus', input: { prompt: 'x' }, parameters: { size: '832*480', duration: 5 } });

/** Everything a client could see of a response, as one string, for "the key is never in it" checks. */
async function visible(response: Response): Promise<string> {
  const headers = [...response.headers].map(([k, v]) => `${k}: ${v}`).join('\n');
  return `${response.status}\n${headers}\n${await response.text()}`;
}

/** Runs a DashScope task to SUCCEEDED through the proxy and returns the video_url the proxy saw. */
async function finishedVideoUrl(h: ProxyHarness): Promise<string> {
  const created = (await (await fetch(`${h.proxyUrl}${CREATE}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: createBody })).json()) as {
    output: { task_id: string };
  };
  for (let i = 0; i < 10; i++) {
    const polled = (await (await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/${created.output.task_id}`, { headers: auth })).json()) as {
      output: { task_status: string; video_url?: string };
    };
    if (polled.output.video_url) return polled.output.video_url;
  }
  throw new Error('task did not finish');
}

describe('proxy forwarding', () => {
  it('forwards DashScope create with the key and the async header, never the client token', async () => {
    const h = await harness();
    const response = await fetch(`${h.proxyUrl}${CREATE}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: createBody });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ output: { task_status: 'PENDING' } });
    const upstream = h.dashscope.requests[0]!;
    expect(upstream.headers.authorization).toBe(`Bearer ${FAKE_DASHSCOPE_KEY}`);
    expect(upstream.headers['x-dashscope-async']).toBe('enable');
    expect(JSON.stringify(upstream.headers)).not.toContain(FAKE_PROXY_TOKEN);
  });

  it('passes provider errors through with their status and Retry-After', async () => {
    const h = await harness({ dashscope: { rateLimitPolls: 1, retryAfterSeconds: 9 } });
    await fetch(`${h.proxyUrl}${CREATE}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: createBody });
    const polled = await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/fake-task-1`, { headers: auth });
    expect(polled.status).toBe(429);
    expect(polled.headers.get('retry-after')).toBe('9');
    expect(await polled.json()).toMatchObject({ code: 'Throttling.RateQuota' });
  });

  it('streams a result video it saw, with CORP cross-origin for COEP pages', async () => {
    const h = await harness({ dashscope: { pendingPolls: 0, runningPolls: 0 } });
    const videoUrl = await finishedVideoUrl(h);
    const response = await fetch(`${h.proxyUrl}/v1/video?url=${encodeURIComponent(videoUrl)}`, { headers: { ...auth, Origin: 'http://localhost:5173' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('video/mp4');
    expect(response.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(response.headers.get('access-control-allow-origin')).toBe('http://localhost:5173');
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(String.fromCharCode(...bytes.subarray(4, 8))).toBe('ftyp');
    // The signed query never reaches the log.
    expect(h.logs.join('\n')).not.toContain('Signature=fake');
  });

  it('reports an expired result URL as the storage host status, not as its own refusal', async () => {
    const h = await harness({ dashscope: { pendingPolls: 0, runningPolls: 0, resultTtlMs: -1 } });
    const videoUrl = await finishedVideoUrl(h);
    const response = await fetch(`${h.proxyUrl}/v1/video?url=${encodeURIComponent(videoUrl)}`, { headers: auth });
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ source: 'kinema-proxy', error: { code: 'PROXY_UPSTREAM_STATUS', upstreamStatus: 403 } });
  });
});

describe('proxy security', () => {
  it('refuses video URLs it did not see in a task result (403), including internal hosts', async () => {
    const h = await harness();
    for (const target of [
      `${h.dashscope.url}/oss/fake-task-1.mp4?Expires=99999999999999&Signature=fake`,
      'http://169.254.169.254/latest/meta-data/',
      'https://evil.example/x.mp4',
      'file:///etc/passwd',
    ]) {
      const response = await fetch(`${h.proxyUrl}/v1/video?url=${encodeURIComponent(target)}`, { headers: auth });
      expect(response.status).toBe(403);
      expect(await response.json()).toMatchObject({ error: { code: 'PROXY_HOST_REFUSED' } });
    }
    expect(h.dashscope.requests).toHaveLength(0);
  });

  it('only forwards the fixed routes; odd ids and other paths are 404 and never reach upstream', async () => {
    const h = await harness();
    for (const [method, path] of [
      ['GET', '/v1/dashscope/api/v1/tasks/..%2F..%2Fadmin'],
      ['GET', '/v1/dashscope/api/v1/files'],
      ['POST', '/v1/modelslab/api/v6/images/text2img'],
      ['GET', '/v1/modelslab/api/v6/video/fetch/1'],
      ['GET', '/v1/dashscope/https://evil.example/'],
    ] as const) {
      const response = await fetch(`${h.proxyUrl}${path}`, { method, headers: auth, ...(method === 'POST' && { body: '{}' }) });
      expect(response.status, `${method} ${path}`).toBe(404);
    }
    expect(h.dashscope.requests.length + h.modelslab.requests.length).toBe(0);
  });

  it('missing or wrong token → 401; preflight needs none', async () => {
    const h = await harness();
    const missing = await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/abc`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toMatchObject({ source: 'kinema-proxy', error: { code: 'PROXY_UNAUTHORIZED' } });
    const wrong = await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/abc`, { headers: { Authorization: `Bearer ${FAKE_PROXY_TOKEN}x` } });
    expect(wrong.status).toBe(401);
    const preflight = await fetch(`${h.proxyUrl}${CREATE}`, {
      method: 'OPTIONS',
      headers: { Origin: 'http://127.0.0.1:4173', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Private-Network': 'true' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:4173');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(preflight.headers.get('access-control-allow-private-network')).toBe('true');
    expect(h.dashscope.requests).toHaveLength(0);
  });

  it('origins: loopback only by default; an allowlist replaces that; others get 403 without CORS headers', async () => {
    const h = await harness();
    const evil = await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/abc`, { headers: { ...auth, Origin: 'https://evil.example' } });
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const listed = await harness({ proxy: { origins: ['https://app.example'] } });
    const ok = await fetch(`${listed.proxyUrl}/healthz`, { headers: { Origin: 'https://app.example' } });
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const local = await fetch(`${listed.proxyUrl}/healthz`, { headers: { Origin: 'http://localhost:5173' } });
    expect(local.status).toBe(403);
  });

  it('oversized bodies → 413 before anything is forwarded', async () => {
    const h = await harness({ proxy: { maxBodyBytes: 1024 } });
    const big = JSON.stringify({ model: 'wan2.2-t2v-plus', input: { prompt: 'x'.repeat(4096) } });
    const response = await fetch(`${h.proxyUrl}${CREATE}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: big });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ error: { code: 'PROXY_BODY_TOO_LARGE' } });
    // Chunked (no Content-Length): counted while reading.
    const chunked = await fetch(`${h.proxyUrl}/v1/modelslab/api/v6/video/text2video`, {
      method: 'POST',
      headers: { ...auth, 'Content-Type': 'application/json' },
      body: new Blob([big]).stream(),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).toBe(413);
    expect(h.dashscope.requests.length + h.modelslab.requests.length).toBe(0);
  });

  it('rate limit engages per client with Retry-After, and refills', async () => {
    let now = 1_000_000;
    const h = await harness({ proxy: { rateLimit: { burst: 3, perSecond: 0.5 }, now: () => now } });
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/t${i}`, { headers: auth })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/t9`, { headers: auth });
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(await limited.json()).toMatchObject({ error: { code: 'PROXY_RATE_LIMITED' } });
    now += 2000;
    expect((await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/t10`, { headers: auth })).status).toBe(200);
  });

  it('a provider without a key is 503 PROXY_NOT_CONFIGURED, naming the env variable but no secret', async () => {
    const h = await harness({ proxy: { dashscopeApiKey: undefined } });
    const response = await fetch(`${h.proxyUrl}${CREATE}`, { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: createBody });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: { code: 'PROXY_NOT_CONFIGURED', message: 'DASHSCOPE_API_KEY is not set on the proxy' } });
    const health = (await (await fetch(`${h.proxyUrl}/healthz`)).json()) as unknown;
    expect(health).toEqual({ ok: true, providers: { dashscope: false, modelslab: true } });
  });

  it('never shows a key or the token in any response or log line, whatever happens', async () => {
    const h = await harness({ modelslab: { echoKey: true, processingFetches: 0 }, dashscope: { pendingPolls: 0, runningPolls: 0 } });
    const seen: string[] = [];
    const json = { ...auth, 'Content-Type': 'application/json' };
    seen.push(await visible(await fetch(`${h.proxyUrl}${CREATE}`, { method: 'POST', headers: json, body: createBody })));
    seen.push(await visible(await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/fake-task-1`, { headers: auth })));
    seen.push(await visible(await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/fake-task-1/cancel`, { method: 'POST', headers: auth })));
    seen.push(await visible(await fetch(`${h.proxyUrl}/v1/modelslab/api/v6/video/text2video`, { method: 'POST', headers: json, body: '{"prompt":"x"}' })));
    seen.push(await visible(await fetch(`${h.proxyUrl}/v1/modelslab/api/v6/video/fetch/81000`, { method: 'POST', headers: json, body: '{}' })));
    seen.push(await visible(await fetch(`${h.proxyUrl}/v1/modelslab/api/v6/video/text2video`, { method: 'POST', headers: json, body: 'not json' })));
    seen.push(await visible(await fetch(`${h.proxyUrl}/v1/dashscope/api/v1/tasks/x`, { headers: { Authorization: 'Bearer wrong' } })));
    expect(seen).toHaveLength(7);
    expect(h.logs.length).toBeGreaterThanOrEqual(7);
    for (const text of [...seen, ...h.logs]) {
      expect(text).not.toContain(FAKE_DASHSCOPE_KEY);
      expect(text).not.toContain(FAKE_MODELSLAB_KEY);
      expect(text).not.toContain(FAKE_PROXY_TOKEN);
    }
    // The upstream really did echo it: the redaction is what kept it out.
    expect(seen[3]).toContain('[redacted]');
  });

  it('redacts secrets from upstream failure log lines', async () => {
    const logs: string[] = [];
    const server = createProxyServer({
      dashscopeApiKey: FAKE_DASHSCOPE_KEY,
      dashscopeBaseUrl: 'http://127.0.0.1:9',
      log: (line) => logs.push(line),
      fetch: async () => {
        throw new Error(`connect failed for Bearer ${FAKE_DASHSCOPE_KEY}`);
      },
    });
    const url = await listen(server);
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const response = await fetch(`${url}/v1/dashscope/api/v1/tasks/abc`);
    expect(response.status).toBe(502);
    expect(await response.json()).toMatchObject({ error: { code: 'PROXY_UPSTREAM_UNREACHABLE' } });
    expect(logs.some((l) => l.includes('connect failed for Bearer [redacted]'))).toBe(true);
    expect(logs.join('\n')).not.toContain(FAKE_DASHSCOPE_KEY);
  });
});

describe('proxy configuration', () => {
  it('reads env, with defaults for unset or empty variables', () => {
    expect(proxyConfigFromEnv({})).toEqual({});
    expect(
      proxyConfigFromEnv({
        DASHSCOPE_API_KEY: 'a',
        MODELSLAB_API_KEY: '',
        KINEMA_DASHSCOPE_BASE_URL: 'https://dashscope-us.aliyuncs.com',
        KINEMA_PROXY_TOKEN: 't',
        KINEMA_PROXY_ORIGINS: 'https://a.example, https://b.example',
        KINEMA_PROXY_VIDEO_HOSTS: 'cdn.example',
      }),
    ).toEqual({
      dashscopeApiKey: 'a',
      dashscopeBaseUrl: 'https://dashscope-us.aliyuncs.com',
      token: 't',
      origins: ['https://a.example', 'https://b.example'],
      videoHosts: ['cdn.example'],
    });
    expect(() => createProxyServer({ dashscopeBaseUrl: 'dashscope.aliyuncs.com' })).toThrow(/absolute URL/);
  });

  it('startProxy listens on the requested host/port and reports what is configured, without secrets', async () => {
    const lines: string[] = [];
    const running = await startProxy({ port: 0, host: '127.0.0.1', env: { DASHSCOPE_API_KEY: FAKE_DASHSCOPE_KEY, KINEMA_PROXY_TOKEN: FAKE_PROXY_TOKEN }, log: (l) => lines.push(l) });
    cleanups.push(() => running.close());
    expect(running.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(lines[0]).toContain('dashscope: key set, modelslab: no key, token: required');
    expect(lines.join('\n')).not.toContain(FAKE_DASHSCOPE_KEY);
    expect((await fetch(`${running.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${running.url}/v1/dashscope/api/v1/tasks/x`)).status).toBe(401);
  });
});
