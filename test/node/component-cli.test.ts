// The component runner's command line: what it accepts, and the caller mistakes it refuses at once
// (exit code 2, a message saying how to fix the call) before any model is loaded.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError, parseComponentArgs } from '../../src/node/component-args';
import { main } from '../../src/node/component';
import { formatNpy, readNpy } from '../../src/node/npy';

const FIXTURES = join(import.meta.dirname, '../fixtures/schedulers/samplers');

const dir = mkdtempSync(join(tmpdir(), 'kinema-component-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function capture() {
  let out = '';
  let err = '';
  return {
    io: { stdout: { write: (t: string) => { out += t; } }, stderr: { write: (t: string) => { err += t; } } },
    get out() { return out; },
    get err() { return err; },
  };
}

async function run(argv: string[]) {
  const c = capture();
  const code = await main(argv, c.io);
  return { code, out: c.out, err: c.err };
}

const f32 = (shape: number[], fill = 0) => formatNpy({ dtype: 'float32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(fill) });

describe('component runner arguments', () => {
  it('parses each component\'s flags', () => {
    expect(parseComponentArgs(['text-encoder', '--model', 'm', '--in', 'i', '--out', 'o', '--weights', 'fp16'])).toEqual({ component: 'text-encoder', model: 'm', inDir: 'i', outDir: 'o', weights: 'fp16', seed: 0 });
    expect(parseComponentArgs(['text-encoder', '--model', 'm', '--prompt', 'a cat', '--out', 'o'])).toEqual({ component: 'text-encoder', model: 'm', prompt: 'a cat', outDir: 'o', seed: 0 });
    // The empty prompt (Wan's default negative prompt) is a valid input: guidance needs its embeddings.
    expect(parseComponentArgs(['text-encoder', '--model', 'm', '--prompt', '', '--out', 'o'])).toEqual({ component: 'text-encoder', model: 'm', prompt: '', outDir: 'o', seed: 0 });
    expect(parseComponentArgs(['denoiser', '--model=m', '--in=i', '--out=o'])).toEqual({ component: 'denoiser', model: 'm', inDir: 'i', outDir: 'o', seed: 0 });
    expect(parseComponentArgs(['decoder', '--model', 'm', '--in', 'i', '--out', 'o'])).toMatchObject({ component: 'decoder' });
    expect(parseComponentArgs(['scheduler', '--model', 'm', '--steps', '4', '--in', 'i', '--out', 'o'])).toEqual({ component: 'scheduler', model: 'm', steps: 4, inDir: 'i', outDir: 'o', seed: 0 });
    expect(parseComponentArgs(['scheduler', '--config', 'c.json', '--sampler', 'rcm', '--steps', '4', '--seed', '9', '--in', 'i', '--out', 'o'])).toEqual({ component: 'scheduler', config: 'c.json', sampler: 'rcm', steps: 4, seed: 9, inDir: 'i', outDir: 'o' });
    expect(parseComponentArgs(['--help'])).toBeNull();
  });

  it.each([
    [[], /name the component to run: one of text-encoder, denoiser, decoder, scheduler/],
    [['vae'], 'unknown component "vae": use one of text-encoder, denoiser, decoder, scheduler'],
    [['decoder', 'denoiser'], /one component at a time/],
    [['decoder', '--model', 'm', '--in', 'i'], /--out <folder> is required/],
    [['decoder', '--in', 'i', '--out', 'o'], /--model <folder> is required: the folder npm run convert wrote/],
    [['decoder', '--model', 'm', '--out', 'o'], /--in <folder> is required for decoder/],
    [['decoder', '--model', 'm', '--in', 'i', '--out', 'o', '--prompt', 'x'], /--prompt does not apply to decoder/],
    [['decoder', '--model', 'm', '--in', 'i', '--out', 'o', '--weights', 'bf16'], `--weights must be one of 'fp32', 'fp16', 'int8', 'int4'; got "bf16"`],
    [['decoder', '--model', 'm', '--in', 'i', '--out', 'o', '--frobnicate'], 'unknown option --frobnicate (see npm run component -- --help)'],
    [['decoder', '--model', 'm', '--in', 'i', '--out', 'o', '--in=j'], '--in was given twice'],
    [['decoder', '--model', 'm', '--in', 'i', '--out'], '--out needs a value'],
    // After a bare -- every word is positional, flags included (the shared parser's rule; this CLI used to refuse the --).
    [['decoder', '--model', 'm', '--in', 'i', '--out', 'o', '--', '--weights'], 'one component at a time; got "decoder" "--weights"'],
    [['text-encoder', '--model', 'm', '--out', 'o'], /give exactly one of them/],
    [['text-encoder', '--model', 'm', '--in', 'i', '--prompt', 'x', '--out', 'o'], /give exactly one of them/],
    [['scheduler', '--steps', '4', '--in', 'i', '--out', 'o'], /give exactly one of --model and --config/],
    [['scheduler', '--model', 'm', '--config', 'c', '--steps', '4', '--in', 'i', '--out', 'o'], /give exactly one of --model and --config/],
    [['scheduler', '--config', 'c', '--steps', '4', '--in', 'i', '--out', 'o'], /--config needs --sampler unipc\|flow-match-euler\|rcm/],
    [['scheduler', '--model', 'm', '--in', 'i', '--out', 'o'], /--steps <N> is required for scheduler/],
    [['scheduler', '--model', 'm', '--steps', '0', '--in', 'i', '--out', 'o'], '--steps must be an integer from 1 to 1000; got 0'],
    [['scheduler', '--model', 'm', '--steps', 'four', '--in', 'i', '--out', 'o'], '--steps must be an integer from 1 to 1000; got "four"'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseComponentArgs(argv)).toThrow(UsageError);
    expect(() => parseComponentArgs(argv)).toThrow(message);
  });

  it('exits 2 with the message for a mistake in the call, 0 with the usage for --help', async () => {
    const bad = await run(['vae', '--model', 'm']);
    expect(bad).toMatchObject({ code: 2, out: '' });
    expect(bad.err).toBe('component: unknown component "vae": use one of text-encoder, denoiser, decoder, scheduler\n');
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^Usage: npm run component -- <component>/);
  });

  it('names every missing input file and checks the input folder before loading anything', async () => {
    const inDir = join(dir, 'in-missing');
    mkdirSync(inDir);
    writeFileSync(join(inDir, 'timestep.npy'), f32([1]));
    const missing = await run(['denoiser', '--model', join(dir, 'no-model'), '--in', inDir, '--out', join(dir, 'o')]);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/denoiser reads hidden_states\.npy, encoder_hidden_states\.npy from --in .*in-missing, and they are not there/);
    const noFolder = await run(['decoder', '--model', join(dir, 'no-model'), '--in', join(dir, 'absent'), '--out', join(dir, 'o')]);
    expect(noFolder).toMatchObject({ code: 2 });
    expect(noFolder.err).toMatch(/--in .*absent: no such folder/);
  });

  it('scheduler: a missing model output per step, a shape that differs, and a bad --config', async () => {
    const inDir = join(dir, 'in-sched');
    mkdirSync(inDir);
    writeFileSync(join(inDir, 'latents.npy'), f32([1, 16, 1, 2, 2]));
    writeFileSync(join(inDir, 'model_output_000.npy'), f32([1, 16, 1, 2, 2]));
    writeFileSync(join(inDir, 'model_output_001.npy'), f32([1, 16, 1, 2, 3]));
    const config = join(dir, 'scheduler_config.json');
    writeFileSync(config, JSON.stringify({ num_train_timesteps: 1000, shift: 3 }));
    const three = await run(['scheduler', '--config', config, '--sampler', 'flow-match-euler', '--steps', '3', '--in', inDir, '--out', join(dir, 'o')]);
    expect(three.code).toBe(2);
    expect(three.err).toMatch(/scheduler reads model_output_002\.npy from --in .*, and it is not there \(--steps 3 needs one model output per step: model_output_000\.npy … model_output_002\.npy\)/);
    const shape = await run(['scheduler', '--config', config, '--sampler', 'flow-match-euler', '--steps', '2', '--in', inDir, '--out', join(dir, 'o')]);
    expect(shape.code).toBe(2);
    expect(shape.err).toMatch(/model_output_001\.npy must have the shape of latents\.npy \(1, 16, 1, 2, 2\); got \(1, 16, 1, 2, 3\)/);
    writeFileSync(join(dir, 'bad.json'), '{ nope');
    const badConfig = await run(['scheduler', '--config', join(dir, 'bad.json'), '--sampler', 'unipc', '--steps', '1', '--in', inDir, '--out', join(dir, 'o')]);
    expect(badConfig.code).toBe(2);
    expect(badConfig.err).toMatch(/bad\.json is not valid JSON/);
    const i64 = join(dir, 'in-i64');
    mkdirSync(i64);
    writeFileSync(join(i64, 'latents.npy'), formatNpy({ dtype: 'int64', shape: [2], data: new BigInt64Array(2) }));
    writeFileSync(join(i64, 'model_output_000.npy'), f32([2]));
    const dtype = await run(['scheduler', '--config', config, '--sampler', 'unipc', '--steps', '1', '--in', i64, '--out', join(dir, 'o')]);
    expect(dtype.code).toBe(2);
    expect(dtype.err).toMatch(/latents\.npy must be float32 \('<f4'\); got int64/);
  });
});

// The runner's scheduler against the Python reference samplers' fixtures (convert/kinema_convert/schedulers.py):
// the same initial sample and model outputs in, the same timesteps, sigmas and final sample out.
describe('component runner: scheduler vs the Python reference samplers', () => {
  const fixtures = readdirSync(FIXTURES).filter((f) => f.endsWith('.json'));
  it('has fixtures of every Wan sampler', () => {
    expect(new Set(fixtures.map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')).type))).toEqual(new Set(['unipc', 'rcm', 'flow-match-euler']));
  });

  it.each(fixtures)('%s', async (file) => {
    const fx = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as {
      type: string; config: Record<string, unknown>; steps: number; seed: number; shape: number[];
      timesteps: number[]; sigmas: number[]; sample: number[]; modelOutputs: number[][]; final: number[];
    };
    const inDir = join(dir, `sched-${file}`);
    mkdirSync(inDir);
    writeFileSync(join(inDir, 'latents.npy'), formatNpy({ dtype: 'float32', shape: fx.shape, data: Float32Array.from(fx.sample) }));
    fx.modelOutputs.forEach((output, i) => {
      writeFileSync(join(inDir, `model_output_${String(i).padStart(3, '0')}.npy`), formatNpy({ dtype: 'float32', shape: fx.shape, data: Float32Array.from(output) }));
    });
    const config = join(inDir, 'scheduler_config.json');
    writeFileSync(config, JSON.stringify(fx.config));
    const out = join(inDir, 'out');
    const run = await main(['scheduler', '--config', config, '--sampler', fx.type, '--steps', String(fx.steps), '--seed', String(fx.seed), '--in', inDir, '--out', out], capture().io);
    expect(run).toBe(0);
    const close = (got: ArrayLike<number>, want: readonly number[], what: string) => {
      expect(got.length, what).toBe(want.length);
      const scale = Math.max(...want.map(Math.abs));
      for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!), `${what}[${i}]`).toBeLessThanOrEqual(1e-6 * Math.max(scale, 1e-30));
    };
    close((await readNpy(join(out, 'timesteps.npy'), { dtype: 'float32', shape: [fx.steps] })).data, fx.timesteps.map(Math.fround), 'timesteps');
    close((await readNpy(join(out, 'sigmas.npy'), { dtype: 'float32', shape: [fx.steps + 1] })).data, fx.sigmas.map(Math.fround), 'sigmas');
    close((await readNpy(join(out, 'latents_final.npy'), { dtype: 'float32', shape: fx.shape })).data, fx.final, 'latents_final');
  });

  it('takes the sampler and its config from a model manifest with --model', async () => {
    const fx = JSON.parse(readFileSync(join(FIXTURES, 'unipc-wan21-4.json'), 'utf8'));
    const modelDir = join(dir, 'sched-model');
    mkdirSync(modelDir);
    const manifest = JSON.parse(readFileSync(join(import.meta.dirname, '../../public/models/kinema-micro/manifest.json'), 'utf8'));
    writeFileSync(join(modelDir, 'manifest.json'), JSON.stringify({ ...manifest, scheduler: { type: 'flow-match-euler', config: { num_train_timesteps: 1000, shift: 3 } } }));
    const inDir = join(dir, 'sched-fixture-in');
    mkdirSync(inDir);
    writeFileSync(join(inDir, 'latents.npy'), formatNpy({ dtype: 'float32', shape: fx.shape, data: Float32Array.from(fx.sample) }));
    writeFileSync(join(inDir, 'model_output_000.npy'), formatNpy({ dtype: 'float32', shape: fx.shape, data: Float32Array.from(fx.modelOutputs[0]) }));
    const out = join(dir, 'sched-model-out');
    expect(await main(['scheduler', '--model', modelDir, '--steps', '1', '--in', inDir, '--out', out], capture().io)).toBe(0);
    // One Euler step from σ0 to 0: x + (0 − σ0)·v.
    const sigmas = (await readNpy(join(out, 'sigmas.npy'))).data as Float32Array;
    expect(sigmas[1]).toBe(0);
    const final = (await readNpy(join(out, 'latents_final.npy'))).data as Float32Array;
    expect(final[0]).toBeCloseTo(fx.sample[0] - sigmas[0]! * fx.modelOutputs[0][0], 5);
  });
});
