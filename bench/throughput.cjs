// Throughput: the native kernel, the WebAssembly kernel (SIMD and scalar builds), the reference
// kernel, KintsugiOptimizer.applyGradients on the
// cpu and wasm backends with each kernel, tf.train.adam, and Kintsugi written in plain tfjs ops,
// against a native STREAM-style triad measured in the same run (the reachable bandwidth); and,
// where a GPU can be used, the CUDA kernel against the GPU's bandwidth (bench/cuda.cjs).
//
//   npm run bench            # full run, writes bench/results/throughput.{json,md,svg}
//   npm run bench -- --quick # small sizes and few repetitions (what CI runs so this never rots)
//
// Each (backend, kernel) contender runs in its own child process, selected with KINTSUGI_KERNEL
// exactly as a user would select it; the parent gathers the figures.
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { cudaBench, cudaMarkdown } = require('./cuda.cjs');
const { timePair: timeAlternating } = require('./time-pair.cjs');

const QUICK = process.argv.includes('--quick');
const BYTES_PER_ELEMENT = 36; // adam: read θ g ϕ m v, write θ m v (ϕ per unit is negligible): 9 × 4 B
const SINGLE_SIZES = QUICK ? [1e3, 1e4, 1e5] : [1e3, 1e4, 1e5, 1e6, 1e7];
const MIN_TIME_MS = QUICK ? 30 : 400;
const MIN_REPS = 3;
const MAX_REPS = QUICK ? 20 : 300;

/** Models as lists of variable shapes. */
function models() {
  const single = SINGLE_SIZES.map((n) => ({ name: `1 × ${n.toExponential(0)}`, shapes: [[n / 10, 10]], size: n }));
  const widths = QUICK ? [64, 128, 64, 10] : [512, 1024, 1024, 1024, 1024, 512, 512, 256, 256, 128, 10];
  const mlp = [];
  for (let i = 0; i + 1 < widths.length; i++) mlp.push([widths[i], widths[i + 1]], [widths[i + 1]]);
  const small = [];
  let s = 12345;
  const count = QUICK ? 20 : 200;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const n = 1000 + (s % 9001); // 1e3 … 1e4
    small.push([Math.ceil(n / 10), 10]);
  }
  const total = (shapes) => shapes.reduce((a, sh) => a + sh.reduce((x, y) => x * y, 1), 0);
  const smallTotal = total(small);
  return [
    ...single,
    { name: `MLP (${mlp.length} variables)`, shapes: mlp, size: total(mlp) },
    { name: `${count} small variables`, shapes: small, size: smallTotal },
    { name: `1 variable, same total as ${count} small`, shapes: [[Math.round(smallTotal / 10), 10]], size: Math.round(smallTotal / 10) * 10 },
  ];
}

function timeIt(step) {
  for (let i = 0; i < 2; i++) step(); // warm-up: JIT, first-touch pages, lazily built state
  const times = [];
  const start = performance.now();
  while (times.length < MAX_REPS && (times.length < MIN_REPS || performance.now() - start < MIN_TIME_MS)) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  return { medianMs: times[times.length >> 1], minMs: times[0], maxMs: times[times.length - 1], reps: times.length };
}

/** timePair with this run's budget: at least MIN_REPS, about MIN_TIME_MS each, at most 2 × MAX_REPS. */
const timePair = (stepA, stepB) => timeAlternating(stepA, stepB, { minReps: MIN_REPS, minTimeMs: MIN_TIME_MS, maxReps: 2 * MAX_REPS });

/** The many-small-variables model and the one variable of the same total, as [name, shapes] pairs. */
function smallVsOne() {
  const all = models();
  const one = all[all.length - 1];
  const small = all[all.length - 2];
  return { small, one };
}

function randomFill(a, seed) {
  let s = seed >>> 0;
  for (let i = 0; i < a.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 4294967296 - 0.5) * 0.02;
  }
  return a;
}

const HYPER = { learningRate: 1e-3, gildingRate: 0.01 };

/** Kintsugi (unit granularity, adam, relative crack) as a user would write it with tfjs ops. */
function plainTfjsKintsugi(tf, variables) {
  const state = variables.map((v) => ({
    m: tf.variable(tf.zerosLike(v), false),
    v: tf.variable(tf.zerosLike(v), false),
    phi: tf.variable(tf.ones([v.shape[v.shape.length - 1]]), false),
  }));
  let t = 0;
  return (grads) => {
    t++;
    tf.tidy(() => {
      const bc1 = 1 - 0.9 ** t;
      const bc2 = 1 - 0.999 ** t;
      variables.forEach((x, i) => {
        const g = grads[i];
        const s = state[i];
        const U = x.shape[x.shape.length - 1];
        const crack = tf.mean(tf.reshape(tf.abs(g), [-1, U]), 0);
        const rel = tf.div(crack, tf.maximum(tf.mean(crack), 1e-30));
        const hat = tf.add(s.phi, tf.mul(rel, HYPER.gildingRate));
        const phi = tf.clipByValue(tf.mul(hat, tf.div(U, tf.sum(hat))), 0, 10);
        const m = tf.add(tf.mul(s.m, 0.9), tf.mul(g, 0.1));
        const v = tf.add(tf.mul(s.v, 0.999), tf.mul(tf.square(g), 0.001));
        const d = tf.div(tf.div(m, bc1), tf.add(tf.sqrt(tf.div(v, bc2)), 1e-7));
        x.assign(tf.sub(x, tf.mul(tf.mul(d, phi), HYPER.learningRate)));
        s.m.assign(m);
        s.v.assign(v);
        s.phi.assign(phi);
      });
    });
  };
}

/** Child process: one backend and one contender family; prints JSON on stdout. */
async function worker(backend, family) {
  const tf = require('@tensorflow/tfjs');
  require('@tensorflow/tfjs-backend-wasm');
  tf.env().set('PROD', true);
  await tf.setBackend(backend);
  const k = require('kintsugi-optimizer');
  const results = [];
  for (const m of models()) {
    const vars = m.shapes.map((shape, i) => tf.tidy(() => tf.variable(tf.tensor(randomFill(new Float32Array(shape.reduce((a, b) => a * b, 1)), i + 1), shape), true, `${m.name}/${i}`)));
    const grads = m.shapes.map((shape, i) => tf.tensor(randomFill(new Float32Array(shape.reduce((a, b) => a * b, 1)), 1000 + i), shape));
    const named = vars.map((v, i) => ({ name: v.name, tensor: grads[i] }));
    const contenders = {};
    if (family === 'kintsugi') {
      const opt = k.kintsugi(HYPER);
      contenders[`applyGradients ${backend} ${k.kernelInfo().kernel}`] = () => opt.applyGradients(named);
    } else {
      const adam = tf.train.adam(HYPER.learningRate);
      contenders[`tf.train.adam ${backend}`] = () => adam.applyGradients(named);
      const plain = plainTfjsKintsugi(tf, vars);
      contenders[`plain-tfjs Kintsugi ${backend}`] = () => plain(grads);
    }
    for (const [name, step] of Object.entries(contenders)) {
      const timing = timeIt(step);
      results.push({ contender: name, model: m.name, size: m.size, variables: m.shapes.length, ...timing });
    }
    tf.dispose([...vars, ...grads]);
  }
  if (family === 'kintsugi') {
    const { small, one } = smallVsOne();
    const step = (m) => {
      const vars = m.shapes.map((shape, i) => tf.variable(tf.tensor(randomFill(new Float32Array(shape.reduce((a, b) => a * b, 1)), i + 1), shape), true, `pair ${m.name}/${i}`));
      const named = m.shapes.map((shape, i) => ({ name: vars[i].name, tensor: tf.tensor(randomFill(new Float32Array(shape.reduce((a, b) => a * b, 1)), 1000 + i), shape) }));
      const opt = k.kintsugi(HYPER);
      return { run: () => opt.applyGradients(named), tensors: [...vars, ...named.map((n) => n.tensor)] };
    };
    const a = step(small);
    const b = step(one);
    results.push({ pair: `applyGradients ${backend} ${k.kernelInfo().kernel}`, small: small.name, one: one.name, ...timePair(a.run, b.run) });
    tf.dispose([...a.tensors, ...b.tensors]);
    results.push(...memoryGrowth(tf, k, backend));
  }
  process.stdout.write(JSON.stringify(results));
}

/** JS heap and RSS growth over 1,000 steady-state steps at 1e4 elements. */
function memoryGrowth(tf, k, backend) {
  const v = tf.tidy(() => tf.variable(tf.tensor(randomFill(new Float32Array(1e4), 7), [1000, 10]), true, 'memory/v'));
  const g = tf.tensor(randomFill(new Float32Array(1e4), 8), [1000, 10]);
  const opt = k.kintsugi(HYPER);
  const named = [{ name: v.name, tensor: g }];
  for (let i = 0; i < 50; i++) opt.applyGradients(named);
  global.gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const rss0 = process.memoryUsage().rss;
  const tensors0 = tf.memory().numTensors;
  for (let i = 0; i < 1000; i++) opt.applyGradients(named);
  global.gc?.();
  return [{
    contender: `applyGradients ${backend} ${k.kernelInfo().kernel}`,
    memory: {
      heapGrowthBytes: process.memoryUsage().heapUsed - heap0,
      rssGrowthBytes: process.memoryUsage().rss - rss0,
      tensorGrowth: tf.memory().numTensors - tensors0,
      gcExposed: typeof global.gc === 'function',
    },
  }];
}

function runWorker(backend, family, kernel) {
  const out = execFileSync(process.execPath, ['--expose-gc', __filename, '--worker', backend, family, ...(QUICK ? ['--quick'] : [])], {
    env: { ...process.env, KINTSUGI_KERNEL: kernel },
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  return JSON.parse(out);
}

/** The direct kernel calls and the triad, in this process. */
function direct() {
  const { referenceKernel } = require('../dist/kernel/reference.js');
  const { loadNativeKernel, loadNativeAddon } = require('../dist/kernel/native.js');
  const { kernelParamsOf, resolveOptions } = require('../dist/options.js');
  const { loadWasmKernel } = require('../dist/kernel/wasm.js');
  const native = loadNativeKernel();
  const kernels = [['reference kernel', referenceKernel]];
  for (const simd of [false, true]) {
    const wasm = loadWasmKernel({ simd });
    if (!('error' in wasm)) kernels.unshift([`wasm-${simd ? 'simd' : 'scalar'} kernel`, wasm.kernel]);
  }
  if (!('error' in native)) kernels.unshift(['native kernel', native.kernel]);
  const params = kernelParamsOf(resolveOptions(HYPER));
  const results = [];
  for (const m of models()) {
    const vars = m.shapes.map((shape, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return {
        name: `v${i}`, theta: randomFill(new Float32Array(n), i + 1), grad: randomFill(new Float32Array(n), 1000 + i),
        phi: new Float32Array(shape[shape.length - 1]).fill(1), m: new Float32Array(n), v: new Float32Array(n),
      };
    });
    const out = { skipped: new Uint8Array(vars.length), meanAbsDeltaPhi: new Float64Array(vars.length) };
    for (const [name, kernel] of kernels) {
      const timing = timeIt(() => { params.step++; kernel.step(vars, params, out); });
      results.push({ contender: name, model: m.name, size: m.size, variables: vars.length, ...timing });
    }
  }
  const { small, one } = smallVsOne();
  const kernelVars = (m) =>
    m.shapes.map((shape, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      return { name: `v${i}`, theta: randomFill(new Float32Array(n), i + 1), grad: randomFill(new Float32Array(n), 1000 + i), phi: new Float32Array(shape[shape.length - 1]).fill(1), m: new Float32Array(n), v: new Float32Array(n) };
    });
  for (const [name, kernel] of kernels) {
    const [a, b] = [kernelVars(small), kernelVars(one)];
    const outs = [a, b].map((vars) => ({ skipped: new Uint8Array(vars.length), meanAbsDeltaPhi: new Float64Array(vars.length) }));
    const run = (vars, out) => () => { params.step++; kernel.step(vars, params, out); };
    results.push({ pair: name, small: small.name, one: one.name, ...timePair(run(a, outs[0]), run(b, outs[1])) });
  }
  const addon = loadNativeAddon();
  let triad = null;
  if (!('error' in addon) && typeof addon.triad === 'function') {
    const n = QUICK ? 4e6 : 2e7; // far beyond the last-level cache
    const [a, b, c] = [new Float32Array(n), randomFill(new Float32Array(n), 1), randomFill(new Float32Array(n), 2)];
    const t = timeIt(() => addon.triad(a, b, c, 1.5));
    triad = { elements: n, bytesPerElement: 12, ...t, gbPerS: (n * 12) / (t.medianMs * 1e6) };
  }
  return { results, triad, native: 'error' in native ? { error: native.error } : native.info, memory: directMemory(kernels, params) };
}

/** Heap growth of 1,000 direct native kernel calls (the binding itself must not allocate). */
function directMemory(kernels, params) {
  const n = 1e4;
  const vars = [{ name: 'm', theta: new Float32Array(n), grad: randomFill(new Float32Array(n), 3), phi: new Float32Array(10).fill(1), m: new Float32Array(n), v: new Float32Array(n) }];
  const out = { skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) };
  return kernels.map(([name, kernel]) => {
    for (let i = 0; i < 50; i++) kernel.step(vars, params, out);
    global.gc?.();
    const h0 = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1000; i++) kernel.step(vars, params, out);
    global.gc?.();
    return { contender: name, memory: { heapGrowthBytes: process.memoryUsage().heapUsed - h0, gcExposed: typeof global.gc === 'function' } };
  });
}

function cpuModel() {
  const cpus = os.cpus();
  return `${cpus[0]?.model ?? 'unknown CPU'} (${cpus.length} logical CPUs)`;
}

async function main() {
  const started = Date.now();
  console.log(`throughput benchmark${QUICK ? ' (quick)' : ''} on ${cpuModel()}`);
  const d = direct();
  // The CUDA section (bench/cuda.cjs): only where a GPU can be used, else one line saying why.
  const cuda = cudaBench({ quick: QUICK, timeIt, randomFill });
  if (cuda.skipped) console.log(`CUDA: skipped (${cuda.skipped})`);
  const rows = d.results.filter((x) => !x.pair);
  const pairs = d.results.filter((x) => x.pair);
  const memory = [...d.memory];
  const nativeOk = !('error' in d.native);
  const wasmOk = d.results.some((x) => x.contender === 'wasm-simd kernel');
  for (const backend of ['cpu', 'wasm']) {
    for (const kernel of [...(nativeOk ? ['native'] : []), ...(wasmOk ? ['wasm'] : []), 'js']) {
      const r = runWorker(backend, 'kintsugi', kernel);
      rows.push(...r.filter((x) => !x.memory && !x.pair));
      pairs.push(...r.filter((x) => x.pair));
      memory.push(...r.filter((x) => x.memory));
      console.log(`  done: applyGradients ${backend} ${kernel}`);
    }
    rows.push(...runWorker(backend, 'tfjs', 'js'));
    console.log(`  done: tfjs contenders on ${backend}`);
  }
  const triadGB = d.triad?.gbPerS ?? NaN;
  for (const r of rows) {
    r.gbPerS = (r.size * BYTES_PER_ELEMENT) / (r.medianMs * 1e6);
    r.fractionOfTriad = r.gbPerS / triadGB;
  }
  const result = {
    date: new Date().toISOString(),
    quick: QUICK,
    machine: { cpu: cpuModel(), platform: `${process.platform}-${process.arch}`, node: process.version },
    native: d.native,
    triad: d.triad,
    cuda,
    bytesPerElement: BYTES_PER_ELEMENT,
    rows,
    pairs,
    memory,
  };
  const dir = path.join(__dirname, 'results', QUICK ? 'tmp' : '');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'throughput.json'), JSON.stringify(result, null, 2));
  fs.writeFileSync(path.join(dir, 'throughput.md'), markdown(result));
  fs.writeFileSync(path.join(dir, 'throughput.svg'), throughputChart(result));
  console.log(markdown(result));
  console.log(`wrote ${dir}/throughput.{json,md,svg} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

/** GB/s against size, one line per contender, single-variable models, the triad as the roofline. */
function throughputChart(result) {
  const { lineChart } = require('kintsugi-optimizer');
  const contenders = [...new Set(result.rows.map((r) => r.contender))];
  const singles = result.rows.filter((r) => r.model.startsWith('1 × '));
  const triadGB = result.triad?.gbPerS ?? NaN;
  return lineChart({
    title: `Kintsugi step throughput (${result.date.slice(0, 10)})`,
    xLabel: 'elements (one variable)',
    yLabel: 'effective GB/s (36 B/element)',
    logX: true,
    series: contenders.map((c) => ({ name: c, points: singles.filter((r) => r.contender === c).map((r) => [r.size, r.gbPerS]) })),
    hLines: Number.isFinite(triadGB) ? [{ y: triadGB, label: `triad roofline ${triadGB.toFixed(1)} GB/s` }] : [],
    width: 860,
    height: 420,
  });
}

function markdown(r) {
  const lines = [];
  lines.push(`Machine: ${r.machine.cpu}, ${r.machine.platform}, Node ${r.machine.node}.`);
  lines.push(r.native.error ? `Native kernel: not available (${r.native.error}).` : `Native kernel: ISA ${r.native.isa}, ${r.native.threads} threads, addon ${r.native.addonVersion}.`);
  lines.push(r.triad ? `Triad roofline (native, same threads): ${r.triad.gbPerS.toFixed(1)} GB/s.` : 'Triad roofline: not measured (no native addon).');
  lines.push('');
  lines.push('| model | contender | median ms (min–max) | GB/s | of roofline | speed-up vs tf.train.adam (same backend) |');
  lines.push('| --- | --- | --- | --- | --- | --- |');
  const adam = (model, contender) => {
    // 'applyGradients wasm native', 'tf.train.adam wasm', …: the backend is the word after the
    // family; direct kernel calls ('wasm-simd kernel') compare with the cpu backend's Adam.
    const backend = /^(?:applyGradients|tf\.train\.adam|plain-tfjs Kintsugi) (\w+)/.exec(contender)?.[1] ?? 'cpu';
    return r.rows.find((x) => x.model === model && x.contender === `tf.train.adam ${backend}`);
  };
  for (const x of r.rows) {
    const a = adam(x.model, x.contender);
    const speedup = a && !x.contender.startsWith('tf.train.adam') ? `${(a.medianMs / x.medianMs).toFixed(1)}×` : '';
    lines.push(`| ${x.model} | ${x.contender} | ${x.medianMs.toFixed(3)} (${x.minMs.toFixed(3)}–${x.maxMs.toFixed(3)}) | ${x.gbPerS.toFixed(2)} | ${Number.isFinite(x.fractionOfTriad) ? `${(100 * x.fractionOfTriad).toFixed(0)}%` : 'n/a'} | ${speedup} |`);
  }
  lines.push('');
  lines.push(...kernelRatios(r.rows));
  lines.push('');
  lines.push(...pairRatios(r.pairs ?? []));
  lines.push('');
  lines.push('| contender | JS heap growth over 1,000 steps | RSS growth | tensor growth |');
  lines.push('| --- | --- | --- | --- |');
  for (const m of r.memory) {
    lines.push(`| ${m.contender} | ${m.memory.heapGrowthBytes} B | ${m.memory.rssGrowthBytes ?? 'n/a'} B | ${m.memory.tensorGrowth ?? 'n/a'} |`);
  }
  lines.push('', ...cudaMarkdown(r.cuda));
  return lines.join('\n') + '\n';
}

/** Many small variables against one of the same total, timed in alternation (target: within 1.25×). */
function pairRatios(pairs) {
  if (pairs.length === 0) return [];
  const lines = [`Per-variable overhead: ${pairs[0].small} against ${pairs[0].one}, the two steps timed in alternation in one process (target ≤ 1.25×):`, ''];
  lines.push('| contender | small ms | one ms | ratio |');
  lines.push('| --- | ---: | ---: | ---: |');
  for (const p of pairs) lines.push(`| ${p.pair} | ${p.aMs.toFixed(3)} | ${p.bMs.toFixed(3)} | ${p.ratio.toFixed(2)}× ${p.ratio <= 1.25 ? '' : '(over)'} |`);
  return lines;
}

/** Speed-ups between the fallbacks, from the direct kernel calls of the same run. */
function kernelRatios(rows) {
  const ms = (model, contender) => rows.find((x) => x.model === model && x.contender === contender)?.medianMs;
  const ratio = (a, b) => (a && b ? `${(a / b).toFixed(1)}×` : 'n/a');
  const lines = ['Kernel speed-ups (direct calls, median step time of the slower over the faster):', ''];
  lines.push('| model | wasm-simd / TypeScript | wasm-simd / wasm-scalar | native / wasm-simd |');
  lines.push('| --- | --- | --- | --- |');
  for (const model of [...new Set(rows.map((x) => x.model))]) {
    const [ts, scalar, simd, native] = ['reference kernel', 'wasm-scalar kernel', 'wasm-simd kernel', 'native kernel'].map((c) => ms(model, c));
    if (!ts) continue;
    lines.push(`| ${model} | ${ratio(ts, simd)} | ${ratio(scalar, simd)} | ${ratio(simd, native)} |`);
  }
  return lines;
}

if (require.main !== module) {
  // For the chart test, and to draw a results file again: the chart from a throughput.json.
  module.exports = { throughputChart, timeIt, randomFill };
} else if (process.argv[2] === '--worker') {
  worker(process.argv[3], process.argv[4]).catch((e) => {
    console.error(e);
    process.exit(1);
  });
} else {
  main().catch((e) => {
    console.error(`bench: ${e.stack ?? e.message}`);
    process.exit(1);
  });
}
