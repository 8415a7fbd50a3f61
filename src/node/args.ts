/**
 * Command-line parsing for `kinema generate`. Tested in Node; the one thing it asks of the platform (what
 * a `--model` path is on disk) is injected. Usage errors throw UsageError.
 */
import { statSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { BACKEND_CHOICES, CLOUD_PROVIDER_NAMES, LIMITS, checkLimit, checkOneOf, MAX_OUTPUT_SIDE, type NumberLimit } from '../contract';
import { BUILTIN_MODELS } from '../models/registry';
import { UsageError, asUsage, parseFlags, type FlagTable } from './flags';

export { UsageError };

/** A converted model on disk (`--model <folder or manifest.json>`), served to the page on loopback. */
export interface LocalModel {
  /** Absolute path of the folder that holds the manifest and the files it lists. */
  folder: string;
  /** The manifest's file name inside `folder` (manifest.json unless a .json file was named). */
  manifest: string;
}

export interface GenerateArgs {
  prompt: string;
  localModel?: LocalModel;
  out: string;
  json: boolean;
  options: { model?: string; backend?: 'auto' | 'webgpu' | 'wasm' | 'cloud'; cloud?: { provider: 'dashscope' | 'modelslab'; proxyUrl: string; proxyToken?: string; model?: string } };
  request: {
    prompt: string; negativePrompt?: string; seed?: number; steps?: number; guidanceScale?: number;
    numFrames?: number; fps?: number; width?: number; height?: number; outputScale?: number; format?: 'mp4' | 'webm';
  };
}

export const GENERATE_USAGE = `Usage: kinema generate "<prompt>" [options]   (or --prompt "<prompt>")
  --negative <text>       what the video should not show
  --seed <N>              ${LIMITS.seed.min}..${LIMITS.seed.max} (random when absent; always printed)
  --steps <N>             denoising steps (model default)
  --guidance <X>          classifier-free guidance scale (model default)
  --frames <N>            number of frames (model default)
  --width <N>             frame width in pixels, one of the model's sizes (model default)
  --height <N>            frame height in pixels, one of the model's sizes (model default)
  --fps <N>               frames per second, ${LIMITS.fps.min}..${LIMITS.fps.max} (model default)
  --scale <N>             integer upscale for viewing, ${LIMITS.outputScale.min}..${LIMITS.outputScale.max} (default 8 for kinema-micro, else 1)
  --format mp4|webm       container (default mp4)
  --backend auto|webgpu|wasm|cloud   (default auto)
  --model <model>         built-in model id (default kinema-micro), a manifest URL, or a converted
                          model on disk: its folder or its manifest.json (served on loopback)
  --provider dashscope|modelslab     cloud provider (with --backend cloud)
  --proxy <url>           your kinema proxy (npm run proxy), for cloud
  --proxy-token <token>   bearer token the proxy expects
  --cloud-model <id>      provider model id, e.g. wan2.2-t2v-plus
  --out <file>            output path (default kinema.mp4, or kinema.webm)
  --json                  print one JSON line with the result at the end`;

const FLAGS: FlagTable = {
  values: new Set(['--prompt', '--negative', '--seed', '--steps', '--guidance', '--frames', '--width', '--height', '--fps', '--scale', '--format', '--backend', '--model', '--out', '--provider', '--proxy', '--proxy-token', '--cloud-model']),
  switches: new Set(['--json', '--help', '-h']),
  help: 'kinema generate --help',
};

/** A flag's text as a number when it reads as one; else the text itself, so the message quotes what was typed. */
function numeric(value: string): number | string {
  const n = Number(value);
  return value.trim() === '' || (Number.isNaN(n) && value.trim() !== 'NaN') ? value : n;
}

function limited(flag: string, value: string, limit: NumberLimit): number {
  return asUsage(() => checkLimit(flag, numeric(value), limit));
}

function choice<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  return asUsage(() => checkOneOf(flag, value, allowed));
}

/** What a path is on disk; null when nothing is there. */
export type PathKind = (path: string) => 'file' | 'directory' | 'other' | null;

const pathKind: PathKind = (path) => {
  try {
    const info = statSync(path);
    return info.isFile() ? 'file' : info.isDirectory() ? 'directory' : 'other';
  } catch {
    return null;
  }
};

/**
 * `--model`'s value: a built-in id or an http(s) URL stays as it is (the API resolves it); anything else
 * is a path on disk, to a model folder (with a manifest.json) or to a manifest file itself.
 */
export function parseModelFlag(value: string, kind: PathKind = pathKind, cwd = process.cwd()): { model: string } | { localModel: LocalModel } {
  if (value.trim() === '') throw new UsageError('--model must not be empty: give a model id (kinema-micro), a manifest URL, or a model folder');
  if (Object.hasOwn(BUILTIN_MODELS, value) || /^https?:\/\//i.test(value)) return { model: value };
  const path = resolve(cwd, value);
  const found = kind(path);
  if (found === 'directory') {
    if (kind(resolve(path, 'manifest.json')) !== 'file') {
      throw new UsageError(`--model ${value}: the folder has no manifest.json; give the folder \`npm run convert\` wrote (--out) or the path of its manifest file`);
    }
    return { localModel: { folder: path, manifest: 'manifest.json' } };
  }
  if (found === 'file') {
    if (!path.toLowerCase().endsWith('.json')) throw new UsageError(`--model ${value}: a model file must be its manifest (.json); give the manifest.json or the folder that holds it`);
    return { localModel: { folder: dirname(path), manifest: basename(path) } };
  }
  if (found === 'other') throw new UsageError(`--model ${value}: not a folder or a file`);
  throw new UsageError(`--model ${value}: no such folder or file (and not a built-in model: ${Object.keys(BUILTIN_MODELS).join(', ')}); give a model folder, its manifest.json, or an http(s) manifest URL`);
}

/** Parses the arguments after `generate`. Returns null when help was asked for. */
export function parseGenerateArgs(argv: readonly string[], kind: PathKind = pathKind): GenerateArgs | null {
  const { values, switches, positional } = parseFlags(argv, FLAGS);
  if (switches.has('--help') || switches.has('-h')) return null;
  // `--prompt "<text>"` is the same as the quoted positional prompt (as `npm run component` spells it).
  if (values.has('--prompt') && positional.length > 0) {
    throw new UsageError(`give the prompt once: either quoted after generate or as --prompt; got both ("${positional.join(' ')}" and --prompt)`);
  }
  const prompts = values.has('--prompt') ? [values.get('--prompt')!] : positional;
  if (prompts.length === 0) throw new UsageError('a prompt is required, e.g. kinema generate "a red circle moving right on a black background"');
  if (prompts.length > 1) throw new UsageError(`one prompt only (quote it): got ${prompts.length} words outside quotes: ${prompts.map((p) => `"${p}"`).join(' ')}`);
  const prompt = prompts[0]!;
  if (prompt.trim() === '') throw new UsageError('the prompt must not be empty');

  const get = (flag: string) => values.get(flag);
  const model = get('--model') !== undefined ? parseModelFlag(get('--model')!, kind) : undefined;
  // kinema-micro draws 32×32 frames, so the command enlarges them 8× to be watchable; other models draw full size.
  const builtinMicro = model === undefined || ('model' in model && model.model === 'kinema-micro');
  const request: GenerateArgs['request'] = { prompt, outputScale: builtinMicro ? 8 : 1 };
  if (get('--negative') !== undefined) request.negativePrompt = get('--negative');
  if (get('--seed') !== undefined) request.seed = limited('--seed', get('--seed')!, LIMITS.seed);
  if (get('--steps') !== undefined) request.steps = limited('--steps', get('--steps')!, LIMITS.steps);
  if (get('--guidance') !== undefined) request.guidanceScale = limited('--guidance', get('--guidance')!, LIMITS.guidanceScale);
  if (get('--frames') !== undefined) request.numFrames = limited('--frames', get('--frames')!, LIMITS.numFrames);
  if (get('--width') !== undefined) request.width = limited('--width', get('--width')!, LIMITS.width);
  if (get('--height') !== undefined) request.height = limited('--height', get('--height')!, LIMITS.height);
  if (get('--fps') !== undefined) request.fps = limited('--fps', get('--fps')!, LIMITS.fps);
  if (get('--scale') !== undefined) request.outputScale = limited('--scale', get('--scale')!, LIMITS.outputScale);
  // Which sizes a model draws is the model's to say (checked once it is loaded); the encoders' limit is known now.
  for (const side of ['width', 'height'] as const) {
    const pixels = request[side];
    if (pixels !== undefined && pixels * request.outputScale! > MAX_OUTPUT_SIDE) {
      throw new UsageError(`--${side} × --scale must be at most ${MAX_OUTPUT_SIDE} (the encoders' largest frame); got ${pixels} × ${request.outputScale} = ${pixels * request.outputScale!}: lower --scale`);
    }
  }
  const format = get('--format') !== undefined ? choice('--format', get('--format')!, ['mp4', 'webm'] as const) : 'mp4';
  request.format = format;

  const options: GenerateArgs['options'] = {};
  if (model && 'model' in model) options.model = model.model;
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
  return {
    prompt, out: get('--out') ?? `kinema.${format}`, json: switches.has('--json'), options, request,
    ...(model && 'localModel' in model ? { localModel: model.localModel } : {}),
  };
}
