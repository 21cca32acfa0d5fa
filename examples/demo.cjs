// The fraud story in under a minute: built-in synthetic transactions (1% fraud, three fraud
// patterns that overlap the normal ones), the same small network trained with Adam and with
// Kintsugi (both streams), compared on the held-out split, and a report of where the gold went.
//   npm run demo
const fs = require('node:fs');
const path = require('node:path');
const tf = require('@tensorflow/tfjs');
const k = require('kintsugi-optimizer');

tf.env().set('PROD', true); // silences tfjs's "install tfjs-node" banner

const EPOCHS = 12;
const LR = 0.003;

function split(data) {
  const { train, test } = k.stratifiedSplit(data.y, 0.3, 1);
  const x = k.standardize(data.x, data.cols, train);
  const take = (rows) => ({
    x: tf.tensor2d(gather(x, data.cols, rows), [rows.length, data.cols]),
    y: Float32Array.from(rows, (r) => data.y[r]),
  });
  return { train: take(train), test: take(test) };
}

function gather(x, cols, rows) {
  const out = new Float32Array(rows.length * cols);
  rows.forEach((r, i) => out.set(x.subarray(r * cols, (r + 1) * cols), i * cols));
  return out;
}

function model(cols) {
  const init = (seed) => tf.initializers.glorotUniform({ seed });
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 32, activation: 'relu', inputShape: [cols], kernelInitializer: init(1) }),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(3) }),
    ],
  });
}

async function train(name, compile, data) {
  const m = model(data.train.x.shape[1]);
  const { optimizer, loss } = compile();
  m.compile({ optimizer, loss });
  const recorder = optimizer instanceof k.KintsugiOptimizer ? new k.PhiRecorder(optimizer) : undefined;
  const y = tf.tensor2d(data.train.y, [data.train.y.length, 1]);
  const t0 = Date.now();
  await m.fit(data.train.x, y, { epochs: EPOCHS, batchSize: 64, shuffle: false, verbose: 0, callbacks: recorder });
  const pred = m.predict(data.test.x);
  const scores = await pred.data();
  const labels = data.test.y;
  tf.dispose([y, pred]);
  return {
    name,
    model: m,
    optimizer,
    recorder,
    seconds: (Date.now() - t0) / 1000,
    ap: k.averagePrecision(labels, scores),
    rocAuc: k.rocAuc(labels, scores),
    recallAtP50: k.recallAtPrecision(labels, scores, 0.5),
    recallAtFpr1: k.recallAtFpr(labels, scores, 0.01),
  };
}

async function main() {
  await tf.setBackend('cpu');
  const info = k.kernelInfo();
  console.log(`kernel: ${info.kernel} (${info.reason})`);
  const raw = k.syntheticFraud({ n: 10000, seed: 1 });
  const positives = raw.y.reduce((a, b) => a + b, 0);
  console.log(`data: ${raw.rows} synthetic transactions, ${raw.cols} features, ${positives} fraudulent (${((100 * positives) / raw.rows).toFixed(1)}%)`);
  const data = split(raw);
  const prevalence = data.test.y.reduce((a, b) => a + b, 0) / data.test.y.length;

  const runs = [];
  runs.push(await train('Adam', () => ({ optimizer: tf.train.adam(LR), loss: 'binaryCrossentropy' }), data));
  runs.push(
    await train('Kintsugi (unit + class stream)', () => {
      const optimizer = k.kintsugi({ learningRate: LR });
      return { optimizer, loss: optimizer.valueWeightedLoss('binaryCrossentropy') };
    }, data),
  );

  console.log(`\nheld-out split, ${data.test.y.length} rows; a random ranker's average precision is ${prevalence.toFixed(3)}`);
  console.log('method                          AP     ROC-AUC  recall@precision 0.5  recall@FPR 1%  train s');
  for (const r of runs) {
    console.log(
      `${r.name.padEnd(30)}  ${r.ap.toFixed(3)}  ${r.rocAuc.toFixed(3)}    ${r.recallAtP50.toFixed(3).padStart(8)}              ${r.recallAtFpr1.toFixed(3)}          ${r.seconds.toFixed(1)}`,
    );
  }

  const kin = runs[1];
  const stats = kin.optimizer.phiStats({ top: 3 });
  console.log(`\nclass value weights ϕ (legit, fraud): ${Array.from(kin.optimizer.classValueWeights(), (p) => p.toFixed(3)).join(', ')}`);
  for (const v of stats.variables) {
    const top = v.top.map((t) => `#${t.index}=${t.phi.toFixed(2)}`).join(' ');
    console.log(`  ${v.name.padEnd(22)} ${String(v.pathways).padStart(3)} pathways  max ${v.max.toFixed(2)}  gini ${v.gini.toFixed(3)}  top ${top}`);
  }
  const out = path.join(__dirname, 'output');
  fs.mkdirSync(out, { recursive: true });
  const file = path.join(out, 'phi-report.html');
  fs.writeFileSync(
    file,
    k.phiReport(kin.optimizer, {
      title: 'Kintsugi ϕ report: synthetic fraud demo',
      recorder: kin.recorder,
      classNames: ['legit', 'fraud'],
      firstLayer: {
        name: stats.variables[0].name,
        kernel: kin.model.layers[0].getWeights()[0].dataSync(),
        inputs: raw.cols,
        units: 32,
        featureNames: raw.featureNames,
      },
    }),
  );
  console.log(`\nϕ report (histograms, most gilded units and the features feeding them, drift per epoch): ${path.relative(process.cwd(), file)}`);
  console.log('One seed only: for the honest comparison over seeds and baselines, run npm run bench:rare.');
  for (const r of runs) {
    r.model.dispose();
    r.optimizer.dispose();
  }
  tf.dispose([data.train.x, data.test.x]);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
