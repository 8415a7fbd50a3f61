/**
 * The page bench/wan/run.mjs drives: the public API only (createVideoGenerator → load → generate), as a
 * site would call it. Progress events go to Node as they happen (window.wanProgress, exposed by run.mjs),
 * which timestamps them and attributes its memory samples to the stage they fall in. Nothing here
 * asserts a time.
 */
import { createVideoGenerator, type GenerateRequest, type GeneratorOptions, type ProgressEvent, type VideoGenerator } from '../../src/index';

declare global {
  interface Window {
    wanReady: boolean;
    wanProgress?: (event: Record<string, unknown>) => void;
    wan: typeof wan;
  }
}

interface Failure { name: string; code: string | null; message: string; details: unknown }

const failure = (error: unknown): Failure => {
  const e = error as Error & { code?: string; details?: unknown };
  return { name: e.name, code: e.code ?? null, message: e.message, details: e.details ?? null };
};

const forward = (event: ProgressEvent) => {
  const { rgba: _omit, ...rest } = event as ProgressEvent & { rgba?: Uint8Array };
  window.wanProgress?.({ ...rest, pageMs: performance.now() });
};

let generator: VideoGenerator | null = null;

const wan = {
  isolated: () => self.crossOriginIsolated,
  /** A fresh generator, then load(): the time until the sessions exist (download, verify, cache, compile). */
  async load(options: GeneratorOptions): Promise<{ ok: true; loadMs: number } | { ok: false; error: Failure; ms: number }> {
    await generator?.dispose();
    generator = createVideoGenerator(options);
    const start = performance.now();
    try {
      await generator.load({ onProgress: forward });
      return { ok: true, loadMs: performance.now() - start };
    } catch (error) {
      const out = { ok: false as const, error: failure(error), ms: performance.now() - start };
      await generator.dispose();
      generator = null;
      return out;
    }
  },
  async generate(request: GenerateRequest): Promise<{ ok: true; result: Record<string, unknown>; videoBytes: number } | { ok: false; error: Failure }> {
    if (!generator) throw new Error('call wan.load first');
    try {
      const result = await generator.generate(request, { onProgress: forward });
      const { video, frames: _frames, ...rest } = result as typeof result & { video?: Blob; frames?: unknown };
      return { ok: true, result: rest, videoBytes: video?.size ?? 0 };
    } catch (error) {
      return { ok: false, error: failure(error) };
    }
  },
  async dispose(): Promise<void> {
    await generator?.dispose();
    generator = null;
  },
};

window.wan = wan;
window.wanReady = true;
