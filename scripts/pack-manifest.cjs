// prepack/postpack: the published package.json without the `prepare` script.
//
// `prepare` builds the TypeScript and a local addon in a clone (`npm install` there). In the
// tarball it has nothing to run (npm runs no `prepare` for registry installs, and scripts/ is not
// shipped), but npm 11 still warns that the package "has an install script". So `npm pack` and
// `npm publish` pack a package.json without it, and put the clone's back afterwards.
//
//   node scripts/pack-manifest.cjs strip     # prepack: keep a copy, drop scripts.prepare
//   node scripts/pack-manifest.cjs restore   # postpack: put the copy back
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const manifest = path.join(root, 'package.json');
const backup = path.join(root, 'build', 'package.json.before-pack');

function strip() {
  // A backup left by a pack that failed before postpack is the clone's own manifest: keep it.
  if (!fs.existsSync(backup)) {
    fs.mkdirSync(path.dirname(backup), { recursive: true });
    fs.copyFileSync(manifest, backup);
  }
  const pkg = JSON.parse(fs.readFileSync(backup, 'utf8'));
  if (pkg.scripts) delete pkg.scripts.prepare;
  fs.writeFileSync(manifest, `${JSON.stringify(pkg, null, 2)}\n`);
}

function restore() {
  if (fs.existsSync(backup)) fs.renameSync(backup, manifest);
}

const command = process.argv[2];
if (command === 'strip') strip();
else if (command === 'restore') restore();
else {
  console.error('usage: node scripts/pack-manifest.cjs strip|restore');
  process.exit(2);
}
