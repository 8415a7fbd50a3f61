/**
 * Starts both fake providers and a kinema proxy in front of them, with the proxy's log captured.
 * Used by the Node proxy/cloud tests; a browser end-to-end test can use it from a global setup.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createProxyServer, type ProxyConfig } from '../../../src/node/proxy';
import { FAKE_DASHSCOPE_KEY, startFakeDashScope, type FakeDashScope, type FakeDashScopeOptions } from './fake-dashscope';
import { FAKE_MODELSLAB_KEY, startFakeModelsLab, type FakeModelsLab, type FakeModelsLabOptions } from './fake-modelslab';

export const FAKE_PROXY_TOKEN = 'kp-test-token-5f0c1d';

export interface ProxyHarness {
  proxyUrl: string;
  dashscope: FakeDashScope;
  modelslab: FakeModelsLab;
  logs: string[];
  close(): Promise<void>;
}

export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

export async function startProxyHarness(
  options: { dashscope?: FakeDashScopeOptions; modelslab?: FakeModelsLabOptions; proxy?: Partial<ProxyConfig> } = {},
): Promise<ProxyHarness> {
  const dashscope = await startFakeDashScope(options.dashscope);
  const modelslab = await startFakeModelsLab(options.modelslab);
  const logs: string[] = [];
  const server = createProxyServer({
    dashscopeApiKey: FAKE_DASHSCOPE_KEY,
    modelslabApiKey: FAKE_MODELSLAB_KEY,
    dashscopeBaseUrl: dashscope.url,
    modelslabBaseUrl: modelslab.url,
    token: FAKE_PROXY_TOKEN,
    log: (line) => logs.push(line),
    ...options.proxy,
  });
  const proxyUrl = await listen(server);
  return {
    proxyUrl,
    dashscope,
    modelslab,
    logs,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([dashscope.close(), modelslab.close()]);
    },
  };
}
