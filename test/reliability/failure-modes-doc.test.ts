// docs/failure-modes.md is generated from catalogue.json; this fails when someone edits one without the other.
import fs from 'node:fs';
import { expect, it } from 'vitest';
import { renderFailureModes } from './render-doc.mjs';

it('docs/failure-modes.md matches the catalogue (regenerate: node test/reliability/write-doc.mjs)', () => {
  const catalogue = JSON.parse(fs.readFileSync(new URL('./catalogue.json', import.meta.url), 'utf8'));
  const committed = fs.readFileSync(new URL('../../docs/failure-modes.md', import.meta.url), 'utf8');
  expect(committed).toBe(renderFailureModes(catalogue));
});
