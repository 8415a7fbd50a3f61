/**
 * The model families kinema runs, looked up by the manifest's `pipeline`. Worker side (families import
 * the runtime and the loop); the page only ever sees the name.
 */
import { KinemaError } from '../errors';
import { presentComponents, type ComponentName, type ModelManifest } from '../models/types';
import { microFamily } from './micro';
import type { Family } from './types';
import { wanFamily } from './wan';

export type { Family, FamilyHooks, FamilyLoad, FamilyTimings, HostTensor } from './types';

const FAMILIES: ReadonlyMap<string, Family> = new Map<string, Family>(
  ([microFamily, wanFamily] as Family[]).map((family) => [family.pipeline, family]),
);

/** The `pipeline` values kinema knows. */
export const KNOWN_PIPELINES: readonly string[] = [...FAMILIES.keys()];

/**
 * The family that runs `manifest`: INVALID_MANIFEST naming `pipeline` and the known families when
 * kinema has none by that name. Lookup only; `family.validate(manifest)` checks the family's fields
 * (`checkedFamily` does both).
 */
export function familyFor(manifest: Pick<ModelManifest, 'pipeline' | 'manifestUrl'>): Family {
  const family = FAMILIES.get(manifest.pipeline);
  if (!family) {
    throw new KinemaError('INVALID_MANIFEST', `Invalid model manifest ${manifest.manifestUrl}: pipeline must be one of ${KNOWN_PIPELINES.map((p) => `"${p}"`).join(', ')} (the model families this kinema runs), got ${JSON.stringify(manifest.pipeline)}`, {
      details: { field: 'pipeline', manifestUrl: manifest.manifestUrl, known: KNOWN_PIPELINES },
    });
  }
  return family;
}

/** `familyFor` then the family's own manifest rules: what every load runs before downloading anything. */
export function checkedFamily(manifest: ModelManifest): Family {
  const family = familyFor(manifest);
  family.validate(manifest);
  return family;
}

/** What `generate` would lack: the family's required components the manifest leaves out (and the tokenizer, when a text encoder needs one). */
export function missingParts(manifest: ModelManifest, family: Family): string[] {
  const present = new Set<ComponentName>(presentComponents(manifest));
  const missing: string[] = family.requiredComponents.filter((name) => !present.has(name));
  if (family.requiredComponents.includes('textEncoder') && present.has('textEncoder') && !manifest.tokenizer) missing.push('tokenizer');
  return missing;
}

/** MODEL_INCOMPLETE naming what is missing, or nothing when the model can generate. */
export function checkComplete(manifest: ModelManifest, family: Family): void {
  const missing = missingParts(manifest, family);
  if (missing.length === 0) return;
  throw new KinemaError('MODEL_INCOMPLETE', `${manifest.id} cannot generate: its manifest has no ${missing.join(', ')} (a ${family.pipeline} model needs ${[...family.requiredComponents, ...(missing.includes('tokenizer') ? ['tokenizer'] : [])].join(', ')}). It still loads for component runs; convert it again with every component to generate.`, {
    details: { model: manifest.id, missing },
  });
}
