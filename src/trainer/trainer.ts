/// <reference types="node" preserve="true" />
/**
 * `createTrainer(options)`: Kintsugi training in a `worker_threads` worker, prediction on the
 * caller's thread.
 *
 * - `train(batch)` posts the batch to the worker, transferring its buffers, and resolves when
 *   the worker has stepped on it. The worker runs requests in the order of the calls, so the
 *   result after a sequence of batches equals in-process training on the same sequence, bit
 *   for bit.
 * - After every `publishEvery` steps the worker posts a copy of the model's weights. The caller's
 *   thread keeps the latest one and loads it into its own model the next time `predict` runs,
 *   so `predict` is synchronous and never waits for a step.
 * - `snapshot()`, `save(dir)` and `close()` queue behind the `train` calls made before them.
 * - Errors: a failed step rejects that call (code `STEP_FAILED`) and the trainer goes on; a
 *   worker that dies rejects every pending call (code `WORKER_FAILED`) and the trainer is
 *   `failed`: `predict` still answers from the last published weights, everything else rejects.
 */
import { EventEmitter } from 'events';
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
// A cycle (the entry re-exports this file); kernelInfo is only called inside createTrainer.
import { kernelInfo } from '../index';
import { buildModel, describeSpec, loadTfjs, type LayersModel, type Tfjs } from './model';
import type { Published, ReadyReply, Reply, Request, SerializedError, WorkerConfig } from './protocol';
import type {
  CheckpointInfo,
  StepResult,
  TrainBatch,
  TrainerErrorCode,
  TrainerInfo,
  TrainerOptions,
  TrainerSnapshot,
  TrainerState,
} from './types';

/** An error of the trainer; `code` says which kind, `cause` holds the worker's error if any. */
export class TrainerError extends Error {
  readonly code: TrainerErrorCode;
  constructor(code: TrainerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message);
    this.name = 'TrainerError';
    this.code = code;
    if (options && 'cause' in options) (this as { cause?: unknown }).cause = options.cause;
  }
}

function revive(e: SerializedError): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

/** dist/trainer/worker.js: next to this file in the build; from src/ (tests) the built copy. */
function workerEntry(): string {
  const candidates = [path.join(__dirname, 'worker.js'), path.resolve(__dirname, '..', '..', 'dist', 'trainer', 'worker.js')];
  const found = candidates.find((f) => fs.existsSync(f));
  if (found == null) throw new TrainerError('INIT_FAILED', `kintsugi trainer: no worker.js at ${candidates.join(' or ')}; run npm run build`);
  return found;
}

const KNOWN_OPTIONS = ['model', 'optimizer', 'loss', 'publishEvery', 'publishIntervalMs', 'maxPending', 'threads', 'niceness', 'restore', 'backend', 'tfjs', 'timeoutMs', 'resourceLimits'];

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new RangeError(`kintsugi trainer: option '${name}' must be an integer ≥ 1; got ${String(value)}`);
  }
  return value;
}

function nonNegative(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`kintsugi trainer: option '${name}' must be a finite number ≥ 0; got ${String(value)}`);
  }
  return value;
}

function checkLoss(loss: unknown): void {
  if (loss === 'binaryCrossentropy' || loss === 'categoricalCrossentropy' || loss === 'meanSquaredError') return;
  const v = (loss as { valueWeighted?: unknown } | null)?.valueWeighted;
  if (typeof loss === 'object' && loss != null && (v === 'binaryCrossentropy' || v === 'categoricalCrossentropy')) return;
  throw new RangeError(
    "kintsugi trainer: option 'loss' must be 'binaryCrossentropy', 'categoricalCrossentropy', 'meanSquaredError' " +
      `or { valueWeighted: 'binaryCrossentropy' | 'categoricalCrossentropy', options? }; got ${JSON.stringify(loss)}`,
  );
}

function resolveConfig(options: TrainerOptions): { config: WorkerConfig; maxPending: number; timeoutMs: number | null } {
  if (options == null || typeof options !== 'object') throw new TypeError('kintsugi trainer: createTrainer takes an options object');
  for (const key of Object.keys(options)) {
    if (!KNOWN_OPTIONS.includes(key)) throw new RangeError(`kintsugi trainer: unknown option '${key}'; the options are ${KNOWN_OPTIONS.join(', ')}`);
  }
  const loss = options.loss ?? 'binaryCrossentropy';
  checkLoss(loss);
  const threads = options.threads === undefined ? 1 : options.threads;
  if (threads !== null && (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 256)) {
    throw new RangeError(`kintsugi trainer: option 'threads' must be an integer in [1, 256] or null; got ${String(threads)}`);
  }
  const niceness = options.niceness ?? null;
  if (niceness !== null && (typeof niceness !== 'number' || !Number.isInteger(niceness) || niceness < 0 || niceness > 19)) {
    throw new RangeError(`kintsugi trainer: option 'niceness' must be an integer in [0, 19]; got ${String(niceness)}`);
  }
  const model = options.model;
  if (model != null && typeof model === 'object' && 'module' in model) {
    // The worker resolves against the same directory as the caller.
    (model as { module: string }).module = path.resolve(model.module);
  }
  return {
    config: {
      model,
      optimizer: options.optimizer ?? {},
      loss,
      publishEvery: positiveInteger('publishEvery', options.publishEvery, 1),
      publishIntervalMs: nonNegative('publishIntervalMs', options.publishIntervalMs, 0),
      threads,
      niceness,
      restore: options.restore == null ? null : path.resolve(options.restore),
      backend: options.backend ?? 'cpu',
      tfjs: options.tfjs ?? '@tensorflow/tfjs',
    },
    maxPending: positiveInteger('maxPending', options.maxPending, 256),
    timeoutMs: options.timeoutMs === undefined ? null : positiveInteger('timeoutMs', options.timeoutMs, 0),
  };
}

/** What createTrainer hands the Trainer it makes (tf and model typed loosely, so the published
 * declarations do not need tfjs-layers' types). */
export interface TrainerHandle {
  worker: Worker;
  tf: unknown;
  model: unknown;
  ready: ReadyReply;
  maxPending: number;
  timeoutMs?: number | null;
}

type Pending = { resolve: (value: never) => void; reject: (e: Error) => void; kind: Request['type'] };

/** Whether an array's buffer can be transferred as is: a plain ArrayBuffer it spans exactly. */
function transferable(a: Float32Array): boolean {
  return a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
}

/**
 * A trainer: a worker thread that trains a Kintsugi-optimized model, and a copy of the model on
 * the caller's thread for `predict`. Made by {@link createTrainer}.
 *
 * Events: `'step'` (StepResult) after each step, `'published'` (step) when new weights arrive,
 * `'failed'` (TrainerError) when the worker dies.
 */
export class Trainer extends EventEmitter {
  /** What the worker runs on, and the checkpoint it started from. */
  readonly info: TrainerInfo;
  private readonly worker: Worker;
  private readonly tf: Tfjs;
  private readonly model: LayersModel;
  private readonly maxPending: number;
  private readonly inputSize: number;
  private readonly outputSize: number;
  private readonly pendingById = new Map<number, Pending>();
  private trainsPending = 0;
  private nextId = 1;
  private latest: Published;
  private appliedStep = -1;
  private stateValue: TrainerState = 'open';
  private failure: TrainerError | null = null;
  private stepValue: number;
  private examplesValue: number;
  private closing: Promise<void> | null = null;
  private lastHeard = Date.now();
  private watchdog: ReturnType<typeof setInterval> | null = null;

  /** Made by {@link createTrainer}; the handle is internal. */
  constructor(handle: TrainerHandle) {
    super();
    const { worker, ready, maxPending } = handle;
    this.worker = worker;
    this.tf = handle.tf as Tfjs;
    this.model = handle.model as LayersModel;
    this.info = ready.info;
    this.latest = ready.published;
    this.stepValue = ready.step;
    this.examplesValue = ready.examples;
    this.maxPending = maxPending;
    this.inputSize = ready.info.inputShape.reduce((a, b) => a * b, 1);
    this.outputSize = ready.info.outputShape.reduce((a, b) => a * b, 1);
    worker.on('message', (reply: Reply) => this.onReply(reply));
    // An uncaught error reaches this thread before the replies the worker posted just before it;
    // Node delivers those before 'exit'. So the error is kept, and the pending calls are failed
    // at 'exit', once every reply the worker sent has been handled.
    let workerError: Error | null = null;
    worker.on('error', (e) => {
      workerError = e;
    });
    worker.on('exit', (code) => {
      if (this.stateValue !== 'open' && this.stateValue !== 'closing') return;
      if (this.stateValue === 'closing' && this.pendingById.size === 0 && workerError == null) return;
      const error = workerError
        ? new TrainerError('WORKER_FAILED', `kintsugi trainer: the worker thread failed: ${workerError.message}`, { cause: workerError })
        : new TrainerError('WORKER_FAILED', `kintsugi trainer: the worker thread exited (code ${code}) with ${this.pendingById.size} calls pending`);
      this.fail(error);
    });
    worker.unref();
    const timeoutMs = handle.timeoutMs ?? null;
    if (timeoutMs != null) {
      this.watchdog = setInterval(() => {
        if (this.pendingById.size === 0 || Date.now() - this.lastHeard <= timeoutMs) return;
        this.fail(new TrainerError('WORKER_FAILED', `kintsugi trainer: no answer from the worker for ${timeoutMs} ms with ${this.pendingById.size} calls pending; the worker was stopped`));
        void this.worker.terminate();
      }, Math.max(10, Math.min(1000, timeoutMs / 4)));
      this.watchdog.unref();
    }
  }

  /** `open`, `closing` (close() called, queued work finishing), `closed`, or `failed` (the worker died). */
  get state(): TrainerState {
    return this.stateValue;
  }

  /** Steps trained, as far as this thread has heard (restored steps included). */
  get step(): number {
    return this.stepValue;
  }

  /** Examples trained, as far as this thread has heard (restored ones included). */
  get examples(): number {
    return this.examplesValue;
  }

  /** `train` calls posted and not yet answered. */
  get pending(): number {
    return this.trainsPending;
  }

  /** The step of the newest weights `predict` will use. */
  get publishedStep(): number {
    return this.latest.step;
  }

  /** The error the worker died of, when `state` is `failed`. */
  get error(): TrainerError | null {
    return this.failure;
  }

  /**
   * Queues one training step on `batch` (rows × inputs, rows × outputs). Resolves when the worker
   * has taken it; rejects with code `BAD_INPUT` (sizes), `QUEUE_FULL` (`maxPending` calls
   * already waiting; nothing was queued), `STEP_FAILED` (the step threw in the worker, e.g. a
   * non-finite gradient with `nonFinite: 'throw'`; the trainer goes on), `WORKER_FAILED` or
   * `CLOSED`.
   */
  train(batch: TrainBatch): Promise<StepResult> {
    const closed = this.unavailable();
    if (closed) return Promise.reject(closed);
    const x = batch?.x;
    const y = batch?.y;
    if (!(x instanceof Float32Array) || !(y instanceof Float32Array)) {
      return Promise.reject(new TrainerError('BAD_INPUT', 'kintsugi trainer: train({ x, y }) takes two Float32Arrays'));
    }
    const rows = x.length / this.inputSize;
    if (x.length === 0 || !Number.isInteger(rows) || y.length !== rows * this.outputSize) {
      return Promise.reject(
        new TrainerError(
          'BAD_INPUT',
          `kintsugi trainer: a batch needs rows × ${this.inputSize} inputs and rows × ${this.outputSize} targets; ` +
            `got ${x.length} inputs and ${y.length} targets`,
        ),
      );
    }
    if (this.trainsPending >= this.maxPending) {
      return Promise.reject(new TrainerError('QUEUE_FULL', `kintsugi trainer: ${this.trainsPending} train calls pending (maxPending ${this.maxPending}); retry later`));
    }
    const xs = transferable(x) ? x : x.slice();
    const ys = transferable(y) ? y : y.slice();
    const buffers = xs.buffer === ys.buffer ? [xs.buffer as ArrayBuffer] : [xs.buffer as ArrayBuffer, ys.buffer as ArrayBuffer];
    this.trainsPending++;
    return this.request<StepResult>({ type: 'train', id: 0, x: xs.buffer as ArrayBuffer, y: ys.buffer as ArrayBuffer, rows }, buffers);
  }

  /**
   * The model's outputs for `x` (rows × inputs, row-major), as rows × outputs, computed on this
   * thread from the newest published weights. Never waits for the worker. Works after the
   * worker failed (from the last weights it published); throws after `close()`.
   */
  predict(x: Float32Array | ArrayLike<number>): Float32Array {
    if (this.stateValue === 'closed') throw new TrainerError('CLOSED', 'kintsugi trainer: predict() after close()');
    const rows = x.length / this.inputSize;
    if (x.length === 0 || !Number.isInteger(rows)) {
      throw new TrainerError('BAD_INPUT', `kintsugi trainer: predict takes rows × ${this.inputSize} inputs; got ${x.length} values`);
    }
    this.applyLatest();
    const { tf } = this;
    return tf.tidy(() => {
      const input = tf.tensor(x instanceof Float32Array ? x : Float32Array.from(x), [rows, ...this.info.inputShape], 'float32');
      const out = this.model.predict(input) as import('@tensorflow/tfjs').Tensor;
      return out.dataSync() as Float32Array;
    });
  }

  /** The model's weights (and with `{ optimizer: true }` the optimizer's state) after every call made before this one. */
  snapshot(options: { optimizer?: boolean } = {}): Promise<TrainerSnapshot> {
    const closed = this.unavailable();
    if (closed) return Promise.reject(closed);
    return this.request<TrainerSnapshot>({ type: 'snapshot', id: 0, optimizer: options.optimizer === true });
  }

  /**
   * Writes a checkpoint of the state after every call made before this one to
   * `dir/checkpoint.kts`, atomically (temporary file, fsync, rename, fsync of `dir`). `meta` is
   * stored with it (e.g. the log position the state corresponds to); `readCheckpoint(dir)`
   * reads it back, and `createTrainer({ restore: dir })` starts from it.
   */
  save(dir: string, meta: Record<string, unknown> = {}): Promise<CheckpointInfo> {
    const closed = this.unavailable();
    if (closed) return Promise.reject(closed);
    if (typeof dir !== 'string' || dir === '') return Promise.reject(new TrainerError('BAD_INPUT', 'kintsugi trainer: save(dir) takes a directory path'));
    try {
      JSON.stringify(meta);
    } catch {
      return Promise.reject(new TrainerError('BAD_INPUT', 'kintsugi trainer: save(dir, meta): meta must be JSON-serializable'));
    }
    return this.request<CheckpointInfo>({ type: 'save', id: 0, dir: path.resolve(dir), meta });
  }

  /**
   * Lets the calls made before it finish, then stops the worker. With `{ force: true }`, stops
   * it at once and rejects whatever is pending with code `CLOSED`.
   */
  close(options: { force?: boolean } = {}): Promise<void> {
    if (this.stateValue === 'closed') return Promise.resolve();
    if (options.force === true || this.stateValue === 'failed') {
      const wasFailed = this.stateValue === 'failed';
      this.stateValue = 'closed';
      this.rejectAll(new TrainerError('CLOSED', 'kintsugi trainer: closed with { force: true } before this call finished'));
      this.disposeModel();
      return wasFailed ? Promise.resolve() : this.worker.terminate().then(() => undefined);
    }
    if (this.closing) return this.closing;
    this.stateValue = 'closing';
    this.closing = this.request<void>({ type: 'close', id: 0 }).then(
      async () => {
        await this.worker.terminate();
        this.stateValue = 'closed';
        this.disposeModel();
      },
      async (e: unknown) => {
        if (this.stateValue !== 'failed') await this.worker.terminate();
        this.stateValue = 'closed';
        this.disposeModel();
        throw e;
      },
    );
    return this.closing;
  }

  private unavailable(): TrainerError | null {
    if (this.stateValue === 'open') return null;
    if (this.stateValue === 'failed' && this.failure) {
      return new TrainerError('WORKER_FAILED', `kintsugi trainer: unavailable, the worker failed earlier (${this.failure.message})`, { cause: this.failure });
    }
    return new TrainerError('CLOSED', `kintsugi trainer: the trainer is ${this.stateValue}`);
  }

  private request<T>(msg: Request, transfer: ArrayBuffer[] = []): Promise<T> {
    const id = this.nextId++;
    const sent = { ...msg, id } as Request;
    return new Promise<T>((resolve, reject) => {
      this.pendingById.set(id, { resolve: resolve as (value: never) => void, reject, kind: msg.type });
      if (this.pendingById.size === 1) {
        this.worker.ref();
        this.lastHeard = Date.now(); // the watchdog times the worker from here
      }
      this.worker.postMessage(sent, transfer);
    });
  }

  private settle(id: number): Pending | undefined {
    const p = this.pendingById.get(id);
    if (p == null) return undefined;
    this.pendingById.delete(id);
    if (p.kind === 'train') this.trainsPending--;
    if (this.pendingById.size === 0) this.worker.unref();
    return p;
  }

  private onReply(reply: Reply): void {
    this.lastHeard = Date.now();
    switch (reply.type) {
      case 'published':
        this.latest = reply.published;
        this.emit('published', reply.published.step);
        return;
      case 'trained': {
        this.stepValue = reply.step;
        this.examplesValue = reply.examples;
        const result: StepResult = {
          step: reply.step,
          examples: reply.examples,
          rows: reply.rows,
          loss: reply.loss,
          ms: reply.ms,
          classPhi: reply.classPhi,
        };
        this.settle(reply.id)?.resolve(result as never);
        this.emit('step', result);
        return;
      }
      case 'snapshot': {
        const { type: _type, id, ...snapshot } = reply;
        this.settle(id)?.resolve(snapshot as never);
        return;
      }
      case 'saved':
        this.settle(reply.id)?.resolve(reply.info as never);
        return;
      case 'closed':
        this.settle(reply.id)?.resolve(undefined as never);
        return;
      case 'failed': {
        const p = this.settle(reply.id);
        if (p == null) return;
        const cause = revive(reply.error);
        const code: TrainerErrorCode = p.kind === 'save' ? 'SAVE_FAILED' : 'STEP_FAILED';
        const what = p.kind === 'train' ? `train step ${this.stepValue + 1}` : p.kind;
        p.reject(new TrainerError(code, `kintsugi trainer: ${what} failed in the worker: ${cause.name}: ${cause.message}`, { cause }));
        return;
      }
      default:
        return;
    }
  }

  private fail(error: TrainerError): void {
    if (this.stateValue === 'closed' || this.stateValue === 'failed') return;
    this.stopWatchdog();
    this.stateValue = 'failed';
    this.failure = error;
    this.rejectAll(error);
    this.worker.unref();
    if (this.listenerCount('failed') > 0) this.emit('failed', error);
  }

  private rejectAll(error: TrainerError): void {
    const pending = [...this.pendingById.keys()];
    for (const id of pending) this.settle(id)?.reject(error);
  }

  private applyLatest(): void {
    if (this.appliedStep === this.latest.step) return;
    const { tf } = this;
    const data = new Float32Array(this.latest.buffer);
    let offset = 0;
    const tensors = this.latest.shapes.map((shape) => {
      const size = shape.reduce((a, b) => a * b, 1);
      const t = tf.tensor(data.subarray(offset, offset + size), shape, 'float32');
      offset += size;
      return t;
    });
    try {
      this.model.setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
    this.appliedStep = this.latest.step;
  }

  private stopWatchdog(): void {
    if (this.watchdog != null) clearInterval(this.watchdog);
    this.watchdog = null;
  }

  private disposeModel(): void {
    this.stopWatchdog();
    try {
      this.model.dispose();
    } catch {
      /* already disposed */
    }
  }
}

/**
 * Starts a trainer: a worker thread that builds the model, compiles it with `kintsugi(options.optimizer)`
 * (restoring `options.restore`'s checkpoint when there is one), and a copy of the model on this
 * thread for `predict`. Resolves once both are ready; rejects with code `INIT_FAILED` when the
 * worker cannot start (the worker is then stopped).
 */
export async function createTrainer(options: TrainerOptions): Promise<Trainer> {
  const { config, maxPending, timeoutMs } = resolveConfig(options);
  const tf = loadTfjs(config.tfjs);
  // The native pool belongs to the process. Selecting this thread's kernel first applies
  // KINTSUGI_THREADS here now, not later over the worker's `threads` setting. A bad environment
  // variable is reported by the worker, which reads the same environment.
  try {
    kernelInfo();
  } catch {
    /* the worker says why */
  }
  const entry = workerEntry();
  const worker = new Worker(entry, { workerData: config, resourceLimits: options.resourceLimits });
  const ready = new Promise<ReadyReply>((resolve, reject) => {
    const onMessage = (reply: Reply) => {
      if (reply.type === 'ready') {
        cleanup();
        resolve(reply);
      } else if (reply.type === 'init-error') {
        cleanup();
        const cause = revive(reply.error);
        reject(new TrainerError('INIT_FAILED', `kintsugi trainer: the worker could not start (${describeSpec(config.model)}): ${cause.message}`, { cause }));
      }
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new TrainerError('INIT_FAILED', `kintsugi trainer: the worker thread failed while starting: ${e.message}`, { cause: e }));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new TrainerError('INIT_FAILED', `kintsugi trainer: the worker thread exited (code ${code}) while starting`));
    };
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
  let built: Awaited<ReturnType<typeof buildModel>> | null = null;
  try {
    const [reply, own] = await Promise.all([ready, buildModel(tf, config.model)]);
    built = own;
    if (!sameShape(own.inputShape, reply.info.inputShape) || !sameShape(own.outputShape, reply.info.outputShape)) {
      throw new TrainerError('INIT_FAILED', 'kintsugi trainer: the model built on this thread differs in shape from the worker\'s');
    }
    const trainer = new Trainer({ worker, tf, model: own.model, ready: reply, maxPending, timeoutMs });
    // Loads the published weights and runs the graph once, so the first real predict is not slower.
    trainer.predict(new Float32Array(reply.info.inputShape.reduce((a, b) => a * b, 1)));
    return trainer;
  } catch (e) {
    await worker.terminate();
    built?.model.dispose();
    if (e instanceof TrainerError) throw e;
    throw new TrainerError('INIT_FAILED', `kintsugi trainer: could not build the model on this thread: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
  }
}

function sameShape(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
