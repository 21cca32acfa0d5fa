import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { focalLoss, focalLossPerSample } from '../src/eval/focal-loss';
import { rng } from './helpers';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
});

/** Runs a loss and reads back its value(s), disposing every tensor. */
function evalLoss(fn: (y: tf.Tensor, p: tf.Tensor) => tf.Tensor, y: number[], p: number[], shape?: number[]): number[] {
  return tf.tidy(() => Array.from(fn(tf.tensor(y, shape), tf.tensor(p, shape)).dataSync()));
}

// Hand-worked with γ = 2, α = 0.25 (FL = −α_t (1 − p_t)² ln p_t):
//   y = 1, p = 0.9:  p_t = 0.9,  α_t = 0.25:  0.25 · 0.1²  · 0.1053605 = 2.634013e-4
//   y = 0, p = 0.9:  p_t = 0.1,  α_t = 0.75:  0.75 · 0.9²  · 2.3025851 = 1.3988204
//   y = 1, p = 0.2:  p_t = 0.2,  α_t = 0.25:  0.25 · 0.8²  · 1.6094379 = 0.2575101
//   y = 0, p = 0.05: p_t = 0.95, α_t = 0.75:  0.75 · 0.05² · 0.0512933 = 9.617493e-5
//   mean = (2.634013e-4 + 1.3988204 + 0.2575101 + 9.617493e-5) / 4 = 1.6566901 / 4 = 0.4141725
const Y = [1, 0, 1, 0];
const P = [0.9, 0.9, 0.2, 0.05];
const EACH = [2.634013e-4, 1.3988204, 0.2575101, 9.617493e-5];

describe('focalLoss', () => {
  it('matches hand-computed values with the defaults (γ = 2, α = 0.25)', () => {
    const [v] = evalLoss(focalLoss(), Y, P);
    expect(v).toBeCloseTo(0.4141725, 6);
  });

  it('matches hand-computed values element by element', () => {
    const fl = focalLoss();
    Y.forEach((y, i) => {
      const [v] = evalLoss(fl, [y], [P[i] as number]);
      expect((v as number) / (EACH[i] as number)).toBeCloseTo(1, 5);
    });
  });

  it('returns a scalar', () => {
    const out = tf.tidy(() => {
      const l = focalLoss()(tf.tensor2d([[1], [0]]), tf.tensor2d([[0.7], [0.2]]));
      return [l.rank, l.shape.length];
    });
    expect(out).toEqual([0, 0]);
  });

  it('with γ = 0 and α = 0.5 is half the binary cross-entropy', () => {
    // BCE: y = 1, p = 0.9 → −ln 0.9 = 0.1053605;  y = 0, p = 0.9 → −ln 0.1 = 2.3025851
    //   mean BCE = 1.2039728, half = 0.6019864
    const [v] = evalLoss(focalLoss({ gamma: 0, alpha: 0.5 }), [1, 0], [0.9, 0.9]);
    expect(v).toBeCloseTo(0.6019864, 6);
    // …and against tfjs's own binary cross-entropy on a batch of random pairs.
    const r = rng(5);
    const y = Array.from({ length: 64 }, () => (r() < 0.3 ? 1 : 0));
    const p = Array.from({ length: 64 }, () => 0.01 + 0.98 * r());
    const [fl] = evalLoss(focalLoss({ gamma: 0, alpha: 0.5 }), y, p, [64, 1]);
    const bce = tf.tidy(() => tf.mean(tf.metrics.binaryCrossentropy(tf.tensor2d(y, [64, 1]), tf.tensor2d(p, [64, 1]))).dataSync()[0]);
    expect((fl as number) / (0.5 * (bce as number))).toBeCloseTo(1, 5);
  });

  it('with γ = 0 is α-weighted cross-entropy', () => {
    // α = 0.8: y = 1, p = 0.5 → 0.8 · ln 2 = 0.5545177;  y = 0, p = 0.5 → 0.2 · ln 2 = 0.1386294
    const [v] = evalLoss(focalLoss({ gamma: 0, alpha: 0.8 }), [1, 0], [0.5, 0.5]);
    expect(v).toBeCloseTo((0.5545177 + 0.1386294) / 2, 6);
  });

  it('down-weights easy examples more as γ grows', () => {
    // An easy positive (p = 0.9): the factor (1 − p_t)^γ = 0.1^γ.
    const [g0] = evalLoss(focalLoss({ gamma: 0 }), [1], [0.9]);
    const [g1] = evalLoss(focalLoss({ gamma: 1 }), [1], [0.9]);
    const [g5] = evalLoss(focalLoss({ gamma: 5 }), [1], [0.9]);
    expect((g1 as number) / (g0 as number)).toBeCloseTo(0.1, 5);
    expect((g5 as number) / (g0 as number)).toBeCloseTo(1e-5, 9);
  });

  it('with fromLogits agrees with sigmoid probabilities', () => {
    const z = [-3, -0.5, 0, 0.7, 2, 4];
    const y = [0, 1, 1, 0, 0, 1];
    const p = z.map((v) => 1 / (1 + Math.exp(-v)));
    for (const opts of [{}, { gamma: 0.5, alpha: 0.6 }, { gamma: 0 }, { gamma: 3, alpha: 1 }]) {
      const [fromLogits] = evalLoss(focalLoss({ ...opts, fromLogits: true }), y, z);
      const [fromProbs] = evalLoss(focalLoss(opts), y, p);
      expect((fromLogits as number) / (fromProbs as number)).toBeCloseTo(1, 5);
    }
  });

  it('with fromLogits is not capped by clipping on confident mistakes', () => {
    // y = 0, z = 50: BCE = softplus(50) = 50, 1 − p_t = σ(50) = 1, α_t = 0.75 → 37.5.
    // Probabilities would clip p to 1 − 1e-7 and give at most 0.75 · −ln(1e-7) ≈ 12.1.
    const [v] = evalLoss(focalLoss({ fromLogits: true }), [0], [50]);
    expect(v).toBeCloseTo(37.5, 4);
  });

  it('has finite gradients at saturated inputs, also for γ < 1', () => {
    for (const opts of [{ gamma: 0.5 }, { gamma: 0.5, fromLogits: true }, { gamma: 2 }, { gamma: 0 }]) {
      const fl = focalLoss(opts);
      const edge = opts.fromLogits ? [-60, 60, -60, 60] : [0, 1, 0, 1];
      const g = tf.tidy(() => Array.from(tf.grad((p: tf.Tensor) => fl(tf.tensor1d([0, 0, 1, 1]), p))(tf.tensor1d(edge)).dataSync()));
      expect(g.every(Number.isFinite)).toBe(true);
      const [v] = evalLoss(fl, [0, 0, 1, 1], edge);
      expect(Number.isFinite(v)).toBe(true);
    }
  });

  it('is never negative and does not leak tensors', () => {
    const fl = focalLoss();
    const before = tf.memory().numTensors;
    const y = tf.tensor2d([[1], [0], [1]]);
    const p = tf.tensor2d([[0.3], [0.6], [0.99]]);
    const l = fl(y, p);
    expect(tf.memory().numTensors).toBe(before + 3);
    expect(l.dataSync()[0]).toBeGreaterThan(0);
    tf.dispose([y, p, l]);
  });

  it('accepts int32 labels', () => {
    const v = tf.tidy(() => focalLoss()(tf.tensor1d([1, 0, 1, 0], 'int32'), tf.tensor1d(P)).dataSync()[0]);
    expect(v).toBeCloseTo(0.4141725, 6);
  });

  it('rejects mismatched shapes instead of broadcasting', () => {
    expect(() => tf.tidy(() => focalLoss()(tf.tensor1d([1, 0]), tf.tensor2d([[0.5], [0.5]])))).toThrow(
      /focalLoss: yTrue and yPred must have the same shape; got \[2\] and \[2, 1\]/,
    );
  });

  it('validates its options, naming option, value and range', () => {
    expect(() => focalLoss({ gamma: -1 })).toThrow(/focalLoss: option 'gamma' must be a finite number in \[0, Infinity\); got -1/);
    expect(() => focalLoss({ gamma: NaN })).toThrow(/'gamma'.*got NaN/);
    expect(() => focalLoss({ alpha: 1.5 })).toThrow(/focalLoss: option 'alpha' must be a finite number in \[0, 1\]; got 1\.5/);
    expect(() => focalLoss({ alpha: -0.1 })).toThrow(/'alpha'.*got -0\.1/);
    expect(() => focalLoss({ epsilon: 0 })).toThrow(/'epsilon' must be a finite number in \(0, 0\.5\); got 0/);
    expect(() => focalLoss({ fromLogits: 'yes' as unknown as boolean })).toThrow(/'fromLogits' must be true or false; got "yes"/);
    expect(() => focalLoss({ gama: 2 } as unknown as { gamma: number })).toThrow(/unknown option 'gama'/);
    expect(() => focalLossPerSample({ alpha: 2 })).toThrow(/focalLossPerSample: option 'alpha'/);
    // Edges of the ranges are allowed; undefined means the default.
    expect(() => focalLoss({ gamma: 0, alpha: 0 })).not.toThrow();
    expect(() => focalLoss({ alpha: 1, gamma: undefined })).not.toThrow();
  });
});

describe('focalLossPerSample', () => {
  it('keeps one value per sample (mean over the last axis)', () => {
    // Row 0: y = [1, 0], p = [0.9, 0.9] → (2.634013e-4 + 1.3988204)/2 = 0.6995419
    // Row 1: y = [1, 0], p = [0.2, 0.05] → (0.2575101 + 9.617493e-5)/2 = 0.1288031
    const v = evalLoss(focalLossPerSample(), [1, 0, 1, 0], [0.9, 0.9, 0.2, 0.05], [2, 2]);
    expect(v.length).toBe(2);
    expect(v[0]).toBeCloseTo(0.6995419, 6);
    expect(v[1]).toBeCloseTo(0.1288031, 6);
  });

  it('is elementwise for rank-1 input, and its mean is focalLoss', () => {
    const v = evalLoss(focalLossPerSample(), Y, P);
    v.forEach((x, i) => expect(x / (EACH[i] as number)).toBeCloseTo(1, 5));
    const mean = v.reduce((a, b) => a + b, 0) / v.length;
    expect(mean).toBeCloseTo(evalLoss(focalLoss(), Y, P)[0] as number, 6);
  });
});

describe('focalLoss in model.compile / fit', () => {
  function data(n: number, seed: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
    // 10% positives, shifted by +1.5 in the first two features: learnable but not trivial.
    const r = rng(seed);
    const xs: number[] = [];
    const ys: number[] = [];
    for (let i = 0; i < n; i++) {
      const pos = r() < 0.1 ? 1 : 0;
      for (let j = 0; j < 4; j++) xs.push(r() * 2 - 1 + (pos && j < 2 ? 1.5 : 0));
      ys.push(pos);
    }
    return { x: tf.tensor2d(xs, [n, 4]), y: tf.tensor2d(ys, [n, 1]) };
  }

  for (const fromLogits of [false, true]) {
    it(`trains without NaN and the loss falls (fromLogits: ${fromLogits})`, async () => {
      const model = tf.sequential();
      model.add(tf.layers.dense({ units: 8, activation: 'relu', inputShape: [4], kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
      model.add(tf.layers.dense({ units: 1, activation: fromLogits ? 'linear' : 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
      model.compile({ loss: focalLoss({ fromLogits }), optimizer: tf.train.adam(0.01) });
      const { x, y } = data(512, 3);
      const h = await model.fit(x, y, { epochs: 8, batchSize: 64, verbose: 0, shuffle: false });
      const losses = h.history.loss as number[];
      expect(losses.length).toBe(8);
      expect(losses.every(Number.isFinite)).toBe(true);
      expect(losses[7] as number).toBeLessThan(losses[0] as number);
      tf.dispose([x, y]);
      model.dispose();
    });
  }

  it('honours classWeight only in the per-sample form', async () => {
    // One dense unit, kernel ln 3, bias 0, x = [1, 0, 0, 0]ᵀ: p = σ(ln 3) = 0.75 for row 0, 0.5 for
    // the rest; y = [1, 0, 0, 0]; γ = 0, α = 0.5; classWeight {0: 1, 1: 3}; learning rate 0.
    //   row 0: 0.5 · −ln 0.75 = 0.1438410 (weight 3);  rows 1–3: 0.5 · ln 2 = 0.3465736 (weight 1)
    //   per-sample, weighted then averaged: (3 · 0.1438410 + 3 · 0.3465736) / 4 = 0.3678110
    //   scalar first: mean loss (0.1438410 + 3 · 0.3465736) / 4 = 0.2958905, times mean weight 1.5
    //     = 0.4438357: the weights only rescale it (the trap the doc comment warns about)
    async function lossWith(loss: (y: tf.Tensor, p: tf.Tensor) => tf.Tensor): Promise<number> {
      const model = tf.sequential();
      model.add(tf.layers.dense({ units: 1, activation: 'sigmoid', inputShape: [1] }));
      model.setWeights([tf.tensor2d([[Math.log(3)]]), tf.tensor1d([0])]);
      model.compile({ loss, optimizer: tf.train.sgd(0) });
      const x = tf.tensor2d([[1], [0], [0], [0]]);
      const y = tf.tensor2d([[1], [0], [0], [0]]);
      const h = await model.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0, classWeight: { 0: 1, 1: 3 } });
      tf.dispose([x, y]);
      model.dispose();
      return (h.history.loss as number[])[0] as number;
    }
    expect(await lossWith(focalLossPerSample({ gamma: 0, alpha: 0.5 }))).toBeCloseTo(0.367811, 5);
    expect(await lossWith(focalLoss({ gamma: 0, alpha: 0.5 }) as (y: tf.Tensor, p: tf.Tensor) => tf.Tensor)).toBeCloseTo(0.4438357, 5);
  });

  it("works with the optimizer given by name ('adam')", async () => {
    const model = tf.sequential();
    model.add(tf.layers.dense({ units: 1, activation: 'sigmoid', inputShape: [4] }));
    model.compile({ loss: focalLoss(), optimizer: 'adam' });
    const { x, y } = data(256, 4);
    const h = await model.fit(x, y, { epochs: 3, batchSize: 32, verbose: 0 });
    expect((h.history.loss as number[]).every(Number.isFinite)).toBe(true);
    tf.dispose([x, y]);
    model.dispose();
  });
});
