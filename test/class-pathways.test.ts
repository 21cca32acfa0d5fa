// The loss-level stream: class value weights gilded by each class's batch loss, on training
// steps only, saved and restored with the optimizer.
import { beforeAll, describe, expect, it } from 'vitest';
import { KintsugiOptimizer, kintsugi } from '../src';
import { gildClasses, gildClassTensors, resolveClassOptions } from '../src/class-pathways';
import { BACKENDS, randomArray, rng, saveToMemory, smallClassifier, tf, useBackend } from './helpers';

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
    const saved = await saveToMemory(model);
    // tfjs cannot serialize a function loss: the loaded model is recompiled with it, as with any custom loss.
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved));
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

  it('refuses targets that do not give one class per sample, in fit, before anything changes', async () => {
    const multi = tf.tensor2d([[1, 0, 1], [0, 0, 0], [0, 1, 1], [1, 1, 0]]); // multi-label: several 1s a row, or none
    const p3 = tf.fill([4, 3], 0.5) as tf.Tensor2D;
    const oneHot = tf.tensor2d([[1, 0], [0, 1], [1, 0], [1, 0]]);
    const p2 = tf.fill([4, 2], 0.5) as tf.Tensor2D;
    const column = tf.tensor2d([[1], [0], [0], [1]]);
    const cases: Array<[string, () => unknown, RegExp]> = [
      ['multi-label under binaryCrossentropy', () => kintsugi().valueWeightedLoss()(multi, p3),
        /^kintsugi: valueWeightedLoss\('binaryCrossentropy'\) takes one target column of 0\/1 labels \(\[batch\] or \[batch, 1\]\); got targets of shape \[4, 3\]\. For one-hot targets use valueWeightedLoss\('categoricalCrossentropy'\); multi-label targets \(several 1s a row\) are not supported/],
      ['one-hot under binaryCrossentropy', () => kintsugi().valueWeightedLoss('binaryCrossentropy')(oneHot, p2), /takes one target column of 0\/1 labels .*got targets of shape \[4, 2\]/],
      ['one column under categoricalCrossentropy', () => kintsugi().valueWeightedLoss('categoricalCrossentropy')(column, column), /valueWeightedLoss\('categoricalCrossentropy'\) takes one-hot targets of shape \[batch, classes ≥ 2\]; got targets of shape \[4, 1\]/],
      ['rank 3', () => kintsugi().valueWeightedLoss((a) => a)(tf.zeros([4, 2, 2]), tf.zeros([4, 2, 2])), /takes targets of shape \[batch\], \[batch, 1\] .* got targets of shape \[4, 2, 2\]/],
    ];
    for (const [what, call, message] of cases) expect(call, what).toThrow(message);
    // In fit: the error reaches the caller, no variable moves and the stream has not started.
    const model = tf.sequential({ layers: [tf.layers.dense({ units: 3, activation: 'sigmoid', inputShape: [2] })] });
    const opt = kintsugi();
    model.compile({ optimizer: opt, loss: opt.valueWeightedLoss() });
    const before = model.getWeights().map((w) => Array.from(w.dataSync()));
    await expect(model.fit(tf.ones([4, 2]), multi, { epochs: 1, verbose: 0 })).rejects.toThrow(/got targets of shape \[4, 3\]/);
    expect(model.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
    expect(opt.classValueWeights()).toBeNull();
    expect(opt.iterations).toBe(0);
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

  it('a training step reads nothing back from the backend; only inspection does', async () => {
    const reads = { dataSync: 0, data: 0, readSync: 0, read: 0 };
    const proto = tf.Tensor.prototype as unknown as Record<'dataSync' | 'data', (...a: unknown[]) => unknown>;
    const engine = tf.engine() as unknown as Record<'readSync' | 'read', (...a: unknown[]) => unknown>;
    const originals = { dataSync: proto.dataSync, data: proto.data, readSync: engine.readSync, read: engine.read };
    proto.dataSync = function (this: unknown, ...a: unknown[]) { reads.dataSync++; return originals.dataSync.apply(this, a); };
    proto.data = function (this: unknown, ...a: unknown[]) { reads.data++; return originals.data.apply(this, a); };
    engine.readSync = (...a: unknown[]) => { reads.readSync++; return originals.readSync.apply(tf.engine(), a); };
    engine.read = (...a: unknown[]) => { reads.read++; return originals.read.apply(tf.engine(), a); };
    try {
      const { model, x, y } = smallClassifier(21);
      const opt = kintsugi({ learningRate: 0.01 });
      model.compile({ optimizer: opt, loss: opt.valueWeightedLoss() });
      const loss = opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.3, weighting: 'frequency', absentClass: 'zero' });
      for (let i = 0; i < 5; i++) opt.minimize(() => loss(y, model.apply(x) as tf.Tensor) as tf.Scalar);
      await model.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
      // fit reads its epoch logs with data(); nothing else is read, in particular nothing per batch.
      expect({ dataSync: reads.dataSync, readSync: reads.readSync }).toEqual({ dataSync: 0, readSync: 0 });
      expect(reads.data).toBeLessThanOrEqual(1);
      await opt.setWeights(await opt.getWeights()); // saving and restoring copy on the backend
      expect(reads.dataSync + reads.readSync).toBe(0);
      expect(opt.classValueWeights()?.[0]).not.toBe(1);
      expect(reads.dataSync).toBeGreaterThan(0);
      tf.dispose([x, y]);
      model.dispose();
    } finally {
      Object.assign(proto, { dataSync: originals.dataSync, data: originals.data });
      Object.assign(engine, { readSync: originals.readSync, read: originals.read });
    }
  });

  it("under tfjs's IS_TEST flag (its leak check on customGrad) trains the same, bitwise", () => {
    const run = (isTest: boolean) => {
      const before = tf.env().getBool('IS_TEST');
      tf.env().set('IS_TEST', isTest);
      try {
        const w = tf.tidy(() => tf.variable(tf.tensor2d(randomArray(4, 3), [4, 1]), true));
        const x = tf.tensor2d(randomArray(32 * 4, 4), [32, 4]);
        const y = tf.tensor2d(Float32Array.from({ length: 32 }, (_, i) => (i % 5 === 0 ? 1 : 0)), [32, 1]);
        const opt = kintsugi({ learningRate: 0.1 });
        const loss = opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.5 });
        for (let i = 0; i < 5; i++) tf.tidy(() => { opt.minimize(() => loss(y, tf.sigmoid(tf.matMul(x, w)))); });
        const out = { phi: opt.classValueWeights(), w: w.dataSync().slice() };
        opt.dispose();
        tf.dispose([w, x, y]);
        return out;
      } finally {
        tf.env().set('IS_TEST', before);
      }
    };
    const plain = run(false);
    expect(plain.phi?.[1]).not.toBe(1);
    expect(run(true)).toEqual(plain);
  });

  it('a failed step drops its gilded proposal and frees it; training keeps the tensor count; dispose frees the state', () => {
    const w = tf.variable(tf.zeros([1]), true);
    const opt = kintsugi({ learningRate: 0.1 });
    const loss = opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.5 });
    const yTrue = tf.tensor2d([[0], [0], [1]]);
    const f = () => loss(yTrue, tf.sigmoid(tf.add(tf.fill([3, 1], -1), w)) as tf.Tensor2D);
    opt.minimize(f);
    const tensors = tf.memory().numTensors;
    const before = opt.classValueWeights();
    const { value, grads } = opt.computeGradients(f); // gilds: a proposal for the step below
    const stray = tf.zeros([1]);
    expect(() => opt.applyGradients({ ...grads, 'no such variable': stray })).toThrow(/not a registered variable/);
    tf.dispose([value, stray, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(tensors); // the dropped proposal is freed
    expect(opt.classValueWeights()).toEqual(before);
    expect(opt.iterations).toBe(1);
    // The next step gilds from the kept state, as if the failed one had never been.
    const twin = kintsugi({ learningRate: 0.1 });
    const twinLoss = twin.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.5 });
    const w2 = tf.tidy(() => tf.variable(tf.zeros([1]), true));
    const g = () => twinLoss(yTrue, tf.sigmoid(tf.add(tf.fill([3, 1], -1), w2)) as tf.Tensor2D);
    twin.minimize(g);
    opt.minimize(f);
    twin.minimize(g);
    expect(opt.classValueWeights()).toEqual(twin.classValueWeights());
    expect(tf.memory().numTensors).toBe(tensors + 4); // the twin's state (ϕ, crack, previous ϕ) and w2
    for (let i = 0; i < 20; i++) opt.minimize(f);
    expect(tf.memory().numTensors).toBe(tensors + 4);
    opt.dispose();
    twin.dispose();
    expect(tf.memory().numTensors).toBe(tensors + 4 - 6); // both class states (3 tensors each) freed
    tf.dispose([w, w2, yTrue]);
  });
});

describe('class gilding on the backend', () => {
  for (const backend of BACKENDS) {
    it(`on ${backend}, matches the float64 reference within (3C + 7) float32 roundings per step; cracks bitwise`, async () => {
      await useBackend(backend);
      const r = rng(5);
      for (let trial = 0; trial < 400; trial++) {
        const C = 1 + Math.floor(r() * (trial % 10 === 0 ? 300 : 8));
        const o = resolveClassOptions({
          gildingRate: [0.05, 0.5, 2, 1e-3][trial % 4],
          crack: r() < 0.5 ? 'relative' : 'absolute',
          annealing: r() < 0.5 ? 0 : r(),
          normalize: r() < 0.8 ? 'mean' : 'none',
          phiMin: r() < 0.5 ? 0.1 : 0,
          phiMax: r() < 0.5 ? 10 : Infinity,
          absentClass: r() < 0.5 ? 'keep' : 'zero',
        });
        const phi = Float32Array.from({ length: C }, () => 0.1 + r() * 3);
        const crack = Float32Array.from({ length: C }, () => r() * 2);
        const losses = Float32Array.from({ length: C }, () => (r() < 0.05 ? 0 : r() * 5));
        const counts = Float32Array.from({ length: C }, () => (r() < 0.3 ? 0 : 1 + Math.floor(r() * 50)));
        const ref = gildClasses({ phi, crack, meanAbsDeltaPhi: 0 }, { losses, counts }, o);
        const got = tf.tidy(() => {
          const state = { phi: tf.tensor1d(phi), crack: tf.tensor1d(crack), previous: tf.tensor1d(phi) };
          const next = gildClassTensors(state, tf.tensor1d(losses), tf.tensor1d(counts), o);
          return { phi: next.phi.dataSync().slice(), crack: next.crack.dataSync().slice(), previous: next.previous.dataSync().slice() };
        });
        expect(got.crack).toEqual(ref.crack);
        expect(got.previous).toEqual(phi);
        const bound = (3 * C + 7) * 2 ** -24;
        for (let c = 0; c < C; c++) {
          const err = Math.abs(got.phi[c] - ref.phi[c]);
          if (!(err <= bound * Math.abs(ref.phi[c]))) {
            throw new Error(`trial ${trial}, class ${c} of ${C}: ϕ ${got.phi[c]} vs reference ${ref.phi[c]} (${JSON.stringify(o)})`);
          }
        }
      }
    });
  }
});

