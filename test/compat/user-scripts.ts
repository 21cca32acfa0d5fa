// What a tfjs user does with an optimizer, written once and run with any optimizer: the
// compatibility suite (compat.test.ts) runs each with tf.train.adam() and with
// kintsugi({ gildingRate: 0 }) and compares what they return. A script knows nothing of the
// optimizer it is given beyond the tf.Optimizer API and the public `learningRate` field that
// tfjs's own optimizers have.
import { saveToMemory, smallClassifier, smallMlp, tf, uniqueName } from '../helpers';

export type MakeOptimizer = () => tf.Optimizer;

/** Two runs a script expects to be the same training (a restored run and an uninterrupted one). */
export interface SamePair {
  what: string;
  a: Float32Array[];
  b: Float32Array[];
}

export interface Outcome {
  /** Trained weights at the end, compared across optimizers within float tolerance. */
  weights: Float32Array[];
  /** Losses as the script saw them (per step or per epoch), compared the same way. */
  losses: number[];
  /** Facts that must be equal across optimizers (exactly, as JSON values). */
  facts: Record<string, unknown>;
  /** Pairs of runs that must agree within one optimizer. */
  same: SamePair[];
  /** Tensors still allocated after the script disposed everything it made, where it counts them. */
  tensorsLeft?: number;
}

export interface UserScript {
  name: string;
  run(make: MakeOptimizer): Promise<Outcome>;
}

/** The learning rate as tfjs's optimizers keep it: a plain field that callbacks set. */
interface HasLearningRate {
  learningRate: number;
}
const rateOf = (o: tf.Optimizer): HasLearningRate => o as unknown as HasLearningRate;

const weightsOf = (model: tf.LayersModel): Float32Array[] => model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
/** The raw variables' values (all float32). */
const valuesOf = (mlp: ReturnType<typeof smallMlp>): Float32Array[] => mlp.values() as Float32Array[];
const FIT = { batchSize: 32, shuffle: false, verbose: 0 } as const;

function outcome(weights: Float32Array[], losses: number[] = [], facts: Record<string, unknown> = {}, same: SamePair[] = []): Outcome {
  return { weights, losses, facts, same };
}

/** A classifier compiled with a fresh optimizer; `dispose` frees the model, the data and the optimizer. */
function compiled(make: MakeOptimizer, seed = 3) {
  const { model, x, y } = smallClassifier(seed);
  const optimizer = make();
  model.compile({ optimizer, loss: 'binaryCrossentropy' });
  const dispose = () => {
    model.dispose();
    optimizer.dispose();
    tf.dispose([x, y]);
  };
  return { model, x, y, optimizer, dispose };
}

const minimize: UserScript = {
  name: 'minimize, with the cost returned and with a varList',
  async run(make) {
    const mlp = smallMlp(uniqueName('compat'));
    const optimizer = make();
    const losses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const cost = optimizer.minimize(mlp.loss, true);
      losses.push(cost!.dataSync()[0]);
      cost!.dispose();
    }
    // Only the first layer from here on: the second must not move.
    const secondLayer = [mlp.vars.w2, mlp.vars.b2].map((v) => v.dataSync().slice() as Float32Array);
    for (let i = 0; i < 10; i++) optimizer.minimize(mlp.loss, false, [mlp.vars.w1, mlp.vars.b1]);
    const after = [mlp.vars.w2, mlp.vars.b2].map((v) => v.dataSync().slice() as Float32Array);
    const weights = valuesOf(mlp);
    mlp.dispose();
    optimizer.dispose();
    return outcome(weights, losses, {}, [{ what: 'variables outside varList', a: secondLayer, b: after }]);
  },
};

/** The rate at each epoch: a decay, then 0 (frozen), then a warm restart. */
const SCHEDULE = [0.01, 0.005, 0, 0.02, 0.002];

const fitSchedule: UserScript = {
  name: 'compile/fit with a learning-rate schedule callback (including a rate of 0)',
  async run(make) {
    const { model, x, y, dispose } = compiled(make);
    const seen: number[] = [];
    let atFrozenStart: Float32Array[] = [];
    let atFrozenEnd: Float32Array[] = [];
    const history = await model.fit(x, y, {
      ...FIT,
      epochs: SCHEDULE.length,
      callbacks: {
        onEpochBegin: async (epoch) => {
          rateOf(model.optimizer).learningRate = SCHEDULE[epoch];
          seen.push(rateOf(model.optimizer).learningRate);
          if (SCHEDULE[epoch] === 0) atFrozenStart = weightsOf(model);
        },
        onEpochEnd: async (epoch) => {
          if (SCHEDULE[epoch] === 0) atFrozenEnd = weightsOf(model);
        },
      },
    });
    const weights = weightsOf(model);
    dispose();
    return outcome(weights, history.history.loss as number[], { ratesSeen: seen }, [
      { what: 'weights over the epoch at learning rate 0', a: atFrozenStart, b: atFrozenEnd },
    ]);
  },
};

const fitPlateau: UserScript = {
  name: 'compile/fit with a reduce-on-plateau callback',
  async run(make) {
    const { model, x, y, dispose } = compiled(make);
    rateOf(model.optimizer).learningRate = 0.05;
    let best = Infinity;
    let wait = 0;
    const rates: number[] = [];
    const history = await model.fit(x, y, {
      ...FIT,
      epochs: 12,
      callbacks: {
        onEpochEnd: async (_epoch, logs) => {
          const loss = logs!.loss;
          if (loss < best - 0.01) {
            best = loss;
            wait = 0;
          } else if (++wait >= 2) {
            rateOf(model.optimizer).learningRate *= 0.5;
            wait = 0;
          }
          rates.push(rateOf(model.optimizer).learningRate);
        },
      },
    });
    const weights = weightsOf(model);
    dispose();
    return outcome(weights, history.history.loss as number[], { rates, reduced: rates[rates.length - 1] < 0.05 });
  },
};

const fitDataset: UserScript = {
  name: 'fitDataset',
  async run(make) {
    const { model, x, y, dispose } = compiled(make);
    const rows = (t: tf.Tensor) => t.arraySync() as number[][];
    const data = tf.data.zip({ xs: tf.data.array(rows(x)), ys: tf.data.array(rows(y)) }).batch(32);
    const history = await model.fitDataset(data, { epochs: 4, verbose: 0 });
    const weights = weightsOf(model);
    dispose();
    return outcome(weights, history.history.loss as number[]);
  },
};

const saveLoad: UserScript = {
  name: 'model.save / tf.loadLayersModel with includeOptimizer, after a callback changed the rate',
  async run(make) {
    const { model, x, y, optimizer, dispose } = compiled(make);
    await model.fit(x, y, { ...FIT, epochs: 2, callbacks: { onEpochBegin: async (e) => { rateOf(model.optimizer).learningRate = e === 0 ? 0.01 : 0.004; } } });
    const artifacts = await saveToMemory(model);
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
    const facts = {
      restoredClass: loaded.optimizer.getClassName() === optimizer.getClassName(),
      restoredRate: rateOf(loaded.optimizer).learningRate,
      restoredIterations: loaded.optimizer.iterations,
    };
    const continued = await loaded.fit(x, y, { ...FIT, epochs: 2 });
    await model.fit(x, y, { ...FIT, epochs: 2 });
    const weights = weightsOf(loaded);
    const same = [{ what: 'training after save and load vs training that never stopped', a: weights, b: weightsOf(model) }];
    loaded.optimizer.dispose();
    loaded.dispose();
    dispose();
    return outcome(weights, continued.history.loss as number[], facts, same);
  },
};

const weightsRoundTrip: UserScript = {
  name: 'optimizer getWeights / setWeights into a fresh optimizer',
  async run(make) {
    const first = smallMlp(uniqueName('compat'));
    const optimizer = make();
    for (let i = 0; i < 15; i++) optimizer.minimize(first.loss);
    const state = await optimizer.getWeights();
    const facts = { iterationsSaved: state[0].name === 'iter' ? state[0].tensor.dataSync()[0] : null };
    // A second copy of the model at the same point, trained on by a fresh optimizer given the state.
    const second = smallMlp(uniqueName('compat'));
    const from: tf.Variable[] = Object.values(first.vars);
    Object.values(second.vars).forEach((v: tf.Variable, i) => v.assign(from[i]));
    const fresh = make();
    await fresh.setWeights(state);
    for (let i = 0; i < 15; i++) {
      optimizer.minimize(first.loss);
      fresh.minimize(second.loss);
    }
    const weights = valuesOf(second);
    const same = [{ what: 'a fresh optimizer after setWeights vs the original', a: weights, b: valuesOf(first) }];
    first.dispose();
    second.dispose();
    optimizer.dispose();
    fresh.dispose();
    return outcome(weights, [], facts, same);
  },
};

const disposeLeaks: UserScript = {
  name: 'dispose: tf.memory().numTensors back where it was',
  async run(make) {
    const before = tf.memory().numTensors;
    const { model, x, y, optimizer, dispose } = compiled(make);
    await model.fit(x, y, { ...FIT, epochs: 2 });
    await optimizer.getWeights();
    await saveToMemory(model);
    const weights = weightsOf(model);
    dispose();
    return { ...outcome(weights), tensorsLeft: tf.memory().numTensors - before };
  },
};

const serialization: UserScript = {
  name: 'tf.serialization: getConfig through JSON, then the registered fromConfig',
  async run(make) {
    const original = make();
    rateOf(original).learningRate = 0.02;
    const config = JSON.parse(JSON.stringify(original.getConfig())) as tf.serialization.ConfigDict;
    const entry = tf.serialization.SerializationMap.getMap().classNameMap[original.getClassName()];
    const copy = entry ? (entry[1](entry[0], config) as tf.Optimizer) : null;
    const facts = {
      registered: entry != null,
      sameClass: copy?.constructor === original.constructor,
      sameConfig: JSON.stringify(copy?.getConfig()) === JSON.stringify(original.getConfig()),
      copiedRate: copy ? rateOf(copy).learningRate : null,
    };
    const train = (o: tf.Optimizer) => {
      const mlp = smallMlp(uniqueName('compat'));
      for (let i = 0; i < 20; i++) o.minimize(mlp.loss);
      const values = valuesOf(mlp);
      mlp.dispose();
      return values;
    };
    const weights = copy ? train(copy) : [];
    const same = [{ what: 'the deserialized copy vs the original', a: weights, b: train(original) }];
    copy?.dispose();
    original.dispose();
    return outcome(weights, [], facts, same);
  },
};

const twoModels: UserScript = {
  name: 'two models with two optimizers in one process, interleaved',
  async run(make) {
    const trainAlone = async (seed: number) => {
      const run = compiled(make, seed);
      await run.model.fit(run.x, run.y, { ...FIT, epochs: 3 });
      const w = weightsOf(run.model);
      run.dispose();
      return w;
    };
    const a = compiled(make, 3);
    const b = compiled(make, 11);
    // Interleaved by epoch: each optimizer's state must stay with its own model.
    const losses: number[] = [];
    for (let epoch = 0; epoch < 3; epoch++) {
      losses.push(...((await a.model.fit(a.x, a.y, { ...FIT, epochs: 1 })).history.loss as number[]));
      losses.push(...((await b.model.fit(b.x, b.y, { ...FIT, epochs: 1 })).history.loss as number[]));
    }
    const weights = [...weightsOf(a.model), ...weightsOf(b.model)];
    const same = [
      { what: 'model A interleaved vs alone', a: weightsOf(a.model), b: await trainAlone(3) },
      { what: 'model B interleaved vs alone', a: weightsOf(b.model), b: await trainAlone(11) },
    ];
    a.dispose();
    b.dispose();
    return outcome(weights, losses, {}, same);
  },
};

export const USER_SCRIPTS: UserScript[] = [minimize, fitSchedule, fitPlateau, fitDataset, saveLoad, weightsRoundTrip, disposeLeaks, serialization, twoModels];
