#!/usr/bin/env node
// Writes the built-in synthetic fraud generator's rows as a CSV (features f0…, then `label`), for
// timing `npm run bench:rare -- --data FILE --label label` on a file of a given size
// (docs/rare-events.md, "Run time on a 25,000-row file").
//
//   node scripts/make-fraud-csv.cjs OUT.csv [--rows 25000] [--features 16] [--seed 3]
'use strict';
const fs = require('node:fs');
const { syntheticFraud } = require('../dist/eval/data/synthetic-fraud.js');

const args = process.argv.slice(2);
const out = args.find((a, i) => !a.startsWith('--') && !(i > 0 && args[i - 1].startsWith('--')));
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const v = Number(args[i + 1]);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} takes a whole number >= 1; got ${args[i + 1]}`);
  return v;
};
if (!out) {
  console.error('usage: node scripts/make-fraud-csv.cjs OUT.csv [--rows 25000] [--features 16] [--seed 3]');
  process.exit(2);
}
const d = syntheticFraud({ n: option('rows', 25000), features: option('features', 16), seed: option('seed', 3) });
const lines = [[...Array.from({ length: d.cols }, (_, i) => `f${i}`), 'label'].join(',')];
for (let r = 0; r < d.rows; r++) {
  lines.push([...Array.from(d.x.subarray(r * d.cols, (r + 1) * d.cols), (v) => v.toPrecision(6)), d.y[r]].join(','));
}
fs.writeFileSync(out, lines.join('\n') + '\n');
console.log(`wrote ${out}: ${d.rows} rows × ${d.cols} features, ${d.y.reduce((a, b) => a + b, 0)} positives`);
