#!/usr/bin/env node
// `kinema generate "<prompt>" …` — see `kinema --help`. Builds the package on first use from a clone.
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const cli = resolve(root, 'dist/node/cli.js');
if (!existsSync(cli) || !existsSync(resolve(root, 'dist/demo/cli.html'))) {
  if (!existsSync(resolve(root, 'vite.config.ts'))) {
    console.error('kinema: this installation is missing its built files (dist/); reinstall the package');
    process.exit(1);
  }
  console.error('kinema: building the library and page once (npm run build)…');
  const built = spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, encoding: 'utf8', env: { ...process.env, VITE_CONFIG_NATIVE_IGNORE_WARNING: 'true' } });
  if (built.status !== 0) {
    console.error(`${built.stdout}${built.stderr}\nkinema: the build failed (above)`);
    process.exit(built.status ?? 1);
  }
}
const { main } = await import(pathToFileURL(cli).href);
process.exitCode = await main(process.argv.slice(2));
