// Per-example cracks: a Dense unit's crack from the batch's examples one by one (the largest, or
// the mean of the k largest, of |δ_u(n)|·‖a(n)‖), measured by a tap on the pre-activation during
// the ordinary backward pass. Checked against per-example gradients computed one example at a
// time: example n's gradient of kernel column u is a(n)·δ_u(n), whose norm is |δ_u(n)|·‖a(n)‖.
import { beforeAll, describe, expect, it } from 'vitest';
import { exampleDataset, kintsugi, phiReport, referenceKernel } from '../src';
import { DRIVERS_KEPT, ExampleCrackTaps, HeavyHitters } from '../src/example-cracks';
import { rng, tf, useBackend } from './helpers';

beforeAll(async () => {
  await useBackend('cpu');
});

function model(seed: number, activation: 'relu' | 'tanh' = 'relu'): tf.Sequential {
  return tf.sequential({
    layers: [
      tf.layers.dense({ units: 5, inputShape: [4], activation, kernelInitializer: tf.initializers.glorotUniform({ seed }), biasInitializer: tf.initializers.randomNormal({ seed: seed + 1, stddev: 0.1 }) }),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }),
    ],
  });
}

function data(n: number, seed: number): { x: tf.Tensor2D; y: tf.Tensor2D } {
  const r = rng(seed);
  const x = tf.tensor2d(Array.from({ length: n * 4 }, () => r() * 4 - 2), [n, 4]);
  const y = tf.tensor2d(Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 1 : 0)), [n, 1]);
  return { x, y };
}

const meanBce = (m: tf.LayersModel, x: tf.Tensor, y: tf.Tensor) => () => tf.mean(tf.metrics.binaryCrossentropy(y, m.apply(x) as tf.Tensor)) as tf.Scalar;
const names = (m: tf.LayersModel, layer: number) => {
  const l = m.layers[layer] as unknown as { kernel: { read(): tf.Variable }; bias: { read(): tf.Variable } };
  return { kernel: l.kernel.read().name, bias: l.bias.read().name };
};

/** Per example n and unit u: ‖∂ℓ_n/∂W[:, u]‖ and |∂ℓ_n/∂b_u|, one example at a time. */
function bruteForce(m: tf.LayersModel, x: tf.Tensor2D, y: tf.Tensor2D, layer: number): { kernel: number[][]; bias: number[][] } {
  const { kernel, bias } = names(m, layer);
  const out = { kernel: [] as number[][], bias: [] as number[][] };
  for (let n = 0; n < x.shape[0]; n++) {
    tf.tidy(() => {
      const xn = tf.slice(x, [n, 0], [1, -1]);
      const yn = tf.slice(y, [n, 0], [1, -1]);
      const { value, grads } = tf.variableGrads(meanBce(m, xn, yn));
      out.kernel.push(Array.from(tf.norm(grads[kernel], 'euclidean', 0).dataSync()));
      out.bias.push(Array.from(tf.abs(grads[bias]).dataSync()));
      value.dispose();
    });
  }
  return out;
}

const topMean = (rows: number[][], u: number, k: number) => {
  const col = rows.map((r) => r[u]).sort((a, b) => b - a);
  return col.slice(0, k).reduce((s, v) => s + v, 0) / Math.min(k, col.length);
};

function recorded(m: tf.LayersModel, x: tf.Tensor2D, y: tf.Tensor2D, top: number): { taps: ExampleCrackTaps; crack: (name: string) => number[] } {
  const taps = new ExampleCrackTaps();
  taps.attach(m, { top });
  const { value, grads } = taps.training(() => tf.variableGrads(meanBce(m, x, y)));
  const cracks = new Map<string, number[]>();
  for (const layer of [0, 1]) {
    for (const name of Object.values(names(m, layer))) cracks.set(name, Array.from(taps.crackOf(name) ?? []));
  }
  taps.discard();
  tf.dispose([value, ...Object.values(grads)]);
  return { taps, crack: (name) => cracks.get(name) ?? [] };
}

describe('per-example cracks: the tap', () => {
  for (const top of [1, 3, 100]) {
    it(`top ${top}: equals the ${top === 1 ? 'largest' : top === 100 ? 'mean (top ≥ batch)' : 'mean of the 3 largest'} per-example gradient column norm, for both layers`, () => {
      const m = model(3, 'tanh');
      const { x, y } = data(9, 5);
      const { taps, crack } = recorded(m, x, y, top);
      for (const layer of [0, 1]) {
        const brute = bruteForce(m, x, y, layer);
        const { kernel, bias } = names(m, layer);
        const units = brute.kernel[0].length;
        const got = crack(kernel);
        const gotBias = crack(bias);
        expect(got.length).toBe(units);
        for (let u = 0; u < units; u++) {
          const want = topMean(brute.kernel, u, top);
          const wantBias = topMean(brute.bias, u, top);
          expect(Math.abs(got[u] - want)).toBeLessThanOrEqual(1e-5 * Math.max(1, want));
          expect(Math.abs(gotBias[u] - wantBias)).toBeLessThanOrEqual(1e-5 * Math.max(1, wantBias));
        }
      }
      taps.detach();
      tf.dispose([x, y]);
      m.dispose();
    });
  }

  it('a relu unit dead for every example of the batch gets crack 0; one misfit example decides a unit under top 1', () => {
    const m = model(4);
    const { x, y } = data(8, 6);
    const { taps, crack } = recorded(m, x, y, 1);
    const brute = bruteForce(m, x, y, 0);
    const { kernel } = names(m, 0);
    const got = crack(kernel);
    for (let u = 0; u < got.length; u++) {
      const col = brute.kernel.map((r) => r[u]);
      if (col.every((v) => v === 0)) expect(got[u]).toBe(0);
      // The largest part is far above the batch mean: what the batch-mean crack would drown.
      expect(got[u]).toBeGreaterThanOrEqual(col.reduce((s, v) => s + v, 0) / col.length);
    }
    taps.detach();
    tf.dispose([x, y]);
    m.dispose();
  });

  it('predict, evaluate and a step outside the optimizer see the layer as it was; detach restores the layer; no tensor is left behind', () => {
    const m = model(5);
    const { x, y } = data(6, 7);
    const plain = Array.from((m.predict(x) as tf.Tensor).dataSync());
    const taps = new ExampleCrackTaps();
    expect(taps.attach(m, undefined)).toBe(2);
    expect(Object.prototype.hasOwnProperty.call(m.layers[0], 'call')).toBe(true);
    expect(Array.from((m.predict(x) as tf.Tensor).dataSync())).toEqual(plain);
    const before = tf.memory().numTensors;
    for (let k = 0; k < 3; k++) {
      const { value, grads } = taps.training(() => tf.variableGrads(meanBce(m, x, y)));
      expect(taps.crackOf(names(m, 0).kernel)).toBeDefined();
      taps.commit(null);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    // Gradients with and without the tap are the same bits.
    const withTap = taps.training(() => tf.variableGrads(meanBce(m, x, y)));
    taps.discard();
    taps.detach();
    expect(Object.prototype.hasOwnProperty.call(m.layers[0], 'call')).toBe(false);
    const without = tf.variableGrads(meanBce(m, x, y));
    for (const name of Object.keys(without.grads)) expect(Array.from(withTap.grads[name].dataSync())).toEqual(Array.from(without.grads[name].dataSync()));
    tf.dispose([withTap.value, without.value, ...Object.values(withTap.grads), ...Object.values(without.grads), x, y]);
    m.dispose();
  });
});

describe('per-example cracks: optimizer.exampleCracks', () => {
  it('fit steps the kernel with the tap\'s cracks: ϕ after one step equals the kernel run by hand on those cracks', async () => {
    const m = model(6);
    const { x, y } = data(16, 8);
    const opt = kintsugi({ granularity: 'unit', gildingRate: 0.5 });
    expect(opt.exampleCracks(m)).toBe(2);
    // The cracks of that one batch, measured on a twin (same initial weights) with a tap of our own.
    const twin = model(6);
    const { taps, crack } = recorded(twin, x, y, 1);
    taps.detach();
    const twinNames = names(twin, 0);
    m.compile({ optimizer: opt, loss: 'binaryCrossentropy' });
    await m.fit(x, y, { batchSize: 16, epochs: 1, shuffle: false, verbose: 0 });
    const { kernel, bias } = names(m, 0);
    for (const [name, twinName] of [[kernel, twinNames.kernel], [bias, twinNames.bias]]) {
      const c = Float32Array.from(crack(twinName));
      expect(c.length).toBe(5);
      const P = c.length;
      // The unit rule on a given crack from ϕ ≡ 1: relative crack, gild, normalize.
      const phi = new Float32Array(P).fill(1);
      const theta = new Float32Array(P);
      const g = new Float32Array(P);
      const params = { granularity: 1 as const, base: 2 as const, learningRate: 0.001, gildingRate: 0.5, annealing: 0, relativeCrack: true, normalizeMean: true, phiMin: 0, phiMax: Infinity, momentum: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0, throwOnNonFinite: false, step: 1 };
      referenceKernel.step([{ name, theta, grad: g, phi, m: new Float32Array(P), v: new Float32Array(P), crack: c }], params, { skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) });
      const got = opt.valueWeights(name);
      for (let u = 0; u < P; u++) expect(got[u]).toBeCloseTo(phi[u], 5);
    }
    opt.dispose();
    expect(Object.prototype.hasOwnProperty.call(m.layers[0], 'call')).toBe(false);
    tf.dispose([x, y]);
    m.dispose();
    twin.dispose();
  });

  it('moves ϕ differently from the gradient crack, and changes nothing about a model trained without it', async () => {
    const { x, y } = data(32, 9);
    const run = async (tap: boolean) => {
      const m = model(7);
      const opt = kintsugi({ granularity: 'unit', gildingRate: 0.5 });
      if (tap) opt.exampleCracks(m);
      m.compile({ optimizer: opt, loss: 'binaryCrossentropy' });
      await m.fit(x, y, { batchSize: 8, epochs: 2, shuffle: false, verbose: 0 });
      const phi = opt.valueWeights(names(m, 0).kernel);
      opt.dispose();
      m.dispose();
      return phi;
    };
    const a = await run(false);
    const b = await run(true);
    const c = await run(false);
    expect(Array.from(c)).toEqual(Array.from(a));
    expect(Array.from(b)).not.toEqual(Array.from(a));
    tf.dispose([x, y]);
  });

  it('records which examples drove each unit (with example ids), exactly or in bounded counters alike, and the ϕ report lists them', async () => {
    const r = rng(12);
    const n = 40;
    const xs = Array.from({ length: n }, () => Array.from({ length: 4 }, () => r() * 2 - 1));
    const ys = Array.from({ length: n }, (_, i) => [i < 4 ? 1 : 0]);
    const train = async (examples: number) => {
      const model8 = model(8);
      const optimizer = kintsugi({ granularity: 'unit', gildingRate: 0.5 });
      optimizer.exampleCracks(model8);
      model8.compile({ optimizer, loss: optimizer.exampleWeightedLoss('binaryCrossentropy', { examples }) });
      const [xt, yt] = [tf.tensor2d(xs), tf.tensor2d(ys)];
      await model8.fitDataset(exampleDataset(xt, yt, { batchSize: 10, shuffle: false }), { epochs: 3, verbose: 0 });
      tf.dispose([xt, yt]);
      return { m: model8, opt: optimizer };
    };
    // 5 units × 2^22 examples is past EXACT_COUNTERS: the same steps counted by the bounded counters.
    const bounded = await train(2 ** 22);
    const { m, opt } = await train(n);
    const exact = opt.exampleCrackDrivers(names(m, 0).kernel, n)!;
    for (const unit of exact) for (const d of unit) expect(d.atMost).toBe(d.steps);
    expect(bounded.opt.exampleCrackDrivers(names(bounded.m, 0).kernel, n)).toEqual(exact);
    bounded.opt.dispose();
    bounded.m.dispose();
    const { kernel } = names(m, 0);
    expect(opt.exampleCrackVariables()).toContain(kernel);
    const drivers = opt.exampleCrackDrivers(kernel, 2)!;
    expect(drivers).toHaveLength(5);
    const firstPlace = drivers.map((d) => d[0]);
    for (const d of firstPlace) {
      expect(d.id).toBeGreaterThanOrEqual(0);
      expect(d.id).toBeLessThan(n);
      expect(d.steps).toBeGreaterThanOrEqual(1);
    }
    // Every training step (3 epochs × 4 batches) names one driver per unit.
    for (const unit of opt.exampleCrackDrivers(kernel, n)!) expect(unit.reduce((s, d) => s + d.steps, 0)).toBe(12);
    expect(() => opt.exampleCrackDrivers(kernel, 0)).toThrow(/top must be a whole number ≥ 1; got 0/);
    expect(() => opt.exampleCrackDrivers(kernel, 1.5)).toThrow(/got 1.5/);
    expect(() => opt.exampleCrackDrivers(42 as unknown as string)).toThrow(/takes a variable name/);
    expect(() => opt.exampleCrackDrivers('no/such/variable')).toThrow(/no value weights for variable 'no\/such\/variable'; known variables/);
    const html = phiReport(opt, { exampleLabels: ys.map((v) => v[0]), classNames: ['legit', 'fraud'] });
    expect(html).toContain('Which examples drove');
    expect(html).toMatch(new RegExp(`#${firstPlace[0].id} \\((legit|fraud)\\) ×${firstPlace[0].steps}`));
    opt.dispose();
    m.dispose();
  });

  it('with exampleWeightedLoss at gildingRate 0 the loss is the plain mean and only carries ids: drivers are recorded, the report says so', async () => {
    const r = rng(13);
    const n = 24;
    const xt = tf.tensor2d(Array.from({ length: n * 4 }, () => r() * 2 - 1), [n, 4]);
    const yt = tf.tensor2d(Array.from({ length: n }, (_, i) => (i % 6 === 0 ? 1 : 0)), [n, 1]);
    const m = model(11);
    const opt = kintsugi({ granularity: 'unit', gildingRate: 0.1 });
    opt.exampleCracks(m, { top: 8 });
    m.compile({ optimizer: opt, loss: opt.exampleWeightedLoss('binaryCrossentropy', { examples: n, gildingRate: 0 }) });
    await m.fitDataset(exampleDataset(xt, yt, { batchSize: 8, shuffle: false }), { epochs: 2, verbose: 0 });
    expect(Array.from(opt.exampleValueWeights()!).every((x) => x === 1)).toBe(true);
    expect(opt.exampleCrackDrivers(names(m, 0).kernel)).not.toBeNull();
    const html = phiReport(opt);
    expect(html).toContain('carries example ids only');
    expect(html).toContain('examples that drove it');
    opt.dispose();
    m.dispose();
    tf.dispose([xt, yt]);
  });

  it('a NaN input under nonFinite skip: the step is skipped as without the tap; under throw, the error names the variable', async () => {
    for (const nonFinite of ['skip', 'throw'] as const) {
      const m = model(10);
      const opt = kintsugi({ granularity: 'unit', nonFinite });
      opt.exampleCracks(m);
      const x = tf.tensor2d([[1, 2, 3, NaN], [0, 1, 0, 1]]);
      const y = tf.tensor2d([[1], [0]]);
      const before = m.getWeights().map((w) => Array.from(w.dataSync()));
      const step = () => opt.minimize(() => tf.mean(tf.metrics.binaryCrossentropy(y, m.apply(x) as tf.Tensor)) as tf.Scalar);
      if (nonFinite === 'skip') {
        step();
        expect(opt.phiStats().skippedSteps).toBeGreaterThan(0);
      } else {
        expect(step).toThrow(/NaN or Infinity/);
      }
      expect(m.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(before);
      opt.dispose();
      m.dispose();
      tf.dispose([x, y]);
    }
  });

  it('refuses what it cannot do, clearly, changing nothing', () => {
    const m = model(9);
    expect(() => kintsugi({ granularity: 'weight' }).exampleCracks(m)).toThrow(/granularity 'unit'/);
    expect(() => kintsugi({ granularity: 'unit' }).exampleCracks({})).toThrow(/tfjs-layers model/);
    const tensor = tf.zeros([2]);
    expect(() => kintsugi({ granularity: 'unit' }).exampleCracks(tensor)).toThrow(/got an object of class Tensor/);
    tensor.dispose();
    expect(() => kintsugi({ granularity: 'unit' }).exampleCracks(m, { top: 0 })).toThrow(/'top' must be a whole number/);
    expect(() => kintsugi({ granularity: 'unit' }).exampleCracks(m, { topk: 2 } as never)).toThrow(/no option 'topk'/);
    const noDense = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [2, 2] })] });
    expect(() => kintsugi({ granularity: 'unit' }).exampleCracks(noDense)).toThrow(/no Dense layer/);
    expect(Object.prototype.hasOwnProperty.call(m.layers[0], 'call')).toBe(false);
    const first = kintsugi({ granularity: 'unit' });
    first.exampleCracks(m);
    expect(first.exampleCracks(m, { top: 2 })).toBe(2); // the same optimizer again: re-taps
    expect(() => kintsugi({ granularity: 'unit' }).exampleCracks(m)).toThrow(/already tapped/);
    first.dispose();
    const second = kintsugi({ granularity: 'unit' });
    expect(second.exampleCracks(m)).toBe(2);
    second.dispose();
    m.dispose();
    noDense.dispose();
  });
});

describe('which examples drove a unit: the bounded counter', () => {
  it(`keeps every example that led more than steps/${DRIVERS_KEPT} times, with true counts inside [steps, atMost]`, () => {
    const r = rng(21);
    for (let trial = 0; trial < 50; trial++) {
      const counter = new HeavyHitters();
      const truth = new Map<number, number>();
      const steps = 1000 + Math.floor(r() * 3000);
      for (let s = 0; s < steps; s++) {
        // A few frequent examples among many rare ones.
        const id = r() < 0.3 ? Math.floor(r() * 5) : r() < 0.3 ? 10 + Math.floor(r() * 40) : 100 + Math.floor(r() * 5000);
        truth.set(id, (truth.get(id) ?? 0) + 1);
        counter.add(id);
      }
      const held = counter.top(DRIVERS_KEPT);
      expect(held.length).toBe(DRIVERS_KEPT);
      for (const d of held) {
        const t = truth.get(d.id) ?? 0;
        expect(d.steps).toBeLessThanOrEqual(t);
        expect(t).toBeLessThanOrEqual(d.atMost);
      }
      for (const [id, t] of truth) if (t > steps / DRIVERS_KEPT) expect(held.map((d) => d.id)).toContain(id);
      // Most frequent first.
      for (let i = 1; i < held.length; i++) expect(held[i - 1].atMost).toBeGreaterThanOrEqual(held[i].atMost);
    }
  });
});

describe('the kernel contract: a supplied crack (reference kernel)', () => {
  const params = { granularity: 1 as 0 | 1 | 2, base: 0 as const, learningRate: 0.1, gildingRate: 1, annealing: 0, relativeCrack: false, normalizeMean: false, phiMin: 0, phiMax: Infinity, momentum: 0, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0, throwOnNonFinite: false, step: 1 };
  const variable = (crack?: Float32Array) => ({ name: 'w', theta: new Float32Array([1, 1, 1, 1]), grad: new Float32Array([1, 2, 3, 4]), phi: new Float32Array([1, 1]), m: new Float32Array(0), v: new Float32Array(0), ...(crack ? { crack } : {}) });
  const out = () => ({ skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) });

  it('replaces the column mean |g| (ϕ = 1 + β·crack, absolute, no normalization)', () => {
    const v = variable(new Float32Array([0.5, 3]));
    referenceKernel.step([v], params, out());
    expect(Array.from(v.phi)).toEqual([1.5, 4]);
    const w = variable();
    referenceKernel.step([w], params, out());
    expect(Array.from(w.phi)).toEqual([3, 4]); // column means of |g| as [2, 2]: (1+3)/2, (2+4)/2
  });

  it('is refused, before anything changes, for another granularity, a wrong length, or a negative or non-finite value', () => {
    const cases: Array<[Partial<typeof params>, Float32Array, RegExp]> = [
      [{ granularity: 2 }, new Float32Array([1]), /unit granularity only/],
      [{}, new Float32Array([1, 2, 3]), /has 3 values, phi 2/],
      [{}, new Float32Array([1, -1]), /\[1\] is -1/],
      [{}, new Float32Array([NaN, 1]), /\[0\] is NaN/],
      [{}, new Float32Array([1, Infinity]), /\[1\] is Infinity/],
    ];
    for (const [p, crack, message] of cases) {
      const v = { ...variable(crack), phi: p.granularity === 2 ? new Float32Array([1]) : new Float32Array([1, 1]) };
      const before = JSON.stringify([Array.from(v.theta), Array.from(v.phi)]);
      expect(() => referenceKernel.step([v], { ...params, ...p }, out())).toThrow(message);
      expect(JSON.stringify([Array.from(v.theta), Array.from(v.phi)])).toBe(before);
    }
  });
});
