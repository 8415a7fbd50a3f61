/**
 * The one place that finds a Chromium/Chrome binary and the flags every harness launches it with
 * (vitest browser tests, Playwright end-to-end tests, the `generate` command).
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const CANDIDATES = ['/usr/bin/chromium', 'chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

/** Headless, offline-friendly, WebGPU on (SwiftShader when there is no GPU). Safe as root. */
export const CHROMIUM_ARGS: readonly string[] = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
  '--enable-unsafe-webgpu',
];

export const INSTALL_HINT =
  'Install one (Debian/Ubuntu: `sudo apt-get install -y chromium`) or point CHROME_PATH at a Chromium or Chrome binary.';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, pathVar: string): string | undefined {
  for (const dir of pathVar.split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/**
 * CHROME_PATH if set, else the first of /usr/bin/chromium, chromium, chromium-browser, google-chrome.
 * `candidates` exists so a test can reach the not-found branch on a machine that has a browser.
 */
export function findChromium(env: Record<string, string | undefined> = process.env, candidates: readonly string[] = CANDIDATES): string {
  const explicit = env.CHROME_PATH;
  if (explicit) {
    if (isExecutable(explicit)) return explicit;
    throw new Error(`CHROME_PATH is set to ${explicit}, which is not an executable file. ${INSTALL_HINT}`);
  }
  for (const candidate of candidates) {
    const found = candidate.startsWith('/') ? (isExecutable(candidate) ? candidate : undefined) : onPath(candidate, env.PATH ?? '');
    if (found) return found;
  }
  throw new Error(`No Chromium or Chrome browser was found (looked for ${candidates.join(', ')}). ${INSTALL_HINT}`);
}
