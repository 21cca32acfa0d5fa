/**
 * "No silent corruption" for the optimizer's state (docs/errors.md, Optimizer state): every bad
 * saved state, bad batch or bad call leaves the optimizer as it was, and a retry sees the same error.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KintsugiOptimizer, kintsugi, NonFiniteGradientError } from '../src';
import { tf, uniqueName, useBackend } from './helpers';

type Snapshot = Array<[string, number[]]>;

async function stateOf(opt: KintsugiOptimizer): Promise<Snapshot> {
  const weights = await opt.getWeights();
  return Promise.all(weights.map(async (w) => [w.name, Array.from(await w.tensor.data())] as [string, number[]]));
}

/** New tensors of a snapshot (so a test may change one entry). */
function toWeights(snapshot: Snapshot): Array<{ name: string; tensor: tf.Tensor }> {
  return snapshot.map(([name, values]) => ({ name, tensor: name === 'iter' ? tf.scalar(values[0], 'int32') : tf.tensor1d(values) }));
}

/** An optimizer trained 3 steps on two variables, its saved state, and the variables. */
async function trained(options = {}) {
  const a = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, uniqueName('a'));
  const b = tf.variable(tf.tensor1d([5, 6, 7]), true, uniqueName('b'));
  const opt = kintsugi({ learningRate: 0.1, ...options });
  const grads = () => ({ [a.name]: tf.tensor2d([[0.1, -0.2], [0.3, 0.4]]), [b.name]: tf.tensor1d([0.5, -0.1, 0.2]) });
  for (let i = 0; i < 3; i++) opt.applyGradients(grads());
  const saved = await stateOf(opt);
  return { a, b, opt, grads, saved };
}

beforeAll(() => useBackend('cpu'));
afterAll(() => tf.disposeVariables());

describe('getWeights: a snapshot', () => {
  it('later steps do not change the tensors it returned, so setWeights with them rolls back', async () => {
    for (const granularity of ['weight', 'unit', 'layer'] as const) {
      const { opt, grads, saved, a } = await trained({ granularity });
      const weights = await opt.getWeights();
      const thetaThen = Array.from(a.dataSync());
      for (let i = 0; i < 2; i++) opt.applyGradients(grads());
      // The tensors returned before the two steps still hold the state of that moment.
      const now = await Promise.all(weights.map(async (w) => [w.name, Array.from(await w.tensor.data())] as [string, number[]]));
      expect(now).toEqual(saved);
      await opt.setWeights(toWeights(saved));
      a.assign(tf.tensor(thetaThen, a.shape));
      expect(await stateOf(opt)).toEqual(saved);
      opt.dispose();
    }
  });
});

describe('setWeights: a failed restore changes nothing', () => {
  it('a ϕ or m of the wrong length for the right variable: every step throws the same error, and all restored state stays', async () => {
    for (const suffix of ['phi', 'm', 'v']) {
      const { a, b, grads, saved } = await trained();
      const bad = saved.map(([name, values]) => [name, name === `${b.name}/${suffix}` ? [...values, 1] : values] as [string, number[]]);
      const fresh = kintsugi({ learningRate: 0.1 });
      await fresh.setWeights(toWeights(bad));
      const restored = await stateOf(fresh);
      const before = [a.dataSync().slice(), b.dataSync().slice()];
      let first = '';
      expect(() => fresh.applyGradients(grads())).toThrow(/does not fit variable/);
      try { fresh.applyGradients(grads()); } catch (e) { first = (e as Error).message; }
      expect(first).toMatch(new RegExp(`saved state of '${b.name}'`));
      expect(() => fresh.applyGradients(grads())).toThrow(first); // a retry: the same error
      expect(fresh.iterations).toBe(3);
      expect(await stateOf(fresh)).toEqual(restored);
      expect([a.dataSync().slice(), b.dataSync().slice()]).toEqual(before);
      // a good setWeights afterwards trains
      await fresh.setWeights(toWeights(saved));
      fresh.applyGradients(grads());
      expect(fresh.iterations).toBe(4);
    }
  });

  it('refuses NaN, ±Infinity or negative saved values and keeps everything as it was', async () => {
    const { opt, b, saved } = await trained();
    const cases: Array<[string, number, RegExp]> = [
      [`${b.name}/m`, NaN, /not finite|NaN/],
      [`${b.name}/v`, NaN, /not finite|NaN/],
      [`${b.name}/v`, -1, /negative/],
      [`${b.name}/phi`, NaN, /not finite|NaN/],
      [`${b.name}/phi`, Infinity, /not finite|Infinity/],
      [`${b.name}/phi`, -0.5, /negative/],
    ];
    for (const [target, value, message] of cases) {
      const bad = saved.map(([name, values]) => [name, name === target ? [value, ...values.slice(1)] : values] as [string, number[]]);
      await expect(opt.setWeights(toWeights(bad))).rejects.toThrow(message);
      expect(await stateOf(opt)).toEqual(saved);
    }
  });

  it('refuses an iteration count that is not a whole number in [0, 2^53], changing nothing', async () => {
    const { opt, saved } = await trained();
    for (const value of [NaN, -7, 2.5, 1e20, Infinity]) {
      const weights = toWeights(saved);
      weights[0] = { name: 'iter', tensor: tf.scalar(value) };
      await expect(opt.setWeights(weights)).rejects.toThrow(/iteration count/);
      expect(opt.iterations).toBe(3);
      expect(await stateOf(opt)).toEqual(saved);
    }
  });

  it('refuses an empty list or a non-list with a clear error', async () => {
    const { opt, saved } = await trained();
    await expect(opt.setWeights([])).rejects.toThrow(/kintsugi: setWeights .*iteration count/);
    await expect(opt.setWeights(null as never)).rejects.toThrow(/kintsugi: setWeights/);
    await expect(opt.setWeights([{ name: 'iter' } as never])).rejects.toThrow(/kintsugi: setWeights/);
    expect(await stateOf(opt)).toEqual(saved);
  });

  it('a later entry that is wrong leaves the iteration count as it was', async () => {
    const { opt, saved } = await trained();
    const weights = toWeights(saved);
    weights[0] = { name: 'iter', tensor: tf.scalar(99, 'int32') };
    weights[weights.length - 1] = { name: 'nope/v', tensor: tf.tensor1d([0]) };
    await expect(opt.setWeights(weights)).rejects.toThrow(/setWeights expected/);
    expect(opt.iterations).toBe(3);
  });
});

describe('the class stream and NaN', () => {
  function classifier() {
    const w = tf.variable(tf.tensor2d([[0.1], [-0.2]]), true, uniqueName('cw'));
    const x = tf.tensor2d([[1, 0], [0, 1], [1, 1], [0.5, 0.5]]);
    const y = tf.tensor2d([[1], [0], [0], [0]]);
    const xNaN = tf.tensor2d([[NaN, 0], [0, 1], [1, 1], [0.5, 0.5]]);
    return { w, x, y, xNaN };
  }

  it("nonFinite 'skip': a batch with a NaN input leaves the class ϕ as it was, and training goes on", () => {
    const { w, x, y, xNaN } = classifier();
    const opt = kintsugi({ learningRate: 0.1 });
    const loss = opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.5 });
    const step = (input: tf.Tensor) => opt.minimize(() => loss(y, tf.sigmoid(tf.matMul(input, w))), true) as tf.Scalar;
    step(x);
    const phi = opt.classValueWeights();
    step(xNaN);
    expect(opt.classValueWeights()).toEqual(phi);
    const after = step(x);
    expect(Number.isFinite(after.dataSync()[0])).toBe(true);
    expect(Array.from(opt.classValueWeights() ?? []).every(Number.isFinite)).toBe(true);
    expect(opt.classValueWeights()).not.toEqual(phi);
  });

  it("nonFinite 'throw': a batch with a NaN input throws a clear error and changes nothing", async () => {
    const { w, x, y, xNaN } = classifier();
    const opt = kintsugi({ learningRate: 0.1, nonFinite: 'throw' });
    const loss = opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.5 });
    const step = (input: tf.Tensor) => opt.minimize(() => loss(y, tf.sigmoid(tf.matMul(input, w))));
    step(x);
    const before = await stateOf(opt);
    const wBefore = w.dataSync().slice();
    expect(() => step(xNaN)).toThrow(/class stream.*(NaN|finite)/);
    let thrown: unknown;
    try { step(xNaN); } catch (e) { thrown = e; }
    expect(thrown).toBeInstanceOf(NonFiniteGradientError);
    expect((thrown as NonFiniteGradientError).variableName).toBe('kintsugi/classes');
    expect(await stateOf(opt)).toEqual(before);
    expect(w.dataSync()).toEqual(wBefore);
    step(x);
    expect(opt.iterations).toBe(2);
  });

  it('setWeights refuses a class ϕ with NaN or negative values, or an unknown class entry', async () => {
    const { w, x, y } = classifier();
    const opt = kintsugi({ learningRate: 0.1 });
    const loss = opt.valueWeightedLoss('binaryCrossentropy', { gildingRate: 0.5 });
    opt.minimize(() => loss(y, tf.sigmoid(tf.matMul(x, w))));
    const saved = await stateOf(opt);
    for (const [name, values, message] of [
      ['kintsugi/classes/phi', [NaN, 1], /not finite|NaN/],
      ['kintsugi/classes/phi', [-1, 1], /negative/],
      ['kintsugi/classes/crack', [Infinity, 1], /not finite|Infinity/],
    ] as Array<[string, number[], RegExp]>) {
      const bad = saved.map(([n, v]) => [n, n === name ? values : v] as [string, number[]]);
      await expect(opt.setWeights(toWeights(bad))).rejects.toThrow(message);
      expect(await stateOf(opt)).toEqual(saved);
    }
    const extra = [...toWeights(saved), { name: 'kintsugi/classes/other', tensor: tf.tensor1d([1]) }];
    await expect(opt.setWeights(extra)).rejects.toThrow(/kintsugi\/classes\/other/);
    expect(await stateOf(opt)).toEqual(saved);
  });
});

describe('config', () => {
  it('phiMax: Infinity survives JSON and tf.serialization', () => {
    const opt = kintsugi({ phiMax: Infinity, normalize: 'none' });
    const json = JSON.parse(JSON.stringify(opt.getConfig()));
    const copy = KintsugiOptimizer.fromConfig(KintsugiOptimizer, json);
    expect(copy.getConfig()).toEqual(opt.getConfig());
    const [cls] = tf.serialization.SerializationMap.getMap().classNameMap.Kintsugi;
    const viaMap = (cls as typeof KintsugiOptimizer).fromConfig(KintsugiOptimizer, JSON.parse(JSON.stringify(opt.getConfig())));
    expect(viaMap.getConfig()).toEqual(opt.getConfig());
    // and the finite default still round-trips as a number
    const plain = kintsugi();
    expect(KintsugiOptimizer.fromConfig(KintsugiOptimizer, JSON.parse(JSON.stringify(plain.getConfig()))).getConfig()).toEqual(plain.getConfig());
  });
});

describe('smaller cases', () => {
  it('a step after dispose() throws a clear error', () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, uniqueName('gone'));
    const opt = kintsugi();
    opt.applyGradients({ [v.name]: tf.ones([2]) });
    opt.dispose();
    const before = v.dataSync().slice();
    expect(() => opt.applyGradients({ [v.name]: tf.ones([2]) })).toThrow(/disposed/);
    expect(() => opt.minimize(() => tf.sum(v))).toThrow(/disposed/);
    expect(v.dataSync()).toEqual(before);
  });

  it('a boxed number option is named as such', () => {
    expect(() => kintsugi({ learningRate: new Number(0.1) as never })).toThrow(/got a Number object/);
  });

  it('a step skipped for a non-finite gradient still advances the iteration count (as tfjs Adam does)', () => {
    const v = tf.variable(tf.tensor1d([1, 2]), true, uniqueName('skip'));
    const opt = kintsugi();
    opt.applyGradients({ [v.name]: tf.tensor1d([NaN, 1]) });
    expect(Array.from(v.dataSync())).toEqual([1, 2]);
    expect(opt.phiStats().skippedSteps).toBe(1);
    expect(opt.iterations).toBe(1);
  });
});
