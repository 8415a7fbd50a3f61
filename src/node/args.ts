/** Command-line parsing for `kinema generate`. Pure: tested in Node. Usage errors throw UsageError. */
import { BACKEND_CHOICES, CLOUD_PROVIDER_NAMES, LIMITS, checkLimit, checkOneOf, type NumberLimit } from '../contract';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface GenerateArgs {
  prompt: string;
  out: string;
  json: boolean;
  options: { model?: string; backend?: 'auto' | 'webgpu' | 'wasm' | 'cloud'; cloud?: { provider: 'dashscope' | 'modelslab'; proxyUrl: string; proxyToken?: string; model?: string } };
  request: {
    prompt: string; negativePrompt?: string; seed?: number; steps?: number; guidanceScale?: number;
    numFrames?: number; fps?: number; outputScale?: number; format?: 'mp4' | 'webm';
  };
}

export const GENERATE_USAGE = `Usage: kinema generate "<prompt>" [options]
  --negative <text>       what the video should not show
  --seed <N>              ${LIMITS.seed.min}..${LIMITS.seed.max} (random when absent; always printed)
  --steps <N>             denoising steps (model default)
  --guidance <X>          classifier-free guidance scale (model default)
  --frames <N>            number of frames (model default)
  --fps <N>               frames per second, ${LIMITS.fps.min}..${LIMITS.fps.max} (model default)
  --scale <N>             integer upscale for viewing, ${LIMITS.outputScale.min}..${LIMITS.outputScale.max} (default 8)
  --format mp4|webm       container (default mp4)
  --backend auto|webgpu|wasm|cloud   (default auto)
  --model <id or URL>     built-in model id or manifest URL (default kinema-micro)
  --provider dashscope|modelslab     cloud provider (with --backend cloud)
  --proxy <url>           your kinema proxy (npm run proxy), for cloud
  --proxy-token <token>   bearer token the proxy expects
  --cloud-model <id>      provider model id, e.g. wan2.2-t2v-plus
  --out <file>            output path (default kinema.mp4, or kinema.webm)
  --json                  print one JSON line with the result at the end`;

const VALUE_FLAGS = new Set(['--negative', '--seed', '--steps', '--guidance', '--frames', '--fps', '--scale', '--format', '--backend', '--model', '--out', '--provider', '--proxy', '--proxy-token', '--cloud-model']);
const BOOLEAN_FLAGS = new Set(['--json', '--help', '-h']);

// The flags share the API's limits table and message form ("--steps must be an integer from 1 to 1000; got 0").
function usage<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** A flag's text as a number when it reads as one; else the text itself, so the message quotes what was typed. */
function numeric(value: string): number | string {
  const n = Number(value);
  return value.trim() === '' || (Number.isNaN(n) && value.trim() !== 'NaN') ? value : n;
}

function limited(flag: string, value: string, limit: NumberLimit): number {
  return usage(() => checkLimit(flag, numeric(value), limit));
}

function choice<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  return usage(() => checkOneOf(flag, value, allowed));
}

/** Parses the arguments after `generate`. Returns null when help was asked for. */
export function parseGenerateArgs(argv: readonly string[]): GenerateArgs | null {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') { positional.push(...argv.slice(i + 1)); break; }
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    if (VALUE_FLAGS.has(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : argv[++i];
      if (value === undefined) throw new UsageError(`${name} needs a value`);
      if (values.has(name)) throw new UsageError(`${name} was given twice`);
      values.set(name, value);
    } else if (BOOLEAN_FLAGS.has(name)) {
      flags.add(name);
    } else if (arg.startsWith('-') && arg.length > 1) {
      throw new UsageError(`unknown option ${arg} (see kinema generate --help)`);
    } else {
      positional.push(arg);
    }
  }
  if (flags.has('--help') || flags.has('-h')) return null;
  if (positional.length === 0) throw new UsageError('a prompt is required, e.g. kinema generate "a red circle moving right on a black background"');
  if (positional.length > 1) throw new UsageError(`one prompt only (quote it): got ${positional.length} words outside quotes: ${positional.map((p) => `"${p}"`).join(' ')}`);
  const prompt = positional[0]!;
  if (prompt.trim() === '') throw new UsageError('the prompt must not be empty');

  const get = (flag: string) => values.get(flag);
  const request: GenerateArgs['request'] = { prompt, outputScale: 8 };
  if (get('--negative') !== undefined) request.negativePrompt = get('--negative');
  if (get('--seed') !== undefined) request.seed = limited('--seed', get('--seed')!, LIMITS.seed);
  if (get('--steps') !== undefined) request.steps = limited('--steps', get('--steps')!, LIMITS.steps);
  if (get('--guidance') !== undefined) request.guidanceScale = limited('--guidance', get('--guidance')!, LIMITS.guidanceScale);
  if (get('--frames') !== undefined) request.numFrames = limited('--frames', get('--frames')!, LIMITS.numFrames);
  if (get('--fps') !== undefined) request.fps = limited('--fps', get('--fps')!, LIMITS.fps);
  if (get('--scale') !== undefined) request.outputScale = limited('--scale', get('--scale')!, LIMITS.outputScale);
  const format = get('--format') !== undefined ? choice('--format', get('--format')!, ['mp4', 'webm'] as const) : 'mp4';
  request.format = format;

  const options: GenerateArgs['options'] = {};
  if (get('--model') !== undefined) options.model = get('--model');
  if (get('--backend') !== undefined) options.backend = choice('--backend', get('--backend')!, BACKEND_CHOICES);
  const cloudFlags = ['--provider', '--proxy', '--proxy-token', '--cloud-model'].filter((f) => values.has(f));
  if (cloudFlags.length > 0 || options.backend === 'cloud') {
    if (!get('--provider') || !get('--proxy')) {
      throw new UsageError('cloud generation needs --provider dashscope|modelslab and --proxy <url of your kinema proxy>');
    }
    const provider = choice('--provider', get('--provider')!, CLOUD_PROVIDER_NAMES);
    let proxyUrl: string;
    try {
      proxyUrl = new URL(get('--proxy')!).href;
    } catch {
      throw new UsageError(`--proxy must be an http(s) URL such as http://127.0.0.1:8787; got "${get('--proxy')}"`);
    }
    options.cloud = { provider, proxyUrl, ...(get('--proxy-token') ? { proxyToken: get('--proxy-token')! } : {}), ...(get('--cloud-model') ? { model: get('--cloud-model')! } : {}) };
  }
  return { prompt, out: get('--out') ?? `kinema.${format}`, json: flags.has('--json'), options, request };
}
