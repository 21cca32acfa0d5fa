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
import { largestIndices } from './largest';
import { kindOf, show } from './options';

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

/**
 * One step's per-example parts of one variable (rows × units, kept on the backend until the
 * optimizer asks), and, once reduced on the CPU, its crack and the row of each unit's largest part.
 */
interface Recorded {
  parts: tf.Tensor2D;
  /** Rows of the batch (positions, for a Dense layer over sequences); -1 when the layer ran twice. */
  rows: number;
  crack?: Float32Array;
  argmax?: Int32Array;
}

/** An example that gave a unit its largest part, with how often (most often first). */
export interface CrackDriver {
  /** The example's id (exampleDataset / withExampleIds). */
  id: number;
  /** Training steps in which this example surely gave the unit its largest part. */
  steps: number;
  /** At most this many steps: equal to `steps` when counted exactly (see DriverCounts), else an upper bound. */
  atMost: number;
}

/** Examples counted per unit when counting them all would take too much memory (see DriverCounts). */
export const DRIVERS_KEPT = 64;
/** Exact counts while units × examples of a variable is at most this many int32 counters (16 MB). */
export const EXACT_COUNTERS = 2 ** 22;

/** How often each example led each unit of one variable. */
interface DriverCounts {
  add(unit: number, id: number): void;
  top(unit: number, k: number): CrackDriver[];
  readonly units: number;
}

/** Exact: one int32 counter per (unit, example), for variables where that fits EXACT_COUNTERS. */
class ExactCounts implements DriverCounts {
  private readonly counts: Int32Array;
  constructor(
    readonly units: number,
    private readonly examples: number,
  ) {
    this.counts = new Int32Array(units * examples);
  }

  add(unit: number, id: number): void {
    const at = unit * this.examples + id;
    if (id >= 0 && id < this.examples && this.counts[at] < 2147483647) this.counts[at] += 1;
  }

  top(unit: number, k: number): CrackDriver[] {
    const base = unit * this.examples;
    const count = (id: number) => this.counts[base + id];
    // A count of 0 ranks below every other, so dropping them afterwards keeps the same list.
    return largestIndices(this.examples, k, count)
      .filter((id) => count(id) > 0)
      .map((id) => ({ id, steps: count(id), atMost: count(id) }));
  }
}

/** Bounded: a HeavyHitters counter per unit, for variables too large to count exactly. */
class BoundedCounts implements DriverCounts {
  private readonly perUnit: HeavyHitters[];
  constructor(readonly units: number) {
    this.perUnit = Array.from({ length: units }, () => new HeavyHitters());
  }

  add(unit: number, id: number): void {
    this.perUnit[unit].add(id);
  }

  top(unit: number, k: number): CrackDriver[] {
    return this.perUnit[unit].top(k);
  }
}

/**
 * The examples that most often led one unit, in bounded memory: the Space-Saving counter of
 * Metwally, Agrawal and El Abbadi (2005). It holds K counters; an example not held takes the
 * counter of the smallest count c and starts at c + 1 with error c. Every example that led more
 * than steps/K times is held, and each count is within its error of the truth. Exact counts
 * would need units × examples counters per variable.
 */
export class HeavyHitters {
  private readonly ids = new Int32Array(DRIVERS_KEPT);
  private readonly counts = new Float64Array(DRIVERS_KEPT);
  private readonly errors = new Float64Array(DRIVERS_KEPT);
  private size = 0;

  add(id: number): void {
    let least = 0;
    for (let i = 0; i < this.size; i++) {
      if (this.ids[i] === id) {
        this.counts[i] += 1;
        return;
      }
      if (this.counts[i] < this.counts[least]) least = i;
    }
    if (this.size < DRIVERS_KEPT) {
      this.ids[this.size] = id;
      this.counts[this.size] = 1;
      this.errors[this.size++] = 0;
      return;
    }
    const c = this.counts[least];
    this.ids[least] = id;
    this.counts[least] = c + 1;
    this.errors[least] = c;
  }

  top(k: number): CrackDriver[] {
    const out: CrackDriver[] = [];
    for (let i = 0; i < this.size; i++) out.push({ id: this.ids[i], steps: this.counts[i] - this.errors[i], atMost: this.counts[i] });
    return out.sort((a, b) => b.atMost - a.atMost || b.steps - a.steps || a.id - b.id).slice(0, k);
  }
}

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
  /** Per variable, per unit: the examples that most often gave the unit its largest part. */
  private readonly drivers = new Map<string, DriverCounts>();

  /** True once a model is tapped. */
  get attached(): boolean {
    return this.undo.length > 0;
  }

  /**
   * Taps every Dense layer of `model` (all or none: the model is checked first). Returns the
   * number of layers tapped. A layer can be tapped by one optimizer at a time; calling this again
   * on the same optimizer moves its taps to `model` (with the new options).
   */
  attach(model: unknown, options: ExampleCrackOptions | undefined): number {
    const o = resolveExampleCrackOptions(options);
    if (model === null || typeof model !== 'object' || !Array.isArray((model as { layers?: unknown }).layers)) {
      throw new TypeError(`kintsugi: exampleCracks takes a tfjs-layers model (tf.sequential(), tf.model(), a loaded model); got ${kindOf(model)}`);
    }
    const dense = layersOf(model as { layers: unknown[] }).filter(isDense);
    if (dense.length === 0) throw new RangeError('kintsugi: exampleCracks found no Dense layer in this model; per-example cracks are defined for Dense layers');
    for (const layer of dense) {
      const owner = (layer as { kintsugiTapped?: ExampleCrackTaps }).kintsugiTapped;
      if (owner !== undefined && owner !== this) {
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

  /**
   * The crack this step recorded for variable `name` (its parts read back and reduced), or
   * undefined: none recorded, or one with a NaN or ±Infinity in it. The kernel then takes the
   * gradient's crack, and its finite check on the gradient decides (a NaN error makes a NaN
   * gradient, which nonFinite 'skip' skips and 'throw' reports by name).
   */
  crackOf(name: string): Float32Array | undefined {
    const r = this.recorded.get(name);
    if (r === undefined) return undefined;
    if (r.crack === undefined) Object.assign(r, reduceParts(r.parts, this.top));
    const crack = r.crack as Float32Array;
    for (let u = 0; u < crack.length; u++) if (!(crack[u] - crack[u] === 0)) return undefined;
    return crack;
  }

  /**
   * The step succeeded: counts, per unit of each variable with a crack, the example that gave the
   * unit its largest part (by id, when the batch carried ids: `rowIds[r]` is row r's example id,
   * `examples` how many ids there are). Then drops the step's tensors.
   */
  commit(rowIds: Int32Array | null, examples = 0): void {
    if (rowIds !== null) {
      for (const [name, r] of this.recorded) {
        // Rows are examples only when the layer saw one row per example.
        if (r.rows !== rowIds.length) continue;
        if (r.argmax === undefined) Object.assign(r, reduceParts(r.parts, this.top));
        const rows = r.argmax as Int32Array;
        let units = this.drivers.get(name);
        if (units === undefined) {
          units = rows.length * examples <= EXACT_COUNTERS ? new ExactCounts(rows.length, examples) : new BoundedCounts(rows.length);
          this.drivers.set(name, units);
        }
        for (let u = 0; u < rows.length && u < units.units; u++) {
          const id = rowIds[rows[u]];
          if (id !== undefined) units.add(u, id);
        }
      }
    }
    this.discard();
  }

  /** Drops the current step's recorded tensors. */
  discard(): void {
    for (const r of this.recorded.values()) r.parts.dispose();
    this.recorded.clear();
  }

  /** Per unit of variable `name`, the examples that most often gave it its largest part (at most `top` each). */
  driversOf(name: string, top: number): CrackDriver[][] | null {
    const units = this.drivers.get(name);
    if (units === undefined) return null;
    return Array.from({ length: units.units }, (_, u) => units.top(u, top));
  }

  /** Names of the variables with recorded drivers. */
  driverVariables(): string[] {
    return [...this.drivers.keys()];
  }

  private tap(layer: DenseLike): () => void {
    const ownCall = Object.prototype.hasOwnProperty.call(layer, 'call') ? layer.call : undefined;
    const call = layer.call;
    const tagged = layer as DenseLike & { kintsugiTapped?: ExampleCrackTaps };
    tagged.kintsugiTapped = this;
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
    const record = (name: string | undefined, parts: tf.Tensor2D, rows: number): void => {
      if (name === undefined) return;
      const earlier = this.recorded.get(name);
      // A layer that ran twice in one step (shared weights) contributes the rows of both calls.
      const all = earlier === undefined ? parts : (tf.concat([earlier.parts, parts], 0) as tf.Tensor2D);
      if (earlier !== undefined) earlier.parts.dispose();
      this.recorded.set(name, { parts: tf.keep(all), rows: earlier === undefined ? rows : -1 });
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
            // The reduction over rows happens on the CPU (reduceParts), where the cracks go anyway:
            // a top-k on tfjs's cpu backend cost more than the rest of the step.
            const err = tf.mul(tf.abs(delta), rows) as tf.Tensor2D;
            record(kernelName, tf.mul(err, tf.norm(a2, 'euclidean', 1, true)) as tf.Tensor2D, rows);
            record(biasName, err, rows);
          });
          return dy;
        },
      };
    });
    return op(z);
  }
}

/**
 * Per column u of the rows × units parts: the mean of its `top` largest values (the maximum for
 * top = 1, the mean of all for top ≥ rows), summed in float64 from the largest down and rounded
 * once; and the row of its largest value (the first such row on a tie).
 */
export function reduceParts(parts: tf.Tensor2D, top: number): { crack: Float32Array; argmax: Int32Array } {
  const [rows, units] = parts.shape;
  const values = parts.dataSync();
  const crack = new Float32Array(units);
  const argmax = new Int32Array(units);
  const k = Math.min(top, rows);
  const best = new Float64Array(k); // the column's k largest so far, descending
  for (let u = 0; u < units; u++) {
    let filled = 0;
    let at = 0;
    for (let n = 0; n < rows; n++) {
      const x = values[n * units + u];
      if (n === 0 || x > values[at * units + u]) at = n;
      if (filled === k && x <= best[k - 1]) continue;
      let i = filled < k ? filled++ : k - 1;
      while (i > 0 && best[i - 1] < x) {
        best[i] = best[i - 1];
        i--;
      }
      best[i] = x;
    }
    let sum = 0;
    for (let i = 0; i < filled; i++) sum += best[i];
    crack[u] = filled > 0 ? sum / filled : 0;
    argmax[u] = at;
  }
  return { crack, argmax };
}
