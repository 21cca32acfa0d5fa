/// <reference types="node" preserve="true" />
/**
 * Public types of the trainer: training in a `worker_threads` worker while the caller's thread
 * keeps predicting from the weights the worker publishes.
 */
import type { ClassPathwayOptions, KintsugiOptions } from '../index';

/**
 * The model, described in a form that can cross a thread (functions cannot):
 *
 * - `{ topology }`: what `model.toJSON(null, false)` returns (or its string), rebuilt in the
 *   worker with `tf.models.modelFromJSON`. Initial weights come from the topology's
 *   initializers (give them seeds for a reproducible start) unless `weights` is given: one
 *   Float32Array per `model.getWeights()` entry, in that order.
 * - `{ module, exportName, args }`: a module path (absolute, or relative to `process.cwd()`)
 *   whose export `exportName` (default `'default'`, then `'createModel'`) is a factory
 *   `(tf, args) => tf.LayersModel | Promise<tf.LayersModel>`. Both threads call it, each with
 *   its own tfjs; `args` must survive `structuredClone`.
 */
export type ModelSpec =
  | { topology: object | string; weights?: Float32Array[] }
  | { module: string; exportName?: string; args?: unknown };

/** Losses that can be named across threads. `valueWeighted` is the class stream,
 * `optimizer.valueWeightedLoss(base, options)`. */
export type TrainerLoss =
  | 'binaryCrossentropy'
  | 'categoricalCrossentropy'
  | 'meanSquaredError'
  | { valueWeighted: 'binaryCrossentropy' | 'categoricalCrossentropy'; options?: ClassPathwayOptions };

export interface TrainerOptions {
  model: ModelSpec;
  /** Options of the Kintsugi optimizer the worker trains with (`kintsugi(options)`). */
  optimizer?: KintsugiOptions;
  /** Default `'binaryCrossentropy'`. */
  loss?: TrainerLoss;
  /** The worker publishes a weight snapshot for `predict` after every this many steps. Default 1. */
  publishEvery?: number;
  /** At most one snapshot per this many milliseconds (the last step of a burst is still
   * published, when the interval has passed). Default 0: no limit, so a resolved `train()`
   * means `predict` already uses that step. A busy server sets it (e.g. 50) so the request
   * thread loads new weights a few times a second instead of after every step. */
  publishIntervalMs?: number;
  /** Most `train` calls waiting or running at once; one more rejects with code `QUEUE_FULL`
   * instead of queueing. Default 256. */
  maxPending?: number;
  /** Threads of the native kernel's pool, set in the worker before the first step. Default 1,
   * so the kernel does not compete with the caller's thread for cores; `null` keeps the kernel's
   * default (`KINTSUGI_THREADS`, else the CPU count up to 8). The pool belongs to the process,
   * so this also applies to optimizers stepping on other threads. */
  threads?: number | null;
  /** Linux only: the worker thread's nice value (0 to 19; higher yields the CPU more readily),
   * so that under CPU contention the caller's thread (e.g. a server answering requests) is
   * scheduled first and training takes what is left. Only the worker thread changes (Linux's
   * setpriority on a thread id). Default: unchanged. Ignored on other platforms, where it would
   * renice the whole process. */
  niceness?: number;
  /** A checkpoint directory: when it holds a checkpoint (`save(dir)`), the worker starts from
   * it (model, optimizer state, step count and meta); when it holds none, from the model spec. */
  restore?: string;
  /** The worker's tfjs backend. Default `'cpu'`. */
  backend?: string;
  /** The tfjs module both threads load. Default `'@tensorflow/tfjs'`. */
  tfjs?: string;
  /** A watchdog: when calls are pending and the worker has not answered for this many
   * milliseconds (a step that never ends, a deadlock), the worker is stopped and every pending
   * call rejects with `WORKER_FAILED`. Default: none. Set it well above the slowest step. */
  timeoutMs?: number;
  /** Passed to `new Worker(...)`. */
  resourceLimits?: import('worker_threads').ResourceLimits;
}

/** One batch: rows × inputs and rows × outputs, row-major float32. `train` transfers each
 * array's buffer to the worker (no copy) when the array spans its whole `ArrayBuffer`; the
 * caller's array is then detached (length 0). Otherwise it copies. */
export interface TrainBatch {
  x: Float32Array;
  y: Float32Array;
}

export interface StepResult {
  /** The trainer's step count after this step (restored steps included). */
  step: number;
  /** Examples trained so far (restored ones included). */
  examples: number;
  rows: number;
  /** The training loss tfjs reports for this batch. */
  loss: number;
  /** Milliseconds the step took in the worker. */
  ms: number;
  /** The class stream's value weights after this step, or null without a value-weighted loss. */
  classPhi: number[] | null;
}

export interface SnapshotTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  values: Float32Array | Int32Array;
}

export interface TrainerSnapshot {
  step: number;
  examples: number;
  /** `model.getWeights()`, in order. */
  weights: SnapshotTensor[];
  /** `optimizer.getWeights()` (iteration count, ϕ, moments, class stream), when asked for. */
  optimizer?: SnapshotTensor[];
  classPhi: number[] | null;
}

export interface CheckpointInfo {
  /** The checkpoint file. */
  path: string;
  step: number;
  examples: number;
  /** What the caller passed to `save` (e.g. a log position). */
  meta: Record<string, unknown>;
  bytes: number;
  createdAt: string;
  /** Milliseconds the write took (serialize, write, fsync, rename), when just written. */
  ms?: number;
}

export interface Checkpoint {
  info: CheckpointInfo;
  weights: SnapshotTensor[];
  optimizer: SnapshotTensor[];
  optimizerConfig: Record<string, unknown>;
}

export interface TrainerInfo {
  /** The kernel that runs the worker's steps (`kernelInfo()` in the worker). */
  kernel: string;
  /** Threads of the native kernel's pool after the `threads` option, or null when not native. */
  threads: number | null;
  backend: string;
  /** The worker thread's nice value when `niceness` was applied, else null. */
  niceness: number | null;
  /** Input shape without the batch axis. */
  inputShape: number[];
  /** Output shape without the batch axis. */
  outputShape: number[];
  /** The checkpoint the worker started from, or null. */
  restored: CheckpointInfo | null;
}

export type TrainerState = 'open' | 'closing' | 'closed' | 'failed';

export type TrainerErrorCode =
  | 'BAD_INPUT'
  | 'QUEUE_FULL'
  | 'STEP_FAILED'
  | 'SAVE_FAILED'
  | 'INIT_FAILED'
  | 'WORKER_FAILED'
  | 'CLOSED';
