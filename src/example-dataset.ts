/**
 * The way example ids reach `exampleWeightedLoss`: as the targets' last column. `model.fit` checks
 * that targets have the model's output shape, so it cannot carry them; `model.fitDataset` does not,
 * and takes any object with `iterator()` and `size` (tfjs-layers' Dataset interface), so
 * `exampleDataset(x, y)` is that object, made from two tensors, with no dependency on tfjs-data.
 * `withExampleIds(y)` appends the column for a pipeline of your own (tf.data).
 */
import * as tf from '@tensorflow/tfjs-core';
import { MAX_EXAMPLES } from './example-pathways';
import { mergeKnown, show } from './options';

export interface ExampleDatasetOptions {
  /** Rows per batch. Default 32, as `fit`. */
  batchSize?: number;
  /** A new order in every epoch (default true); false: rows in order, the batches `fit` makes with `shuffle: false`. */
  shuffle?: boolean;
  /** Seed of the shuffles: the same seed gives the same batches, epoch by epoch. Default 0. */
  seed?: number;
}

/** One batch: the rows of x, and of y with each row's id (its index in x) as an extra last column. */
export interface ExampleBatch {
  xs: tf.Tensor;
  ys: tf.Tensor;
}

/** What `model.fitDataset` takes: `size` batches per epoch, a fresh `iterator()` per epoch. */
export interface ExampleDataset {
  readonly size: number;
  iterator(): Promise<{ next(): Promise<IteratorResult<ExampleBatch>> }>;
}

const DATASET_DEFAULTS: Required<ExampleDatasetOptions> = { batchSize: 32, shuffle: true, seed: 0 };

/**
 * Batches of (x, y) for `model.fitDataset`, each row's id riding in the targets' last column. The
 * dataset reads x and y when it makes a batch: keep them until training ends. Each batch's
 * tensors are new, and `fitDataset` disposes them once the batch has trained.
 */
export function exampleDataset(x: tf.Tensor, y: tf.Tensor, options: ExampleDatasetOptions = {}): ExampleDataset {
  const o = mergeKnown('exampleDataset', DATASET_DEFAULTS, options);
  const n = checkRows(x, y, 'exampleDataset');
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new RangeError(`exampleDataset: option 'batchSize' must be a whole number ≥ 1; got ${show(o.batchSize)}`);
  if (typeof o.shuffle !== 'boolean') throw new TypeError(`exampleDataset: option 'shuffle' must be true or false; got ${show(o.shuffle)}`);
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new RangeError(`exampleDataset: option 'seed' must be a whole number in [0, 2^32); got ${show(o.seed)}`);
  const batches = Math.ceil(n / o.batchSize);
  let epoch = 0;
  return {
    size: batches,
    iterator: async () => {
      const order = o.shuffle ? shuffled(n, o.seed, epoch) : null;
      epoch += 1;
      let b = 0;
      return {
        next: async () => {
          if (b >= batches) return { done: true, value: undefined };
          const start = b * o.batchSize;
          const count = Math.min(o.batchSize, n - start);
          b += 1;
          const rows = order ? order.subarray(start, start + count) : Int32Array.from({ length: count }, (_, i) => start + i);
          return { done: false, value: batchOf(x, y, rows) };
        },
      };
    },
  };
}

/** y as [rows, k + 1]: its columns, then each row's id, firstId + row index, as float32. */
export function withExampleIds(y: tf.Tensor, firstId = 0): tf.Tensor2D {
  if (!(y instanceof tf.Tensor) || y.isDisposed) throw new TypeError(`withExampleIds: y must be a tensor that is not disposed; got ${show(y)}`);
  if (y.rank < 1 || y.rank > 2) throw new RangeError(`withExampleIds: y must be [rows] or [rows, k]; got shape [${y.shape.join(', ')}]`);
  const n = y.shape[0];
  if (!Number.isInteger(firstId) || firstId < 0 || firstId + n > MAX_EXAMPLES) {
    throw new RangeError(`withExampleIds: ids firstId … firstId + rows − 1 must be whole numbers in [0, ${MAX_EXAMPLES}) (float32 holds them exactly); got firstId ${show(firstId)} for ${n} rows`);
  }
  return tf.tidy(() => appendIds(y, tf.range(firstId, firstId + n, 1, 'float32')));
}

function appendIds(y: tf.Tensor, ids: tf.Tensor): tf.Tensor2D {
  const n = y.shape[0];
  return tf.concat([tf.cast(tf.reshape(y, [n, -1]), 'float32'), tf.reshape(ids, [n, 1])], 1) as tf.Tensor2D;
}

function batchOf(x: tf.Tensor, y: tf.Tensor, rows: Int32Array): ExampleBatch {
  return tf.tidy(() => {
    const index = tf.tensor1d(rows, 'int32');
    return { xs: tf.gather(x, index), ys: appendIds(tf.gather(y, index), tf.cast(index, 'float32')) };
  });
}

/** The number of rows x and y share; throws, naming what is wrong, otherwise. */
function checkRows(x: tf.Tensor, y: tf.Tensor, where: string): number {
  for (const [name, t] of [['x', x], ['y', y]] as const) {
    if (!(t instanceof tf.Tensor) || t.isDisposed) throw new TypeError(`${where}: ${name} must be a tensor that is not disposed; got ${show(t)}`);
    if (t.rank < 1) throw new RangeError(`${where}: ${name} must have a row axis; got a scalar`);
  }
  if (y.rank > 2) throw new RangeError(`${where}: y must be [rows] or [rows, k]; got shape [${y.shape.join(', ')}]`);
  const n = x.shape[0];
  if (y.shape[0] !== n) throw new RangeError(`${where}: x has ${n} rows but y has ${y.shape[0]}`);
  if (n < 1 || n > MAX_EXAMPLES) throw new RangeError(`${where}: the rows are the examples, 1 to ${MAX_EXAMPLES} of them (float32 holds their ids exactly); got ${n}`);
  return n;
}

/**
 * A permutation of 0 … n − 1 for (seed, epoch): Fisher–Yates driven by xorshift32, its state
 * seeded from both numbers, so every epoch of a dataset has its own order and a new dataset with
 * the same seed repeats them.
 */
function shuffled(n: number, seed: number, epoch: number): Int32Array {
  let s = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(epoch + 1, 0xc2b2ae35)) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    const t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  return order;
}
