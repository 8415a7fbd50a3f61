/**
 * Command-line parsing for `npm run component -- <component> …` (the component runner, ./component.ts).
 * Pure apart from nothing: file checks happen in the runner, before any model is loaded. Usage errors
 * throw UsageError (exit code 2).
 */
import { LIMITS, checkLimit, checkOneOf } from '../contract';
import { UsageError, asUsage, parseFlags, type FlagTable } from './flags';

export { UsageError };

/** Command-line names → manifest component keys (the scheduler is the manifest's `scheduler` section). */
export const RUNNER_COMPONENTS = {
  'text-encoder': 'textEncoder',
  denoiser: 'denoiser',
  decoder: 'vaeDecoder',
  scheduler: 'scheduler',
} as const;

export type RunnerComponent = keyof typeof RUNNER_COMPONENTS;

export const WEIGHT_CHOICES = ['fp32', 'fp16', 'int8', 'int4'] as const;
export type WeightChoice = (typeof WEIGHT_CHOICES)[number];

export interface ComponentArgs {
  component: RunnerComponent;
  /** The converted model's folder (absolute or relative to the working directory). */
  model?: string;
  /** Folder with the input .npy files. */
  inDir?: string;
  outDir: string;
  /** Which stored weights to run (default: the manifest's fp32 variant where there is one). */
  weights?: WeightChoice;
  /** text-encoder: tokenize this prompt instead of reading input_ids.npy/attention_mask.npy. */
  prompt?: string;
  /** scheduler: number of steps. */
  steps?: number;
  /** scheduler: a diffusers scheduler_config.json, instead of --model. */
  config?: string;
  /** scheduler: the sampler type when --config is given (the manifest names it otherwise). */
  sampler?: 'unipc' | 'flow-match-euler' | 'rcm';
  /** scheduler: seed of the samplers that draw noise (rCM's re-noising). */
  seed: number;
}

export const COMPONENT_USAGE = `Usage: npm run component -- <component> [options]
Runs one component of a converted model through kinema's own code (onnxruntime-web wasm in Node),
reading and writing NumPy .npy files (float32 / int64, C order).

  text-encoder  --model DIR (--in DIR | --prompt "…") --out DIR
      in:  input_ids.npy, attention_mask.npy   [1, L] int64 (L = the manifest's tokenizer.maxLength, 512 for Wan)
      out: prompt_embeds.npy [1, L, D] float32 (zero past the prompt's tokens); with --prompt also input_ids.npy, attention_mask.npy
  denoiser      --model DIR --in DIR --out DIR
      in:  hidden_states.npy [1, 16, T, H, W], timestep.npy [1] (1000·σ), encoder_hidden_states.npy [1, L, textDim]
      out: sample.npy (the velocity, the shape of hidden_states)
  decoder       --model DIR --in DIR --out DIR
      in:  latents.npy [1, 16, T, H, W] (the denoiser's latent space)
      out: frames.npy [4T−3, 8H, 8W, 3] float32 in [0, 1]
  scheduler     (--model DIR | --config scheduler_config.json --sampler unipc|flow-match-euler|rcm) --steps N --in DIR --out DIR
      in:  latents.npy, model_output_000.npy, model_output_001.npy, … (one per step, the latents' shape)
      out: timesteps.npy, sigmas.npy, latents_final.npy

Options:
  --weights fp32|fp16|int8|int4  which stored weights to run (default fp32 when the model has them)
  --seed <N>              scheduler: seed of the re-noising of rcm (default 0)`;

const FLAGS: FlagTable = {
  values: new Set(['--model', '--in', '--out', '--weights', '--prompt', '--steps', '--config', '--sampler', '--seed']),
  switches: new Set(['--help', '-h']),
  help: 'npm run component -- --help',
};

const numeric = (value: string): number | string => (value.trim() === '' || Number.isNaN(Number(value)) ? value : Number(value));

/** Parses the arguments after `component`. Returns null when help was asked for. */
export function parseComponentArgs(argv: readonly string[]): ComponentArgs | null {
  const { values, switches, positional } = parseFlags(argv, FLAGS);
  if (switches.has('--help') || switches.has('-h')) return null;
  const names = Object.keys(RUNNER_COMPONENTS).join(', ');
  if (positional.length === 0) throw new UsageError(`name the component to run: one of ${names}, e.g. npm run component -- denoiser --model out/wan --in in/ --out out/`);
  if (positional.length > 1) throw new UsageError(`one component at a time; got ${positional.map((p) => `"${p}"`).join(' ')}`);
  const component = positional[0]!;
  if (!Object.hasOwn(RUNNER_COMPONENTS, component)) throw new UsageError(`unknown component "${component}": use one of ${names}`);
  const c = component as RunnerComponent;

  const get = (flag: string) => values.get(flag);
  const allowed: Record<RunnerComponent, string[]> = {
    'text-encoder': ['--model', '--in', '--out', '--weights', '--prompt'],
    denoiser: ['--model', '--in', '--out', '--weights'],
    decoder: ['--model', '--in', '--out', '--weights'],
    scheduler: ['--model', '--in', '--out', '--steps', '--config', '--sampler', '--seed'],
  };
  for (const flag of values.keys()) {
    if (!allowed[c].includes(flag)) throw new UsageError(`${flag} does not apply to ${c} (it takes ${allowed[c].join(', ')})`);
  }
  if (get('--out') === undefined) throw new UsageError(`--out <folder> is required: where ${c} writes its .npy files`);
  const args: ComponentArgs = { component: c, outDir: get('--out')!, seed: 0 };
  if (get('--weights') !== undefined) args.weights = asUsage(() => checkOneOf('--weights', get('--weights'), WEIGHT_CHOICES));

  if (c === 'scheduler') {
    if ((get('--model') === undefined) === (get('--config') === undefined)) {
      throw new UsageError('scheduler takes its configuration from --model <folder> (the manifest\'s scheduler) or from --config <scheduler_config.json> with --sampler: give exactly one of --model and --config');
    }
    if (get('--config') !== undefined) {
      if (get('--sampler') === undefined) throw new UsageError('--config needs --sampler unipc|flow-match-euler|rcm (a scheduler_config.json does not say which sampler kinema runs)');
      args.config = get('--config')!;
      args.sampler = asUsage(() => checkOneOf('--sampler', get('--sampler'), ['unipc', 'flow-match-euler', 'rcm'] as const));
    } else if (get('--sampler') !== undefined) {
      throw new UsageError('--sampler goes with --config; with --model the manifest names the sampler');
    } else {
      args.model = get('--model')!;
    }
    if (get('--steps') === undefined) throw new UsageError(`--steps <N> is required for scheduler (one model_output_NNN.npy per step), ${LIMITS.steps.min} to ${LIMITS.steps.max}`);
    args.steps = asUsage(() => checkLimit('--steps', numeric(get('--steps')!), LIMITS.steps));
    if (get('--seed') !== undefined) args.seed = asUsage(() => checkLimit('--seed', numeric(get('--seed')!), LIMITS.seed));
    if (get('--in') === undefined) throw new UsageError('--in <folder> is required for scheduler: it holds latents.npy and model_output_000.npy, …');
    args.inDir = get('--in')!;
    return args;
  }

  if (get('--model') === undefined) throw new UsageError(`--model <folder> is required: the folder npm run convert wrote (with manifest.json)`);
  args.model = get('--model')!;
  if (c === 'text-encoder') {
    if ((get('--in') === undefined) === (get('--prompt') === undefined)) {
      throw new UsageError('text-encoder reads --in <folder> (input_ids.npy, attention_mask.npy) or tokenizes --prompt "<text>": give exactly one of them');
    }
    if (get('--prompt') !== undefined) {
      // An empty prompt is allowed: it is Wan's default negative prompt, whose embeddings guidance needs.
      args.prompt = get('--prompt')!;
    } else {
      args.inDir = get('--in')!;
    }
    return args;
  }
  if (get('--in') === undefined) throw new UsageError(`--in <folder> is required for ${c}: the folder with its input .npy files`);
  args.inDir = get('--in')!;
  return args;
}
