/**
 * Per-example cracks for the parameter stream (docs/algorithm.md, "Per-example cracks"): a Dense
 * unit's crack taken from the examples of the batch one by one, reduced by the maximum (or the
 * mean of the k largest) instead of the batch mean, so that one badly misfit example gilds the
 * units it went through. Example n's part in unit u of a Dense layer with input a and
 * pre-activation z = a·W + b is |δ_u(n)|·‖a(n)‖ for the kernel column u and |δ_u(n)| for the bias
 * u, with δ(n) = ∂ℓ_n/∂z(n) example n's own error at z.
 *
 * No per-example backward pass: one tap on z (a tf.customGrad identity) sees ∂L/∂z for the whole
 * batch as the ordinary backward pass flows through it, and a batch-mean loss L = (1/N) Σ ℓ_n
 * makes row n of it δ(n)/N. The tap is put into each Dense layer by swapping its activation for
 * one that applies the tap and then the layer's own activation, so the layer's own code computes
 * z, and only while the optimizer computes a training step's gradients (minimize, fit): predict,
 * evaluate and validation never meet it.
 *
 * The reduced cracks go to the kernel as `KernelVariable.crack` (src/kernel/types.ts), which
 * replaces the kernel's column mean |g|; everything after the crack (relative crack, gilding,
 * normalization, clamps) is the kernel's unit rule unchanged.
 */
import * as tf from '@tensorflow/tfjs-core';
import { show } from './options';

export interface ExampleCrackOptions {
  /**
   * How the batch's per-example parts of a unit are reduced to its crack: the mean of the `top`
   * largest. 1 (default) is the maximum, the seeds' "greatest individual loss"; the batch size or
   * more is the mean over the batch.
   */
  top?: number;
}

/** What the tap needs of a tfjs-layers Dense layer (tfjs-layers is a peer: no import of its classes). */
interface DenseLike {
  name: string;
  getClassName(): string;
  call(inputs: tf.Tensor | tf.Tensor[], kwargs: unknown): tf.Tensor | tf.Tensor[];
  activation: { apply(x: tf.Tensor): tf.Tensor; getClassName(): string } | null;
  kernel?: { read(): tf.Variable } | null;
  bias?: { read(): tf.Variable } | null;
}

/** One step's cracks of one variable (the kept tensors), and for each unit the batch row that gave its largest part. */
interface Recorded {
  crack: tf.Tensor1D;
  argmax: tf.Tensor1D;
  /** Rows of the batch (positions, for a Dense layer over sequences). */
  rows: number;
}

/** The examples that gave a unit its largest part, most often first. */
export interface CrackDriver {
  /** The example's id (exampleDataset / withExampleIds). */
  id: number;
  /** Training steps in which this example gave the unit its largest part. */
  steps: number;
}

/** Distinct examples remembered per unit; beyond it the least frequent is forgotten. */
const DRIVERS_KEPT = 32;

function isDense(layer: unknown): layer is DenseLike {
  const l = layer as Partial<DenseLike> | null;
  return l != null && typeof l.getClassName === 'function' && l.getClassName() === 'Dense' && typeof l.call === 'function';
}

/** The layers of a model, nested models and their layers included. */
function layersOf(model: { layers?: unknown[] }): unknown[] {
  const out: unknown[] = [];
  for (const layer of model.layers ?? []) {
    out.push(layer);
    if (Array.isArray((layer as { layers?: unknown[] }).layers)) out.push(...layersOf(layer as { layers: unknown[] }));
  }
  return out;
}

export function resolveExampleCrackOptions(options: unknown): Required<ExampleCrackOptions> {
  if (options === undefined) return { top: 1 };
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`kintsugi: exampleCracks options must be an object such as { top: 1 }; got ${show(options)}`);
  }
  const unknown = Object.keys(options).filter((k) => k !== 'top');
  if (unknown.length > 0) throw new RangeError(`kintsugi: exampleCracks has no option '${unknown[0]}'; it takes 'top'`);
  const top = (options as ExampleCrackOptions).top ?? 1;
  if (!Number.isInteger(top) || top < 1) throw new RangeError(`kintsugi: exampleCracks option 'top' must be a whole number ≥ 1; got ${show(top)}`);
  return { top };
}

/**
 * The taps of one optimizer: which layers carry one, the cracks recorded in the current training
 * step (by variable name), and which examples drove each unit.
 */
export class ExampleCrackTaps {
  private readonly recorded = new Map<string, Recorded>();
  private readonly undo: Array<() => void> = [];
  private top = 1;
  private recording = false;
  /** Per variable, per unit: example id → steps in which it gave the unit's largest part. */
  private readonly drivers = new Map<string, Array<Map<number, number>>>();

  /** True once a model is tapped. */
  get attached(): boolean {
    return this.undo.length > 0;
  }

  /**
   * Taps every Dense layer of `model` (all or none: the model is checked first). Returns the
   * number of layers tapped. A model can be tapped by one optimizer; tapping again re-taps.
   */
  attach(model: unknown, options: ExampleCrackOptions | undefined): number {
    const o = resolveExampleCrackOptions(options);
    if (model === null || typeof model !== 'object' || !Array.isArray((model as { layers?: unknown }).layers)) {
      throw new TypeError(`kintsugi: exampleCracks takes a tfjs-layers model (tf.sequential(), tf.model(), a loaded model); got ${show(model)}`);
    }
    const dense = layersOf(model as { layers: unknown[] }).filter(isDense);
    if (dense.length === 0) throw new RangeError('kintsugi: exampleCracks found no Dense layer in this model; per-example cracks are defined for Dense layers');
    for (const layer of dense) {
      if ((layer as { kintsugiTapped?: boolean }).kintsugiTapped) {
        throw new RangeError(`kintsugi: layer '${layer.name}' is already tapped by an optimizer's exampleCracks; call that optimizer's dispose() first`);
      }
    }
    this.detach();
    this.top = o.top;
    for (const layer of dense) this.undo.push(this.tap(layer));
    return dense.length;
  }

  /** Removes every tap and forgets the recorded cracks and drivers. */
  detach(): void {
    for (const undo of this.undo.splice(0)) undo();
    this.discard();
    this.drivers.clear();
  }

  /** Runs a training step's gradient computation with the taps recording. */
  training<T>(computeGradients: () => T): T {
    this.discard();
    if (!this.attached) return computeGradients();
    this.recording = true;
    try {
      return computeGradients();
    } finally {
      this.recording = false;
    }
  }

  /** The crack this step recorded for variable `name` (read back from the backend), or undefined. */
  crackOf(name: string): Float32Array | undefined {
    const r = this.recorded.get(name);
    return r === undefined ? undefined : (r.crack.dataSync() as Float32Array);
  }

  /**
   * The step succeeded: counts, per unit of each variable with a crack, the example that gave the
   * unit its largest part (by id, when the batch carried ids: `rowIds[r]` is row r's example id).
   * Then drops the step's tensors.
   */
  commit(rowIds: Int32Array | null): void {
    if (rowIds !== null) {
      for (const [name, r] of this.recorded) {
        // Rows are examples only when the layer saw one row per example.
        if (r.rows !== rowIds.length) continue;
        const rows = r.argmax.dataSync();
        let units = this.drivers.get(name);
        if (units === undefined) this.drivers.set(name, (units = Array.from({ length: rows.length }, () => new Map<number, number>())));
        for (let u = 0; u < rows.length && u < units.length; u++) {
          const id = rowIds[rows[u]];
          if (id === undefined) continue;
          const counts = units[u];
          counts.set(id, (counts.get(id) ?? 0) + 1);
          if (counts.size > DRIVERS_KEPT) forgetLeast(counts, id);
        }
      }
    }
    this.discard();
  }

  /** Drops the current step's recorded tensors. */
  discard(): void {
    for (const r of this.recorded.values()) tf.dispose([r.crack, r.argmax]);
    this.recorded.clear();
  }

  /** Per unit of variable `name`, the examples that most often gave it its largest part (at most `top` each). */
  driversOf(name: string, top: number): CrackDriver[][] | null {
    const units = this.drivers.get(name);
    if (units === undefined) return null;
    return units.map((counts) =>
      [...counts]
        .map(([id, steps]) => ({ id, steps }))
        .sort((a, b) => b.steps - a.steps || a.id - b.id)
        .slice(0, top),
    );
  }

  /** Names of the variables with recorded drivers. */
  driverVariables(): string[] {
    return [...this.drivers.keys()];
  }

  private tap(layer: DenseLike): () => void {
    const ownCall = Object.prototype.hasOwnProperty.call(layer, 'call') ? layer.call : undefined;
    const call = layer.call;
    const tagged = layer as DenseLike & { kintsugiTapped?: boolean };
    tagged.kintsugiTapped = true;
    layer.call = (inputs, kwargs) => {
      if (!this.recording) return call.call(layer, inputs, kwargs);
      const input = Array.isArray(inputs) ? inputs[0] : inputs;
      const own = layer.activation;
      // Not a fusable name, so Dense takes its unfused path: z = a·W (+ b), then activation.apply(z).
      layer.activation = {
        getClassName: () => 'KintsugiCrackTap',
        apply: (z: tf.Tensor) => {
          const tapped = this.tapped(layer, z, input);
          return own == null ? tapped : own.apply(tapped);
        },
      };
      try {
        return call.call(layer, inputs, kwargs);
      } finally {
        layer.activation = own;
      }
    };
    return () => {
      if (ownCall === undefined) delete (layer as { call?: unknown }).call;
      else layer.call = ownCall;
      delete tagged.kintsugiTapped;
    };
  }

  /** z unchanged, with a gradient function that records the layer's cracks from ∂L/∂z. */
  private tapped(layer: DenseLike, z: tf.Tensor, input: tf.Tensor): tf.Tensor {
    const kernelName = layer.kernel?.read().name;
    const biasName = layer.bias?.read().name;
    const top = this.top;
    const record = (name: string | undefined, crack: tf.Tensor1D, argmax: tf.Tensor1D, rows: number): void => {
      if (name === undefined) {
        tf.dispose([crack, argmax]);
        return;
      }
      const earlier = this.recorded.get(name);
      if (earlier !== undefined) {
        // The layer ran twice in one step (a shared layer): each unit keeps its larger crack.
        const larger = tf.tidy(() => tf.maximum(earlier.crack, crack) as tf.Tensor1D);
        tf.dispose([earlier.crack, crack, argmax]);
        this.recorded.set(name, { crack: tf.keep(larger), argmax: earlier.argmax, rows: -1 });
        return;
      }
      this.recorded.set(name, { crack: tf.keep(crack), argmax: tf.keep(argmax), rows });
    };
    const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const [x, save] = args as [tf.Tensor, tf.GradSaveFunc];
      save([input]);
      return {
        value: tf.clone(x),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          tf.tidy(() => {
            const units = dy.shape[dy.shape.length - 1];
            // Rank > 2 (a Dense layer over sequences): every position is a row of its own.
            const delta = tf.reshape(dy, [-1, units]) as tf.Tensor2D;
            const a = saved[0];
            const rows = delta.shape[0];
            const a2 = tf.reshape(a, [rows, -1]);
            // ×rows: row n of ∂L/∂z is δ(n)/N for a batch-mean loss; this makes it example n's own error.
            const err = tf.mul(tf.abs(delta), rows);
            const part = tf.mul(err, tf.norm(a2, 'euclidean', 1, true)) as tf.Tensor2D;
            record(kernelName, reduceRows(part, top), tf.argMax(part, 0) as tf.Tensor1D, rows);
            record(biasName, reduceRows(err as tf.Tensor2D, top), tf.argMax(err, 0) as tf.Tensor1D, rows);
          });
          return dy;
        },
      };
    });
    return op(z);
  }
}

/** Each column's `top` largest values averaged (the maximum for top = 1): rows × units → units. */
function reduceRows(part: tf.Tensor2D, top: number): tf.Tensor1D {
  const rows = part.shape[0];
  if (rows === 0) return tf.zeros([part.shape[1]]) as tf.Tensor1D;
  if (top === 1) return tf.max(part, 0) as tf.Tensor1D;
  if (top >= rows) return tf.mean(part, 0) as tf.Tensor1D;
  return tf.mean(tf.topk(tf.transpose(part), top).values, 1) as tf.Tensor1D;
}

/** Forgets the least counted example of `counts` other than `keep` (the one just counted). */
function forgetLeast(counts: Map<number, number>, keep: number): void {
  let least: number | null = null;
  let leastCount = Infinity;
  for (const [id, c] of counts) {
    if (id !== keep && c < leastCount) {
      least = id;
      leastCount = c;
    }
  }
  if (least !== null) counts.delete(least);
}
