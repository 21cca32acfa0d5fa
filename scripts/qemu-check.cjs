// Run under qemu-x86_64 -cpu <model> by qemu-check.sh: loads the addon on an emulated older CPU,
// checks it chose the instruction set it was expected to, and compares a few steps of every
// granularity and base with the reference kernel. A SIGILL here means dispatch is broken.
// Usage: node scripts/qemu-check.cjs <expected isa>   (after npm run build)
'use strict';
const path = require('path');
const [expectedIsa] = process.argv.slice(2);
const root = path.resolve(__dirname, '..');
const addon = require('node-gyp-build')(root);
const { referenceKernel } = require(path.join(root, 'dist', 'kernel', 'reference.js'));

const info = addon.info();
console.log(`  addon ${info.version}: isa ${info.isa}, available ${info.isasAvailable.join(',')}, threads ${info.threads}`);
if (info.isa !== expectedIsa) {
  console.error(`  FAIL: expected isa ${expectedIsa}, got ${info.isa}`);
  process.exit(1);
}

let seed = 12345;
const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
const filled = (n, scale, shift = 0) => Float32Array.from({ length: n }, () => rand() * scale + shift);

function makeVars(granularity, base) {
  return [[1, 1], [7, 3], [33, 17], [3000, 5]].map(([rows, last], k) => {
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

let worst = 0;
for (const granularity of [0, 1, 2]) {
  for (const base of [0, 1, 2]) {
    const params = {
      granularity, base, learningRate: 0.01, gildingRate: 0.3, annealing: 0.1, relativeCrack: true,
      normalizeMean: true, phiMin: 0, phiMax: 10, momentum: 0.9, beta1: 0.9, beta2: 0.999,
      epsilon: 1e-7, weightDecay: 0.01, throwOnNonFinite: false, step: 1,
    };
    const a = makeVars(granularity, base);
    const b = clone(a);
    const out = () => ({ skipped: new Uint8Array(a.length), meanAbsDeltaPhi: new Float64Array(a.length) });
    for (let t = 1; t <= 3; t++) {
      const o = out();
      if (addon.step(a, { ...params, step: t }, o.skipped, o.meanAbsDeltaPhi) !== -1) throw new Error('unexpected non-finite');
      referenceKernel.step(b, { ...params, step: t }, out());
    }
    a.forEach((v, k) => {
      for (const key of ['theta', 'phi']) {
        const x = v[key], y = b[k][key];
        for (let i = 0; i < x.length; i++) {
          worst = Math.max(worst, Math.abs(x[i] - y[i]) / Math.max(Math.abs(x[i]), Math.abs(y[i]), 1e-3));
        }
      }
    });
  }
}
console.log(`  9 granularity x base combinations, 3 steps: worst relative difference to the reference ${worst.toExponential(2)}`);
if (!(worst <= 1e-5)) {
  console.error('  FAIL: differs from the reference kernel');
  process.exit(1);
}
