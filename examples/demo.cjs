// The two-minute demo: a small classifier on built-in synthetic imbalanced data (2% positives),
// trained with Kintsugi, printing the loss and where the gold went.
//   npm run demo
const tf = require('@tensorflow/tfjs');
const { kintsugi, kernelInfo } = require('kintsugi-optimizer');

tf.env().set('PROD', true); // silences tfjs's "install tfjs-node" banner

/** Deterministic data: 4,000 rows, 8 features, positives are a rare pattern in features 0–2. */
function imbalancedData(n = 4000, features = 8, seed = 42) {
  let s = seed >>> 0;
  const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const x = new Float32Array(n * features);
  const y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const rare = rand() < 0.02;
    y[i] = rare ? 1 : 0;
    for (let f = 0; f < features; f++) x[i * features + f] = gauss() + (rare && f < 3 ? 1.8 : 0);
  }
  return { x: tf.tensor2d(x, [n, features]), y: tf.tensor2d(y, [n, 1]), positives: y.reduce((a, b) => a + b, 0) };
}

async function main() {
  await tf.setBackend('cpu');
  console.log('kernel:', kernelInfo().kernel, '-', kernelInfo().reason);
  const { x, y, positives } = imbalancedData();
  console.log(`data: ${x.shape[0]} rows, ${positives} positives (${((100 * positives) / x.shape[0]).toFixed(1)}%)`);

  const model = tf.sequential({
    layers: [
      tf.layers.dense({ units: 16, activation: 'relu', inputShape: [x.shape[1]] }),
      tf.layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
  });
  const optimizer = kintsugi({ learningRate: 0.01 });
  model.compile({ optimizer, loss: 'binaryCrossentropy' });

  await model.fit(x, y, {
    epochs: 8,
    batchSize: 64,
    verbose: 0,
    callbacks: {
      onEpochEnd: (epoch, logs) => {
        const drift = optimizer.phiStats().variables.reduce((s, v) => s + v.meanAbsDeltaPhi, 0);
        console.log(`epoch ${epoch + 1}  loss ${logs.loss.toFixed(4)}  Σ mean|Δϕ| ${drift.toExponential(2)}`);
      },
    },
  });

  console.log('\nvalue weights ϕ per variable (unit granularity: one ϕ per output unit):');
  for (const v of optimizer.phiStats({ top: 3 }).variables) {
    const top = v.top.map((t) => `#${t.index}=${t.phi.toFixed(3)}`).join(' ');
    console.log(
      `  ${v.name.padEnd(22)} pathways ${String(v.pathways).padStart(3)}  min ${v.min.toFixed(3)}  max ${v.max.toFixed(3)}  gini ${v.gini.toFixed(3)}  top ${top}`,
    );
  }
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
