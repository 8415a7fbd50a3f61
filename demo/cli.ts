// The page the `generate` command drives: the public API, exactly as a site would call it.
import { createVideoGenerator, type GenerateRequest, type GeneratorOptions, type ProgressEvent } from '../src/index';

declare global {
  interface Window {
    kinemaReady: boolean;
    kinemaProgress?: (event: Omit<ProgressEvent, 'rgba'>) => void;
    kinemaRun(options: GeneratorOptions, request: GenerateRequest): Promise<unknown>;
  }
}

async function toBase64(blob: Blob): Promise<string> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

window.kinemaRun = async (options, request) => {
  const generator = createVideoGenerator({ modelBaseUrl: new URL('models/', location.href).href, ...options });
  try {
    const result = await generator.generate(request, {
      onProgress: (event) => {
        const { rgba: _omit, ...rest } = event as ProgressEvent & { rgba?: Uint8Array };
        window.kinemaProgress?.(rest as Omit<ProgressEvent, 'rgba'>);
      },
    });
    const { video, frames: _frames, ...rest } = result;
    return { ok: true, result: rest, video: video ? await toBase64(video) : null };
  } catch (error) {
    const e = error as Error & { code?: string; details?: unknown };
    return { ok: false, error: { name: e.name, code: e.code ?? null, message: e.message, details: e.details ?? null } };
  } finally {
    await generator.dispose();
  }
};
window.kinemaReady = true;
