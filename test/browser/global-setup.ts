// Runs in Node before the browser tests: a real kinema proxy in front of fake providers, for the
// cloud tests. Its URL and token reach the tests through vitest's provide/inject.
import type { TestProject } from 'vitest/node';
import { FAKE_PROXY_TOKEN, startProxyHarness } from '../support/fakes';

declare module 'vitest' {
  export interface ProvidedContext {
    cloudProxyUrl: string;
    cloudProxyToken: string;
  }
}

export default async function setup(project: TestProject) {
  const harness = await startProxyHarness();
  project.provide('cloudProxyUrl', harness.proxyUrl);
  project.provide('cloudProxyToken', FAKE_PROXY_TOKEN);
  return () => harness.close();
}
