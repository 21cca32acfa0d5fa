// Example pathways with memory: one value weight per training example, gilded each time the
// example is in a training batch, the batch's gold shared out again with its sum kept, and used
// to weight that example's loss; the ids ride in the targets' last column (exampleDataset).
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleDataset, KintsugiOptimizer, kintsugi, NonFiniteGradientError, phiReport, withExampleIds } from '../src';
import { ExamplePathwayOptions, gildExamples, massKeepingScale, resolveExampleOptions } from '../src/example-pathways';
import { randomArray, rng, saveToMemory, smallClassifier, tf, useBackend } from './helpers';

const options = (o: Partial<Parameters<typeof resolveExampleOptions>[0]> = {}) => resolveExampleOptions({ examples: 1, ...o });
const sum = (a: ArrayLike<number>) => Array.from(a).reduce((s, x) => s + x, 0);

describe('the example gilding rule (gildExamples)', () => {
  it('gilds a badly misfit example, takes the gold from the rest of its batch, and leaves other examples alone', () => {
    // Relative crack: losses [3, 1, 2] over their mean 2 = [1.5, 0.5, 1]; β = 0.5, γ = 0:
    // ϕ̂ = [1.75, 1.25, 1.5]; the batch's Σϕ was 3, Σϕ̂ = 4.5, so s = 2/3 and ϕ = [7/6, 5/6, 1].
    const phi = new Float32Array([1, 1, 1, 1]);
    const p = gildExamples(phi, Int32Array.from([0, 1, 2]), [3, 1, 2], options({ examples: 4, annealing: 0 }));
    expect(Array.from(p.ids)).toEqual([0, 1, 2]);
    expect(p.phi[0]).toBeCloseTo(7 / 6, 6);
    expect(p.phi[1]).toBeCloseTo(5 / 6, 6);
    expect(p.phi[2]).toBeCloseTo(1, 6);
    expect(sum(p.phi)).toBeCloseTo(3, 6);
    expect(Array.from(phi)).toEqual([1, 1, 1, 1]); // the state is only read
    // An absolute crack gilds by the loss itself: ϕ̂ = 1 + 0.5·[3, 1, 2] = [2.5, 1.5, 2], s = 3/6.
    const abs = gildExamples(phi, Int32Array.from([0, 1, 2]), [3, 1, 2], options({ examples: 4, annealing: 0, crack: 'absolute' }));
    expect(Array.from(abs.phi)).toEqual([1.25, 0.75, 1].map(Math.fround));
  });

  it('an example in several rows is gilded once, with its mean loss, and weights each of its rows', () => {
    // Rows (id, loss): (0, 4), (1, 1), (0, 2), (1, 1): example 0's mean loss 3, example 1's 1;
    // row mean 2, so cracks [1.5, 0.5], the same as a batch of one row each with losses 3 and 1.
    const p = gildExamples(new Float32Array([1, 1]), Int32Array.from([0, 1, 0, 1]), [4, 1, 2, 1], options({ examples: 2, annealing: 0 }));
    const single = gildExamples(new Float32Array([1, 1]), Int32Array.from([0, 1]), [3, 1], options({ examples: 2, annealing: 0 }));
    expect(Array.from(p.phi)).toEqual(Array.from(single.phi));
    expect(Array.from(p.rows)).toEqual([2, 2]);
    expect(Array.from(p.weights)).toEqual([p.phi[0], p.phi[1], p.phi[0], p.phi[1]]);
  });

  it('clamps inside the sum, so the batch keeps its gold at either bound', () => {
    // phiMax 1.5: ϕ̂ = 1 + 4·[1.8, 0.2] = [8.2, 1.8]. Normalizing then clamping would give [1.5, 0.36]
    // (gold lost); the rule fixes example 0 at 1.5 and gives example 1 the rest: 2 − 1.5 = 0.5.
    const hi = gildExamples(new Float32Array([1, 1]), Int32Array.from([0, 1]), [9, 1], options({ examples: 2, annealing: 0, gildingRate: 4, phiMax: 1.5 }));
    expect(hi.phi[0]).toBe(1.5);
    expect(hi.phi[1]).toBeCloseTo(0.5, 6);
    // phiMin 0.6: ϕ̂ = [4, 1, 1], s = 0.5 would put the two at 0.5; they stay at 0.6 and example 0 gets 1.8.
    const lo = gildExamples(new Float32Array([1, 1, 1]), Int32Array.from([0, 1, 2]), [10, 0, 0], options({ examples: 3, annealing: 0, gildingRate: 1, phiMin: 0.6 }));
    expect(Array.from(lo.phi)).toEqual([1.8, 0.6, 0.6].map(Math.fround));
  });

  it('massKeepingScale solves Σ clamp(s·ĥ, lo, hi) = mass, against bisection, on random batches', () => {
    const r = rng(11);
    for (let trial = 0; trial < 300; trial++) {
      const n = 1 + Math.floor(r() * 40);
      const lo = r() < 0.3 ? 0 : r() * 0.5;
      const hi = r() < 0.2 ? Infinity : 1 + r() * 5;
      const hat = Float64Array.from({ length: n }, () => (r() < 0.1 && lo === 0 ? 0 : lo + r() * 3 * (r() < 0.2 ? 10 : 1)));
      const mass = n * (lo + (Math.min(hi, 4) - lo) * r());
      const f = (s: number) => sum(Array.from(hat, (h) => Math.min(hi, Math.max(lo, s * h))));
      const s = massKeepingScale(hat, mass, lo, hi);
      // Where the mass is reachable, the sum hits it; else it is as close as the box allows.
      const reach = f(1e30);
      const target = Math.min(Math.max(mass, f(0)), reach);
      expect(Math.abs(f(s) - target)).toBeLessThanOrEqual(1e-9 * Math.max(1, target));
    }
  });

  it('with annealing, a learned example cools and a persistently misfit one saturates below phiMax', () => {
    // Forty examples; example 0 is in every batch of four, with three others in turn, and starts
    // gilded (ϕ = 5, the rest share the other 35, so Σϕ = 40).
    const simulate = (annealing: number, loss0: number) => {
      const phi = new Float32Array(40).fill(35 / 39);
      phi[0] = 5;
      const o = options({ examples: 40, annealing });
      const track = [phi[0]];
      for (let visit = 0; visit < 26; visit++) {
        const ids = Int32Array.from([0, 1 + ((3 * visit) % 39), 1 + ((3 * visit + 1) % 39), 1 + ((3 * visit + 2) % 39)]);
        const p = gildExamples(phi, ids, [loss0, 1, 1, 1], o);
        p.ids.forEach((id, j) => (phi[id] = p.phi[j]));
        track.push(phi[0]);
        expect(sum(phi)).toBeCloseTo(40, 4);
      }
      return track;
    };
    // Learned (loss 0.05 against 1): ϕ falls at every sighting, below 1, down to phiMin.
    const learned = simulate(0.1, 0.05);
    for (let i = 1; i < learned.length; i++) expect(learned[i] < learned[i - 1] || learned[i] === Math.fround(0.1)).toBe(true);
    expect(learned[8]).toBeLessThan(1);
    expect(learned[learned.length - 1]).toBe(Math.fround(0.1));
    // Misfit (loss 20× the rest, as a mislabeled example): without annealing it climbs to phiMax;
    // with γ = 0.2, gilding stops at 1/γ = 5, so it cannot be chased further.
    expect(Math.max(...simulate(0, 20))).toBe(10);
    const annealed = simulate(0.2, 20);
    expect(Math.max(...annealed)).toBeLessThanOrEqual(5.0001);
  });

  it('keeps the mean ϕ over all examples at 1 and every ϕ in its box, over a long random run', () => {
    const N = 50;
    const phi = new Float32Array(N).fill(1);
    const o = options({ examples: N, gildingRate: 2, phiMin: 0.2, phiMax: 4 });
    const r = rng(5);
    for (let step = 0; step < 3000; step++) {
      const ids = Int32Array.from({ length: 8 }, () => Math.floor(r() * N));
      const losses = Array.from(ids, (id) => (id % 7 === 0 ? 5 : 0.1) * -Math.log(1 - r()));
      const p = gildExamples(phi, ids, losses, o);
      p.ids.forEach((id, j) => (phi[id] = p.phi[j]));
    }
    expect(Math.abs(sum(phi) / N - 1)).toBeLessThan(1e-5);
    expect(Math.min(...phi)).toBeGreaterThanOrEqual(Math.fround(0.2));
    expect(Math.max(...phi)).toBeLessThanOrEqual(4);
    expect(Math.max(...phi)).toBeGreaterThan(2); // the examples that are always misfit got the gold
  });
});

/** smallClassifier(seed) (128 rows) compiled with an example-weighted loss over its rows. */
function compiled(seed: number, learningRate = 0.01, extra: Partial<ExamplePathwayOptions> = {}, nonFinite: 'skip' | 'throw' = 'skip') {
  const { model, x, y } = smallClassifier(seed);
  const opt = kintsugi({ learningRate, nonFinite });
  const loss = opt.exampleWeightedLoss('binaryCrossentropy', { examples: 128, ...extra });
  model.compile({ optimizer: opt, loss });
  return { model, x, y, opt, loss };
}

/** Everything a failed step must leave alone. */
function snapshot(opt: KintsugiOptimizer, model: tf.LayersModel) {
  return {
    iterations: opt.iterations,
    phi: opt.exampleValueWeights() && Array.from(opt.exampleValueWeights() as Float32Array),
    seen: opt.exampleTimesSeen() && Array.from(opt.exampleTimesSeen() as Int32Array),
    weights: model.getWeights().map((w) => Array.from(w.dataSync())),
  };
}

describe('exampleWeightedLoss in training', () => {
  beforeAll(() => useBackend('cpu'));

  it('trains a small model with fitDataset(exampleDataset(x, y)): the loss falls and the misfit examples gain ϕ', async () => {
    const { model, x, y, opt } = compiled(4, 0.02);
    const history = await model.fitDataset(exampleDataset(x, y, { batchSize: 16, seed: 3 }), { epochs: 8, verbose: 0 });
    const losses = history.history.loss as number[];
    expect(losses[losses.length - 1]).toBeLessThan(0.6 * losses[0]);
    const phi = opt.exampleValueWeights() as Float32Array;
    expect(Math.abs(sum(phi) / 128 - 1)).toBeLessThan(1e-5);
    expect(Array.from(opt.exampleTimesSeen() as Int32Array).every((s) => s === 8)).toBe(true);
    // The examples the model gets most wrong hold more gold than those it gets right.
    const p = (model.predict(x) as tf.Tensor).dataSync();
    const labels = y.dataSync();
    const err = Array.from(p, (q, i) => Math.abs(q - labels[i]));
    const order = err.map((_, i) => i).sort((a, b) => err[b] - err[a]);
    const meanPhi = (ids: number[]) => sum(ids.map((i) => phi[i])) / ids.length;
    expect(meanPhi(order.slice(0, 16))).toBeGreaterThan(meanPhi(order.slice(-16)));
  });

  it('gilds by hand-derived amounts and returns (1/b) Σ_r ϕ_id(r) l_r', () => {
    const opt = kintsugi({ learningRate: 0.1 });
    const loss = opt.exampleWeightedLoss('binaryCrossentropy', { examples: 5, gildingRate: 0.5, annealing: 0 });
    const w = tf.variable(tf.zeros([1]), true);
    // Rows for examples 3 and 1: BCE ln 2 (p = 0.5, label 0) and −ln(1/16) = 4 ln 2 (label 1).
    const yTrue = tf.tensor2d([[0, 3], [1, 1]]);
    const value = opt.minimize(() => loss(yTrue, tf.concat([tf.sigmoid(tf.add(tf.zeros([1, 1]), w)), tf.fill([1, 1], 1 / 16)]) as tf.Tensor2D), true) as tf.Scalar;
    // Relative cracks [0.4, 1.6]; ϕ̂ = [1.2, 1.8]; Σ kept at 2, so ϕ = [0.8, 1.2].
    const phi = opt.exampleValueWeights() as Float32Array;
    expect(phi[3]).toBeCloseTo(0.8, 6);
    expect(phi[1]).toBeCloseTo(1.2, 6);
    expect([phi[0], phi[2], phi[4]]).toEqual([1, 1, 1]);
    expect(Array.from(opt.exampleTimesSeen() as Int32Array)).toEqual([0, 1, 0, 1, 0]);
    expect(value.dataSync()[0]).toBeCloseTo((0.8 * Math.LN2 + 1.2 * 4 * Math.LN2) / 2, 5);
    // An example twice in one batch (oversampled) counts two sightings.
    opt.minimize(() => loss(tf.tensor2d([[0, 4], [0, 4]]), tf.sigmoid(tf.add(tf.zeros([2, 1]), w)) as tf.Tensor2D));
    expect(Array.from(opt.exampleTimesSeen() as Int32Array)).toEqual([0, 1, 0, 1, 2]);
  });

  it('does not move on evaluate, predict or validation data, which may come with or without ids', async () => {
    const run = async (withValidation: boolean) => {
      const { model, x, y, opt } = compiled(5);
      const vx = tf.tensor2d(randomArray(64 * 4, 99), [64, 4]);
      const vy = tf.ones([64, 1]);
      await model.fitDataset(exampleDataset(x, y, { batchSize: 32, shuffle: false }), {
        epochs: 2,
        verbose: 0,
        ...(withValidation ? { validationData: [vx, vy] as [tf.Tensor, tf.Tensor] } : {}),
      });
      const phi = Array.from(opt.exampleValueWeights() as Float32Array);
      const plain = (model.evaluate(vx, vy) as tf.Scalar).dataSync()[0];
      // evaluate checks the targets' shape, so ids come through evaluateDataset.
      const withIds = ((await model.evaluateDataset(exampleDataset(vx, vy, { batchSize: 64 }) as never, {})) as tf.Scalar).dataSync()[0];
      expect(withIds).toBeCloseTo(plain, 6); // ids are ignored outside training: the plain mean loss
      const bce = tf.mean(tf.metrics.binaryCrossentropy(vy, model.predict(vx) as tf.Tensor)).dataSync()[0];
      expect(plain).toBeCloseTo(bce, 5);
      model.predict(vx);
      expect(Array.from(opt.exampleValueWeights() as Float32Array)).toEqual(phi);
      return phi;
    };
    const plain = await run(false);
    expect(plain.some((p) => p !== 1)).toBe(true);
    expect(await run(true)).toEqual(plain);
  });

  it('save → load → continue is bitwise continuing, through model.save and through getWeights/setWeights', async () => {
    const exampleOptions = { examples: 128, gildingRate: 0.8 };
    const { model, x, y, opt } = compiled(8, 0.01, exampleOptions);
    await model.fitDataset(exampleDataset(x, y, { batchSize: 16, seed: 1 }), { epochs: 2, verbose: 0 });
    const saved = await saveToMemory(model);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved));
    const restored = loaded.optimizer as KintsugiOptimizer;
    expect(restored.exampleValueWeights()).toEqual(opt.exampleValueWeights());
    expect(restored.exampleTimesSeen()).toEqual(opt.exampleTimesSeen());
    loaded.compile({ optimizer: restored, loss: restored.exampleWeightedLoss('binaryCrossentropy', exampleOptions) });
    // A third optimizer, restored by setWeights alone, on a copy of the model.
    const copy = smallClassifier(8).model;
    copy.setWeights(model.getWeights());
    const viaWeights = kintsugi({ learningRate: 0.01 });
    copy.compile({ optimizer: viaWeights, loss: viaWeights.exampleWeightedLoss('binaryCrossentropy', exampleOptions) });
    await viaWeights.setWeights(await opt.getWeights());
    const atSave = opt.exampleValueWeights();
    for (const m of [model, loaded, copy]) await m.fitDataset(exampleDataset(x, y, { batchSize: 16, seed: 2 }), { epochs: 2, verbose: 0 });
    expect(opt.exampleValueWeights()).not.toEqual(atSave); // the continuation moved ϕ, so equal ϕ below says something
    for (const other of [restored, viaWeights]) {
      expect(other.exampleValueWeights()).toEqual(opt.exampleValueWeights());
      expect(other.exampleTimesSeen()).toEqual(opt.exampleTimesSeen());
    }
    const weights = (m: tf.LayersModel) => m.getWeights().map((w) => Array.from(w.dataSync()));
    expect(weights(loaded)).toEqual(weights(model));
    expect(weights(copy)).toEqual(weights(model));
  });
});

describe('bad input changes nothing', () => {
  beforeAll(() => useBackend('cpu'));

  /** A model trained for one step, so that there is state to keep. */
  async function trained(nonFinite: 'skip' | 'throw' = 'skip') {
    const { model, x, y, opt, loss } = compiled(6, 0.01, {}, nonFinite);
    await model.fitDataset(exampleDataset(x, y, { batchSize: 32 }), { epochs: 1, verbose: 0 });
    const step = (yTrue: tf.Tensor, pred: (p: tf.Tensor) => tf.Tensor = (p) => p) =>
      opt.minimize(() => loss(yTrue, pred(model.apply(x.slice([0, 0], [yTrue.shape[0] as number, 4])) as tf.Tensor)) as tf.Scalar);
    return { model, opt, x, y, step };
  }

  it('ids out of range, not whole, or missing: a clear error, nothing changed', async () => {
    const { model, opt, step } = await trained();
    const before = snapshot(opt, model);
    const cases: Array<[number[][], RegExp]> = [
      [[[0, 5], [1, 128]], /row 1 of the batch has example id 128; ids must be whole numbers in \[0, 128\)/],
      [[[0, -1], [1, 2]], /row 0 of the batch has example id -1/],
      [[[0, 2.5], [1, 2]], /example id 2\.5/],
      [[[0, NaN], [1, 2]], /example id NaN/],
    ];
    for (const [rows, message] of cases) {
      expect(() => step(tf.tensor2d(rows))).toThrow(message);
      expect(snapshot(opt, model)).toEqual(before);
    }
    expect(() => step(tf.tensor2d([[0], [1]]))).toThrow(/targets \[batch, k \+ 1\] whose last column is the example id; got predictions \[2, 1\] and targets \[2, 1\]\. Train with model\.fitDataset\(exampleDataset\(x, y\)\)/);
    expect(snapshot(opt, model)).toEqual(before);
    // fit cannot carry the id column (tfjs checks the targets' shape), and the plain targets it can carry are refused.
    const { x, y } = smallClassifier(6);
    await expect(model.fit(x, y, { epochs: 1, verbose: 0 })).rejects.toThrow(/whose last column is the example id/);
    expect(snapshot(opt, model)).toEqual(before);
  });

  it("a NaN loss: nonFinite 'throw' throws and changes nothing; 'skip' gilds nothing", async () => {
    const nan = (p: tf.Tensor) => tf.mul(p, tf.tensor2d([[NaN], [1]]));
    const thrower = await trained('throw');
    const before = snapshot(thrower.opt, thrower.model);
    expect(() => thrower.step(tf.tensor2d([[0, 3], [1, 4]]), nan)).toThrow(NonFiniteGradientError);
    expect(snapshot(thrower.opt, thrower.model)).toEqual(before);

    const skipper = await trained('skip');
    const phi = Array.from(skipper.opt.exampleValueWeights() as Float32Array);
    const seen = Array.from(skipper.opt.exampleTimesSeen() as Int32Array);
    skipper.step(tf.tensor2d([[0, 3], [1, 4]]), nan);
    expect(Array.from(skipper.opt.exampleValueWeights() as Float32Array)).toEqual(phi);
    expect(Array.from(skipper.opt.exampleTimesSeen() as Int32Array)).toEqual(seen);
    // The same batch with finite losses does gild: the check above could fail.
    skipper.step(tf.tensor2d([[0, 3], [1, 4]]));
    expect(Array.from(skipper.opt.exampleValueWeights() as Float32Array)).not.toEqual(phi);
  });

  it('setWeights refuses bad example entries, and a state of another size, before changing anything', async () => {
    const { model, opt } = await trained();
    const weights = await opt.getWeights();
    const base = weights.filter((w) => !w.name.startsWith('kintsugi/examples/'));
    const phi = weights.find((w) => w.name === 'kintsugi/examples/phi') as { name: string; tensor: tf.Tensor };
    const seen = weights.find((w) => w.name === 'kintsugi/examples/seen') as { name: string; tensor: tf.Tensor };
    expect(phi.tensor.size).toBe(128);
    const before = snapshot(opt, model);
    const bad = (values: number[], n = 128) => Float32Array.from({ length: n }, (_, i) => values[i] ?? 1);
    const cases: Array<[Array<{ name: string; tensor: tf.Tensor }>, RegExp]> = [
      [[...base, { name: phi.name, tensor: tf.tensor1d(bad([-1])) }, seen], /'kintsugi\/examples\/phi' at example 0 is -1; it must be finite and ≥ 0/],
      [[...base, { name: phi.name, tensor: tf.tensor1d(bad([1, Infinity])) }, seen], /at example 1 is Infinity/],
      [[...base, phi, { name: seen.name, tensor: tf.tensor1d(bad([0.5])) }], /'kintsugi\/examples\/seen' at example 0 is 0\.5; it must be a whole number/],
      [[...base, phi], /needs both 'kintsugi\/examples\/phi' and 'kintsugi\/examples\/seen' of one length/],
      [[...base, phi, seen, { name: 'kintsugi/examples/crack', tensor: tf.zeros([128]) }], /unknown example pathway entry 'kintsugi\/examples\/crack'/],
      [[...base, { name: phi.name, tensor: tf.ones([64]) }, { name: seen.name, tensor: tf.zeros([64], 'int32') }], /hold 64 examples, but this optimizer's exampleWeightedLoss was made for 128/],
    ];
    for (const [entries, message] of cases) {
      await expect(opt.setWeights(entries)).rejects.toThrow(message);
      expect(snapshot(opt, model)).toEqual(before);
    }
    // A loss for another number of examples is refused too.
    expect(() => opt.exampleWeightedLoss('binaryCrossentropy', { examples: 100 })).toThrow(/hold 128 examples, but this loss is made for 100/);
  });

  it('refuses bad options and bad dataset arguments', () => {
    const opt = kintsugi();
    expect(() => opt.exampleWeightedLoss('binaryCrossentropy', {} as never)).toThrow(/option 'examples' .* must be a whole number in \[1, 16777216\]; got undefined/);
    expect(() => opt.exampleWeightedLoss('binaryCrossentropy', { examples: 2 ** 24 + 1 })).toThrow(/'examples'/);
    expect(() => opt.exampleWeightedLoss('binaryCrossentropy', { examples: 3, phiMax: 0.5 })).toThrow(/'phiMax'/);
    expect(() => opt.exampleWeightedLoss('binaryCrossentropy', { examples: 3, beta: 1 } as never)).toThrow(/unknown exampleWeightedLoss option 'beta'/);
    expect(() => opt.exampleWeightedLoss('hinge' as never, { examples: 3 })).toThrow(/exampleWeightedLoss base must be/);
    const x = tf.zeros([4, 2]);
    expect(() => exampleDataset(x, tf.zeros([3, 1]))).toThrow(/x has 4 rows but y has 3/);
    expect(() => exampleDataset(x, tf.zeros([4, 1]), { batchSize: 0 })).toThrow(/'batchSize'/);
    expect(() => exampleDataset(x, tf.zeros([4, 1]), { shuffel: true } as never)).toThrow(/unknown option 'shuffel'/);
    expect(() => withExampleIds(tf.zeros([4, 1]), 2 ** 24)).toThrow(/withExampleIds: ids/);
  });
});

describe('exampleDataset', () => {
  beforeAll(() => useBackend('cpu'));

  it('gives every row once per epoch with its id, a new order each epoch, the same for the same seed', async () => {
    const n = 10;
    const x = tf.tensor2d(Float32Array.from({ length: n * 2 }, (_, i) => i), [n, 2]);
    const y = tf.tensor1d(Float32Array.from({ length: n }, (_, i) => 100 + i));
    const epochs = async (seed: number, shuffle = true) => {
      const ds = exampleDataset(x, y, { batchSize: 4, seed, shuffle });
      expect(ds.size).toBe(3);
      const out: number[][] = [];
      for (let e = 0; e < 2; e++) {
        const it = await ds.iterator();
        const ids: number[] = [];
        for (let r = await it.next(); !r.done; r = await it.next()) {
          const { xs, ys } = r.value;
          const [rows, cols] = ys.shape as number[];
          expect(cols).toBe(2);
          const yv = ys.dataSync();
          const xv = xs.dataSync();
          for (let i = 0; i < rows; i++) {
            const id = yv[i * 2 + 1];
            expect(yv[i * 2]).toBe(100 + id); // the label of that row
            expect(xv[i * 2]).toBe(2 * id); // and its features
            ids.push(id);
          }
          tf.dispose([xs, ys]);
        }
        expect([...ids].sort((a, b) => a - b)).toEqual(Array.from({ length: n }, (_, i) => i));
        out.push(ids);
      }
      return out;
    };
    const a = await epochs(1);
    expect(a[0]).not.toEqual(a[1]);
    expect(await epochs(1)).toEqual(a);
    expect(await epochs(2)).not.toEqual(a);
    expect((await epochs(1, false))[0]).toEqual(Array.from({ length: n }, (_, i) => i));
  });
});

describe('phiReport with example pathways', () => {
  beforeAll(() => useBackend('cpu'));

  it('lists the most gilded examples with their labels, ϕ and times seen', async () => {
    const { model, x, y, opt } = compiled(9);
    expect(phiReport(opt)).not.toContain('Example pathways');
    await model.fitDataset(exampleDataset(x, y, { batchSize: 32 }), { epochs: 3, verbose: 0 });
    const labels = y.dataSync();
    const html = phiReport(opt, { top: 3, exampleLabels: labels, classNames: ['legit', 'fraud'] });
    const phi = opt.exampleValueWeights() as Float32Array;
    const top = Array.from(phi, (p, id) => ({ p, id })).sort((a, b) => b.p - a.p || a.id - b.id).slice(0, 3);
    const section = html.slice(html.indexOf('Example pathways'));
    const rows = [...section.matchAll(/<tr><td>(\d+)<\/td><td>(\w+)<\/td><td>([\d.]+)<\/td><td>(\d+)<\/td><\/tr>/g)].slice(0, 3);
    expect(rows.map((r) => Number(r[1]))).toEqual(top.map((t) => t.id));
    expect(rows.map((r) => r[2])).toEqual(top.map((t) => (labels[t.id] ? 'fraud' : 'legit')));
    expect(rows.map((r) => r[3])).toEqual(top.map((t) => t.p.toFixed(4)));
    expect(rows.map((r) => r[4])).toEqual(['3', '3', '3']);
    expect(() => phiReport(opt, { exampleLabels: new Float32Array(5) })).toThrow(/'exampleLabels' has 5 labels, but the example pathways hold 128/);
    expect(() => phiReport(opt, { exampleLabels: 'abc' as never })).toThrow(/'exampleLabels' must be a list/);
  });
});
