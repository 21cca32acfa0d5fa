// The user script of the browser test (test/browser.test.ts): a small classifier trained with
// kintsugi() on the tfjs cpu backend, written once and run twice: bundled by esbuild for the
// browser (in headless Chromium, through the package's "browser" entry) and as it is in Node
// (the "node" entry). Only the package name is imported, as a user imports it.
import * as tf from '@tensorflow/tfjs';
import { kernelInfo, kintsugi, prepareWasmKernel, syntheticFraud } from 'kintsugi-optimizer';

export async function train() {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  // Some browsers compile a module this size on the main thread only asynchronously; elsewhere
  // this just loads the kernel early.
  await prepareWasmKernel();
  // The package's seeded generator: the same rows in every JS engine.
  const data = syntheticFraud({ n: 512, features: 9, prevalence: 0.2, seed: 42 });
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 8, activation: 'relu', inputShape: [data.cols], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  model.add(tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  const optimizer = kintsugi({ learningRate: 0.02, gildingRate: 0.05, granularity: 'unit' });
  model.compile({ optimizer, loss: 'binaryCrossentropy' });
  const x = tf.tensor2d(data.x, [data.rows, data.cols]);
  const y = tf.tensor2d(Float32Array.from(data.y), [data.rows, 1]);
  const history = await model.fit(x, y, { epochs: 8, batchSize: 32, shuffle: false, verbose: 0 });
  const result = {
    kernel: kernelInfo().kernel,
    backend: tf.getBackend(),
    loss: history.history.loss,
    weights: model.getWeights().map((w) => Array.from(w.dataSync())),
    phi: Array.from(optimizer.valueWeights(model.layers[0].getWeights()[0].name) ?? []),
  };
  tf.dispose([x, y]);
  model.dispose();
  optimizer.dispose();
  return result;
}
