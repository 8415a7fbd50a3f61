/** Small pure formatters shared by the demo page and the widget. No DOM. */

/** Bytes as MB with one decimal (decimal megabytes, like download managers), small sizes in kB, from 1 GB on in GB with two decimals. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '? MB';
  if (bytes >= 1_000_000_000) return `${(Math.round(bytes / 10_000_000) / 100).toFixed(2)} GB`;
  if (bytes < 100_000) return bytes < 10_000 ? `${(Math.round(bytes / 100) / 10).toFixed(1)} kB` : `${Math.round(bytes / 1000)} kB`;
  return `${(Math.round(bytes / 100_000) / 10).toFixed(1)} MB`;
}

/** "850 ms", "2.4 s", "1 min 05 s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const total = Math.round(ms / 1000);
  return `${Math.floor(total / 60)} min ${String(total % 60).padStart(2, '0')} s`;
}

const MAX_SLUG = 60;

/**
 * A download name from the prompt and seed: "a red circle moving right" + 42 → "a-red-circle-moving-right-seed-42.mp4".
 * Letters and digits of any script are kept (a Chinese prompt stays readable), everything else becomes one
 * dash, and long prompts are cut at a word boundary so the name stays usable on every file system.
 */
export function clipFileName(prompt: string, seed: number, extension = 'mp4'): string {
  let slug = prompt.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{N}]+/gu, '-').replace(/^-+|-+$/g, '');
  if (slug.length > MAX_SLUG) {
    const cut = slug.slice(0, MAX_SLUG);
    const dash = cut.lastIndexOf('-');
    slug = (dash > MAX_SLUG / 2 ? cut.slice(0, dash) : cut).replace(/-+$/, '');
  }
  return `${slug || 'kinema'}-seed-${seed}.${extension.replace(/^\./, '')}`;
}

/** The file extension for a result's MIME type ('video/mp4; codecs=…' → 'mp4'). */
export function extensionFor(mimeType: string | null | undefined): string {
  const type = (mimeType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'video/webm') return 'webm';
  return 'mp4';
}

/** A thrown value as what an error display shows: a code and a message. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; message?: unknown; name?: unknown };
    const message = typeof e.message === 'string' && e.message ? e.message : String(error);
    if (typeof e.code === 'string' && e.code) return { code: e.code, message };
    // Caller mistakes (bad settings) are TypeError/RangeError by contract: to a user they are an invalid request.
    if (error instanceof TypeError || error instanceof RangeError) return { code: 'INVALID_REQUEST', message };
    return { code: 'INTERNAL', message };
  }
  return { code: 'INTERNAL', message: String(error) };
}
