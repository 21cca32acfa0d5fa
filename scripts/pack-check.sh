#!/usr/bin/env bash
# What a user gets from the registry: `npm pack` (which cross-builds every prebuild through
# prepack), then `npm install <tarball> --ignore-scripts` into an empty folder, then load it with
# no compiler on the PATH. The native kernel must come from prebuilds/, and it must agree with
# the reference. Then what a user on a platform with no binary does: build from source in the
# installed package, with the command the fallback warning prints.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tarball=$(npm pack --silent --pack-destination "$tmp" | tail -1)
echo "pack-check: packed $tarball ($(du -h "$tmp/$tarball" | cut -f1))"
# What the tarball lists (LICENSE, the 8 prebuilds, no tests or build folder, README links) is
# checked by test/pack.test.ts in npm test; here, what only a real pack shows: its size.
unpacked=$(tar -xzOf "$tmp/$tarball" | wc -c)
echo "pack-check: $(du -k "$tmp/$tarball" | cut -f1) KiB packed, $((unpacked / 1024)) KiB unpacked"
[ "$unpacked" -le $((5 * 1024 * 1024)) ] || { echo "pack-check: the package unpacks to more than 5 MB"; exit 1; }
# prepack drops the clone's `prepare` script from the packed manifest (npm 11 warns about it as an
# install script) and postpack puts it back (scripts/pack-manifest.cjs).
tar -xzOf "$tmp/$tarball" package/package.json | node -e "
const p = JSON.parse(require('fs').readFileSync(0, 'utf8'));
if (p.scripts && p.scripts.prepare) { console.error('pack-check: the packed package.json still has a prepare script'); process.exit(1); }"
node -e "if (!require('./package.json').scripts.prepare) { console.error('pack-check: postpack did not restore the prepare script'); process.exit(1); }"
[ ! -e build/package.json.before-pack ] || { echo "pack-check: postpack left build/package.json.before-pack behind"; exit 1; }

mkdir "$tmp/app"
cd "$tmp/app"
npm init -y >/dev/null
tfjs_version=$(node -p "require('$root/node_modules/@tensorflow/tfjs-core/package.json').version")
npm install "$tmp/$tarball" "@tensorflow/tfjs@$tfjs_version" \
  --ignore-scripts --no-audit --no-fund --prefer-offline >/dev/null

# A PATH holding node alone: no cc, c++, make, python or node-gyp to fall back on.
mkdir "$tmp/bin"
ln -s "$(command -v node)" "$tmp/bin/node"
PATH="$tmp/bin" node -e "
const tf = require('@tensorflow/tfjs');
tf.env().set('PROD', true);
const k = require('kintsugi-optimizer');
const info = k.kernelInfo();
console.log('pack-check: kernelInfo', JSON.stringify(info));
if (info.kernel !== 'native') { console.error('pack-check: the native kernel did not load from the prebuild'); process.exit(1); }
(async () => {
  await tf.setBackend('cpu');
  const w = tf.variable(tf.tensor2d([[0.5, -0.3, 0.2], [0.1, 0.4, -0.6]]), true, 'w');
  const x = tf.tensor2d([[1, 2], [3, 4]]);
  const opt = k.kintsugi({ learningRate: 0.05, gildingRate: 0.3 });
  for (let i = 0; i < 5; i++) opt.minimize(() => tf.sum(tf.square(tf.matMul(x, w))));
  // The same 5 steps through the reference kernel, on plain arrays.
  const theta = Float32Array.from([0.5, -0.3, 0.2, 0.1, 0.4, -0.6]);
  const vars = [{ name: 'w', theta, grad: new Float32Array(6), phi: new Float32Array(3).fill(1), m: new Float32Array(6), v: new Float32Array(6) }];
  const out = { skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) };
  for (let t = 1; t <= 5; t++) {
    const g = tf.tidy(() => tf.grad((ww) => tf.sum(tf.square(tf.matMul(x, ww))))(tf.tensor2d(theta, [2, 3])));
    vars[0].grad.set(g.dataSync()); g.dispose();
    k.referenceKernel.step(vars, { granularity: 1, base: 2, learningRate: 0.05, gildingRate: 0.3, annealing: 0, relativeCrack: true,
      normalizeMean: true, phiMin: 0, phiMax: 10, momentum: 0.9, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0,
      throwOnNonFinite: false, step: t }, out);
  }
  const got = w.dataSync();
  const worst = Math.max(...Array.from(got, (v, i) => Math.abs(v - theta[i]) / Math.max(1e-3, Math.abs(theta[i]))));
  console.log('pack-check: 5 steps native vs reference, worst relative difference', worst.toExponential(2));
  if (!(worst < 1e-4)) process.exit(1);
})().catch((e) => { console.error(e); process.exit(1); });
"

# A platform with no binary: hide this platform's prebuilds. The one warning line must list what
# ships and name the command that builds from source, the WebAssembly kernel must take over, and
# that command, run in the installed package, must give the native kernel.
mv node_modules/kintsugi-optimizer/prebuilds/linux-x64 "$tmp/prebuilds-hidden"
warning=$(PATH="$tmp/bin" node -e "require('kintsugi-optimizer').kernelInfo()" 2>&1)
echo "pack-check: with no linux-x64 prebuild: $warning"
grep -q 'darwin-arm64' <<<"$warning" || { echo "pack-check: the fallback warning does not list the binaries that ship"; exit 1; }
grep -q 'npm run build:native' <<<"$warning" || { echo "pack-check: the fallback warning does not say how to build from source"; exit 1; }
grep -q 'WebAssembly kernel' <<<"$warning" || { echo "pack-check: the WebAssembly kernel did not take over"; exit 1; }
(cd node_modules/kintsugi-optimizer && npm run build:native >"$tmp/build-native.log" 2>&1) \
  || { tail -20 "$tmp/build-native.log"; echo "pack-check: npm run build:native failed in the installed package"; exit 1; }
node -e "
const info = require('kintsugi-optimizer').kernelInfo();
console.log('pack-check: after npm run build:native in the installed package:', JSON.stringify(info));
if (info.kernel !== 'native') process.exit(1);
"
echo "pack-check: passed"
