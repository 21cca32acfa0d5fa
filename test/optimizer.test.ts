import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KintsugiOptimizer, kernelInfo, kintsugi, NonFiniteGradientError } from '../src';
import { BACKENDS, randomArray, smallClassifier, smallMlp, tf, uniqueName, useBackend } from './helpers';

/** Every tensor of an optimizer's getWeights(), read back as plain arrays. */
async function stateOf(opt: KintsugiOptimizer): Promise<Array<[string, number[]]>> {
  const weights = await opt.getWeights();
  return Promise.all(weights.map(async (w) => [w.name, Array.from(await w.tensor.data())] as [string, number[]]));
}

for (const backend of BACKENDS) {
  describe(`KintsugiOptimizer on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    afterAll(() => tf.disposeVariables());

    it('trains a small classifier with model.fit: the loss clearly falls', async () => {
      const { model, x, y } = smallClassifier();
      model.compile({ optimizer: kintsugi({ learningRate: 0.02 }), loss: 'binaryCrossentropy' });
      const history = await model.fit(x, y, { epochs: 30, batchSize: 32, shuffle: false, verbose: 0 });
      const losses = history.history.loss as number[];
      expect(losses[losses.length - 1]).toBeLessThan(0.5 * losses[0]);
      const stats = (model.optimizer as KintsugiOptimizer).phiStats();
      expect(stats.variables).toHaveLength(4);
      expect(stats.iterations).toBe(30 * 4);
      tf.dispose([x, y]);
      model.dispose();
    });

    it('updates in place when the buffer is not shared, and leaves a clone taken before a step intact', () => {
      const name = uniqueName('inplace');
      const init = tf.tensor1d([1, 2, 3, 4]);
      const v = tf.variable(init, true, name);
      init.dispose(); // the variable now owns its buffer alone
      const opt = kintsugi({ base: 'sgd', learningRate: 0.1, gildingRate: 0 });
      const target = tf.tensor1d([1, 1, 1, 1]);
      const loss = () => tf.sum(tf.mul(v, target)) as tf.Scalar;

      const dataIdBefore = v.dataId;
      opt.minimize(loss);
      expect(opt.storageStats()).toEqual({ inPlace: 1, copy: 0, generic: 0 });
      expect(v.dataId).toBe(dataIdBefore); // same buffer: updated in place
      expect(Array.from(v.dataSync())).toEqual(Array.from(Float32Array.from([0.9, 1.9, 2.9, 3.9])));

      // tf.clone shares the buffer on cpu and copies it on wasm; a reshape shares it on both.
      const snapshot = tf.clone(v);
      const alias = tf.reshape(v, [2, 2]);
      const old = Array.from(v.dataSync());
      opt.minimize(loss);
      expect(opt.storageStats()).toEqual({ inPlace: 1, copy: 1, generic: 0 });
      expect(Array.from(snapshot.dataSync())).toEqual(old);
      expect(Array.from(alias.dataSync())).toEqual(old);
      expect(Array.from(v.dataSync())).toEqual(Array.from(Float32Array.from(old.map((x) => x - 0.1))));
      tf.dispose([snapshot, alias, target, v]);
      opt.dispose();
    });

    it('the generic dataSync/assign path (tfjs-node, webgl) gives bitwise the same training', () => {
      const run = (storage: 'auto' | 'copy') => {
        const mlp = smallMlp(uniqueName('generic'));
        const opt = kintsugi({ learningRate: 0.01, gildingRate: 0.2, storage });
        for (let i = 0; i < 20; i++) opt.minimize(mlp.loss);
        const values = mlp.values();
        const stats = opt.storageStats();
        mlp.dispose();
        opt.dispose();
        return { values, stats };
      };
      const direct = run('auto');
      const generic = run('copy');
      expect(generic.stats).toEqual({ inPlace: 0, copy: 0, generic: 80 });
      expect(direct.stats.generic).toBe(0);
      expect(generic.values).toEqual(direct.values);
    });

    it('does not grow tf.memory().numTensors over 1,000 steps, nor after setWeights; dispose returns it', async () => {
      const base = tf.memory().numTensors;
      const mlp = smallMlp(uniqueName('mem'));
      const withModel = tf.memory().numTensors;
      const opt = kintsugi({ learningRate: 0.01 });
      opt.minimize(mlp.loss);
      const afterFirst = tf.memory().numTensors;
      for (let i = 0; i < 1000; i++) opt.minimize(mlp.loss);
      expect(tf.memory().numTensors).toBe(afterFirst);
      const weights = await opt.getWeights();
      await opt.setWeights(weights);
      opt.minimize(mlp.loss);
      await opt.setWeights(await opt.getWeights());
      const afterRestore = tf.memory().numTensors;
      opt.dispose();
      expect(afterRestore - withModel).toBeLessThanOrEqual(weights.length); // only the last snapshot
      expect(tf.memory().numTensors).toBe(withModel);
      mlp.dispose();
      expect(tf.memory().numTensors).toBe(base);
    });

    it('what a step reuses from the last one stays right: reassigned or replaced variables, another variable list, setWeights, a grown wasm heap', async () => {
      // The reference runs the same sequence with storage 'copy' (dataSync in, assign out: no view
      // of the backend's memory reused) and the gradient list reversed on every other step, so no
      // step finds the last one's variable list to reuse (with unit pathways the order of the
      // variables changes nothing else). Every step must give bitwise its result.
      const run = async (storage: 'auto' | 'copy') => {
        const prefix = uniqueName(`reuse-${storage}`);
        const make = (name: string, seed: number) =>
          tf.tidy(() => tf.variable(tf.tensor2d(randomArray(12, seed), [4, 3]), true, `${prefix}/${name}`));
        const vars = { a: make('a', 1), b: make('b', 2), c: make('c', 3) };
        const opt = kintsugi({ learningRate: 0.05, gildingRate: 0.3, storage });
        let seed = 100;
        let steps = 0;
        const step = (...names: Array<keyof typeof vars>) => {
          const grads = names.map((n) => ({ name: vars[n].name, tensor: tf.tensor2d(randomArray(12, seed++), [4, 3]) }));
          opt.applyGradients(storage === 'copy' && steps++ % 2 === 1 ? grads.slice().reverse() : grads);
          tf.dispose(grads.map((g) => g.tensor));
        };
        step('a', 'b', 'c');
        step('a', 'b', 'c');
        vars.a.assign(tf.tensor2d(randomArray(12, 9), [4, 3])); // new data id under the same variable
        step('a', 'b', 'c');
        step('c', 'a'); // another list and order
        step('a', 'b', 'c');
        if (tf.getBackend() === 'wasm') {
          // Grow the wasm heap: views taken before it are dead.
          const heap = () => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.buffer;
          const before = heap();
          const big: tf.Tensor[] = [];
          while (heap() === before && big.length < 64) big.push(tf.zeros([4 << 20]));
          expect(heap()).not.toBe(before);
          step('a', 'b', 'c');
          tf.dispose(big);
        }
        await opt.setWeights(await opt.getWeights());
        step('a', 'b', 'c');
        const name = vars.b.name;
        vars.b.dispose(); // a new variable under the same name: its state is found by name
        vars.b = tf.tidy(() => tf.variable(tf.tensor2d(randomArray(12, 5), [4, 3]), true, name));
        step('a', 'b', 'c');
        step('a', 'b', 'c');
        const values = Object.values(vars).map((v) => Array.from(v.dataSync()));
        const state = await stateOf(opt);
        const stats = opt.storageStats();
        opt.dispose();
        tf.dispose(Object.values(vars));
        // By name: the saved order is the order in which variables first stepped after setWeights.
        const byName = state.map(([n, v]) => [n.replace(prefix, ''), v] as const).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
        return { values, state: byName, stats };
      };
      const reused = await run('auto');
      const fresh = await run('copy');
      expect(reused.stats.generic).toBe(0);
      expect(reused.stats.inPlace).toBeGreaterThan(0);
      expect(reused.values).toEqual(fresh.values);
      expect(reused.state).toEqual(fresh.state);
    });

    it('a NaN gradient under skip leaves θ, ϕ and moments untouched and is counted', async () => {
      const a = tf.variable(tf.tensor1d([1, 2]), true, uniqueName('a'));
      const b = tf.variable(tf.tensor1d([3, 4]), true, uniqueName('b'));
      const opt = kintsugi({ learningRate: 0.1, gildingRate: 0.5 });
      opt.applyGradients({ [a.name]: tf.tensor1d([1, 3]), [b.name]: tf.tensor1d([1, 3]) });
      const before = await stateOf(opt);
      const aBefore = Array.from(a.dataSync());
      const bBefore = Array.from(b.dataSync());
      opt.applyGradients({ [a.name]: tf.tensor1d([NaN, 1]), [b.name]: tf.tensor1d([2, 1]) });
      expect(Array.from(a.dataSync())).toEqual(aBefore);
      expect(Array.from(b.dataSync())).not.toEqual(bBefore); // the healthy variable still steps
      const after = await stateOf(opt);
      for (const [name, values] of after) {
        if (name.startsWith(a.name)) expect(values).toEqual(before.find(([n]) => n === name)?.[1]);
      }
      const stats = opt.phiStats();
      expect(stats.skippedSteps).toBe(1);
      expect(stats.variables.find((s) => s.name === a.name)?.skippedSteps).toBe(1);
      expect(stats.variables.find((s) => s.name === b.name)?.skippedSteps).toBe(0);
      opt.dispose();
    });

    it('a NaN or Inf gradient under throw names the variable and changes no variable of the call', async () => {
      const a = tf.variable(tf.tensor1d([1, 2]), true, uniqueName('first'));
      const b = tf.variable(tf.tensor1d([3, 4]), true, uniqueName('dense/kernel'));
      const opt = kintsugi({ nonFinite: 'throw' });
      opt.applyGradients({ [a.name]: tf.tensor1d([1, 3]), [b.name]: tf.tensor1d([1, 3]) });
      const before = await stateOf(opt);
      const values = [Array.from(a.dataSync()), Array.from(b.dataSync())];
      const call = () => opt.applyGradients([
        { name: a.name, tensor: tf.tensor1d([1, 1]) },
        { name: b.name, tensor: tf.tensor1d([1, Infinity]) },
      ]);
      expect(call).toThrow(NonFiniteGradientError);
      expect(call).toThrow(b.name);
      expect([Array.from(a.dataSync()), Array.from(b.dataSync())]).toEqual(values);
      expect(await stateOf(opt)).toEqual(before);
      expect(opt.iterations).toBe(1);
      opt.dispose();
    });
  });
}

describe('save and load', () => {
  beforeAll(() => useBackend('cpu'));

  it('model.save with includeOptimizer, then tf.loadLayersModel: further training is bitwise identical', async () => {
    const { model, x, y } = smallClassifier(11);
    model.compile({ optimizer: kintsugi({ learningRate: 0.01, gildingRate: 0.3, granularity: 'weight' }), loss: 'binaryCrossentropy' });
    await model.fit(x, y, { epochs: 3, batchSize: 32, shuffle: false, verbose: 0 });

    let saved: tf.io.ModelArtifacts | null = null;
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }), { includeOptimizer: true });
    expect(saved).not.toBeNull();

    const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved as unknown as tf.io.ModelArtifacts));
    expect(loaded.optimizer).toBeInstanceOf(KintsugiOptimizer);
    const restored = loaded.optimizer as KintsugiOptimizer;
    const original = model.optimizer as KintsugiOptimizer;
    expect(restored.getConfig()).toEqual(original.getConfig());
    expect(restored.iterations).toBe(original.iterations);

    // The run must gild, or restoring ϕ would be untested.
    const phiSpread = original.phiStats().variables.map((v) => v.std);
    expect(Math.max(...phiSpread)).toBeGreaterThan(1e-3);

    await model.fit(x, y, { epochs: 3, batchSize: 32, shuffle: false, verbose: 0 });
    await loaded.fit(x, y, { epochs: 3, batchSize: 32, shuffle: false, verbose: 0 });
    const a = model.getWeights().map((w) => Array.from(w.dataSync()));
    const b = loaded.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b).toEqual(a);
    const phiA = original.phiStats().variables.map((v) => original.valueWeights(v.name));
    const phiB = restored.phiStats().variables.map((v) => restored.valueWeights(v.name));
    expect(phiB).toEqual(phiA);
    tf.dispose([x, y]);
    model.dispose();
    loaded.dispose();
  });

  it('instanceof KintsugiOptimizer is true only for Kintsugi optimizers, and tf.Optimizer still recognizes it', () => {
    expect(tf.train.adam(0.1) instanceof KintsugiOptimizer).toBe(false);
    expect(kintsugi() instanceof KintsugiOptimizer).toBe(true);
    expect(kintsugi() instanceof tf.Optimizer).toBe(true);
  });

  it('getConfig/fromConfig round-trips and the class is registered as Kintsugi', () => {
    const opt = kintsugi({ learningRate: 0.003, gildingRate: 0.2, granularity: 'layer', base: 'momentum', nonFinite: 'throw' });
    const config = opt.getConfig();
    expect(config).toMatchObject({ learningRate: 0.003, gildingRate: 0.2, granularity: 'layer', base: 'momentum', nonFinite: 'throw' });
    const copy = KintsugiOptimizer.fromConfig(KintsugiOptimizer, config);
    expect(copy.getConfig()).toEqual(config);
    expect(KintsugiOptimizer.className).toBe('Kintsugi');
    expect(tf.serialization.SerializationMap.getMap().classNameMap.Kintsugi?.[0]).toBe(KintsugiOptimizer);
  });

  it('setWeights rejects state that does not fit, naming what is wrong', async () => {
    const v = tf.variable(tf.tensor2d([[1, 2], [3, 4]]), true, uniqueName('fit'));
    const opt = kintsugi({ granularity: 'unit' });
    opt.applyGradients({ [v.name]: tf.ones([2, 2]) });
    const weights = await opt.getWeights();
    expect(weights.map((w) => w.name)).toEqual(['iter', `${v.name}/phi`, `${v.name}/m`, `${v.name}/v`]);
    await expect(opt.setWeights(weights.slice(0, 3))).rejects.toThrow(/3 tensors per variable/);
    const other = kintsugi({ granularity: 'weight' });
    await other.setWeights(weights);
    expect(() => other.applyGradients({ [v.name]: tf.ones([2, 2]) })).toThrow(/does not fit variable/);
  });
});

describe('inspection', () => {
  beforeAll(() => useBackend('cpu'));

  it('valueWeights and phiStats describe the gilded pathways', () => {
    const v = tf.variable(tf.zeros([3, 4]), true, uniqueName('dense/kernel'));
    const opt = kintsugi({ gildingRate: 0.5, crack: 'absolute', granularity: 'unit' });
    // Unit 2 has the largest gradient in every row, so it is gilded most.
    const g = tf.tensor2d([[0.1, 0.1, 2, 0.1], [0.1, 0.2, 2, 0.1], [0.1, 0.1, 2, 0.3]]);
    opt.applyGradients({ [v.name]: g });
    const phi = opt.valueWeights(v);
    expect(phi).toHaveLength(4);
    expect(phi.reduce((s, p) => s + p, 0)).toBeCloseTo(4, 5);
    const stats = opt.phiStats({ top: 2 });
    expect(stats.iterations).toBe(1);
    const s = stats.variables[0];
    expect(s).toMatchObject({ name: v.name, granularity: 'unit', pathways: 4 });
    expect(s.top.map((t) => t.index)).toEqual([2, 3]); // unit 3's mean |g| (0.5/3) beats unit 1's (0.4/3)
    expect(s.max).toBe(phi[2]);
    expect(s.mean).toBeCloseTo(1, 6);
    expect(s.gini).toBeGreaterThan(0);
    expect(s.meanAbsDeltaPhi).toBeGreaterThan(0);
    // Copies, not views: changing them changes nothing.
    phi[0] = 99;
    expect(opt.valueWeights(v.name)[0]).not.toBe(99);
    expect(() => opt.valueWeights('nope')).toThrow(/no value weights for variable 'nope'/);
  });

  it('kernelInfo says which kernel runs and why', () => {
    const info = kernelInfo();
    expect(['js', 'native', 'wasm']).toContain(info.kernel);
    expect(info.reason.length).toBeGreaterThan(10);
  });

  it('the value-weight distribution settles: mean |Δϕ| shrinks as training goes on', () => {
    const mlp = smallMlp(uniqueName('settle'));
    const opt = kintsugi({ learningRate: 0.01, gildingRate: 0.05 });
    const drift = () => opt.phiStats().variables.reduce((s, v) => s + v.meanAbsDeltaPhi, 0);
    opt.minimize(mlp.loss);
    const early = drift();
    for (let i = 0; i < 300; i++) opt.minimize(mlp.loss);
    expect(drift()).toBeLessThan(early);
    mlp.dispose();
  });
});

describe('validation', () => {
  beforeAll(() => useBackend('cpu'));

  const BAD: Array<[string, unknown, RegExp]> = [
    ['learningRate', -0.5, /'learningRate'.*\[0, Infinity\).*got -0.5/],
    ['learningRate', NaN, /'learningRate'.*got NaN/],
    ['gildingRate', -1, /'gildingRate'.*\[0, Infinity\).*got -1/],
    ['crack', 'abs', /'crack'.*'absolute', 'relative'.*got "abs"/],
    ['annealing', Infinity, /'annealing'.*got Infinity/],
    ['granularity', 'neuron', /'granularity'.*'weight', 'unit', 'layer'.*got "neuron"/],
    ['normalize', 'sum', /'normalize'.*'mean', 'none'.*got "sum"/],
    ['phiMin', 2, /'phiMin'.*\[0, 1\].*got 2/],
    ['phiMax', 0.5, /'phiMax'.*\[1, Infinity\).*got 0.5/],
    ['base', 'rmsprop', /'base'.*'sgd', 'momentum', 'adam'.*got "rmsprop"/],
    ['momentum', 1, /'momentum'.*\[0, 1\).*got 1/],
    ['beta1', -0.1, /'beta1'.*got -0.1/],
    ['beta2', 1.5, /'beta2'.*got 1.5/],
    ['epsilon', 0, /'epsilon'.*got 0/],
    ['weightDecay', '0.1', /'weightDecay'.*got "0.1"/],
    ['nonFinite', 'ignore', /'nonFinite'.*'skip', 'throw'.*got "ignore"/],
    ['storage', 'gpu', /'storage'.*'auto', 'copy'.*got "gpu"/],
  ];
  for (const [option, value, message] of BAD) {
    it(`rejects ${option} = ${String(value)}`, () => {
      expect(() => kintsugi({ [option]: value } as never)).toThrow(message);
    });
  }

  it('rejects unknown options, naming them', () => {
    expect(() => kintsugi({ gildRate: 0.1 } as never)).toThrow(/unknown option 'gildRate'/);
    expect(() => new KintsugiOptimizer('adam' as never)).toThrow(/options must be an object/);
  });

  it('rejects gradients of the wrong dtype or shape, naming the variable, before changing anything', () => {
    const a = tf.variable(tf.tensor1d([1, 2]), true, uniqueName('ok'));
    const b = tf.variable(tf.tensor1d([3, 4]), true, uniqueName('shaped'));
    const opt = kintsugi();
    const wrongShape = () => opt.applyGradients({ [a.name]: tf.ones([2]), [b.name]: tf.ones([3]) });
    expect(wrongShape).toThrow(new RegExp(`'${b.name}' has shape \\[3\\].*\\[2\\]`));
    const wrongDtype = () => opt.applyGradients({ [a.name]: tf.ones([2]), [b.name]: tf.ones([2], 'int32') });
    expect(wrongDtype).toThrow(new RegExp(`'${b.name}' .*float32.*int32`));
    expect(() => opt.applyGradients({ nowhere: tf.ones([2]) })).toThrow(/'nowhere', which is not a registered variable/);
    const disposed = tf.ones([2]);
    disposed.dispose();
    expect(() => opt.applyGradients({ [a.name]: disposed })).toThrow(/is disposed/);
    expect(Array.from(a.dataSync())).toEqual([1, 2]);
    expect(Array.from(b.dataSync())).toEqual([3, 4]);
    expect(opt.iterations).toBe(0);
  });

  it('skips null gradients and accepts both NamedTensorMap and NamedTensor[]', () => {
    const a = tf.variable(tf.tensor1d(randomArray(3, 1)), true, uniqueName('x'));
    const b = tf.variable(tf.tensor1d([5]), true, uniqueName('y'));
    const opt = kintsugi({ base: 'sgd', learningRate: 1, gildingRate: 0 });
    opt.applyGradients({ [a.name]: tf.ones([3]), [b.name]: null as unknown as tf.Tensor });
    expect(b.dataSync()[0]).toBe(5);
    opt.applyGradients([{ name: b.name, tensor: tf.ones([1]) }]);
    expect(b.dataSync()[0]).toBe(4);
  });
});
