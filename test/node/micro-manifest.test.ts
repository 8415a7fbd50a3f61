// kinema-micro's manifest must describe the files on disk exactly (bytes and sha256), keep an
// fp32-compute variant per component, and stay within the size budget.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dir = path.join(root, 'public/models/kinema-micro');
interface FileEntry { path: string; bytes: number; sha256: string }
interface Variant { dtype: string; compute: string; files: FileEntry[] }
const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
const components = manifest.components as Record<string, { variants: Variant[] }>;
const allFiles: FileEntry[] = [
  ...manifest.tokenizer.files,
  ...Object.values(components).flatMap((c) => c.variants.flatMap((v) => v.files)),
];

describe('kinema-micro manifest', () => {
  it.each(allFiles.map((f) => [f.path, f] as const))('%s matches its bytes and sha256', (_, f) => {
    const buf = fs.readFileSync(path.join(dir, f.path));
    expect(buf.length).toBe(f.bytes);
    expect(crypto.createHash('sha256').update(buf).digest('hex')).toBe(f.sha256);
  });

  it('has an fp32-compute variant for every component and the fp32 set is at most 12 MB', () => {
    let fp32 = 0;
    for (const name of ['textEncoder', 'denoiser', 'vaeDecoder']) {
      const c = components[name];
      expect(c, name).toBeDefined();
      const v = c!.variants.find((x) => x.dtype === 'fp32');
      expect(v?.compute).toBe('fp32');
      fp32 += v!.files.reduce((s, f) => s + f.bytes, 0);
      for (const x of c!.variants) expect(x.compute).toBe('fp32');
    }
    expect(fp32).toBeLessThanOrEqual(12 * 1024 * 1024);
  });

  it('declares latents, scheduler and defaults consistent with each other', () => {
    expect(manifest.format).toBe('kinema-model/1');
    expect(manifest.latent.mean).toHaveLength(manifest.latent.channels);
    expect(manifest.latent.std).toHaveLength(manifest.latent.channels);
    for (const s of manifest.latent.std) expect(s).toBeGreaterThan(0);
    expect(manifest.scheduler.type).toBe('flow-match-euler');
    expect(manifest.scheduler.config.num_train_timesteps).toBe(1000);
    expect(manifest.defaults.negativePrompt).toBe('');
    expect(manifest.limits.sizes).toContainEqual({ width: manifest.defaults.width, height: manifest.defaults.height });
    expect(manifest.examples.en.length).toBeGreaterThan(0);
    expect(manifest.examples.zh.length).toBeGreaterThan(0);
  });

  it('lists only files that exist, and every ONNX file in the folder is listed', () => {
    const listed = new Set(allFiles.map((f) => f.path));
    const onDisk = fs.readdirSync(dir).filter((f) => f.endsWith('.onnx'));
    for (const f of onDisk) expect(listed.has(f), f).toBe(true);
  });
});
