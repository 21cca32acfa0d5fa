/**
 * The loss-level stream (ALGORITHM.md, last section): one value weight per class of a classifier.
 * A class's crack is the mean loss of the batch's samples of that class; ϕ is gilded, normalized
 * and clamped exactly as the parameter stream's ϕ is, and the parameters descend
 * Σ_c w_c ϕ_c l_c with ϕ held constant: w_c = 1/C (`weighting: 'balanced'`) or the class's share
 * of the batch (`weighting: 'frequency'`, which is the plain mean loss while ϕ ≡ 1).
 *
 * Its options, the loss, the gilding, and (`ClassStream`) its bookkeeping inside an optimizer:
 * the state, the proposal of the training step in flight, and the saved form.
 */
import * as tf from '@tensorflow/tfjs-core';
import { gildGroup, makeRelative } from './kernel/reference';
import { NonFiniteGradientError } from './kernel/types';
import { checkChoice, checkNumber, CHOICES, Crack, mergeKnown, NonFinitePolicy, Normalize, NUMBER_RULES } from './options';
import { customBaseMissing, LossRecipe, missingLossError, readRecipe, recipeOf, SavedBase } from './reload';
import { checkValues, type NamedTensor } from './state';

/** A per-sample loss: returns one value per sample (trailing axes are averaged). */
export type PerSampleLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
export type BaseLoss = 'binaryCrossentropy' | 'categoricalCrossentropy' | PerSampleLoss;

export interface ClassPathwayOptions {
  /** β of the class stream. Default 0.05. */
  gildingRate?: number;
  /** `relative` (default): class losses divided by their mean, so β is scale-free. */
  crack?: Crack;
  /** γ, as in the parameter stream. Default 0. */
  annealing?: number;
  /** `mean` (default) keeps the mean class ϕ at 1. */
  normalize?: Normalize;
  /** Box for ϕ after normalization. Defaults 0.1 and 10. */
  phiMin?: number;
  phiMax?: number;
  /** A class absent from a batch: `keep` its last crack (default), or give it crack `zero` (the seeds' literal rule). */
  absentClass?: 'keep' | 'zero';
  /**
   * What ϕ ≡ 1 means. `balanced` (default): every class's mean loss counts equally, as with
   * inverse-frequency class weights. `frequency`: each class counts with its share of the batch,
   * so the stream starts from the plain mean loss and only gilding moves weight to a class.
   */
  weighting?: Weighting;
}

export type Weighting = 'balanced' | 'frequency';

export type ResolvedClassOptions = Required<ClassPathwayOptions>;

const CLASS_DEFAULTS: ResolvedClassOptions = {
  gildingRate: 0.05,
  crack: 'relative',
  annealing: 0,
  normalize: 'mean',
  phiMin: 0.1,
  phiMax: 10,
  absentClass: 'keep',
  weighting: 'balanced',
};

export function resolveClassOptions(options: ClassPathwayOptions = {}): ResolvedClassOptions {
  const o = mergeKnown('kintsugi', CLASS_DEFAULTS, options, 'valueWeightedLoss option');
  checkGildingOptions(o);
  checkChoice('absentClass', o.absentClass, ['keep', 'zero']);
  checkChoice('weighting', o.weighting, ['balanced', 'frequency']);
  return o;
}

/** The options the loss-level streams share with the parameter stream, checked by its rules. */
export function checkGildingOptions(o: Required<Pick<ClassPathwayOptions, 'gildingRate' | 'annealing' | 'phiMin' | 'phiMax' | 'crack' | 'normalize'>>): void {
  checkNumber('gildingRate', o.gildingRate, NUMBER_RULES.gildingRate);
  checkNumber('annealing', o.annealing, NUMBER_RULES.annealing);
  checkNumber('phiMin', o.phiMin, NUMBER_RULES.phiMin);
  checkNumber('phiMax', o.phiMax, NUMBER_RULES.phiMax);
  checkChoice('crack', o.crack, CHOICES.crack ?? []);
  checkChoice('normalize', o.normalize, CHOICES.normalize ?? []);
}

/** The class stream's recipe from a saved config (getConfig's `classStream`), every option checked. */
export function readSavedRecipe(saved: unknown): LossRecipe {
  const { base, options } = readRecipe(saved);
  return { base, options: resolveClassOptions(options as ClassPathwayOptions) };
}

/** Class value weights, the last crack seen per class, and the mean |Δϕ| of the step that made them. */
export interface ClassState {
  phi: Float32Array;
  crack: Float32Array;
  meanAbsDeltaPhi: number;
}

/** Per-sample loss of the named built-ins, as tfjs-layers defines them (clipped probabilities). */
export function perSampleLoss(base: BaseLoss, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  if (typeof base === 'function') return base(yTrue, yPred);
  const eps = 1e-7;
  const p = tf.clipByValue(yPred, eps, 1 - eps);
  if (base === 'binaryCrossentropy') {
    const ll = tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p))));
    return tf.neg(tf.mean(ll, -1));
  }
  return tf.neg(tf.sum(tf.mul(yTrue, tf.log(p)), -1));
}

/**
 * How many classes the targets hold, from their shape alone (nothing is read back): one column
 * (shape [batch] or [batch, 1]) holds 0/1 labels, two classes; C ≥ 2 columns hold one-hot rows, C
 * classes. 'binaryCrossentropy' takes one column and 'categoricalCrossentropy' one-hot rows, so
 * one-hot targets under the first, 0/1 under the second, multi-label targets (several 1s a row,
 * binaryCrossentropy over C sigmoid outputs) and targets of rank 3 or more are refused: the
 * stream needs exactly one class per sample, and would otherwise average the columns into one.
 */
function targetClasses(base: BaseLoss, shape: readonly number[]): number {
  const columns = shape.length <= 1 ? 1 : shape[shape.length - 1];
  const got = `got targets of shape [${shape.join(', ')}]`;
  if (shape.length > 2) {
    throw new RangeError(`kintsugi: valueWeightedLoss takes targets of shape [batch], [batch, 1] (0/1 labels) or [batch, classes] (one-hot rows); ${got}`);
  }
  if (base === 'binaryCrossentropy' && columns !== 1) {
    throw new RangeError(
      `kintsugi: valueWeightedLoss('binaryCrossentropy') takes one target column of 0/1 labels ([batch] or [batch, 1]); ${got}. ` +
        "For one-hot targets use valueWeightedLoss('categoricalCrossentropy'); multi-label targets (several 1s a row) are not supported: the class stream needs one class per sample",
    );
  }
  if (base === 'categoricalCrossentropy' && columns < 2) {
    throw new RangeError(
      `kintsugi: valueWeightedLoss('categoricalCrossentropy') takes one-hot targets of shape [batch, classes ≥ 2]; ${got}. For one column of 0/1 labels use valueWeightedLoss('binaryCrossentropy')`,
    );
  }
  return columns === 1 ? 2 : columns;
}

/** Class of each sample: y ≥ 0.5 for one column, else the arg-max of the (one-hot) row. */
function classOf(yTrue: tf.Tensor, classes: number): tf.Tensor1D {
  const batch = yTrue.shape[0] ?? 1;
  if (yTrue.rank <= 1 || yTrue.shape[yTrue.rank - 1] === 1) {
    return tf.cast(tf.greaterEqual(tf.reshape(yTrue, [batch]), 0.5), 'int32') as tf.Tensor1D;
  }
  return tf.argMax(tf.reshape(yTrue, [batch, classes]), -1) as tf.Tensor1D;
}

/**
 * Where the value-weighted loss gets its class weights. Outside a training step (evaluate,
 * validation, predict-time metrics) ϕ is only read (`phi`); in one (`training()` true) the
 * batch's class losses and counts gild it first (`gild`), and the loss uses the gilded ϕ.
 */
export interface ClassWeightSource {
  training(): boolean;
  /** The current ϕ of `classes` classes, a tensor the caller must not dispose. */
  phi(classes: number): tf.Tensor1D;
  /** Gilds ϕ with one batch; returns the gilded ϕ (a tensor the caller must not dispose). */
  gild(classes: number, classLoss: tf.Tensor1D, counts: tf.Tensor1D): tf.Tensor1D;
}

/**
 * The value-weighted loss, Σ_c w_c ϕ_c l_c with ϕ held constant. Nothing is read back from the
 * backend: in a training step the gilding runs as tensor ops inside the forward pass of a
 * `tf.customGrad` whose one input is the class losses, which the gradient tape does not record,
 * so ϕ depends on this batch's losses without any gradient flowing through it; the gradient of
 * l_c is dy · w_c ϕ_c, bitwise what tfjs's own gradient of the weighted sum gives.
 */
export function valueWeightedLossValue(
  base: BaseLoss,
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  weights: ClassWeightSource,
  weighting: Weighting = 'balanced',
): tf.Scalar {
  // Refused before any op runs: the shape says it all.
  const classes = targetClasses(base, yTrue.shape);
  return tf.tidy(() => {
    const batch = yTrue.shape[0] ?? 1;
    const losses = tf.mean(tf.reshape(perSampleLoss(base, yTrue, yPred), [batch, -1]), 1);
    const index = classOf(yTrue, classes);
    const mask = tf.cast(tf.oneHot(index, classes), 'float32');
    const counts = tf.sum(mask, 0) as tf.Tensor1D;
    const classLoss = tf.div(tf.reshape(tf.matMul(tf.reshape(losses, [1, batch]), mask), [classes]), tf.maximum(counts, 1)) as tf.Tensor1D;
    const share = weighting === 'balanced' ? tf.scalar(1 / classes) : tf.div(counts, batch);
    if (!weights.training()) return tf.sum(tf.mul(tf.mul(weights.phi(classes), share), classLoss)) as tf.Scalar;
    // Under tfjs's IS_TEST flag a customGrad's forward pass may leave no tensor behind (its leak
    // check would count the kept proposal), so there the gilding runs just before it: recorded on
    // the tape, but w reaches the loss only through the closure, so backprop prunes it. The same
    // ops on the same tensors: the same values, at the cost of the tape's copies.
    const early = tf.env().getBool('IS_TEST') ? tf.mul(weights.gild(classes, classLoss, counts), share) : null;
    const weighted = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
      const l = args[0] as tf.Tensor1D;
      const save = args[1] as tf.GradSaveFunc;
      const w = early ?? tf.mul(weights.gild(classes, l, counts), share);
      save([w]);
      return { value: tf.sum(tf.mul(w, l)) as tf.Scalar, gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
    });
    return weighted(classLoss);
  });
}

/**
 * The float64 reference of `gildClassTensors`: gilds a copy of `state` with one batch's class
 * losses and counts, with the parameter stream's `gildGroup`, and returns the proposed next
 * state. The class stream runs `gildClassTensors`; tests hold it to this within float32 rounding.
 */
export function gildClasses(
  state: ClassState,
  batch: { losses: Float32Array; counts: Float32Array },
  o: ResolvedClassOptions,
): ClassState {
  const C = state.phi.length;
  const crack = new Float32Array(C);
  for (let c = 0; c < C; c++) {
    const present = batch.counts[c] > 0;
    crack[c] = present ? batch.losses[c] : o.absentClass === 'keep' ? state.crack[c] : 0;
  }
  const cracks = Float64Array.from(crack);
  if (o.crack === 'relative') makeRelative(cracks, C);
  const phi = state.phi.slice();
  const meanAbsDeltaPhi = gildGroup(phi, cracks, C, {
    annealing: o.annealing,
    gildingRate: o.gildingRate,
    normalizeMean: o.normalize === 'mean',
    phiMin: o.phiMin,
    phiMax: o.phiMax,
  });
  return { phi, crack, meanAbsDeltaPhi };
}

/**
 * The class stream's state as tensors on the backend: ϕ and the last crack per class, and ϕ as
 * it was before the gilding that made this ϕ (from which `snapshot` computes the mean |Δϕ| of that
 * step, in float64 as `gildGroup` does, when it is inspected).
 */
export type ClassTensors = {
  phi: tf.Tensor1D;
  crack: tf.Tensor1D;
  previous: tf.Tensor1D;
  /** A proposal under nonFinite 'throw': whether its ϕ and crack are all finite (read only when the step starts). */
  finite?: tf.Tensor;
};

/**
 * `gildClasses` as tensor ops, so the state never leaves the backend: the same steps in the same
 * order (the absent-class rule, the relative crack, a = max(0, 1 − γϕ), ϕ̂ = ϕ + (βa)l, the
 * normalization P/Σϕ̂ applied only when Σϕ̂ is positive and finite, the clamp), each rounded to
 * float32 where the reference keeps float64 until it stores ϕ. New tensors; `state` is left as
 * it is.
 */
export function gildClassTensors(state: ClassTensors, classLoss: tf.Tensor1D, counts: tf.Tensor1D, o: ResolvedClassOptions): ClassTensors {
  return tf.tidy(() => {
    const C = state.phi.size;
    const crack = tf.where(tf.greater(counts, 0), classLoss, o.absentClass === 'keep' ? state.crack : tf.zerosLike(classLoss)) as tf.Tensor1D;
    let cracks: tf.Tensor = crack;
    if (o.crack === 'relative') {
      // makeRelative: l · (C / Σ l) when Σ l > 0, else unchanged (× 1).
      const sum = tf.sum(crack);
      cracks = tf.mul(crack, tf.where(tf.greater(sum, 0), tf.div(C, sum), 1));
    }
    // βa with a = max(0, 1 − γϕ). With γ = 0 and a finite phiMax, the clamp keeps ϕ finite (or
    // NaN), so a is exactly 1 (a NaN ϕ gives a NaN ϕ̂ either way) and βa is β: three ops fewer, the
    // same values. Only a restored ϕ of ±Infinity, which this stream cannot produce with a finite
    // phiMax, would take the other branch's NaN.
    const betaA = o.annealing === 0 && Number.isFinite(o.phiMax)
      ? tf.scalar(o.gildingRate)
      : tf.mul(o.gildingRate, tf.maximum(0, tf.sub(1, tf.mul(o.annealing, state.phi))));
    const hat = tf.add(state.phi, tf.mul(betaA, cracks));
    let scaled: tf.Tensor = hat;
    if (o.normalize === 'mean') {
      const sumHat = tf.sum(hat);
      const usable = tf.logicalAnd(tf.greater(sumHat, 0), tf.isFinite(sumHat));
      scaled = tf.mul(hat, tf.where(usable, tf.div(C, sumHat), 1));
    }
    // min(phiMax, max(phiMin, x)); phiMin ≤ 1 ≤ phiMax, so one clip is the same.
    const phi = tf.clipByValue(scaled, o.phiMin, o.phiMax) as tf.Tensor1D;
    return { phi, crack, previous: tf.clone(state.phi) };
  });
}

/** The mean |Δϕ| of the gilding from `previous` to `phi`, as `gildGroup` computes it. */
function meanAbsDelta(phi: Float32Array, previous: Float32Array): number {
  let delta = 0;
  for (let q = 0; q < phi.length; q++) delta += Math.abs(phi[q] - previous[q]);
  return phi.length > 0 ? delta / phi.length : 0;
}

/** Weight-name prefix of the loss-level stream's state in getWeights/setWeights. */
const CLASS_PREFIX = 'kintsugi/classes/';

/** Whether a saved weight belongs to the class stream (`kintsugi/classes/phi`, `…/crack`). */
export function isClassWeight(entry: NamedTensor): boolean {
  return entry.name.startsWith(CLASS_PREFIX);
}

function keepAll(t: ClassTensors): ClassTensors {
  tf.keep(t.phi);
  tf.keep(t.crack);
  tf.keep(t.previous);
  if (t.finite) tf.keep(t.finite);
  return t;
}

function disposeAll(t: ClassTensors | null): void {
  if (t) tf.dispose(t.finite ? [t.phi, t.crack, t.previous, t.finite] : [t.phi, t.crack, t.previous]);
}

/**
 * One batch's gilding under the nonFinite policy, as tensor ops (nothing read back): a NaN or
 * ±Infinity class loss or crack makes a ϕ or crack that is not finite. Under 'skip' that batch's
 * proposal is the state as it was (ϕ unchanged); under 'throw' the proposal carries a flag that
 * the optimizer reads when the step starts, and throws on (`ClassStream.checkFinite`).
 */
function gildGuarded(state: ClassTensors, classLoss: tf.Tensor1D, counts: tf.Tensor1D, o: ResolvedClassOptions, policy: NonFinitePolicy): ClassTensors {
  return tf.tidy(() => {
    const next = gildClassTensors(state, classLoss, counts, o);
    const finite = tf.all(tf.isFinite(tf.concat([next.phi, next.crack])));
    if (policy === 'throw') return { ...next, finite };
    return {
      phi: tf.where(finite, next.phi, state.phi) as tf.Tensor1D,
      crack: tf.where(finite, next.crack, state.crack) as tf.Tensor1D,
      previous: tf.where(finite, next.previous, state.previous) as tf.Tensor1D,
    };
  });
}

/** A state that has not gilded yet: ϕ as given, no Δϕ. */
function stateFrom(phi: tf.Tensor1D, crack: tf.Tensor1D): ClassTensors {
  return keepAll({ phi, crack, previous: tf.clone(phi) });
}

/**
 * The class stream of one optimizer. ϕ_c may gild only while a training step computes its
 * gradients (`training`); the gilded ϕ is a proposal, which the optimizer takes when its step
 * starts (`takeProposal`) and keeps only when the step succeeds (`commit`; else `discard`).
 * State and proposal are tensors on the backend, read back only by `snapshot`, `phiValues`
 * (phiStats, classValueWeights) and saved by `savedWeights` as copies on the backend.
 */
export class ClassStream {
  private state: ClassTensors | null = null;
  /** The gilded ϕ of the current training step, kept once the step succeeds. */
  private proposal: ClassTensors | null = null;
  /** True while `minimize` computes gradients: the only time the class stream may gild. */
  private inTrainingStep = false;
  /** How the loss that last trained, or was last made, was made: what getConfig saves. */
  private recipe: LossRecipe | null = null;
  /** The recipe of the config this optimizer was restored from: valueWeightedLoss's defaults. */
  private restoredRecipe: LossRecipe | null = null;
  /** Made from a saved config, so its model may have lost a function loss on the way. */
  private restored = false;

  /** `nonFinite` of the optimizer: what a batch with a NaN or ±Infinity class loss does. */
  constructor(private readonly nonFinite: NonFinitePolicy = 'skip') {}

  /** Runs `computeGradients` as a training step. */
  training<T>(computeGradients: () => T): T {
    this.inTrainingStep = true;
    try {
      return computeGradients();
    } finally {
      this.inTrainingStep = false;
    }
  }

  /**
   * `optimizer.valueWeightedLoss(base, options)`: checks both, then returns the loss. After a
   * restore from a saved config (`restoreRecipe`), what is not given is taken from the saved
   * recipe; a saved function base cannot be, and must be given again.
   */
  loss(base: BaseLoss | undefined, options: ClassPathwayOptions | undefined): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar {
    const saved = this.restoredRecipe;
    if (base === undefined && saved?.base === 'custom') throw customBaseMissing();
    const b: BaseLoss = base ?? (saved ? (saved.base as Exclude<SavedBase, 'custom'>) : 'binaryCrossentropy');
    if (typeof b !== 'function' && b !== 'binaryCrossentropy' && b !== 'categoricalCrossentropy') {
      throw new RangeError(
        `kintsugi: valueWeightedLoss base must be 'binaryCrossentropy', 'categoricalCrossentropy' or a per-sample loss function; got ${JSON.stringify(b)}`,
      );
    }
    const resolved = resolveClassOptions(options ?? saved?.options ?? {});
    const recipe = recipeOf(b, resolved);
    this.recipe = recipe;
    const source: ClassWeightSource = {
      training: () => this.inTrainingStep,
      phi: (classes) => this.stateOf(classes).phi,
      gild: (classes, classLoss, counts) => {
        const next = keepAll(gildGuarded(this.stateOf(classes), classLoss, counts, resolved, this.nonFinite));
        disposeAll(this.proposal);
        this.proposal = next;
        // The loss that trains is the one a save records.
        this.recipe = recipe;
        return next.phi;
      },
    };
    return (yTrue, yPred) => valueWeightedLossValue(b, yTrue, yPred, source, resolved.weighting);
  }

  /** How the loss that last trained (or was last made) was made, for getConfig; null when none was. */
  get lossRecipe(): LossRecipe | null {
    return this.recipe;
  }

  /**
   * This optimizer was made from a saved config (fromConfig), with the class stream's recipe if
   * that config had one: `valueWeightedLoss()` then makes that loss again.
   */
  restoreRecipe(recipe: LossRecipe | null): void {
    this.restored = true;
    this.recipe = recipe;
    this.restoredRecipe = recipe;
  }

  /** `e`, or the error that says how to compile a loaded model again when `e` says it has no loss (src/reload.ts). */
  explainMissingLoss(e: unknown): unknown {
    return missingLossError(e, this.restored, this.recipe);
  }

  /** The state for `classes` classes: a fresh one (ϕ ≡ 1, no crack) when there is none or its size differs. */
  private stateOf(classes: number): ClassTensors {
    if (this.state == null || this.state.phi.size !== classes) {
      disposeAll(this.state);
      this.state = tf.tidy(() => stateFrom(tf.ones([classes]), tf.zeros([classes])));
    }
    return this.state;
  }

  /** Takes the pending proposal (null if none): any error in the step that follows drops it. */
  takeProposal(): ClassTensors | null {
    const proposal = this.proposal;
    this.proposal = null;
    return proposal;
  }

  /**
   * Under nonFinite 'throw': throws if the proposal's ϕ or crack is not finite (reads one flag
   * back); the optimizer then drops the proposal, so nothing changes.
   */
  checkFinite(proposal: ClassTensors | null): void {
    if (proposal?.finite == null) return;
    if (!proposal.finite.dataSync()[0]) {
      throw new NonFiniteGradientError(
        'kintsugi/classes',
        "kintsugi: the class stream's loss or crack contains NaN or Infinity in this batch; nothing was changed (nonFinite: 'throw')",
      );
    }
  }

  /** The step failed: its proposal is dropped. */
  discard(proposal: ClassTensors | null): void {
    disposeAll(proposal);
  }

  /** The step succeeded: its proposal becomes the state. */
  commit(proposal: ClassTensors | null): void {
    if (!proposal) return;
    disposeAll(this.state);
    if (proposal.finite) {
      tf.dispose(proposal.finite);
      delete proposal.finite;
    }
    this.state = proposal;
  }

  /** Whether the stream has a state (it has run, or was restored). */
  get active(): boolean {
    return this.state != null;
  }

  /** A copy of ϕ_c read back from the backend, or null before the stream has run. */
  phiValues(): Float32Array | null {
    return this.state ? (this.state.phi.dataSync() as Float32Array).slice() : null;
  }

  /** The state read back from the backend (for phiStats), or null before the stream has run. */
  snapshot(): ClassState | null {
    if (!this.state) return null;
    const phi = (this.state.phi.dataSync() as Float32Array).slice();
    const previous = this.state.previous.dataSync() as Float32Array;
    return { phi, crack: (this.state.crack.dataSync() as Float32Array).slice(), meanAbsDeltaPhi: meanAbsDelta(phi, previous) };
  }

  /** `kintsugi/classes/phi` and `kintsugi/classes/crack` as new tensors (copies on the backend); none before the stream has run. */
  savedWeights(): NamedTensor[] {
    if (!this.state) return [];
    return [
      { name: `${CLASS_PREFIX}phi`, tensor: tf.clone(this.state.phi) },
      { name: `${CLASS_PREFIX}crack`, tensor: tf.clone(this.state.crack) },
    ];
  }

  /**
   * Checks the class entries of setWeights (both names, once each, nothing else, one length, ϕ
   * finite and ≥ 0, crack finite) and returns the state they make (none: null), changing nothing.
   */
  async read(entries: readonly NamedTensor[]): Promise<ClassTensors | null> {
    return readClassState(entries);
  }

  /** Replaces the state with one from `read` (null: no state). */
  restore(restored: ClassTensors | null): void {
    this.reset();
    this.state = restored;
  }

  reset(): void {
    disposeAll(this.state);
    disposeAll(this.proposal);
    this.state = null;
    this.proposal = null;
  }
}

/** The class entries of setWeights, checked, as state tensors: float32 copies on the backend. */
async function readClassState(entries: readonly NamedTensor[]): Promise<ClassTensors | null> {
  if (entries.length === 0) return null;
  const known = [`${CLASS_PREFIX}phi`, `${CLASS_PREFIX}crack`];
  for (const w of entries) {
    if (!known.includes(w.name)) {
      throw new RangeError(`kintsugi: setWeights: unknown class stream entry '${w.name}'; the class stream saves ${known.map((k) => `'${k}'`).join(' and ')}`);
    }
    if (entries.filter((e) => e.name === w.name).length > 1) throw new RangeError(`kintsugi: setWeights: '${w.name}' appears twice`);
  }
  const phi = entries.find((w) => w.name === `${CLASS_PREFIX}phi`);
  const crack = entries.find((w) => w.name === `${CLASS_PREFIX}crack`);
  if (phi == null || crack == null || phi.tensor.size !== crack.tensor.size || phi.tensor.size === 0) {
    throw new RangeError(`kintsugi: setWeights needs both '${CLASS_PREFIX}phi' and '${CLASS_PREFIX}crack' of one length`);
  }
  checkValues(phi.name, Float32Array.from(await phi.tensor.data()), true);
  checkValues(crack.name, Float32Array.from(await crack.tensor.data()), false);
  const copy = (t: tf.Tensor): tf.Tensor1D => tf.reshape(tf.cast(t, 'float32'), [t.size]);
  return tf.tidy(() => stateFrom(copy(phi.tensor), copy(crack.tensor)));
}
