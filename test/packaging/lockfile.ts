/**
 * A consumer app's package-lock.json for the packed tarball: kinema's runtime dependencies, exactly as
 * this repository's lockfile resolved them (same versions, same integrity, same nesting), so `npm ci
 * --offline` can install them from npm's cache. A subset of a valid tree is valid: each kept package
 * still finds its dependencies where Node's resolution found them in the full tree.
 */
export interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  optional?: boolean;
  [key: string]: unknown;
}
export interface Lockfile { name?: string; lockfileVersion: number; requires?: boolean; packages: Record<string, LockEntry> }

/** Where Node finds `name` when required from the package installed at `from` ('' is the root). */
function locate(packages: Record<string, LockEntry>, from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (!dir) return undefined;
    const cut = dir.lastIndexOf('/node_modules/');
    dir = cut < 0 ? '' : dir.slice(0, cut);
  }
}

export function consumerLockfile(
  repo: Lockfile,
  kinema: { name: string; version: string; dependencies: Record<string, string>; tarball: string; integrity: string },
): Lockfile {
  const kept = new Map<string, LockEntry>();
  const visit = (from: string, deps: Record<string, string> | undefined, optional: boolean) => {
    for (const name of Object.keys(deps ?? {})) {
      const at = locate(repo.packages, from, name);
      if (!at) {
        if (optional) continue;
        throw new Error(`package-lock.json has no ${name} for ${from || 'the root'}; run npm install`);
      }
      if (kept.has(at)) continue;
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...entry } = repo.packages[at]!;
      kept.set(at, entry);
      visit(at, entry.dependencies, false);
      visit(at, entry.optionalDependencies, true);
    }
  };
  visit('', kinema.dependencies, false);
  const packages: Record<string, LockEntry> = {
    '': { name: 'consumer', dependencies: { [kinema.name]: `file:${kinema.tarball}` } },
    [`node_modules/${kinema.name}`]: {
      version: kinema.version,
      resolved: `file:${kinema.tarball}`,
      integrity: kinema.integrity,
      dependencies: kinema.dependencies,
    },
  };
  for (const [at, entry] of [...kept].sort(([a], [b]) => a.localeCompare(b))) packages[at] = entry;
  return { name: 'consumer', lockfileVersion: 3, requires: true, packages };
}
