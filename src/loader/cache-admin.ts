/**
 * What a cache panel needs: is a model (with this choice of variants) fully cached, how much does each
 * cached model take, and removing one. Everything is read from store keys; no body is read.
 */
import { selectedFiles } from '../models/variants';
import type { CachedModelInfo } from '../contract/domain';
import type { ModelManifest, SelectedVariants } from '../models/types';
import { fileCacheKey, modelCachePrefix, parseFileCacheKey, type ModelStore } from './store';

/** True when every file of the tokenizer and of the selected variants is in the store. */
export async function isCached(manifest: ModelManifest, variants: SelectedVariants, store: ModelStore): Promise<boolean> {
  const prefix = modelCachePrefix(manifest.id, manifest.version);
  const present = new Set(await store.keys(prefix));
  return selectedFiles(manifest, variants).every((file) => present.has(fileCacheKey(prefix, file)));
}

/** Removes every stored file of `manifest.id`, all versions. Resolves to the number of entries removed. */
export async function clearCache(manifest: Pick<ModelManifest, 'id'>, store: ModelStore): Promise<number> {
  const keys = await store.keys(modelCachePrefix(manifest.id));
  let removed = 0;
  for (const key of keys) if (await store.delete(key)) removed++;
  return removed;
}

export interface CachedModel extends CachedModelInfo {
  files: number;
}

/** Every model version with at least one stored file, sorted by id then version. */
export async function cachedModels(store: ModelStore): Promise<CachedModel[]> {
  const byModel = new Map<string, CachedModel>();
  for (const key of await store.keys()) {
    const parts = parseFileCacheKey(key);
    if (!parts) continue;
    const id = `${parts.id}\u0000${parts.version}`;
    const entry = byModel.get(id) ?? { id: parts.id, version: parts.version, bytes: 0, files: 0 };
    entry.bytes += parts.bytes;
    entry.files += 1;
    byModel.set(id, entry);
  }
  return [...byModel.values()].sort((a, b) => a.id.localeCompare(b.id) || a.version.localeCompare(b.version));
}
