// With gildingRate 0 (ϕ ≡ 1) Kintsugi is its base optimizer: it must agree with tfjs's own
// adam, sgd and momentum after 50 steps of a small MLP, to float32 rounding.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kintsugi } from '../src';
import { BACKENDS, expectCloseToScale, smallMlp, tf, uniqueName, useBackend } from './helpers';

const STEPS = 50;

function trainWith(optimizer: tf.Optimizer): Float32Array[] {
  const mlp = smallMlp(uniqueName('mlp'));
  for (let i = 0; i < STEPS; i++) optimizer.minimize(mlp.loss);
  const values = mlp.values();
  mlp.dispose();
  optimizer.dispose();
  return values;
}

const CASES: Array<[string, () => tf.Optimizer, () => tf.Optimizer]> = [
  ['adam', () => tf.train.adam(0.01, 0.9, 0.999, 1e-7), () => kintsugi({ base: 'adam', learningRate: 0.01, gildingRate: 0 })],
  ['sgd', () => tf.train.sgd(0.1), () => kintsugi({ base: 'sgd', learningRate: 0.1, gildingRate: 0 })],
  ['momentum', () => tf.train.momentum(0.05, 0.9), () => kintsugi({ base: 'momentum', learningRate: 0.05, momentum: 0.9, gildingRate: 0 })],
];

for (const backend of BACKENDS) {
  describe(`parity with tfjs optimizers on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    afterAll(() => tf.disposeVariables());

    for (const [name, theirs, ours] of CASES) {
      it(`${name}: matches tf.train.${name} within 1e-5 relative after ${STEPS} steps`, () => {
        const expected = trainWith(theirs());
        const actual = trainWith(ours());
        // The runs must have moved the weights, or agreement would prove nothing.
        const start = smallMlp(uniqueName('start'));
        expect(Math.abs(expected[0][0] - start.values()[0][0])).toBeGreaterThan(1e-3);
        start.dispose();
        actual.forEach((a, i) => expectCloseToScale(a, expected[i], 1e-5));
      });
    }
  });
}
