// Regenerates docs/failure-modes.md from test/reliability/catalogue.json: `node test/reliability/write-doc.mjs`.
import fs from 'node:fs';
import { renderFailureModes } from './render-doc.mjs';

const catalogue = JSON.parse(fs.readFileSync(new URL('./catalogue.json', import.meta.url), 'utf8'));
const target = new URL('../../docs/failure-modes.md', import.meta.url);
fs.writeFileSync(target, renderFailureModes(catalogue));
console.log(`wrote ${target.pathname} (${catalogue.rows.length} rows)`);
