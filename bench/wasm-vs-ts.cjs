// The WebAssembly kernel against the TypeScript reference kernel and the native addon: step time
// per element count for one variable (adam, unit granularity, relative crack; shape [n/10, 10]
// as bench/throughput.cjs), all kernels called directly (no tfjs), in one process.
//
//   bash scripts/build-wasm.sh && npm run build      # build/wasm/*.wasm and dist/
//   node bench/wasm-vs-ts.cjs [--quick] [--json out.json]
//
// GB/s counts 36 bytes per element (read θ g ϕ m v, write θ m v: 9 × 4 B). The wasm kernel's
// time includes copying the arrays into its memory and back; the "copy" column is those copies
// alone (5 arrays in, 4 out, as Float32Array.set), the floor any copying kernel pays.
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const QUICK = process.argv.includes('--quick');
const jsonAt = process.argv.indexOf('--json');
const JSON_OUT = jsonAt > 0 ? process.argv[jsonAt + 1] : null;
const SIZES = QUICK ? [1e4, 1e5] : [1e4, 1e5, 1e6, 1e7];
const BYTES_PER_ELEMENT = 36;
const MIN_TIME_MS = QUICK ? 30 : 400;
const MIN_REPS = 3;
const MAX_REPS = QUICK ? 20 : 300;

function need(file, hint) {
  if (!fs.existsSync(file)) {
    console.error(`wasm-vs-ts: ${path.relative(ROOT, file)} is missing; ${hint}`);
    process.exit(1);
  }
  return require(file);
}
const dist = path.join(ROOT, 'dist');
const { referenceKernel } = need(path.join(dist, 'kernel', 'reference.js'), "run 'npm run build'");
const { kernelParamsOf, GRANULARITY } = need(path.join(dist, 'kernel', 'types.js'), "run 'npm run build'");
const { resolveOptions } = need(path.join(dist, 'options.js'), "run 'npm run build'");
const { loadWasmKernel } = need(path.join(dist, 'kernel', 'wasm.js'), "run 'npm run build'");

function readWasm(file) {
  const at = path.join(ROOT, 'build', 'wasm', file);
  if (!fs.existsSync(at)) {
    console.error(`wasm-vs-ts: build/wasm/${file} is missing; run 'bash scripts/build-wasm.sh'`);
    process.exit(1);
  }
  return new Uint8Array(fs.readFileSync(at));
}
const binaries = { simd: readWasm('kintsugi-simd.wasm'), scalar: readWasm('kintsugi-scalar.wasm') };

function wasm(simd) {
  const l = loadWasmKernel({ binaries, simd });
  if (l.error) {
    console.error(`wasm-vs-ts: ${l.error}`);
    process.exit(1);
  }
  return l.kernel;
}

let native = null;
let nativeNote = '';
try {
  native = require('node-gyp-build')(ROOT);
  const info = native.info();
  nativeNote = `native addon ${info.version}: ${info.isa}, ${info.threads} threads`;
} catch (e) {
  nativeNote = `native addon not loaded (${String(e.message).split('\n')[0]})`;
}

const params = { ...kernelParamsOf(resolveOptions({ learningRate: 1e-3, gildingRate: 0.01 })), granularity: GRANULARITY.unit };

function randomFill(a, seed, scale = 0.02, shift = 0) {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * scale + shift;
  }
  return a;
}

function timeIt(step) {
  for (let i = 0; i < 2; i++) step(); // warm-up: JIT, first-touch pages, the wasm arena
  const times = [];
  const start = performance.now();
  while (times.length < MAX_REPS && (times.length < MIN_REPS || performance.now() - start < MIN_TIME_MS)) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[times.length >> 1], minMs: times[0], reps: times.length };
}

const kernels = {
  ts: referenceKernel,
  'wasm-scalar': wasm(false),
  'wasm-simd': wasm(true),
};

console.log(`wasm-vs-ts: node ${process.version}, ${nativeNote}; adam, unit granularity, shape [n/10, 10]; median step time`);
const rows = [];
for (const n of SIZES) {
  const U = 10;
  const v = {
    name: 'w',
    theta: randomFill(new Float32Array(n), 1, 2),
    grad: randomFill(new Float32Array(n), 2),
    phi: new Float32Array(U).fill(1),
    m: new Float32Array(n),
    v: new Float32Array(n),
  };
  const vars = [v];
  const out = { skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) };
  let t = 0;
  const row = { n };
  for (const [name, kernel] of Object.entries(kernels)) {
    row[name] = timeIt(() => kernel.step(vars, { ...params, step: ++t }, out));
  }
  if (native) row.native = timeIt(() => native.step(vars, { ...params, step: ++t }, out.skipped, out.meanAbsDeltaPhi));
  const scratch = new Float32Array(5 * n);
  row.copy = timeIt(() => {
    scratch.set(v.theta, 0);
    scratch.set(v.grad, n);
    scratch.set(v.phi, 2 * n);
    scratch.set(v.m, 3 * n);
    scratch.set(v.v, 4 * n);
    v.theta.set(scratch.subarray(0, n));
    v.phi.set(scratch.subarray(2 * n, 2 * n + U));
    v.m.set(scratch.subarray(3 * n, 4 * n));
    v.v.set(scratch.subarray(4 * n, 5 * n));
  });
  if (out.skipped[0] !== 0) throw new Error('a benchmark step was skipped: non-finite values');
  rows.push(row);
}

const gbs = (n, r) => (r ? (n * BYTES_PER_ELEMENT) / (r.medianMs * 1e6) : NaN);
const names = ['ts', 'wasm-scalar', 'wasm-simd', ...(native ? ['native'] : []), 'copy'];
const header = ['elements', ...names.map((k) => `${k} ms (GB/s)`), 'wasm-simd / ts', ...(native ? ['native / wasm-simd'] : [])];
const lines = [`| ${header.join(' | ')} |`, `| ${header.map(() => '---').join(' | ')} |`];
for (const r of rows) {
  const cells = [r.n.toExponential(0)];
  for (const k of names) cells.push(`${r[k].medianMs.toFixed(r[k].medianMs < 1 ? 3 : 1)} (${gbs(r.n, r[k]).toFixed(2)})`);
  // Speed-ups: how many times faster the first is than the second.
  cells.push(`${(r.ts.medianMs / r['wasm-simd'].medianMs).toFixed(2)}×`);
  if (native) cells.push(`${(r['wasm-simd'].medianMs / r.native.medianMs).toFixed(2)}×`);
  lines.push(`| ${cells.join(' | ')} |`);
}
console.log(lines.join('\n'));
console.log('ratios are speed-ups: wasm-simd / ts = t(ts) / t(wasm-simd); native / wasm-simd = t(wasm-simd) / t(native)');
if (JSON_OUT) {
  fs.writeFileSync(JSON_OUT, JSON.stringify({ node: process.version, native: nativeNote, bytesPerElement: BYTES_PER_ELEMENT, rows }, null, 2));
  console.log(`wasm-vs-ts: wrote ${JSON_OUT}`);
}
