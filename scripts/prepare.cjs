// `npm install` in a clone of the repository (npm's prepare step; never run for users who
// install the published package, which ships prebuilt binaries and has no install script):
// compiles the TypeScript and builds the native addon for this machine, so `npm run demo` runs the
// native kernel. It never fails the install: without a compiler it says so in one line and the
// package falls back to a portable kernel.
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
// npm pack and npm publish run prepare too; they ship prebuilds, not a local build.
if (['pack', 'publish'].includes(process.env.npm_command)) process.exit(0);

const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
function npmRun(script, silent = true) {
  const [cmd, ...pre] = npm;
  return spawnSync(cmd, [...pre, 'run', ...(silent ? ['--silent'] : []), script], { cwd: root, encoding: 'utf8', shell: cmd === 'npm' && process.platform === 'win32' });
}

const ts = npmRun('build');
if (ts.status !== 0) {
  process.stderr.write(ts.stdout + ts.stderr);
  console.warn('kintsugi-optimizer (prepare): the TypeScript build failed; see above');
  process.exit(0);
}

const t0 = Date.now();
// Not --silent: npm would pass that on to node-gyp, which would then not say what is missing.
const native = npmRun('build:native', false);
if (native.status === 0) {
  console.log(`kintsugi-optimizer (prepare): native addon built for ${process.platform}-${process.arch} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
} else {
  const lines = `${native.stderr}\n${native.stdout}`.split('\n').map((l) => l.trim());
  const stack = lines.find((l) => l.startsWith('gyp ERR! stack Error:'));
  const why = stack ? stack.slice('gyp ERR! stack Error:'.length).trim()
    : lines.find((l) => /not found|ENOENT|error/i.test(l)) ?? `exit ${native.status}`;
  console.warn(`kintsugi-optimizer (prepare): native addon not built (${why.slice(0, 160)}); the portable kernel will run. Install a C++17 compiler, python3 and make, then run 'npm run build:native'.`);
}
