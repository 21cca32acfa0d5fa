// The loss-level stream: class value weights gilded by each class's batch loss, on training
// steps only, saved and restored with the optimizer.
import { beforeAll, describe, expect, it } from 'vitest';
import { KintsugiOptimizer, kintsugi } from '../src';
import { randomArray, smallClassifier, tf, useBackend } from './helpers';

describe('valueWeightedLoss', () => {
  beforeAll(() => useBackend('cpu'));

  it('gilds the class with the larger batch loss, by hand-derived amounts, and returns (1/C) Σ ϕ_c l_c', () => {
    const opt = kintsugi({ learningRate: 0.1 });
    const loss = opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.5, crack: 'absolute', phiMin: 0 });
    const w = tf.variable(tf.zeros([1]), true, 'vwl/w');
    // p = sigmoid(0) = 0.5 for every sample: per-sample BCE = ln 2 for both classes, so l = [ln2, ln2].
    // Class 1 gets an extra 3·ln2 by predicting 1/16 for its sample: −ln(1/16) = 4 ln 2.
    const yTrue = tf.tensor2d([[0], [0], [1]]);
    const f = () => loss(yTrue, tf.concat([tf.sigmoid(tf.add(tf.zeros([2, 1]), w)), tf.fill([1, 1], 1 / 16)]) as tf.Tensor2D);
    const value = opt.minimize(f, true) as tf.Scalar;
    // l = [ln2, 4 ln2]; ϕ̂ = 1 + 0.5 l; Σ = 2 + 2.5 ln2; ϕ = 2ϕ̂/Σ.
    const ln2 = Math.log(2);
    const hat = [1 + 0.5 * ln2, 1 + 2 * ln2];
    const phi = hat.map((h) => (2 * h) / (hat[0] + hat[1]));
    const got = opt.classValueWeights() as Float32Array;
    expect(got[0]).toBeCloseTo(phi[0], 5);
    expect(got[1]).toBeCloseTo(phi[1], 5);
    expect(value.dataSync()[0]).toBeCloseTo((phi[0] * ln2 + phi[1] * 4 * ln2) / 2, 4);
    const stats = opt.phiStats().classes;
    expect(stats?.pathways).toBe(2);
    expect(stats?.crack[1]).toBeCloseTo(4 * ln2, 4);
    expect(stats?.meanAbsDeltaPhi).toBeCloseTo(Math.abs(phi[0] - 1), 5);
  });

  it('a class absent from a batch keeps its last crack by default, or gets crack 0 with absentClass: zero', () => {
    for (const [absentClass, expectMoved] of [['keep', false], ['zero', true]] as const) {
      const opt = kintsugi();
      const loss = opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.5, absentClass });
      const w = tf.variable(tf.zeros([1]), true);
      const pred = () => tf.sigmoid(tf.add(tf.zeros([2, 1]), w)) as tf.Tensor2D;
      opt.minimize(() => loss(tf.tensor2d([[0], [1]]), pred()));
      const before = opt.classValueWeights() as Float32Array;
      opt.minimize(() => loss(tf.tensor2d([[0], [0]]), pred()));
      const after = opt.classValueWeights() as Float32Array;
      expect(after[1] !== before[1]).toBe(expectMoved);
    }
  });

  it('does not move on evaluate, predict or validation data', async () => {
    const run = async (withValidation: boolean) => {
      const { model, x, y } = smallClassifier(5);
      const opt = kintsugi({ learningRate: 0.01 });
      model.compile({ optimizer: opt, loss: opt.valueWeightedLoss() });
      const vx = tf.tensor2d(randomArray(64 * 4, 99), [64, 4]);
      const vy = tf.ones([64, 1]); // all positives: would gild class 1 hard if it counted
      await model.fit(x, y, {
        epochs: 3,
        batchSize: 32,
        shuffle: false,
        verbose: 0,
        ...(withValidation ? { validationData: [vx, vy] as [tf.Tensor, tf.Tensor] } : {}),
      });
      const phi = opt.classValueWeights() as Float32Array;
      model.evaluate(vx, vy);
      model.predict(vx);
      expect(opt.classValueWeights()).toEqual(phi);
      return Array.from(phi);
    };
    const plain = await run(false);
    expect(plain[0]).not.toBe(1); // training did gild
    expect(await run(true)).toEqual(plain);
  });

  it('survives save and load with the optimizer weights', async () => {
    const { model, x, y } = smallClassifier(8);
    const opt = kintsugi({ learningRate: 0.01 });
    model.compile({ optimizer: opt, loss: opt.valueWeightedLoss() });
    await model.fit(x, y, { epochs: 2, batchSize: 32, shuffle: false, verbose: 0 });
    let saved: tf.io.ModelArtifacts | null = null;
    await model.save(tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }), { includeOptimizer: true });
    // tfjs cannot serialize a function loss: the loaded model is recompiled with it, as with any custom loss.
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    const restored = loaded.optimizer as KintsugiOptimizer;
    expect(restored.classValueWeights()).toEqual(opt.classValueWeights());
    loaded.compile({ optimizer: restored, loss: restored.valueWeightedLoss() });
    await model.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
    await loaded.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
    expect(restored.classValueWeights()).toEqual(opt.classValueWeights());
    expect(loaded.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(model.getWeights().map((w) => Array.from(w.dataSync())));
  });

  it('works with categorical targets and rejects bad options', () => {
    const opt = kintsugi();
    const loss = opt.valueWeightedLoss('categoricalCrossentropy');
    const w = tf.variable(tf.zeros([3]), true);
    opt.minimize(() => loss(tf.oneHot(tf.tensor1d([0, 2, 2], 'int32'), 3), tf.softmax(tf.add(tf.zeros([3, 3]), w)) as tf.Tensor2D));
    expect(opt.classValueWeights()).toHaveLength(3);
    expect(() => opt.valueWeightedLoss('hinge' as never)).toThrow(/valueWeightedLoss base must be/);
    expect(() => opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: -1 })).toThrow(/'gildingRate'/);
    expect(() => opt.valueWeightedLoss('binaryCrossentropy', { absentClass: 'drop' as never })).toThrow(/'absentClass'/);
    expect(() => opt.valueWeightedLoss('binaryCrossentropy', { beta: 1 } as never)).toThrow(/unknown valueWeightedLoss option 'beta'/);
    expect(() => opt.valueWeightedLoss('binaryCrossentropy', { weighting: 'inverse' as never })).toThrow(/'weighting' must be one of 'balanced', 'frequency'/);
  });

  it("weighting: 'frequency' starts from the plain mean loss, and gilding moves weight to the class that is fit worse", () => {
    const yTrue = tf.tensor2d([[0], [0], [0], [1]]);
    const yPred = tf.tensor2d([[0.1], [0.2], [0.3], [0.4]]);
    const plain = tf.mean(tf.metrics.binaryCrossentropy(yTrue, yPred)).dataSync()[0];
    const still = kintsugi().valueWeightedLoss('binaryCrossentropy', { weighting: 'frequency', gildingRate: 0 });
    expect(still(yTrue, yPred).dataSync()[0]).toBeCloseTo(plain, 5);

    // In a training step: l = [mean −ln(1−p) of the negatives, −ln 0.4]; relative cracks r = l / mean(l);
    // ϕ = (1 + β r) / (1 + β) after mean normalization; loss = Σ (n_c / n) ϕ_c l_c.
    const opt = kintsugi();
    const loss = opt.valueWeightedLoss('binaryCrossentropy', { weighting: 'frequency', gildingRate: 0.5 });
    const w = tf.variable(tf.zeros([1]), true);
    const value = opt.minimize(() => loss(yTrue, tf.add(yPred, w) as tf.Tensor2D), true) as tf.Scalar;
    const l = [-(Math.log(0.9) + Math.log(0.8) + Math.log(0.7)) / 3, -Math.log(0.4)];
    const r = l.map((x) => x / ((l[0] + l[1]) / 2));
    const phi = r.map((x) => (1 + 0.5 * x) / 1.5);
    const got = opt.classValueWeights() as Float32Array;
    expect(got[1]).toBeGreaterThan(1);
    expect(got[0]).toBeCloseTo(phi[0], 5);
    expect(got[1]).toBeCloseTo(phi[1], 5);
    expect(value.dataSync()[0]).toBeCloseTo(0.75 * phi[0] * l[0] + 0.25 * phi[1] * l[1], 5);
  });
});
