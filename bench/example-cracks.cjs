// The cost of per-example cracks: one training step (optimizer.minimize on a batch-mean binary
// cross-entropy) of the same MLP with the unit parameter stream, with and without
// optimizer.exampleCracks(model), timed in alternation in one process on tfjs's cpu backend; the
// ratio is the price of the tap (one more small reduction per Dense layer per step, and a read
// of the cracks back to the CPU).
//
//   npm run bench:cracks            # writes bench/results/example-cracks.{json,md}
//   npm run bench:cracks -- --quick # fewer repetitions, into bench/results/tmp/ (CI)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
const k = require('kintsugi-optimizer');
const { timePair } = require('./time-pair.cjs');

const QUICK = process.argv.includes('--quick');
const MIN_TIME_MS = QUICK ? 150 : 2000;
const MIN_REPS = QUICK ? 5 : 30;
// --quick writes into bench/results/tmp/ (ignored by git), so a CI run never touches the shipped figures.
const OUT = path.join(__dirname, 'results', ...(QUICK ? ['tmp'] : []));

/** The harness's MLP (bench/rare.cjs) and a wider one, at the batch sizes the harness uses. */
const CASES = [
  { name: 'rare-event MLP 16→32→16→1', inputs: 16, units: [32, 16], batch: 64, top: 1 },
  { name: 'rare-event MLP 16→32→16→1', inputs: 16, units: [32, 16], batch: 64, top: 8 },
  { name: 'rare-event MLP 16→32→16→1', inputs: 16, units: [32, 16], batch: 128, top: 8 },
  { name: 'wider MLP 64→256→128→1', inputs: 64, units: [256, 128], batch: 256, top: 8 },
];

function buildModel(inputs, units, seed) {
  const init = (s) => tf.initializers.glorotUniform({ seed: seed * 100 + s });
  const layers = units.map((u, i) => tf.layers.dense({ units: u, activation: 'relu', kernelInitializer: init(i + 1), ...(i === 0 ? { inputShape: [inputs] } : {}) }));
  layers.push(tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(9) }));
  return tf.sequential({ layers });
}

function batchOf(inputs, batch, seed) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const x = tf.tensor2d(Float32Array.from({ length: batch * inputs }, () => rand() * 2 - 1), [batch, inputs]);
  const y = tf.tensor2d(Float32Array.from({ length: batch }, () => (rand() < 0.05 ? 1 : 0)), [batch, 1]);
  return { x, y };
}

function trainer(c, tap) {
  const model = buildModel(c.inputs, c.units, 1);
  const optimizer = k.kintsugi({ granularity: 'unit', learningRate: 0.003, gildingRate: 0.1 });
  if (tap) optimizer.exampleCracks(model, { top: c.top });
  const { x, y } = batchOf(c.inputs, c.batch, 7);
  const loss = () => tf.mean(tf.metrics.binaryCrossentropy(y, model.apply(x)));
  return {
    step: () => tf.dispose(optimizer.minimize(loss, true)),
    dispose: () => {
      optimizer.dispose();
      model.dispose();
      tf.dispose([x, y]);
    },
  };
}


async function main() {
  await tf.setBackend('cpu');
  tf.env().set('PROD', true);
  const rows = [];
  for (const c of CASES) {
    const withTap = trainer(c, true);
    const plain = trainer(c, false);
    const { aMs: tapMs, bMs: plainMs, reps } = timePair(withTap.step, plain.step, { minReps: MIN_REPS, minTimeMs: MIN_TIME_MS, warmup: 3 });
    withTap.dispose();
    plain.dispose();
    rows.push({ model: c.name, batch: c.batch, top: c.top, tapMs, plainMs, reps, ratio: tapMs / plainMs });
  }
  const kernel = k.kernelInfo().kernel;
  const date = new Date().toISOString().slice(0, 10);
  const md = [
    `Per-example cracks: one training step (minimize) with and without \`optimizer.exampleCracks(model)\`, unit parameter stream, tfjs cpu backend, ${kernel} kernel; medians of steps timed in alternation (${date}, \`npm run bench:cracks${QUICK ? ' -- --quick' : ''}\`).`,
    '',
    '| model | batch | top | step, gradient cracks | step, per-example cracks | ratio | steps timed |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.model} | ${r.batch} | ${r.top} | ${r.plainMs.toFixed(2)} ms | ${r.tapMs.toFixed(2)} ms | ${r.ratio.toFixed(2)}× | ${r.reps} |`),
    '',
  ].join('\n');
  fs.mkdirSync(OUT, { recursive: true });
  const stem = 'example-cracks';
  fs.writeFileSync(path.join(OUT, `${stem}.json`), JSON.stringify({ date, kernel, quick: QUICK, rows }, null, 2) + '\n');
  fs.writeFileSync(path.join(OUT, `${stem}.md`), md);
  process.stdout.write(md);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
