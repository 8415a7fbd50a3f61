/** Fake cloud providers on 127.0.0.1 (ephemeral ports) for Node and browser end-to-end tests. */
export { startFakeDashScope, FAKE_DASHSCOPE_KEY } from './fake-dashscope';
export type { FakeDashScope, FakeDashScopeOptions, FakeDashScopeOutcome } from './fake-dashscope';
export { startFakeModelsLab, FAKE_MODELSLAB_KEY } from './fake-modelslab';
export type { FakeModelsLab, FakeModelsLabOptions, FakeModelsLabOutcome } from './fake-modelslab';
export { startFakeServer } from './fake-server';
export type { FakeServer, RecordedRequest } from './fake-server';
export { createFakeClock, trackFetch } from './fake-clock';
export type { FakeClock } from './fake-clock';
export { tinyMp4, TINY_MP4_PATH } from './tiny-video';
export { startProxyHarness, listen, FAKE_PROXY_TOKEN } from './proxy-harness';
export type { ProxyHarness } from './proxy-harness';
export { createFakeWorkers } from './fake-workers';
export type { FakeWorkers } from './fake-workers';
