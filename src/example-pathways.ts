/**
 * Example pathways with memory: one value weight ϕ_n per training example, the seeds' "persistent"
 * error (docs/algorithm.md, "Example pathways"). Each time example n is in a training batch its
 * crack is its loss relative to the batch's mean loss; ϕ_n is gilded with the rule of the other
 * streams (a = max(0, 1 − γϕ), ϕ̂ = ϕ + β·a·crack); the batch's gold is then shared out again among
 * the batch's examples so that their Σϕ is what it was, each within [phiMin, phiMax]; and the
 * parameters descend (1/b) Σ_r ϕ_{id(r)} l_r with ϕ held constant. Examples outside the batch are
 * not touched, and Σϕ over all examples stays N.
 *
 * The example's id rides in the targets' last column (`exampleDataset`, `withExampleIds`), since
 * tfjs's `fit` has no per-example weights. The state is on the CPU (a Float32Array ϕ and an
 * Int32Array of times seen, N long): a batch updates b of its N values, which tfjs could only do
 * on the backend by rewriting all N (it has no in-place scatter), so each training batch reads its
 * b losses and ids back instead.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BaseLoss, checkGildingOptions, perSampleLoss } from './class-pathways';
import { NonFiniteGradientError } from './kernel/types';
import { Crack, mergeKnown, NonFinitePolicy, Normalize, show } from './options';
import type { NamedTensor } from './state';

/** Ids ride in a float32 column, which holds every whole number up to 2^24 exactly. */
export const MAX_EXAMPLES = 2 ** 24;
/** Times seen saturate here instead of wrapping around the int32 they are saved as. */
const MAX_SEEN = 2 ** 31 - 1;

export interface ExamplePathwayOptions {
  /** N, the number of training examples: ids are 0 … N − 1. Required. */
  examples: number;
  /** β: how far one sighting moves ϕ. Default 0.5. */
  gildingRate?: number;
  /** `relative` (default): the example's loss divided by the batch's mean loss; `absolute`: the loss. */
  crack?: Crack;
  /** γ: a = max(0, 1 − γϕ), so gilding stops at ϕ = 1/γ and a misfit example saturates. Default 0.1. */
  annealing?: number;
  /** `mean` (default): a batch's Σϕ is kept, so the mean over all N stays 1; `none`: ϕ accumulates. */
  normalize?: Normalize;
  /** Box for ϕ. Defaults 0.1 and 10 (phiMax: how far a mislabeled example can be chased). */
  phiMin?: number;
  phiMax?: number;
}

export type ResolvedExampleOptions = Required<ExamplePathwayOptions>;

const EXAMPLE_DEFAULTS: ResolvedExampleOptions = {
  examples: undefined as unknown as number,
  gildingRate: 0.5,
  crack: 'relative',
  annealing: 0.1,
  normalize: 'mean',
  phiMin: 0.1,
  phiMax: 10,
};

export function resolveExampleOptions(options: ExamplePathwayOptions): ResolvedExampleOptions {
  const o = mergeKnown('kintsugi', EXAMPLE_DEFAULTS, options, 'exampleWeightedLoss option');
  if (!Number.isInteger(o.examples) || o.examples < 1 || o.examples > MAX_EXAMPLES) {
    throw new RangeError(
      `kintsugi: exampleWeightedLoss option 'examples' (the number of training examples, whose ids are 0 … examples − 1) must be a whole number in [1, ${MAX_EXAMPLES}]; got ${show(o.examples)}`,
    );
  }
  checkGildingOptions(o);
  return o;
}

/** One batch's gilding, not yet kept: the batch's distinct examples, their new ϕ, and how often each was in it. */
export interface ExampleProposal {
  /** N: the length of the ϕ it was computed from. */
  examples: number;
  ids: Int32Array;
  phi: Float32Array;
  rows: Int32Array;
  /** ϕ of each row of the batch (its example's new ϕ): what weights the row's loss. */
  weights: Float32Array;
  /** The example id of each row of the batch. */
  rowIds: Int32Array;
}

/**
 * The rule, in float64, rounding once when it stores ϕ. `phi` is the examples' current ϕ (read,
 * not changed); `ids` and `losses` one value per row of the batch. An example in several rows is
 * gilded once, with the mean of its rows' losses. Returns the proposal.
 */
export function gildExamples(phi: Float32Array | null, ids: Int32Array, losses: ArrayLike<number>, o: ResolvedExampleOptions): ExampleProposal {
  const slotOf = new Map<number, number>();
  const slot = new Int32Array(ids.length);
  const distinct: number[] = [];
  const lossSum: number[] = [];
  const rows: number[] = [];
  let total = 0;
  for (let r = 0; r < ids.length; r++) {
    let s = slotOf.get(ids[r]);
    if (s === undefined) {
      s = distinct.length;
      slotOf.set(ids[r], s);
      distinct.push(ids[r]);
      lossSum.push(0);
      rows.push(0);
    }
    slot[r] = s;
    lossSum[s] += losses[r];
    rows[s] += 1;
    total += losses[r];
  }
  // Relative: over the batch's mean row loss (when it is positive), as makeRelative does over a group.
  const mean = ids.length > 0 ? total / ids.length : 0;
  const crackScale = o.crack === 'relative' && mean > 0 ? 1 / mean : 1;
  const n = distinct.length;
  const hat = new Float64Array(n);
  let mass = 0;
  for (let s = 0; s < n; s++) {
    const old = phi ? phi[distinct[s]] : 1; // no state yet: every ϕ is 1
    mass += old;
    const a = Math.max(0, 1 - o.annealing * old);
    hat[s] = old + o.gildingRate * a * ((lossSum[s] / rows[s]) * crackScale);
  }
  const scale = o.normalize === 'mean' ? massKeepingScale(hat, mass, o.phiMin, o.phiMax) : 1;
  const next = new Float32Array(n);
  for (let s = 0; s < n; s++) next[s] = clamp(scale * hat[s], o.phiMin, o.phiMax);
  const weights = new Float32Array(ids.length);
  for (let r = 0; r < ids.length; r++) weights[r] = next[slot[r]];
  return { examples: o.examples, ids: Int32Array.from(distinct), phi: next, rows: Int32Array.from(rows), weights, rowIds: ids };
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, x));
}

/**
 * The s ≥ 0 with Σ_j clamp(s·ĥ_j, lo, hi) = mass: the batch's ϕ rescaled so that its sum is
 * what it was before the gilding, with the clamp inside the sum so that clamping neither makes
 * nor loses gold. The sum is piecewise linear and nondecreasing in s, with corners at lo/ĥ_j and
 * hi/ĥ_j: a binary search over the sorted corners finds the piece that holds `mass`, where s
 * solves a linear equation. A mass out of reach (a restored ϕ outside the box) gives all-lo
 * (s = 0) or all-hi.
 */
export function massKeepingScale(hat: Float64Array, mass: number, lo: number, hi: number): number {
  const corners: number[] = [];
  for (let j = 0; j < hat.length; j++) {
    if (!(hat[j] > 0)) continue;
    corners.push(lo / hat[j]);
    if (hi !== Infinity) corners.push(hi / hat[j]);
  }
  corners.sort((a, b) => a - b);
  const sumAt = (s: number) => {
    let t = 0;
    for (let j = 0; j < hat.length; j++) t += clamp(s * hat[j], lo, hi);
    return t;
  };
  // Invariant: sumAt(corner[below]) ≤ mass < sumAt(corner[above]); index −1 is s = 0, corners.length is s = ∞.
  let below = -1;
  let above = corners.length;
  while (above - below > 1) {
    const mid = (below + above) >> 1;
    if (sumAt(corners[mid]) <= mass) below = mid;
    else above = mid;
  }
  const left = below < 0 ? 0 : corners[below];
  const right = above < corners.length ? corners[above] : Infinity;
  // No corner lies strictly between left and right: each ĥ_j is below lo, free or above hi there.
  const probe = right === Infinity ? 2 * left + 1 : (left + right) / 2;
  let fixed = 0;
  let free = 0;
  for (let j = 0; j < hat.length; j++) {
    const x = probe * hat[j];
    if (!(hat[j] > 0) || x <= lo) fixed += lo;
    else if (x >= hi) fixed += hi;
    else free += hat[j];
  }
  return free > 0 ? (mass - fixed) / free : left;
}

/** The examples' state: ϕ and how many batches each example has been in. */
export interface ExampleState {
  phi: Float32Array;
  seen: Int32Array;
}

/** Weight-name prefix of the example stream's state in getWeights/setWeights. */
const EXAMPLE_PREFIX = 'kintsugi/examples/';

/** Whether a saved weight belongs to the example stream (`kintsugi/examples/phi`, `…/seen`). */
export function isExampleWeight(entry: NamedTensor): boolean {
  return entry.name.startsWith(EXAMPLE_PREFIX);
}

/** The targets without their id column (or as given when they have none). */
function labelsOf(yTrue: tf.Tensor, yPred: tf.Tensor, withIds: boolean): tf.Tensor {
  return withIds ? tf.slice(yTrue, [0, 0], [yTrue.shape[0] as number, (yPred.shape as number[])[1]]) : yTrue;
}

/** Whether predictions [batch, k] come with targets [batch, k + 1]: the labels, then the example id. */
function hasIdColumn(yTrue: tf.Tensor, yPred: tf.Tensor): boolean {
  const [rows, columns] = yTrue.shape as number[];
  return yTrue.rank === 2 && yPred.rank === 2 && rows === yPred.shape[0] && columns === (yPred.shape as number[])[1] + 1;
}

/**
 * `withoutExampleIds(metric)`: a metric (yTrue, yPred) => Tensor that is given targets with the id
 * column, as compiled metrics are under `exampleDataset`, sees them without it.
 */
export function withoutExampleIds(metric: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor {
  if (typeof metric !== 'function') throw new TypeError(`kintsugi: withoutExampleIds takes a metric function (yTrue, yPred) => Tensor; got ${show(metric)}`);
  const wrapped = (yTrue: tf.Tensor, yPred: tf.Tensor) => metric(tf.tidy(() => labelsOf(yTrue, yPred, hasIdColumn(yTrue, yPred))), yPred);
  // tfjs names a metric's logs after its function: keep the metric's name.
  return Object.defineProperty(wrapped, 'name', { value: metric.name });
}

/**
 * The example stream of one optimizer, shaped like `ClassStream`: ϕ may gild only while a training
 * step computes its gradients (`training`); the gilded ϕ is a proposal that the optimizer takes
 * when its step starts (`takeProposal`) and keeps only when the step succeeds (`commit`).
 */
export class ExampleStream {
  private state: ExampleState | null = null;
  private proposal: ExampleProposal | null = null;
  private inTrainingStep = false;
  /** N of the last loss made: what a restored state must match. */
  private count: number | null = null;

  constructor(private readonly nonFinite: NonFinitePolicy = 'skip') {}

  training<T>(computeGradients: () => T): T {
    this.inTrainingStep = true;
    try {
      return computeGradients();
    } finally {
      this.inTrainingStep = false;
    }
  }

  /** `optimizer.exampleWeightedLoss(base, options)`: checks both, then returns the loss. */
  loss(base: BaseLoss, options: ExamplePathwayOptions): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar {
    if (typeof base !== 'function' && base !== 'binaryCrossentropy' && base !== 'categoricalCrossentropy') {
      throw new RangeError(
        `kintsugi: exampleWeightedLoss base must be 'binaryCrossentropy', 'categoricalCrossentropy' or a per-sample loss function; got ${show(base)}`,
      );
    }
    const o = resolveExampleOptions(options);
    this.checkCount(o.examples, 'this loss is made for');
    this.count = o.examples;
    return (yTrue, yPred) => this.value(base, o, yTrue, yPred);
  }

  private checkCount(examples: number, what: string): void {
    const held = this.state?.phi.length;
    if (held !== undefined && held !== examples) {
      throw new RangeError(`kintsugi: the optimizer's example pathways hold ${held} examples, but ${what} ${examples} (option 'examples'); nothing was changed`);
    }
  }

  /**
   * The loss of one batch. In a training step: the ids checked, the batch gilded (a proposal),
   * and (1/b) Σ_r ϕ_{id(r)} l_r with the gilded ϕ as constants. Elsewhere (evaluate, validation)
   * the plain mean loss: ϕ belongs to the training examples, not to whatever rows are evaluated.
   */
  private value(base: BaseLoss, o: ResolvedExampleOptions, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar {
    const withIds = hasIdColumn(yTrue, yPred);
    if (!this.inTrainingStep) {
      return tf.tidy(() => tf.mean(rowLosses(base, labelsOf(yTrue, yPred, withIds), yPred)) as tf.Scalar);
    }
    if (!withIds) {
      throw new RangeError(
        `kintsugi: exampleWeightedLoss trains on predictions [batch, k] with targets [batch, k + 1] whose last column is the example id; ` +
          `got predictions [${yPred.shape.join(', ')}] and targets [${yTrue.shape.join(', ')}]. Train with model.fitDataset(exampleDataset(x, y)), or append the ids with withExampleIds(y)`,
      );
    }
    this.checkCount(o.examples, 'this loss was made for');
    return tf.tidy(() => {
      const [batch, columns] = yTrue.shape as number[];
      const losses = rowLosses(base, labelsOf(yTrue, yPred, true), yPred);
      // One read-back for both: each is a pipeline stall on an asynchronous backend.
      const both = tf.concat([tf.slice(yTrue, [0, columns - 1], [batch, 1]), tf.reshape(losses, [batch, 1])], 1).dataSync();
      const idValues = new Float32Array(batch);
      const lossValues = new Float32Array(batch);
      for (let r = 0; r < batch; r++) {
        idValues[r] = both[2 * r];
        lossValues[r] = both[2 * r + 1];
      }
      const ids = checkedIds(idValues, o.examples);
      let proposal: ExampleProposal | null = null;
      if (allFinite(lossValues)) {
        proposal = gildExamples(this.state?.phi ?? null, ids, lossValues, o);
      } else if (this.nonFinite === 'throw') {
        throw new NonFiniteGradientError(
          'kintsugi/examples',
          "kintsugi: a loss of this batch is NaN or Infinity, so its examples cannot be gilded; nothing was changed (nonFinite: 'throw')",
        );
      }
      // 'skip': the batch weighs its rows with the ϕ they have and gilds nothing.
      const weights = proposal?.weights ?? Float32Array.from(ids, (id) => this.state?.phi[id] ?? 1);
      this.proposal = proposal;
      return tf.div(tf.sum(tf.mul(tf.tensor1d(weights), losses)), batch) as tf.Scalar;
    });
  }

  /** Takes the pending proposal (null if none): any error in the step that follows drops it. */
  takeProposal(): ExampleProposal | null {
    const proposal = this.proposal;
    this.proposal = null;
    return proposal;
  }

  /** The step succeeded: its proposal is written into the state (made, ϕ ≡ 1, at the first). */
  commit(proposal: ExampleProposal | null): void {
    if (!proposal) return;
    this.state ??= { phi: new Float32Array(proposal.examples).fill(1), seen: new Int32Array(proposal.examples) };
    const { phi, seen } = this.state;
    for (let j = 0; j < proposal.ids.length; j++) {
      const id = proposal.ids[j];
      phi[id] = proposal.phi[j];
      seen[id] = Math.min(MAX_SEEN, seen[id] + proposal.rows[j]);
    }
  }

  /** Copies of ϕ and the times seen, or null before the stream has trained (or been restored). */
  values(): ExampleState | null {
    return this.state ? { phi: this.state.phi.slice(), seen: this.state.seen.slice() } : null;
  }

  /** A copy of one array of the state, or null before the stream has state. */
  copyOf<K extends keyof ExampleState>(key: K): ExampleState[K] | null {
    return this.state ? (this.state[key].slice() as ExampleState[K]) : null;
  }

  /** `kintsugi/examples/phi` (float32) and `kintsugi/examples/seen` (int32); none before the stream has state. */
  savedWeights(): NamedTensor[] {
    if (!this.state) return [];
    return [
      // Copies: the state changes in place at every step, and a tensor keeps the array it is given.
      { name: `${EXAMPLE_PREFIX}phi`, tensor: tf.tensor1d(this.state.phi.slice(), 'float32') },
      { name: `${EXAMPLE_PREFIX}seen`, tensor: tf.tensor1d(this.state.seen.slice(), 'int32') },
    ];
  }

  /**
   * Checks the example entries of setWeights (both names, once each, nothing else, one length,
   * the length a loss already made expects, ϕ finite and ≥ 0, times seen whole and ≥ 0) and returns
   * the state they make (none: null), changing nothing.
   */
  async read(entries: readonly NamedTensor[]): Promise<ExampleState | null> {
    if (entries.length === 0) return null;
    const known = [`${EXAMPLE_PREFIX}phi`, `${EXAMPLE_PREFIX}seen`];
    for (const w of entries) {
      if (!known.includes(w.name)) {
        throw new RangeError(`kintsugi: setWeights: unknown example pathway entry '${w.name}'; the example pathways save ${known.map((k) => `'${k}'`).join(' and ')}`);
      }
      if (entries.filter((e) => e.name === w.name).length > 1) throw new RangeError(`kintsugi: setWeights: '${w.name}' appears twice`);
    }
    const phiEntry = entries.find((w) => w.name === known[0]);
    const seenEntry = entries.find((w) => w.name === known[1]);
    if (phiEntry == null || seenEntry == null || phiEntry.tensor.size !== seenEntry.tensor.size || phiEntry.tensor.size === 0) {
      throw new RangeError(`kintsugi: setWeights needs both '${known[0]}' and '${known[1]}' of one length`);
    }
    const phi = Float32Array.from(await phiEntry.tensor.data());
    const seenValues = await seenEntry.tensor.data();
    for (let i = 0; i < phi.length; i++) {
      if (!(Number.isFinite(phi[i]) && phi[i] >= 0)) throw new RangeError(`kintsugi: setWeights: '${known[0]}' at example ${i} is ${phi[i]}; it must be finite and ≥ 0`);
      const s = seenValues[i];
      if (!(Number.isInteger(s) && s >= 0 && s <= MAX_SEEN)) throw new RangeError(`kintsugi: setWeights: '${known[1]}' at example ${i} is ${s}; it must be a whole number in [0, ${MAX_SEEN}]`);
    }
    if (this.count != null && this.count !== phi.length) {
      throw new RangeError(`kintsugi: setWeights: the saved example pathways hold ${phi.length} examples, but this optimizer's exampleWeightedLoss was made for ${this.count}; nothing was changed`);
    }
    return { phi, seen: Int32Array.from(seenValues) };
  }

  /** Replaces the state with one from `read` (null: no state). */
  restore(restored: ExampleState | null): void {
    this.proposal = null;
    this.state = restored;
  }

  reset(): void {
    this.state = null;
    this.proposal = null;
  }
}

/** One loss per row: the base's per-sample loss, trailing axes averaged. */
function rowLosses(base: BaseLoss, labels: tf.Tensor, yPred: tf.Tensor): tf.Tensor1D {
  const batch = yPred.shape[0];
  return tf.mean(tf.reshape(perSampleLoss(base, labels, yPred), [batch, -1]), 1) as tf.Tensor1D;
}

/** The id column as whole numbers in [0, examples); throws, naming the first bad one. */
function checkedIds(values: ArrayLike<number>, examples: number): Int32Array {
  const ids = new Int32Array(values.length);
  for (let r = 0; r < values.length; r++) {
    const id = values[r];
    if (!(Number.isInteger(id) && id >= 0 && id < examples)) {
      throw new RangeError(
        `kintsugi: exampleWeightedLoss: row ${r} of the batch has example id ${id}; ids must be whole numbers in [0, ${examples}) (option 'examples' is ${examples}); nothing was changed`,
      );
    }
    ids[r] = id;
  }
  return ids;
}

function allFinite(values: ArrayLike<number>): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}
