/**
 * The trainer's worker thread: owns the training model and its Kintsugi optimizer, runs the
 * requests of its trainer strictly in arrival order (the order of the caller's calls), and
 * publishes the model's weights for the caller's `predict` after every `publishEvery` steps.
 *
 * Loaded with `new Worker(<dist>/trainer/worker.js)`; it imports the package through its entry.
 */
import * as os from 'os';
import * as path from 'path';
import { parentPort, workerData } from 'worker_threads';
import { kernelInfo, kintsugi } from '../index';
import type { KintsugiOptimizer } from '../index';
import { readCheckpoint, removeStaleTemporaries, writeCheckpoint } from './checkpoint';
import { buildModel, loadTfjs, setWeightArrays, type LayersModel, type Tfjs } from './model';
import { serializeError, type Published, type Reply, type Request, type WorkerConfig } from './protocol';
import type { CheckpointInfo, SnapshotTensor, TrainerInfo } from './types';

if (parentPort == null) throw new Error('kintsugi trainer: worker.js runs only as a worker thread (createTrainer starts it)');
const port = parentPort;
const config = workerData as WorkerConfig;

interface State {
  tf: Tfjs;
  model: LayersModel;
  optimizer: KintsugiOptimizer;
  inputShape: number[];
  outputShape: number[];
  step: number;
  examples: number;
  hasClassStream: boolean;
}

function send(reply: Reply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(reply, transfer);
}

/** Sets the native kernel's pool size (a process-wide pool) and returns it; null when not native. */
function kernelThreads(threads: number | null): number | null {
  if (kernelInfo().kernel !== 'native') return null;
  // The same binary the package loaded (node-gyp-build from the package root), so the same pool.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const load = require('node-gyp-build') as (dir: string) => { setThreads(n: number): number; info(): { threads: number } };
  const addon = load(path.resolve(__dirname, '..', '..'));
  if (threads != null) addon.setThreads(threads);
  return addon.info().threads;
}

function publish(s: State): Published {
  const weights = s.model.getWeights();
  const shapes = weights.map((w) => w.shape.slice());
  const buffer = new Float32Array(weights.reduce((n, w) => n + w.size, 0));
  let offset = 0;
  for (const w of weights) {
    buffer.set(w.dataSync() as Float32Array, offset);
    offset += w.size;
  }
  return { step: s.step, shapes, buffer: buffer.buffer };
}

let lastPublishAt = -Infinity;
let lastPublishedStep = -1;
let trailing: ReturnType<typeof setTimeout> | null = null;
let closed = false;

function publishNow(s: State): void {
  const published = publish(s);
  lastPublishAt = performance.now();
  lastPublishedStep = s.step;
  send({ type: 'published', published }, [published.buffer]);
}

/** Publishes now, or (inside publishIntervalMs of the last one) once the interval has passed. */
function maybePublish(s: State): void {
  const wait = config.publishIntervalMs - (performance.now() - lastPublishAt);
  if (wait <= 0) {
    publishNow(s);
    return;
  }
  if (trailing != null) return;
  trailing = setTimeout(() => {
    trailing = null;
    // Through the request chain, so it never reads the weights in the middle of a step.
    enqueue(() => {
      if (!closed && s.step !== lastPublishedStep) publishNow(s);
    });
  }, wait);
}

function modelTensors(s: State): SnapshotTensor[] {
  return s.model.weights.map((w) => {
    const v = w.read();
    return { name: w.name, shape: v.shape.slice(), dtype: 'float32' as const, values: Float32Array.from(v.dataSync() as Float32Array) };
  });
}

async function optimizerTensors(s: State): Promise<SnapshotTensor[]> {
  const named = await s.optimizer.getWeights();
  return named.map(({ name, tensor }) => ({
    name,
    shape: tensor.shape.slice(),
    dtype: tensor.dtype === 'int32' ? ('int32' as const) : ('float32' as const),
    values: tensor.dtype === 'int32' ? Int32Array.from(tensor.dataSync() as Int32Array) : Float32Array.from(tensor.dataSync() as Float32Array),
  }));
}

function classPhi(s: State): number[] | null {
  if (!s.hasClassStream) return null;
  const phi = s.optimizer.classValueWeights();
  return phi ? Array.from(phi) : null;
}

async function init(): Promise<State> {
  const tf = loadTfjs(config.tfjs);
  tf.env().set('PROD', true); // no "install tfjs-node" banner from the worker
  if (!(await tf.setBackend(config.backend))) throw new Error(`kintsugi trainer: the tfjs backend '${config.backend}' is not available in the worker`);
  await tf.ready();
  const threads = kernelThreads(config.threads);
  // On Linux, setpriority(PRIO_PROCESS, 0) changes the calling thread only: this worker.
  let niceness: number | null = null;
  if (config.niceness != null && process.platform === 'linux') {
    os.setPriority(config.niceness);
    niceness = os.getPriority();
  }
  const { model, inputShape, outputShape } = await buildModel(tf, config.model);
  const optimizer = kintsugi(config.optimizer);
  const lossSpec = config.loss;
  const loss = typeof lossSpec === 'string' ? lossSpec : optimizer.valueWeightedLoss(lossSpec.valueWeighted, lossSpec.options ?? {});
  model.compile({ optimizer, loss });
  const s: State = { tf, model, optimizer, inputShape, outputShape, step: 0, examples: 0, hasClassStream: typeof lossSpec !== 'string' };

  let restored: CheckpointInfo | null = null;
  if (config.restore != null) {
    removeStaleTemporaries(config.restore);
    const ckpt = readCheckpoint(config.restore);
    if (ckpt != null) {
      setWeightArrays(tf, model, ckpt.weights.map((t) => t.values), `checkpoint ${ckpt.info.path}`);
      const named = ckpt.optimizer.map((t) => ({ name: t.name, tensor: tf.tensor(t.values, t.shape, t.dtype) }));
      try {
        await optimizer.setWeights(named);
      } finally {
        tf.dispose(named.map((n) => n.tensor));
      }
      s.step = ckpt.info.step;
      s.examples = ckpt.info.examples;
      restored = ckpt.info;
    }
  }
  const info: TrainerInfo = { kernel: kernelInfo().kernel, threads, backend: tf.getBackend(), niceness, inputShape, outputShape, restored };
  const published = publish(s);
  lastPublishAt = performance.now();
  lastPublishedStep = s.step;
  send({ type: 'ready', info, step: s.step, examples: s.examples, published }, [published.buffer]);
  return s;
}

async function handle(s: State, msg: Request): Promise<void> {
  try {
    switch (msg.type) {
      case 'train': {
        const { tf } = s;
        const xs = tf.tensor(new Float32Array(msg.x), [msg.rows, ...s.inputShape], 'float32');
        const ys = tf.tensor(new Float32Array(msg.y), [msg.rows, ...s.outputShape], 'float32');
        const t0 = performance.now();
        let out: number | number[];
        try {
          out = await s.model.trainOnBatch(xs, ys);
        } finally {
          tf.dispose([xs, ys]);
        }
        const ms = performance.now() - t0;
        s.step += 1;
        s.examples += msg.rows;
        // Published before the reply, so (without an interval) once train() resolves predict() sees this step.
        if (s.step % config.publishEvery === 0) maybePublish(s);
        send({
          type: 'trained',
          id: msg.id,
          step: s.step,
          examples: s.examples,
          rows: msg.rows,
          loss: Array.isArray(out) ? out[0] : out,
          ms,
          classPhi: classPhi(s),
        });
        return;
      }
      case 'snapshot': {
        const weights = modelTensors(s);
        const optimizer = msg.optimizer ? await optimizerTensors(s) : undefined;
        const transfer = [...weights, ...(optimizer ?? [])].map((t) => t.values.buffer as ArrayBuffer);
        send({ type: 'snapshot', id: msg.id, step: s.step, examples: s.examples, weights, optimizer, classPhi: classPhi(s) }, transfer);
        return;
      }
      case 'save': {
        const info = writeCheckpoint(msg.dir, {
          step: s.step,
          examples: s.examples,
          meta: msg.meta,
          optimizerConfig: s.optimizer.getConfig() as Record<string, unknown>,
          weights: modelTensors(s),
          optimizer: await optimizerTensors(s),
        });
        send({ type: 'saved', id: msg.id, info });
        return;
      }
      case 'close': {
        closed = true;
        s.model.dispose();
        s.optimizer.dispose();
        send({ type: 'closed', id: msg.id });
        return;
      }
    }
  } catch (e) {
    send({ type: 'failed', id: msg.id, error: serializeError(e) });
  }
}

const ready = init();
let chain: Promise<unknown> = ready;
ready.catch((e: unknown) => send({ type: 'init-error', error: serializeError(e) }));

/** Runs `task` after everything queued before it: requests run one at a time, in order. */
function enqueue(task: (s: State) => unknown): void {
  chain = chain.then(() => ready.then(task)).catch(() => undefined);
}

port.on('message', (msg: Request) => {
  if (msg.type === 'close' && trailing != null) {
    clearTimeout(trailing);
    trailing = null;
  }
  enqueue((s) => handle(s, msg));
});
