// The fraud model and its input scaling, shared by the service, the offline replay and the bench.
//
// createModel is the factory the trainer's worker loads by path (functions cannot cross threads):
// createTrainer({ model: { module: MODEL_MODULE, exportName: 'createModel', args: { features } } }).
// Initializers are seeded, so every thread and every process starts from the same weights.
'use strict';
const { syntheticFraud } = require('kintsugi-optimizer');

const FEATURES = 12; // syntheticFraud's default: 9 named features and 3 anonymized ones

/** @param {typeof import('@tensorflow/tfjs')} tf */
function createModel(tf, args = {}) {
  const features = args.features ?? FEATURES;
  const seed = args.seed ?? 1;
  const init = (s) => tf.initializers.glorotUniform({ seed: seed * 100 + s });
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 32, activation: 'relu', inputShape: [features], kernelInitializer: init(1) }),
      tf.layers.dense({ units: 16, activation: 'relu', kernelInitializer: init(2) }),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(3) }),
    ],
  });
}

let scaling = null;

/**
 * Fixed per-feature mean and standard deviation, from a reference sample of the synthetic
 * generator (seed 20240, 20,000 rows). Fixed, not fitted on the stream: the same transaction
 * is always scaled the same way, before and after a restart, online and in an offline replay.
 */
function featureScaling() {
  if (scaling) return scaling;
  const ref = syntheticFraud({ n: 20000, features: FEATURES, seed: 20240 });
  const mean = new Float64Array(FEATURES);
  const sd = new Float64Array(FEATURES);
  for (let i = 0; i < ref.rows; i++) for (let j = 0; j < FEATURES; j++) mean[j] += ref.x[i * FEATURES + j];
  for (let j = 0; j < FEATURES; j++) mean[j] /= ref.rows;
  for (let i = 0; i < ref.rows; i++) for (let j = 0; j < FEATURES; j++) sd[j] += (ref.x[i * FEATURES + j] - mean[j]) ** 2;
  for (let j = 0; j < FEATURES; j++) sd[j] = Math.sqrt(sd[j] / ref.rows) || 1;
  scaling = { mean, sd };
  return scaling;
}

/** Scales rows × FEATURES float32 values in place: (x − mean) / sd per feature. */
function standardizeInPlace(x) {
  const { mean, sd } = featureScaling();
  for (let i = 0; i < x.length; i++) {
    const j = i % FEATURES;
    x[i] = (x[i] - mean[j]) / sd[j];
  }
  return x;
}

module.exports = { FEATURES, MODEL_MODULE: __filename, createModel, featureScaling, standardizeInPlace };
