// The trainer: training in a worker thread, prediction on the caller's thread. Bitwise parity
// with in-process training, transfer of batches, snapshots, checkpoints, errors, close.
// Needs dist/ (npm run build): the worker thread runs the built package.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTrainer,
  kernelInfo,
  kintsugi,
  readCheckpoint,
  syntheticFraud,
  TrainerError,
  type KintsugiOptions,
  type SnapshotTensor,
  type Trainer,
  type TrainerLoss,
} from '../src/index';

const FEATURES = 12;
const ROWS = 32;
const OPTIMIZER: KintsugiOptions = { learningRate: 0.01, gildingRate: 0.05, granularity: 'unit' };
const LOSS: TrainerLoss = { valueWeighted: 'binaryCrossentropy' };

let dir: string;
let fixture: string;

/** A factory module the worker can load (functions cannot cross threads), with crash hooks for the failure tests. */
const FIXTURE = `
exports.createModel = (tf, args) => {
  const init = (seed) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential({ layers: [
    tf.layers.dense({ units: args.hidden, activation: 'relu', inputShape: [args.inputs], kernelInitializer: init(args.seed) }),
    tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(args.seed + 1) }),
  ] });
  if (args.crashAtStep) {
    let n = 0;
    const trainOnBatch = model.trainOnBatch.bind(model);
    model.trainOnBatch = async (x, y) => {
      n += 1;
      if (n === args.crashAtStep) {
        if (args.crash === 'exit') process.exit(3);
        if (args.crash === 'hang') for (;;) {}
        setImmediate(() => { throw new Error('boom from the fixture'); });
        await new Promise(() => {});
      }
      return trainOnBatch(x, y);
    };
  }
  return model;
};
`;

function modelArgs(extra: Record<string, unknown> = {}) {
  return { inputs: FEATURES, hidden: 16, seed: 11, ...extra };
}

function topology(seed = 5): object {
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  const m = tf.sequential({
    layers: [
      tf.layers.dense({ units: 16, activation: 'relu', inputShape: [FEATURES], kernelInitializer: init(seed) }),
      tf.layers.dense({ units: 8, activation: 'relu', kernelInitializer: init(seed + 1) }),
      tf.layers.dense({ units: 1, activation: 'sigmoid', kernelInitializer: init(seed + 2) }),
    ],
  });
  const json = m.toJSON(null, false) as object;
  m.dispose();
  return json;
}

interface Batch {
  x: Float32Array;
  y: Float32Array;
}

/** Deterministic batches from the package's synthetic fraud data (10% fraud, so most batches hold a positive). */
function batches(count: number, seed = 3): Batch[] {
  const data = syntheticFraud({ n: count * ROWS, features: FEATURES, prevalence: 0.1, seed });
  const out: Batch[] = [];
  for (let b = 0; b < count; b++) {
    const x = data.x.slice(b * ROWS * FEATURES, (b + 1) * ROWS * FEATURES);
    for (let i = 0; i < x.length; i++) x[i] = x[i] / 4; // roughly unit scale
    out.push({ x, y: Float32Array.from(data.y.subarray(b * ROWS, (b + 1) * ROWS)) });
  }
  return out;
}

const copy = (b: Batch): Batch => ({ x: b.x.slice(), y: b.y.slice() });

async function trainInProcess(model: tf.LayersModel, data: Batch[], options = OPTIMIZER, loss: TrainerLoss = LOSS) {
  const optimizer = kintsugi(options);
  model.compile({ optimizer, loss: typeof loss === 'string' ? loss : optimizer.valueWeightedLoss(loss.valueWeighted) });
  for (const b of data) {
    const xs = tf.tensor2d(b.x, [b.y.length, FEATURES]);
    const ys = tf.tensor2d(b.y, [b.y.length, 1]);
    await model.trainOnBatch(xs, ys);
    tf.dispose([xs, ys]);
  }
  const weights = model.getWeights().map((w) => Float32Array.from(w.dataSync() as Float32Array));
  const opt = (await optimizer.getWeights()).map((w) => ({ name: w.name, values: w.tensor.dataSync().slice() }));
  return { model, optimizer, weights, opt };
}

/** Bitwise equality of two arrays of numbers, naming the first difference. */
function expectBitwise(a: ArrayLike<number>[], b: ArrayLike<number>[], what: string): void {
  expect(a.length, `${what}: count`).toBe(b.length);
  a.forEach((x, i) => {
    const y = b[i];
    expect(x.length, `${what}[${i}]: length`).toBe(y.length);
    const fx = Float32Array.from(x);
    const fy = Float32Array.from(y);
    const ux = new Uint32Array(fx.buffer);
    const uy = new Uint32Array(fy.buffer);
    const j = ux.findIndex((v, k) => v !== uy[k]);
    expect(j, `${what}[${i}]: first differing element ${j} (${fx[j]} vs ${fy[j]})`).toBe(-1);
  });
}

/** The trainer's snapshot holds bitwise the model and optimizer weights of the in-process run. */
function expectSameTraining(snap: { weights: SnapshotTensor[]; optimizer?: SnapshotTensor[] }, ref: Awaited<ReturnType<typeof trainInProcess>>): void {
  expectBitwise(values(snap.weights), ref.weights, 'model weights');
  expectBitwise(values(snap.optimizer), ref.opt.map((w) => w.values), 'optimizer weights');
}

const values = (ts: SnapshotTensor[] | undefined) => (ts ?? []).map((t) => t.values);
/** 'dense_Dense4/kernel_2/phi' → '/kernel/phi': layer and variable numbering differ between threads. */
const suffix = (name: string) => name.replace(/^[^/]*/, '').replace(/_\d+(?=\/|$)/g, '');

beforeAll(async () => {
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kintsugi-trainer-'));
  fixture = path.join(dir, 'model-fixture.cjs');
  fs.writeFileSync(fixture, FIXTURE);
  if (!fs.existsSync(path.join(__dirname, '..', 'dist', 'trainer', 'worker.js'))) {
    throw new Error('test/trainer.test.ts needs dist/ : run npm run build first');
  }
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('createTrainer', () => {
  it('trains in the worker bitwise like in-process training (JSON topology, class stream)', async () => {
    const topo = topology();
    const data = batches(25);
    const trainer = await createTrainer({ model: { topology: topo }, optimizer: OPTIMIZER, loss: LOSS });
    try {
      expect(trainer.info.inputShape).toEqual([FEATURES]);
      expect(trainer.info.outputShape).toEqual([1]);
      expect(trainer.info.restored).toBeNull();
      const results = await Promise.all(data.map((b) => trainer.train(copy(b))));
      expect(results.map((r) => r.step)).toEqual(data.map((_, i) => i + 1));
      expect(results.at(-1)?.examples).toBe(25 * ROWS);
      expect(results.at(-1)?.classPhi).toHaveLength(2);

      const ref = await trainInProcess(await tf.models.modelFromJSON({ modelTopology: topo } as unknown as tf.io.ModelJSON), data);
      const snap = await trainer.snapshot({ optimizer: true });
      expect(snap.step).toBe(25);
      expectSameTraining(snap, ref);
      expect(snap.optimizer?.map((t) => suffix(t.name))).toEqual(ref.opt.map((w) => suffix(w.name)));
      expect(snap.classPhi).toEqual(Array.from(ref.optimizer.classValueWeights() ?? []));

      // predict on this thread, from the published snapshot, matches the in-process model bitwise.
      const x = data[0].x.slice(0, 8 * FEATURES);
      const expected = tf.tidy(() => (ref.model.predict(tf.tensor2d(x, [8, FEATURES])) as tf.Tensor).dataSync().slice());
      expectBitwise([trainer.predict(x)], [expected], 'predictions');
      ref.model.dispose();
      ref.optimizer.dispose();
    } finally {
      await trainer.close();
    }
  });

  it('trains bitwise like in-process training from a factory module, with plain binary cross-entropy', async () => {
    const data = batches(15, 9);
    const trainer = await createTrainer({
      model: { module: fixture, exportName: 'createModel', args: modelArgs() },
      optimizer: { learningRate: 0.005, base: 'momentum' },
      loss: 'binaryCrossentropy',
    });
    try {
      for (const b of data) await trainer.train(copy(b));
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const factory = require(fixture).createModel as (t: typeof tf, a: unknown) => tf.LayersModel;
      const ref = await trainInProcess(factory(tf, modelArgs()), data, { learningRate: 0.005, base: 'momentum' }, 'binaryCrossentropy');
      const snap = await trainer.snapshot({ optimizer: true });
      expect(snap.classPhi).toBeNull();
      expectSameTraining(snap, ref);
      ref.model.dispose();
      ref.optimizer.dispose();
    } finally {
      await trainer.close();
    }
  });

  it('transfers whole-buffer batches (the caller\'s arrays are detached) and copies views', async () => {
    const trainer = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER });
    try {
      const [b] = batches(1);
      const whole = copy(b);
      await trainer.train(whole);
      expect(whole.x.length).toBe(0); // detached: moved, not copied
      expect(whole.y.length).toBe(0);
      const big = new Float32Array(ROWS * FEATURES + 10);
      big.set(b.x, 10);
      const view = big.subarray(10);
      await trainer.train({ x: view, y: b.y.slice() });
      expect(view.length).toBe(ROWS * FEATURES); // a view on a larger buffer is copied, not detached
    } finally {
      await trainer.close();
    }
  });

  it('predict answers at once from the latest published weights while steps are queued', async () => {
    const data = batches(40);
    const trainer = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER, loss: LOSS });
    try {
      const x = data[0].x.slice(0, 4 * FEATURES);
      const before = trainer.predict(x);
      const pending = data.map((b) => trainer.train(copy(b)));
      expect(trainer.pending).toBe(40);
      // Synchronous: no step has been answered yet, so this is still the step-0 model.
      const during = trainer.predict(x);
      expect(trainer.publishedStep).toBe(0);
      expectBitwise([during], [before], 'predictions before any step is published');
      await Promise.all(pending);
      expect(trainer.pending).toBe(0);
      expect(trainer.publishedStep).toBe(40);
      const after = trainer.predict(x);
      expect(Array.from(after)).not.toEqual(Array.from(before));
      const snap = await trainer.snapshot();
      const m = await tf.models.modelFromJSON({ modelTopology: topology() } as unknown as tf.io.ModelJSON);
      m.setWeights(snap.weights.map((w) => tf.tensor(w.values, w.shape)));
      const expected = tf.tidy(() => (m.predict(tf.tensor2d(x, [4, FEATURES])) as tf.Tensor).dataSync().slice());
      expectBitwise([after], [expected], 'predictions after step 40');
      m.dispose();
    } finally {
      await trainer.close();
    }
  });

  it('publishes every N steps with publishEvery', async () => {
    const trainer = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER, publishEvery: 5 });
    try {
      const data = batches(12);
      const published: number[] = [];
      trainer.on('published', (step: number) => published.push(step));
      await Promise.all(data.map((b) => trainer.train(copy(b))));
      expect(published).toEqual([5, 10]);
      expect(trainer.publishedStep).toBe(10);
      expect(trainer.step).toBe(12);
    } finally {
      await trainer.close();
    }
  });

  it('publishes at most once per publishIntervalMs, and the last step of a burst after the interval', async () => {
    const trainer = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER, publishIntervalMs: 150 });
    try {
      const published: number[] = [];
      trainer.on('published', (step: number) => published.push(step));
      const data = batches(30);
      await Promise.all(data.map((b) => trainer.train(copy(b))));
      expect(published.length).toBeLessThan(30);
      const deadline = Date.now() + 5000;
      while (trainer.publishedStep !== 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(trainer.publishedStep).toBe(30);
      expect(published.at(-1)).toBe(30);
    } finally {
      await trainer.close();
    }
    await expect(createTrainer({ model: { topology: topology() }, publishIntervalMs: -1 })).rejects.toThrow(/'publishIntervalMs'/);
  });

  it('runs the native kernel on one thread by default, and leaves the pool alone with threads: null', async () => {
    const trainer = await createTrainer({ model: { topology: topology() } });
    const info = trainer.info;
    await trainer.close();
    if (kernelInfo().kernel !== 'native') {
      expect(info.threads).toBeNull();
      return;
    }
    expect(info.kernel).toBe('native');
    expect(info.threads).toBe(1);
    const two = await createTrainer({ model: { topology: topology() }, threads: 2 });
    expect(two.info.threads).toBe(2);
    await two.close();
    const untouched = await createTrainer({ model: { topology: topology() }, threads: null });
    expect(untouched.info.threads).toBe(2); // the process-wide pool keeps its size
    await untouched.close();
  });

  it('renices only the worker thread with niceness (Linux)', async () => {
    const before = os.getPriority();
    const trainer = await createTrainer({ model: { topology: topology() }, niceness: 7 });
    try {
      expect(trainer.info.niceness).toBe(process.platform === 'linux' ? 7 : null);
      expect(os.getPriority()).toBe(before); // this thread (and process) unchanged
    } finally {
      await trainer.close();
    }
    await expect(createTrainer({ model: { topology: topology() }, niceness: -5 })).rejects.toThrow(/'niceness'/);
  });

  it('rejects a batch of the wrong size with BAD_INPUT and stays usable', async () => {
    const trainer = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER });
    try {
      await expect(trainer.train({ x: new Float32Array(FEATURES * 2 + 1), y: new Float32Array(2) })).rejects.toMatchObject({ code: 'BAD_INPUT' });
      await expect(trainer.train({ x: new Float32Array(FEATURES * 2), y: new Float32Array(3) })).rejects.toThrow(/rows × 12 inputs and rows × 1 targets/);
      await expect(trainer.train({ x: [1, 2] as unknown as Float32Array, y: new Float32Array(1) })).rejects.toMatchObject({ code: 'BAD_INPUT' });
      expect(() => trainer.predict(new Float32Array(5))).toThrow(TrainerError);
      const [b] = batches(1);
      await expect(trainer.train(copy(b))).resolves.toMatchObject({ step: 1 });
    } finally {
      await trainer.close();
    }
  });

  it("rejects a non-finite step (nonFinite: 'throw') with STEP_FAILED, changes nothing, and goes on in order", async () => {
    const options: KintsugiOptions = { ...OPTIMIZER, nonFinite: 'throw' };
    const data = batches(3);
    const poisoned = copy(data[1]);
    poisoned.x[5] = Number.NaN;
    const trainer = await createTrainer({ model: { topology: topology() }, optimizer: options, loss: LOSS });
    try {
      const first = trainer.train(copy(data[0]));
      const bad = trainer.train(poisoned);
      const third = trainer.train(copy(data[2]));
      await expect(first).resolves.toMatchObject({ step: 1 });
      const err = await bad.then(
        () => null,
        (e: unknown) => e as TrainerError,
      );
      expect(err).toBeInstanceOf(TrainerError);
      expect(err?.code).toBe('STEP_FAILED');
      expect(err?.message).toMatch(/train step 2 failed in the worker: NonFiniteGradientError/);
      expect((err?.cause as Error).name).toBe('NonFiniteGradientError');
      await expect(third).resolves.toMatchObject({ step: 2 });
      expect(trainer.state).toBe('open');
      // The failed step changed nothing: the result is training on batches 0 and 2 only.
      const ref = await trainInProcess(await tf.models.modelFromJSON({ modelTopology: topology() } as unknown as tf.io.ModelJSON), [data[0], data[2]], options);
      const snap = await trainer.snapshot({ optimizer: true });
      expectSameTraining(snap, ref);
      ref.model.dispose();
      ref.optimizer.dispose();
    } finally {
      await trainer.close();
    }
  });

  it('rejects every pending call with WORKER_FAILED when the worker throws, and keeps predicting from the last weights', async () => {
    const trainer = await createTrainer({ model: { module: fixture, exportName: 'createModel', args: modelArgs({ crashAtStep: 3 }) }, optimizer: OPTIMIZER });
    const data = batches(6);
    const failed: TrainerError[] = [];
    trainer.on('failed', (e: TrainerError) => failed.push(e));
    const results = await Promise.allSettled(data.map((b) => trainer.train(copy(b))));
    expect(results.slice(0, 2).map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    for (const r of results.slice(2)) {
      expect(r.status).toBe('rejected');
      const e = (r as PromiseRejectedResult).reason as TrainerError;
      expect(e.code).toBe('WORKER_FAILED');
      expect(e.message).toMatch(/boom from the fixture/);
    }
    expect(trainer.state).toBe('failed');
    expect(failed).toHaveLength(1);
    expect(trainer.publishedStep).toBe(2);
    expect(trainer.predict(data[0].x.slice(0, FEATURES))).toHaveLength(1);
    await expect(trainer.train(copy(data[0]))).rejects.toMatchObject({ code: 'WORKER_FAILED' });
    await expect(trainer.snapshot()).rejects.toMatchObject({ code: 'WORKER_FAILED' });
    await trainer.close();
    expect(trainer.state).toBe('closed');
  });

  it('rejects pending calls with WORKER_FAILED when the worker exits', async () => {
    const trainer = await createTrainer({
      model: { module: fixture, exportName: 'createModel', args: modelArgs({ crashAtStep: 2, crash: 'exit' }) },
      optimizer: OPTIMIZER,
    });
    const data = batches(3);
    const results = await Promise.allSettled(data.map((b) => trainer.train(copy(b))));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(((results[1] as PromiseRejectedResult).reason as TrainerError).message).toMatch(/exited \(code 3\)/);
    expect(trainer.state).toBe('failed');
    await trainer.close();
  });

  it('stops a worker that stops answering (timeoutMs) and rejects the pending calls with WORKER_FAILED', async () => {
    const trainer = await createTrainer({
      model: { module: fixture, exportName: 'createModel', args: modelArgs({ crashAtStep: 2, crash: 'hang' }) },
      optimizer: OPTIMIZER,
      timeoutMs: 400,
    });
    const data = batches(3);
    const t0 = Date.now();
    const results = await Promise.allSettled(data.map((b) => trainer.train(copy(b))));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    expect(((results[1] as PromiseRejectedResult).reason as TrainerError).message).toMatch(/no answer from the worker for 400 ms/);
    expect(trainer.state).toBe('failed');
    expect(trainer.predict(data[0].x.slice(0, FEATURES))).toHaveLength(1);
    await trainer.close();
  });

  it('rejects the calls beyond maxPending with QUEUE_FULL, queueing nothing', async () => {
    const trainer = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER, maxPending: 2 });
    try {
      const data = batches(3);
      const a = trainer.train(copy(data[0]));
      const b = trainer.train(copy(data[1]));
      await expect(trainer.train(copy(data[2]))).rejects.toMatchObject({ code: 'QUEUE_FULL' });
      await Promise.all([a, b]);
      expect(trainer.step).toBe(2);
    } finally {
      await trainer.close();
    }
  });

  it('fails to start with INIT_FAILED, naming the reason', async () => {
    await expect(createTrainer({ model: { module: path.join(dir, 'missing.cjs') } })).rejects.toMatchObject({ code: 'INIT_FAILED' });
    await expect(createTrainer({ model: { module: fixture, exportName: 'nope' } })).rejects.toThrow(/exports no function named 'nope'/);
    await expect(createTrainer({ model: { topology: topology() }, optimizer: { gildRate: 1 } as KintsugiOptions })).rejects.toThrow(/gildRate/);
    await expect(createTrainer({ model: { topology: topology() }, bogus: 1 } as never)).rejects.toThrow(/unknown option 'bogus'/);
    await expect(createTrainer({ model: { topology: topology() }, threads: 0 })).rejects.toThrow(/'threads'/);
    await expect(createTrainer({ model: { topology: topology() }, loss: 'hinge' as TrainerLoss })).rejects.toThrow(/'loss'/);
  });

  it('close() lets queued calls finish; close({ force: true }) rejects them with CLOSED', async () => {
    const data = batches(10);
    const trainer = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER });
    const queued = data.map((b) => trainer.train(copy(b)));
    const closing = trainer.close();
    expect(trainer.state).toBe('closing');
    await expect(trainer.train(copy(data[0]))).rejects.toMatchObject({ code: 'CLOSED' });
    expect((await Promise.all(queued)).at(-1)?.step).toBe(10);
    await closing;
    expect(trainer.state).toBe('closed');
    expect(() => trainer.predict(data[0].x.slice(0, FEATURES))).toThrow(/after close/);

    const forced = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER });
    const many = Promise.allSettled(data.map((b) => forced.train(copy(b))));
    await forced.close({ force: true });
    const settled = await many;
    const rejected = settled.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect((r.reason as TrainerError).code).toBe('CLOSED');
  });
});

describe('checkpoints', () => {
  it('save + restore continues bitwise like training that never stopped', async () => {
    const data = batches(20, 4);
    const ckdir = path.join(dir, 'resume');
    const spec = { topology: topology(8) };
    const a = await createTrainer({ model: spec, optimizer: OPTIMIZER, loss: LOSS, restore: ckdir });
    expect(a.info.restored).toBeNull(); // nothing there yet: starts from the spec
    for (const b of data.slice(0, 12)) await a.train(copy(b));
    const info = await a.save(ckdir, { logPosition: 12 * ROWS });
    expect(info.step).toBe(12);
    expect(info.path).toBe(path.join(ckdir, 'checkpoint.kts'));
    for (const b of data.slice(12)) await a.train(copy(b));
    const straight = await a.snapshot({ optimizer: true });
    await a.close();

    fs.writeFileSync(path.join(ckdir, '.checkpoint.kts.tmp-999-1'), 'torn'); // a write cut short by a crash
    const b2 = await createTrainer({ model: spec, optimizer: OPTIMIZER, loss: LOSS, restore: ckdir });
    try {
      expect(b2.info.restored).toMatchObject({ step: 12, examples: 12 * ROWS, meta: { logPosition: 12 * ROWS } });
      expect(b2.step).toBe(12);
      expect(fs.readdirSync(ckdir)).toEqual(['checkpoint.kts']);
      for (const b of data.slice(12)) await b2.train(copy(b));
      const resumed = await b2.snapshot({ optimizer: true });
      expect(resumed.step).toBe(20);
      expectBitwise(values(resumed.weights), values(straight.weights), 'model weights');
      expectBitwise(values(resumed.optimizer), values(straight.optimizer), 'optimizer weights');
    } finally {
      await b2.close();
    }
  });

  it('readCheckpoint returns null without a checkpoint and refuses a damaged one', async () => {
    expect(readCheckpoint(path.join(dir, 'nothing-here'))).toBeNull();
    const ckdir = path.join(dir, 'damaged');
    const t = await createTrainer({ model: { topology: topology() }, optimizer: OPTIMIZER });
    const [b] = batches(1);
    await t.train(copy(b));
    await t.save(ckdir, { note: 'x' });
    await t.close();
    const file = path.join(ckdir, 'checkpoint.kts');
    const good = fs.readFileSync(file);
    const read = readCheckpoint(ckdir);
    expect(read?.info).toMatchObject({ step: 1, examples: ROWS, meta: { note: 'x' }, bytes: good.length });
    expect(read?.weights.map((w) => w.shape)).toEqual([[12, 16], [16], [16, 8], [8], [8, 1], [1]]);
    expect(read?.optimizer[0]).toMatchObject({ name: 'iter', dtype: 'int32' });
    expect(Array.from(read?.optimizer[0].values ?? [])).toEqual([1]);

    const flipped = Buffer.from(good);
    flipped[flipped.length - 3] ^= 0x40;
    fs.writeFileSync(file, flipped);
    expect(() => readCheckpoint(ckdir)).toThrow(/checksum mismatch/);
    fs.writeFileSync(file, good.subarray(0, good.length - 8));
    expect(() => readCheckpoint(ckdir)).toThrow(/expected \d+ bytes/);
    fs.writeFileSync(file, 'not a checkpoint at all');
    expect(() => readCheckpoint(ckdir)).toThrow(/wrong magic/);
    await expect(createTrainer({ model: { topology: topology() }, restore: ckdir })).rejects.toMatchObject({ code: 'INIT_FAILED' });
  });
});
