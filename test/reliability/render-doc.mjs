// Renders docs/failure-modes.md from catalogue.json. Plain JavaScript so that write-doc.mjs runs under
// plain Node; the catalogue test renders into memory and fails if the committed doc differs.

const LAYERS = [
  ['request', 'Requests', 'Checked by `generate()` before any work: caller mistakes are a `TypeError` or `RangeError` whose message names the field, and nothing reaches the engine.'],
  ['manifest', 'Model manifests', 'Checked when the manifest is fetched and parsed, before any model file is downloaded. A failed manifest is not kept: the next call fetches it again.'],
  ['model-file', 'Model files', 'Bytes are checked against the manifest (size and SHA-256) before they are cached; graphs are checked by onnxruntime when a session is created or run.'],
  ['cloud', 'Cloud replies (DashScope)', 'Replies the provider (or a proxy or CDN in front of it) can send. Every one ends in a `KinemaError` with a stable code; none hangs.'],
];

const escape = (text) => String(text).replace(/\|/g, '\\|').replace(/\n/g, ' ');

function outcome(expect) {
  if (expect.kind === 'KinemaError') return `\`KinemaError\` \`${expect.code}\``;
  if (expect.kind === 'accepted') return 'accepted';
  return `\`${expect.kind}\` naming \`${expect.mentions}\``;
}

/** @param {{ rows: Array<{ id: string, layer: string, what: string, expect: object, note?: string }> }} catalogue */
export function renderFailureModes(catalogue) {
  const out = [
    '# Failure modes',
    '',
    '<!-- Generated from test/reliability/catalogue.json by `node test/reliability/write-doc.mjs`; do not edit by hand.',
    '     test/reliability/catalogue.test.ts fails when this file and the catalogue disagree. -->',
    '',
    'What kinema does with bad input, one row per case. Every row is a test (test/reliability/catalogue.test.ts)',
    'that checks the error below, that the call settles (no hang), that nothing is cached that should not be,',
    'and that the next valid request on the same generator, loader or session succeeds.',
    '',
    `${catalogue.rows.filter((r) => r.expect.kind !== 'accepted').length} bad inputs, ${catalogue.rows.filter((r) => r.expect.kind === 'accepted').length} unusual inputs that are accepted.`,
    '',
  ];
  for (const [layer, title, intro] of LAYERS) {
    const rows = catalogue.rows.filter((r) => r.layer === layer);
    out.push(`## ${title}`, '', intro, '', '| Case | Input | Result |', '| --- | --- | --- |');
    for (const row of rows) {
      const note = row.note ? ` ${row.note}` : '';
      out.push(`| \`${row.id}\` | ${escape(row.what)} | ${outcome(row.expect)}.${escape(note)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}
