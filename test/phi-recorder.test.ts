// The ϕ recorder across fit calls and across save → load → continue, and phiReport's arguments:
// each bad one refused up front with an error naming it, never a TypeError from deep inside.
import { beforeAll, describe, expect, it } from 'vitest';
import { KintsugiOptimizer, kintsugi, PhiRecorder, phiReport } from '../src';
import { saveToMemory, smallClassifier, tf, useBackend } from './helpers';

const fit = { batchSize: 32, shuffle: false, verbose: 0 } as const;

/** A classifier with both streams, and a recorder on its optimizer. */
function setup(seed = 21) {
  const { model, x, y } = smallClassifier(seed);
  const optimizer = kintsugi({ learningRate: 0.02, gildingRate: 0.1 });
  model.compile({ optimizer, loss: optimizer.valueWeightedLoss() });
  return { model, x, y, optimizer, recorder: new PhiRecorder(optimizer) };
}

/** Every snapshot as epoch and the bits of each ϕ. */
function history(recorder: PhiRecorder) {
  const bits = (a: Float32Array | null) => (a ? Array.from(new Uint32Array(Float32Array.from(a).buffer)) : null);
  return recorder.snapshots.map((s) => ({ epoch: s.epoch, phi: [...s.phi.values()].map(bits), classes: bits(s.classes) }));
}

describe('PhiRecorder', () => {
  beforeAll(() => useBackend('cpu'));

  it('numbers epochs on across fit calls, so a second fit adds to the history instead of reusing its epochs', async () => {
    const { model, x, y, recorder } = setup();
    await model.fit(x, y, { ...fit, epochs: 2, callbacks: recorder });
    await model.fit(x, y, { ...fit, epochs: 2, callbacks: recorder });
    expect(recorder.snapshots.map((s) => s.epoch)).toEqual([0, 1, 2, 3]);
    for (const points of recorder.drift().values()) expect(points.map(([e]) => e)).toEqual([2, 3, 4]);
    // A fit resumed with initialEpoch keeps tfjs's numbers when they run ahead.
    await model.fit(x, y, { ...fit, initialEpoch: 6, epochs: 7, callbacks: recorder });
    expect(recorder.snapshots.map((s) => s.epoch)).toEqual([0, 1, 2, 3, 6]);
    tf.dispose([x, y]);
  });

  it('two fits of 2 epochs record what one fit of 4 records, bitwise', async () => {
    const a = setup();
    await a.model.fit(a.x, a.y, { ...fit, epochs: 4, callbacks: a.recorder });
    const b = setup();
    await b.model.fit(b.x, b.y, { ...fit, epochs: 2, callbacks: b.recorder });
    await b.model.fit(b.x, b.y, { ...fit, epochs: 2, callbacks: b.recorder });
    expect(history(b.recorder)).toEqual(history(a.recorder));
    tf.dispose([a.x, a.y, b.x, b.y]);
  });

  it('save → load → continue, with JSON.stringify(recorder) kept beside the model, records what training that never stopped records', async () => {
    const straight = setup();
    await straight.model.fit(straight.x, straight.y, { ...fit, epochs: 4, callbacks: straight.recorder });

    const first = setup();
    await first.model.fit(first.x, first.y, { ...fit, epochs: 2, callbacks: first.recorder });
    const artifacts = await saveToMemory(first.model);
    const savedHistory = JSON.stringify(first.recorder);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const optimizer = loaded.optimizer as KintsugiOptimizer;
    loaded.compile({ optimizer, loss: optimizer.valueWeightedLoss() });
    const recorder = new PhiRecorder(optimizer, JSON.parse(savedHistory));
    await loaded.fit(first.x, first.y, { ...fit, epochs: 2, callbacks: recorder });
    // The loaded model's variables carry other names in this process; compare by position.
    expect(history(recorder)).toEqual(history(straight.recorder));
    expect([...recorder.drift().values()]).toEqual([...straight.recorder.drift().values()]);
    tf.dispose([straight.x, straight.y, first.x, first.y]);
  });

  it('refuses a bad optimizer or saved history, keeping nothing', () => {
    const optimizer = kintsugi();
    const cases: Array<[() => unknown, ErrorConstructor, RegExp]> = [
      [() => new PhiRecorder(tf.train.adam() as never), TypeError, /^PhiRecorder: the first argument must be a KintsugiOptimizer \(made by kintsugi\(\)\); got an object of class AdamOptimizer$/],
      [() => new PhiRecorder(undefined as never), TypeError, /got undefined$/],
      [() => new PhiRecorder(optimizer, [] as never), TypeError, /^PhiRecorder: the saved history is \[\], not \{snapshots: \[...\]\}; pass what JSON.stringify\(recorder\) wrote, parsed$/],
      [() => new PhiRecorder(optimizer, { snapshots: [{ epoch: 1, phi: {}, classes: null }, { epoch: 1, phi: {}, classes: null }] }), RangeError, /has snapshot 1 at epoch 1; epochs must be whole numbers ≥ 0, rising/],
      [() => new PhiRecorder(optimizer, { snapshots: [{ epoch: 0, phi: { w: [1, 'x'] }, classes: null }] } as never), TypeError, /has a ϕ of 'w' in snapshot 0 that is not a list of finite numbers/],
      [() => new PhiRecorder(optimizer, { snapshots: [{ epoch: 0, phi: {}, classes: [NaN] }] }), TypeError, /has class ϕ in snapshot 0 that is not a list of finite numbers/],
    ];
    for (const [call, Kind, message] of cases) {
      expect(call).toThrow(Kind);
      expect(call).toThrow(message);
    }
  });
});

describe('phiReport arguments', () => {
  beforeAll(() => useBackend('cpu'));

  it('refuses each bad argument up front, naming it and what it takes', async () => {
    const { model, x, y, optimizer, recorder } = setup(23);
    await model.fit(x, y, { ...fit, epochs: 2, callbacks: recorder });
    const name = optimizer.phiStats().variables[0].name;
    const layer = { name, kernel: new Float32Array(32), inputs: 4, units: 8, featureNames: ['a', 'b', 'c', 'd'] };
    expect(phiReport(optimizer, { recorder, firstLayer: layer, top: 3, classNames: ['no', 'yes'], title: 't' })).toContain('<h1>t</h1>');
    const cases: Array<[unknown, unknown, ErrorConstructor, RegExp]> = [
      [undefined, {}, TypeError, /^phiReport: the first argument must be a KintsugiOptimizer \(made by kintsugi\(\)\); got undefined$/],
      [tf.train.adam(), {}, TypeError, /got an object of class AdamOptimizer$/],
      [optimizer, 'big', TypeError, /^phiReport: options must be an object; got "big"$/],
      [optimizer, { topp: 3 }, RangeError, /^phiReport: unknown option 'topp'; the options are title, recorder, firstLayer, top, classNames, exampleLabels$/],
      [optimizer, { top: -1 }, RangeError, /^phiReport: option 'top' must be a whole number ≥ 0; got -1$/],
      [optimizer, { title: 7 }, TypeError, /^phiReport: option 'title' must be a string; got 7$/],
      [optimizer, { recorder: { snapshots: [] } }, TypeError, /^phiReport: option 'recorder' must be a PhiRecorder \(new PhiRecorder\(optimizer\)\); got an object of class Object$/],
      [optimizer, { classNames: 'no,yes' }, TypeError, /^phiReport: option 'classNames' must be a list of strings; got "no,yes"$/],
      [optimizer, { firstLayer: 5 }, TypeError, /^phiReport: option 'firstLayer' is 5, not an object; it takes \{name, kernel: Float32Array of inputs × units, inputs, units, featureNames\}$/],
      [optimizer, { firstLayer: { ...layer, kernel: Array.from(layer.kernel) } }, TypeError, /option 'firstLayer' has a kernel that is an object of class Array, not a Float32Array/],
      [optimizer, { firstLayer: { ...layer, units: 0 } }, RangeError, /option 'firstLayer' has units 0, not a whole number ≥ 1/],
      [optimizer, { firstLayer: { ...layer, kernel: new Float32Array(31) } }, RangeError, /option 'firstLayer' has a kernel of 31 values; inputs × units is 4 × 8 = 32/],
      [optimizer, { firstLayer: { ...layer, featureNames: ['a'] } }, RangeError, /option 'firstLayer' has 1 featureNames for 4 inputs/],
      [optimizer, { firstLayer: { ...layer, name: 'nope' } }, RangeError, /^phiReport: option 'firstLayer' names "nope", which this optimizer has not trained; its variables are 'dense_Dense\d+\/kernel', /],
    ];
    for (const [opt, options, Kind, message] of cases) {
      const call = () => phiReport(opt as KintsugiOptimizer, options as never);
      expect(call).toThrow(Kind);
      expect(call).toThrow(message);
    }
    tf.dispose([x, y]);
  });
});
