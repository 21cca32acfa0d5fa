// Loads one addon binary and checks it the way the platform checks need on any host (native,
// qemu-user, wine): it dispatched to the expected instruction set, every instruction set it offers
// agrees with the TypeScript reference kernel, and its results do not depend on the thread count.
//
//   node scripts/check-addon.cjs <addon.node> <expected isa | any> [--out FILE]
//
// Needs dist/ (npm run build). --out writes the report to FILE as well, because under wine a
// pipe from node.exe loses its output.
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const outIndex = args.indexOf('--out');
const outFile = outIndex >= 0 ? args.splice(outIndex, 2)[1] : null;
const [addonPath, expectedIsa] = args;
const lines = [];
function say(line) {
  lines.push(line);
  console.log(line);
  if (outFile) fs.writeFileSync(outFile, lines.join('\n') + '\n');
}
function failWith(message) {
  say(`  FAIL: ${message}`);
  process.exit(1);
}
if (!addonPath || !expectedIsa) failWith('usage: node scripts/check-addon.cjs <addon.node> <expected isa | any> [--out FILE]');

const root = path.resolve(__dirname, '..');
const { referenceKernel } = require(path.join(root, 'dist', 'kernel', 'reference.js'));
const addon = require(path.resolve(addonPath));
const info = addon.info();
say(`  ${path.basename(path.dirname(addonPath))}/${path.basename(addonPath)} ${info.version} on node ${process.version} ${process.platform}-${process.arch}: isa ${info.isa}, available ${info.isasAvailable.join(',')}, threads ${info.threads}`);
if (expectedIsa !== 'any' && info.isa !== expectedIsa) failWith(`expected isa ${expectedIsa}, got ${info.isa}`);

let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const filled = (n, scale, shift = 0) => Float32Array.from({ length: n }, () => rand() * scale + shift);

// Shapes: a scalar, odd sizes around the vector widths, and one over a pool chunk (65536), so
// the threaded path and the vector tails both run.
function makeVars(granularity, base, shapes) {
  return shapes.map(([rows, last], k) => {
    const n = rows * last;
    const P = granularity === 0 ? n : granularity === 1 ? last : 1;
    return {
      name: `v${k}`, theta: filled(n, 1), grad: filled(n, 0.1), phi: filled(P, 0.1, 1),
      m: base === 0 ? new Float32Array(0) : filled(n, 0.01),
      v: base === 2 ? filled(n, 0.001, 0.001) : new Float32Array(0),
    };
  });
}
const clone = (vars) => vars.map((v) => ({ ...v, theta: v.theta.slice(), phi: v.phi.slice(), m: v.m.slice(), v: v.v.slice() }));
const outputs = (count) => ({ skipped: new Uint8Array(count), meanAbsDeltaPhi: new Float64Array(count) });
const paramsFor = (granularity, base, step) => ({
  granularity, base, learningRate: 0.01, gildingRate: 0.3, annealing: 0.1, relativeCrack: true,
  normalizeMean: true, phiMin: 0, phiMax: 10, momentum: 0.9, beta1: 0.9, beta2: 0.999,
  epsilon: 1e-7, weightDecay: 0.01, throwOnNonFinite: false, step,
});

function runNative(vars, granularity, base, steps) {
  for (let t = 1; t <= steps; t++) {
    const o = outputs(vars.length);
    if (addon.step(vars, paramsFor(granularity, base, t), o.skipped, o.meanAbsDeltaPhi) !== -1) failWith('unexpected non-finite report');
  }
}

function compareWithReference(isa) {
  let worst = 0;
  for (const granularity of [0, 1, 2]) {
    for (const base of [0, 1, 2]) {
      const a = makeVars(granularity, base, [[1, 1], [7, 3], [33, 17], [3000, 5]]);
      const b = clone(a);
      runNative(a, granularity, base, 3);
      for (let t = 1; t <= 3; t++) referenceKernel.step(b, paramsFor(granularity, base, t), outputs(b.length));
      a.forEach((v, k) => {
        for (const key of ['theta', 'phi', 'm', 'v']) {
          const x = v[key], y = b[k][key];
          for (let i = 0; i < x.length; i++) {
            worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.max(Math.abs(x[i]), Math.abs(y[i]), 1e-3));
          }
        }
      });
    }
  }
  say(`  ${isa}: 9 granularity × base combinations, 3 steps: worst relative difference to the reference ${worst.toExponential(2)}`);
  if (!(worst <= 1e-5)) failWith(`${isa} differs from the reference kernel`);
}

function threadCountIndependent(isa) {
  const shapes = [[20000, 7], [5, 3], [13107, 10]];
  const runs = [1, 2, 3].map((threads) => {
    addon.setThreads(threads);
    seed = 777; // identical inputs for every thread count
    const fresh = makeVars(1, 2, shapes);
    runNative(fresh, 1, 2, 2);
    return fresh.map((v) => Buffer.concat([v.theta, v.phi, v.m, v.v].map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength))));
  });
  addon.setThreads(info.threads);
  const same = runs.every((r) => r.every((buf, k) => buf.equals(runs[0][k])));
  say(`  ${isa}: 1, 2 and 3 threads over ${shapes.length} variables (${shapes.reduce((s, [r, c]) => s + r * c, 0)} elements): ${same ? 'bitwise equal' : 'DIFFERENT'}`);
  if (!same) failWith(`${isa} results depend on the thread count`);
}

for (const isa of info.isasAvailable) {
  addon.setIsa(isa);
  if (addon.info().isa !== isa) failWith(`setIsa(${isa}) left ${addon.info().isa} in use`);
  compareWithReference(isa);
  threadCountIndependent(isa);
}
addon.setIsa(info.isa);
say('  passed');
