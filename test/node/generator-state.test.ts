// createVideoGenerator as a state machine, driven with a fake Engine whose calls the test settles by hand.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLOUD_FALLBACK_CODES, createVideoGenerator } from '../../src/api/generator';
import { KINEMA_ERROR_CODES, KinemaError, type KinemaErrorCode } from '../../src/errors';
import type { GeneratorOptions, VideoGenerator } from '../../src/api/types';
import { createFakeEngine, fakeLoadInfo, fakeResult, type FakeEngine } from '../support/fakes/fake-engine';
import { createFakeWorkers, startFakeServer, startProxyHarness, FAKE_PROXY_TOKEN, type FakeServer, type ProxyHarness } from '../support/fakes';

const manifestJson = readFileSync(new URL('../../public/models/kinema-micro/manifest.json', import.meta.url), 'utf8');

// The model's manifest, served over HTTP; `hold()` keeps the next answers back until `release()`.
let models: FakeServer;
let held: (() => void)[] | undefined;
const hold = () => { held = []; };
const release = () => { const waiting = held ?? []; held = undefined; waiting.forEach((go) => go()); };
// A fake proxy that counts requests and refuses them all (401), or keeps them hanging when `hangCloud`.
let proxy: FakeServer;
let hangCloud = false;
let harness: ProxyHarness;

beforeAll(async () => {
  models = await startFakeServer(async (_request, res) => {
    if (held) await new Promise<void>((go) => held!.push(go));
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(manifestJson);
  });
  proxy = await startFakeServer(async (_request, res) => {
    if (hangCloud) return; // never answers; the client's abort closes the connection
    res.writeHead(401, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: { code: 'PROVIDER_AUTH', message: 'refused by the fake proxy' } }));
  });
  harness = await startProxyHarness({ dashscope: { pendingPolls: 0, runningPolls: 0 } });
});
afterAll(async () => {
  release();
  await Promise.all([models.close(), proxy.close(), harness.close()]);
});

const model = () => `${models.url}/kinema-micro/manifest.json`;
const cloud = () => ({ provider: 'dashscope' as const, proxyUrl: proxy.url, proxyToken: FAKE_PROXY_TOKEN });

function setup(extra: Partial<GeneratorOptions> = {}, engineOptions: { ignoreSignals?: boolean } = {}): { fake: FakeEngine; generator: VideoGenerator } {
  const fake = createFakeEngine(engineOptions);
  const generator = createVideoGenerator({ model: model(), backend: 'wasm', cache: 'memory', engine: fake.engine, ...extra });
  return { fake, generator };
}

const failure = (promise: Promise<unknown>) => promise.then(() => { throw new Error('expected a rejection'); }, (error: unknown) => error);
const codeOf = async (promise: Promise<unknown>) => ((await failure(promise)) as KinemaError).code;
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('generator state machine', () => {
  it('walks idle → loading → ready → generating → ready', async () => {
    const { fake, generator } = setup();
    expect(generator.state).toBe('idle');
    const loading = generator.load();
    expect(generator.state).toBe('loading');
    (await fake.next('load')).resolve(fakeLoadInfo());
    await expect(loading).resolves.toMatchObject({ backend: 'wasm', model: 'fake-model' });
    expect(generator.state).toBe('ready');
    const generating = generator.generate({ prompt: 'a red circle moving right', format: 'frames' });
    expect(generator.state).toBe('generating');
    (await fake.next('generate')).resolve(fakeResult());
    await expect(generating).resolves.toMatchObject({ backend: 'wasm' });
    expect(generator.state).toBe('ready');
    expect(fake.count('load')).toBe(1);
    const disposing = generator.dispose();
    expect(generator.state).toBe('disposed');
    (await fake.next('dispose')).resolve();
    await disposing;
  });

  it('shares one load between concurrent load() calls', async () => {
    const { fake, generator } = setup();
    const a = generator.load();
    const b = generator.load();
    (await fake.next('load')).resolve(fakeLoadInfo());
    expect(await a).toEqual(await b);
    expect(fake.count('load')).toBe(1);
    expect(generator.state).toBe('ready');
  });

  it('lets generate() join a load under way, and keeps the state generating until it ends', async () => {
    const { fake, generator } = setup();
    const loading = generator.load();
    const generating = generator.generate({ prompt: 'a blue square', format: 'frames' });
    expect(generator.state).toBe('generating');
    (await fake.next('load')).resolve(fakeLoadInfo());
    await loading;
    expect(generator.state).toBe('generating'); // the load's end must not write 'ready' over it
    expect(await codeOf(generator.load())).toBe('BUSY');
    (await fake.next('generate')).resolve(fakeResult());
    await generating;
    expect(generator.state).toBe('ready');
    expect(fake.count('load')).toBe(1);
  });

  it('refuses load() and generate() while generating with BUSY, as rejections, leaving the running call alone', async () => {
    const { fake, generator } = setup();
    const generating = generator.generate({ prompt: 'a green triangle', format: 'frames' });
    const busyLoad = generator.load();
    const busyGenerate = generator.generate({ prompt: 'x', format: 'frames' });
    expect(busyLoad).toBeInstanceOf(Promise);
    expect(await codeOf(busyLoad)).toBe('BUSY');
    expect(await codeOf(busyGenerate)).toBe('BUSY');
    expect(await codeOf(generator.clearCache())).toBe('BUSY');
    expect(generator.state).toBe('generating');
    (await fake.next('load')).resolve(fakeLoadInfo());
    (await fake.next('generate')).resolve(fakeResult());
    await generating;
    expect(generator.state).toBe('ready');
    expect(fake.count('generate')).toBe(1);
  });

  it('still throws argument mistakes synchronously, in every state', async () => {
    const { generator } = setup();
    expect(() => generator.generate({ prompt: '' })).toThrow(RangeError);
    expect(() => generator.load(5 as never)).toThrow(TypeError);
    await generator.dispose();
    expect(() => generator.generate({ prompt: '' })).toThrow(RangeError);
  });

  it('rests in the right state after each failure', async () => {
    const { fake, generator } = setup();
    const failedLoad = generator.load();
    (await fake.next('load')).reject(new KinemaError('DOWNLOAD_FAILED', 'network down'));
    expect(await codeOf(failedLoad)).toBe('DOWNLOAD_FAILED');
    expect(generator.state).toBe('idle');
    const loaded = generator.load();
    (await fake.next('load')).resolve(fakeLoadInfo());
    await loaded;
    const failedGenerate = generator.generate({ prompt: 'a circle', format: 'frames' });
    (await fake.next('generate')).reject(new KinemaError('BACKEND_FAILED', 'kernel failed'));
    expect(await codeOf(failedGenerate)).toBe('BACKEND_FAILED');
    expect(generator.state).toBe('ready');
    const limits = generator.generate({ prompt: 'x', numFrames: 99 });
    await expect(limits).rejects.toBeInstanceOf(RangeError);
    expect(generator.state).toBe('ready');
  });

  it("one caller's abort ends only its own wait on a shared load; the load stops when every caller has left", async () => {
    const { fake, generator } = setup();
    const first = new AbortController();
    const a = generator.load({ signal: first.signal });
    const b = generator.load();
    const load = await fake.next('load');
    first.abort();
    expect(await codeOf(a)).toBe('ABORTED');
    expect(load.signal!.aborted).toBe(false);
    expect(generator.state).toBe('loading');
    load.resolve(fakeLoadInfo());
    await expect(b).resolves.toMatchObject({ backend: 'wasm' });

    const other = setup();
    const only = new AbortController();
    const c = other.generator.load({ signal: only.signal });
    const lonely = await other.fake.next('load');
    only.abort();
    expect(await codeOf(c)).toBe('ABORTED');
    expect(lonely.signal!.aborted).toBe(true);
    expect(other.generator.state).toBe('idle');
  });

  it('removes every abort listener it adds: one signal reused for 100 calls holds none afterwards', async () => {
    const { fake, generator } = setup();
    const controller = new AbortController();
    const signal = controller.signal;
    const live = new Set<unknown>();
    const add = signal.addEventListener.bind(signal);
    const remove = signal.removeEventListener.bind(signal);
    signal.addEventListener = ((type: string, listener: EventListener, options?: AddEventListenerOptions) => { live.add(listener); add(type, listener, options); }) as typeof signal.addEventListener;
    signal.removeEventListener = ((type: string, listener: EventListener) => { live.delete(listener); remove(type, listener); }) as typeof signal.removeEventListener;
    const loading = generator.load({ signal });
    (await fake.next('load')).resolve(fakeLoadInfo());
    await loading;
    for (let i = 0; i < 100; i++) {
      const pending = generator.generate({ prompt: `clip ${i}`, format: 'frames' }, { signal });
      (await fake.next('generate')).resolve(fakeResult());
      await pending;
    }
    expect(fake.count('generate')).toBe(100);
    expect(live.size).toBe(0);
  });
});

describe('dispose at every stage', () => {
  async function expectDeadAfterDispose(fake: FakeEngine, generator: VideoGenerator) {
    const before = fake.calls.length;
    for (const call of [generator.load(), generator.generate({ prompt: 'x', format: 'frames' }), generator.capabilities(), generator.isCached(), generator.clearCache()]) {
      expect(call).toBeInstanceOf(Promise);
      expect(await codeOf(call)).toBe('DISPOSED');
    }
    expect(generator.state).toBe('disposed');
    expect(fake.calls.slice(before).map((c) => c.method)).toEqual([]); // nothing reaches the engine again
  }

  it('during the manifest fetch: DISPOSED, and the engine is never asked to load', async () => {
    const { fake, generator } = setup({ backend: 'auto', cloud: cloud() });
    const before = proxy.requests.length;
    hold();
    const generating = generator.generate({ prompt: 'a boat', format: 'mp4' });
    await tick();
    await generator.dispose();
    expect(await codeOf(generating)).toBe('DISPOSED');
    release();
    await tick();
    expect(fake.count('load')).toBe(0);
    expect(proxy.requests.length).toBe(before);
    await expectDeadAfterDispose(fake, generator);
  });

  it('during the engine load: DISPOSED at once, the engine disposed, no cloud job even when the engine then reports a crash', async () => {
    const { fake, generator } = setup({ backend: 'auto', cloud: cloud() });
    const before = proxy.requests.length;
    const loading = generator.load();
    const generating = generator.generate({ prompt: 'a boat', format: 'mp4' });
    const load = await fake.next('load');
    const disposing = generator.dispose();
    expect(await codeOf(loading)).toBe('DISPOSED');
    expect(await codeOf(generating)).toBe('DISPOSED');
    expect(load.signal!.aborted).toBe(true);
    (await fake.next('dispose')).resolve();
    await disposing;
    load.reject(new KinemaError('WORKER_CRASHED', 'the kinema worker was terminated'));
    await tick();
    expect(proxy.requests.length).toBe(before);
    await expectDeadAfterDispose(fake, generator);
  });

  it('during generate: DISPOSED, never a cloud job, even when the engine rejects with a fallback code', async () => {
    const { fake, generator } = setup({ backend: 'auto', cloud: cloud() });
    const before = proxy.requests.length;
    const generating = generator.generate({ prompt: 'a boat', format: 'mp4' });
    (await fake.next('load')).resolve(fakeLoadInfo());
    const run = await fake.next('generate');
    const disposing = generator.dispose();
    (await fake.next('dispose')).resolve();
    await disposing;
    run.reject(new KinemaError('WORKER_CRASHED', 'the kinema worker was disposed'));
    expect(await codeOf(generating)).toBe('DISPOSED');
    expect(run.signal!.aborted).toBe(true);
    await tick();
    expect(proxy.requests.length).toBe(before);
    await expectDeadAfterDispose(fake, generator);
  });

  it('at once, even with an engine that ignores its signals and would still succeed', async () => {
    const { fake, generator } = setup({ backend: 'auto', cloud: cloud() }, { ignoreSignals: true });
    const loading = generator.load();
    const load = await fake.next('load');
    const disposing = generator.dispose();
    (await fake.next('dispose')).resolve();
    await disposing;
    expect(await Promise.race([codeOf(loading), tick().then(() => 'still pending')])).toBe('DISPOSED');
    load.resolve(fakeLoadInfo());
    await tick();
    expect(generator.state).toBe('disposed');

    const second = setup({}, { ignoreSignals: true });
    const generating = second.generator.generate({ prompt: 'a boat', format: 'frames' });
    (await second.fake.next('load')).resolve(fakeLoadInfo());
    const run = await second.fake.next('generate');
    const ending = second.generator.dispose();
    (await second.fake.next('dispose')).resolve();
    await ending;
    expect(await Promise.race([codeOf(generating), tick().then(() => 'still pending')])).toBe('DISPOSED');
    run.resolve(fakeResult());
    await expectDeadAfterDispose(second.fake, second.generator);
  });

  it('during the cloud fallback: DISPOSED at once, and the cloud request is abandoned', async () => {
    const { fake, generator } = setup({ backend: 'auto', cloud: cloud() });
    const before = proxy.requests.length;
    hangCloud = true;
    try {
      const generating = generator.generate({ prompt: 'a boat', format: 'mp4' });
      (await fake.next('load')).reject(new KinemaError('DEVICE_LIMITS', 'too small'));
      while (proxy.requests.length === before) await new Promise((resolve) => setTimeout(resolve, 10));
      const disposing = generator.dispose();
      expect(await codeOf(generating)).toBe('DISPOSED');
      expect(generator.state).toBe('disposed');
      disposing.catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(proxy.requests.length).toBe(before + 1); // the submit that was under way, nothing after it
      await expectDeadAfterDispose(fake, generator);
    } finally {
      hangCloud = false;
    }
  });
});

describe('cloud fallback only for the documented codes', () => {
  const never = KINEMA_ERROR_CODES.filter((code) => !CLOUD_FALLBACK_CODES.has(code));

  it('lists the codes that never fall back, including every caller-side and model-side one', () => {
    for (const code of ['INVALID_REQUEST', 'INVALID_MANIFEST', 'MODEL_NOT_FOUND', 'ABORTED', 'DISPOSED', 'BUSY', 'INTERNAL'] as KinemaErrorCode[]) expect(never).toContain(code);
    for (const code of CLOUD_FALLBACK_CODES) expect(KINEMA_ERROR_CODES).toContain(code);
  });

  it("README's API section lists exactly these codes", () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const paragraph = /only failures that mean local generation cannot work here go to the cloud \(([^)]*)\)/.exec(readme.replace(/\s+/g, ' '));
    expect(paragraph).not.toBeNull();
    expect(paragraph![1]!.match(/[A-Z_]+/g)!.sort()).toEqual([...CLOUD_FALLBACK_CODES].sort());
  });

  it.each([...CLOUD_FALLBACK_CODES])('%s from the local load goes to the cloud', async (code) => {
    const { fake, generator } = setup({ backend: 'auto', cloud: cloud() });
    const before = proxy.requests.length;
    const generating = generator.generate({ prompt: 'a boat', format: 'mp4' });
    (await fake.next('load')).reject(new KinemaError(code, `local failed with ${code}`));
    expect(await codeOf(generating)).toBe('PROVIDER_AUTH'); // the fake proxy's answer: the cloud was asked
    expect(proxy.requests.length).toBeGreaterThan(before);
  });

  it.each(never)('%s from the local engine never reaches the cloud', async (code) => {
    const { fake, generator } = setup({ backend: 'auto', cloud: cloud() });
    const before = proxy.requests.length;
    const generating = generator.generate({ prompt: 'a boat', format: 'mp4' });
    (await fake.next('load')).resolve(fakeLoadInfo());
    (await fake.next('generate')).reject(new KinemaError(code, `local failed with ${code}`));
    expect(await codeOf(generating)).toBe(code);
    await tick();
    expect(proxy.requests.length).toBe(before);
    expect(generator.state).toBe('ready');
  });

  it('keeps the local failure for a format the cloud cannot return (frames, webm)', async () => {
    for (const format of ['frames', 'webm'] as const) {
      const { fake, generator } = setup({ backend: 'auto', cloud: cloud() });
      const before = proxy.requests.length;
      const generating = generator.generate({ prompt: 'a boat', format });
      (await fake.next('load')).reject(new KinemaError('DEVICE_LIMITS', 'too small'));
      expect(await codeOf(generating)).toBe('DEVICE_LIMITS');
      expect(proxy.requests.length).toBe(before);
    }
  });

  it('never falls back for a TypeError or RangeError from the engine, nor after the caller aborts', async () => {
    const { fake, generator } = setup({ backend: 'auto', cloud: cloud() });
    const before = proxy.requests.length;
    const a = generator.generate({ prompt: 'a boat', format: 'mp4' });
    (await fake.next('load')).resolve(fakeLoadInfo());
    (await fake.next('generate')).reject(new RangeError('bad size'));
    await expect(a).rejects.toBeInstanceOf(RangeError);
    const controller = new AbortController();
    const b = generator.generate({ prompt: 'a boat', format: 'mp4' }, { signal: controller.signal });
    const run = await fake.next('generate');
    controller.abort();
    expect(await codeOf(b)).toBe('ABORTED');
    expect(run.settled).toBe(true);
    await tick();
    expect(proxy.requests.length).toBe(before);
  });

  it('a load that falls back leaves the generator ready for the cloud, and a full fallback returns a cloud clip', async () => {
    const fake = createFakeEngine();
    const generator = createVideoGenerator({ model: model(), backend: 'auto', cache: 'memory', engine: fake.engine, cloud: { provider: 'dashscope', proxyUrl: harness.proxyUrl, proxyToken: FAKE_PROXY_TOKEN } });
    const loading = generator.load();
    (await fake.next('load')).reject(new KinemaError('DEVICE_LIMITS', 'too small'));
    await expect(loading).resolves.toMatchObject({ backend: 'cloud' });
    expect(generator.state).toBe('ready');
    const result = await generator.generate({ prompt: 'fireworks', seed: 4 });
    expect(result).toMatchObject({ backend: 'cloud', seed: 4 });
    expect(harness.dashscope.requests.length).toBeGreaterThan(0);
    expect(fake.count('generate')).toBe(0);
    expect(generator.state).toBe('ready');
  }, 30_000);
});

describe('DEVICE_LOST: the engine in a worker of its own is replaced', () => {
  const lost = () => new KinemaError('DEVICE_LOST', 'the GPU device was lost (destroyed)');
  function withWorkers(extra: Partial<GeneratorOptions> = {}) {
    const workers = createFakeWorkers();
    const generator = createVideoGenerator({ model: model(), backend: 'wasm', cache: 'cache-api', worker: workers.factory, ...extra });
    return { workers, generator };
  }
  // dispose() asks the live worker's engine to dispose (and waits a moment for it): answer it.
  async function end(generator: VideoGenerator, live?: FakeEngine) {
    const disposing = generator.dispose();
    if (live) (await live.next('dispose')).resolve();
    await disposing;
  }

  it('generate: rejects DEVICE_LOST, terminates the worker, rests idle; the next generate() reloads in a fresh worker and succeeds', async () => {
    const { workers, generator } = withWorkers();
    const first = generator.generate({ prompt: 'a red circle moving right', format: 'frames' });
    const old = await workers.started(0);
    (await old.next('load')).resolve(fakeLoadInfo());
    (await old.next('generate')).reject(lost());
    const error = (await failure(first)) as KinemaError;
    expect(error.code).toBe('DEVICE_LOST');
    expect(error.message).toMatch(/next call starts a fresh worker/);
    expect(generator.state).toBe('idle');
    expect(workers.terminated).toEqual([true]);

    const second = generator.generate({ prompt: 'a red circle moving right', format: 'frames' });
    expect(generator.state).toBe('generating');
    const fresh = await workers.started(1);
    const reload = await fresh.next('load');
    expect(reload.args).toEqual(old.calls.find((c) => c.method === 'load')!.args); // the same model, cache and backend
    reload.resolve(fakeLoadInfo({ downloadedBytes: 0 }));
    (await fresh.next('generate')).resolve(fakeResult());
    await expect(second).resolves.toMatchObject({ backend: 'wasm', format: 'frames' });
    expect(generator.state).toBe('ready');
    expect(workers.engines).toHaveLength(2);
    expect(old.count('generate')).toBe(1);
    await end(generator, fresh);
  });

  it('load: rejects DEVICE_LOST and terminates the worker; the next load() starts a fresh one', async () => {
    const { workers, generator } = withWorkers();
    const first = generator.load();
    const old = await workers.started(0);
    (await old.next('load')).reject(lost());
    expect(await codeOf(first)).toBe('DEVICE_LOST');
    expect(generator.state).toBe('idle');
    expect(workers.terminated).toEqual([true]);
    const again = generator.load();
    expect(generator.state).toBe('loading');
    (await (await workers.started(1)).next('load')).resolve(fakeLoadInfo());
    await expect(again).resolves.toMatchObject({ backend: 'wasm' });
    expect(generator.state).toBe('ready');
    expect(workers.terminated).toEqual([true, false]);
    await end(generator, workers.engines[1]);
  });

  it('a call still pending on the lost worker ends with DEVICE_LOST too', async () => {
    const { workers, generator } = withWorkers();
    const generating = generator.generate({ prompt: 'a square', format: 'frames' });
    const old = await workers.started(0);
    (await old.next('load')).resolve(fakeLoadInfo());
    const run = await old.next('generate');
    const cached = generator.isCached();
    await old.next('isCached'); // reached the old worker, unanswered
    run.reject(lost());
    expect(await codeOf(generating)).toBe('DEVICE_LOST');
    expect(await codeOf(cached)).toBe('DEVICE_LOST');
    await end(generator);
  });

  it('other failures keep the worker and the loaded model', async () => {
    const { workers, generator } = withWorkers();
    const first = generator.generate({ prompt: 'a circle', format: 'frames' });
    const only = await workers.started(0);
    (await only.next('load')).resolve(fakeLoadInfo());
    (await only.next('generate')).reject(new KinemaError('BACKEND_FAILED', 'kernel failed'));
    expect(await codeOf(first)).toBe('BACKEND_FAILED');
    expect(generator.state).toBe('ready');
    const second = generator.generate({ prompt: 'a circle', format: 'frames' });
    (await only.next('generate')).resolve(fakeResult());
    await second;
    expect(workers.engines).toHaveLength(1);
    expect(workers.terminated).toEqual([false]);
    expect(only.count('load')).toBe(1);
    await end(generator, only);
  });

  it('dispose() after DEVICE_LOST starts no worker again', async () => {
    const { workers, generator } = withWorkers();
    const first = generator.generate({ prompt: 'a circle', format: 'frames' });
    const old = await workers.started(0);
    (await old.next('load')).resolve(fakeLoadInfo());
    (await old.next('generate')).reject(lost());
    expect(await codeOf(first)).toBe('DEVICE_LOST');
    await end(generator);
    expect(await codeOf(generator.generate({ prompt: 'a circle', format: 'frames' }))).toBe('DISPOSED');
    expect(await codeOf(generator.load())).toBe('DISPOSED');
    expect(workers.engines).toHaveLength(1);
  });

  it("with 'auto' and a cloud, the lost call goes to the cloud, and the next call is local again in a fresh worker", async () => {
    const { workers, generator } = withWorkers({ backend: 'auto', cloud: cloud() });
    const before = proxy.requests.length;
    const first = generator.generate({ prompt: 'a boat', format: 'mp4' });
    const old = await workers.started(0);
    (await old.next('load')).resolve(fakeLoadInfo());
    (await old.next('generate')).reject(lost());
    expect(await codeOf(first)).toBe('PROVIDER_AUTH'); // the fake proxy's answer: the cloud was asked
    expect(proxy.requests.length).toBeGreaterThan(before);
    const second = generator.generate({ prompt: 'a boat', format: 'frames' });
    const fresh = await workers.started(1);
    (await fresh.next('load')).resolve(fakeLoadInfo());
    (await fresh.next('generate')).resolve(fakeResult());
    await expect(second).resolves.toMatchObject({ backend: 'wasm' });
    await end(generator, fresh);
  });

  it('an engine the caller supplied is not replaced: the error is passed on and the same engine serves the next call', async () => {
    const { fake, generator } = setup();
    const first = generator.generate({ prompt: 'a circle', format: 'frames' });
    (await fake.next('load')).resolve(fakeLoadInfo());
    (await fake.next('generate')).reject(lost());
    const error = (await failure(first)) as KinemaError;
    expect(error.code).toBe('DEVICE_LOST');
    expect(error.message).toBe('the GPU device was lost (destroyed)');
    expect(generator.state).toBe('ready');
    const second = generator.generate({ prompt: 'a circle', format: 'frames' });
    (await fake.next('generate')).resolve(fakeResult());
    await second;
    expect(fake.count('load')).toBe(1);
    expect(fake.count('dispose')).toBe(0);
  });
});
