// `kinema generate --backend cloud` through the real proxy to a fake DashScope (no internet).
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAKE_DASHSCOPE_KEY, FAKE_PROXY_TOKEN, startProxyHarness } from '../support/fakes';

type Harness = Awaited<ReturnType<typeof startProxyHarness>>;
let harness: Harness;
const dir = mkdtempSync(join(tmpdir(), 'kinema-cloud-'));
beforeAll(async () => { harness = await startProxyHarness(); });
afterAll(async () => { await harness?.close(); rmSync(dir, { recursive: true, force: true }); });

// Asynchronous on purpose: the fake servers answer from this same process.
function kinema(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['bin/kinema.mjs', ...args], { env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

describe('kinema generate --backend cloud', () => {
  it('gets an MP4 from the provider through the proxy, and no key ever reaches the page', async () => {
    const out = join(dir, 'cloud.mp4');
    const run = await kinema(['generate', 'a lighthouse at dusk, waves', '--backend', 'cloud', '--provider', 'dashscope', '--proxy', harness.proxyUrl,
      '--proxy-token', FAKE_PROXY_TOKEN, '--cloud-model', 'wan2.2-t2v-plus', '--seed', '42', '--out', out, '--json']);
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(result).toMatchObject({ backend: 'cloud', provider: 'dashscope', model: 'wan2.2-t2v-plus', seed: 42, format: 'mp4', path: out });
    expect(result.codec).toMatch(/^avc1/);
    const probe = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'csv=p=0', out], { encoding: 'utf8' });
    expect(probe.trim()).toBe('h264');
    // The provider saw the key (added by the proxy); the page, the command and the proxy's log never did.
    const create = harness.dashscope.requests.find((r) => r.method === 'POST');
    expect(create?.headers.authorization).toBe(`Bearer ${FAKE_DASHSCOPE_KEY}`);
    expect(JSON.parse(create!.body).parameters.seed).toBe(42);
    expect(run.stdout + run.stderr + harness.logs.join('\n')).not.toContain(FAKE_DASHSCOPE_KEY);
  }, 200_000);

  it('reports a provider refusal as one line with its code', async () => {
    const run = await kinema(['generate', 'something [fake:moderation]', '--backend', 'cloud', '--provider', 'dashscope', '--proxy', harness.proxyUrl, '--proxy-token', FAKE_PROXY_TOKEN, '--out', join(dir, 'no.mp4')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^kinema: PROVIDER_MODERATION: /m);
  }, 200_000);

  it('reports a wrong proxy token as an auth failure', async () => {
    const run = await kinema(['generate', 'x', '--backend', 'cloud', '--provider', 'dashscope', '--proxy', harness.proxyUrl, '--proxy-token', 'wrong', '--out', join(dir, 'no2.mp4')]);
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/^kinema: PROVIDER_AUTH: /m);
  }, 200_000);
});
