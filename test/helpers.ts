import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { expect } from 'vitest';
import { createRng } from '../src/eval/data/synthetic-fraud';

export { tf };

export type BackendName = 'cpu' | 'wasm';
export const BACKENDS: BackendName[] = ['cpu', 'wasm'];

/** Silences tfjs's one-time "install tfjs-node" banner, then switches backend. */
export async function useBackend(name: BackendName): Promise<void> {
  tf.env().set('PROD', true);
  const ok = await tf.setBackend(name);
  if (!ok || tf.getBackend() !== name) throw new Error(`could not switch to the ${name} backend`);
}

/** The package's seeded generator (mulberry32), so tests never depend on Math.random. */
export const rng = createRng;

/** Fills `a` with uniform values in [shift − scale, shift + scale) from the seeded stream. */
export function fillRandom(a: Float32Array, seed: number, scale = 1, shift = 0): Float32Array {
  const r = rng(seed);
  for (let i = 0; i < a.length; i++) a[i] = (r() * 2 - 1) * scale + shift;
  return a;
}

export function randomArray(n: number, seed: number, scale = 1): Float32Array {
  return fillRandom(new Float32Array(n), seed, scale);
}

let counter = 0;
/** A unique variable-name prefix per call, so tests never collide in tfjs's variable registry. */
export function uniqueName(base: string): string {
  counter += 1;
  return `${base}_${counter}`;
}

/** A small MLP as raw variables, and its loss on fixed data: the shape of a real training step. */
export function smallMlp(prefix: string, seed = 7) {
  const inDim = 5;
  const hidden = 8;
  const classes = 3;
  const batch = 16;
  // Inside tidy, so the initial values are freed and each variable owns its buffer alone.
  const vars = tf.tidy(() => ({
    w1: tf.variable(tf.tensor2d(randomArray(inDim * hidden, seed, 0.5), [inDim, hidden]), true, `${prefix}/w1`),
    b1: tf.variable(tf.zeros([hidden]), true, `${prefix}/b1`),
    w2: tf.variable(tf.tensor2d(randomArray(hidden * classes, seed + 1, 0.5), [hidden, classes]), true, `${prefix}/w2`),
    b2: tf.variable(tf.zeros([classes]), true, `${prefix}/b2`),
  }));
  const x = tf.tensor2d(randomArray(batch * inDim, seed + 2), [batch, inDim]);
  const labels = Array.from({ length: batch }, (_, i) => i % classes);
  const y = tf.tidy(() => tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat());
  const loss = () =>
    tf.tidy(() => {
      const h = tf.relu(tf.add(tf.matMul(x, vars.w1), vars.b1));
      const logits = tf.add(tf.matMul(h, vars.w2), vars.b2);
      return tf.losses.softmaxCrossEntropy(y, logits) as tf.Scalar;
    });
  const values = () => Object.values(vars).map((v) => v.dataSync().slice());
  const dispose = () => tf.dispose([...Object.values(vars), x, y]);
  return { vars, loss, values, dispose };
}

/** A small binary classifier and separable synthetic data for `fit` tests. */
export function smallClassifier(seed = 3) {
  const model = tf.sequential();
  model.add(tf.layers.dense({ units: 8, activation: 'relu', inputShape: [4], kernelInitializer: tf.initializers.glorotUniform({ seed }) }));
  model.add(tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }));
  const n = 128;
  const xs = randomArray(n * 4, seed + 2);
  const ys = new Float32Array(n);
  for (let i = 0; i < n; i++) ys[i] = xs[i * 4] + 0.5 * xs[i * 4 + 1] - xs[i * 4 + 2] > 0 ? 1 : 0;
  return { model, x: tf.tensor2d(xs, [n, 4]), y: tf.tensor2d(ys, [n, 1]) };
}

/**
 * Tensor-scale closeness: max |a − b| ≤ rtol · max |b|. Used against tfjs's own optimizers, which
 * round β1 and β2 to float32 (0.999 → 0.99900001), so their bias correction is off the exact one
 * by ~1e-5 relative; elements whose gradient hovers near zero amplify that element-wise.
 */
export function expectCloseToScale(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < actual.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]));
    worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  }
  if (!(worst <= rtol * scale)) {
    throw new Error(`max |a − b| = ${worst} exceeds ${rtol} × max |b| = ${rtol * scale}`);
  }
}

/** What `model.save(…, { includeOptimizer: true })` writes, kept in memory: no file is written. */
export async function saveToMemory(model: tf.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  return saved as unknown as tf.io.ModelArtifacts;
}
