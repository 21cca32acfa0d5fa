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
import { checkChoice, checkNumber, CHOICES, Crack, mergeKnown, Normalize, NUMBER_RULES } from './options';
import type { NamedTensor } from './state';

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
  checkNumber('gildingRate', o.gildingRate, NUMBER_RULES.gildingRate);
  checkNumber('annealing', o.annealing, NUMBER_RULES.annealing);
  checkNumber('phiMin', o.phiMin, NUMBER_RULES.phiMin);
  checkNumber('phiMax', o.phiMax, NUMBER_RULES.phiMax);
  checkChoice('crack', o.crack, CHOICES.crack ?? []);
  checkChoice('normalize', o.normalize, CHOICES.normalize ?? []);
  checkChoice('absentClass', o.absentClass, ['keep', 'zero']);
  checkChoice('weighting', o.weighting, ['balanced', 'frequency']);
  return o;
}

/** Class value weights, the last crack seen per class, and the mean |Δϕ| of the step that made them. */
export interface ClassState {
  phi: Float32Array;
  crack: Float32Array;
  meanAbsDeltaPhi: number;
}

/** Per-sample loss of the named built-ins, as tfjs-layers defines them (clipped probabilities). */
function perSampleLoss(base: BaseLoss, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  if (typeof base === 'function') return base(yTrue, yPred);
  const eps = 1e-7;
  const p = tf.clipByValue(yPred, eps, 1 - eps);
  if (base === 'binaryCrossentropy') {
    const ll = tf.add(tf.mul(yTrue, tf.log(p)), tf.mul(tf.sub(1, yTrue), tf.log(tf.sub(1, p))));
    return tf.neg(tf.mean(ll, -1));
  }
  return tf.neg(tf.sum(tf.mul(yTrue, tf.log(p)), -1));
}

/** Class of each sample: y ≥ 0.5 for a single output, else the arg-max of a one-hot row. */
function classOf(yTrue: tf.Tensor): { index: tf.Tensor1D; classes: number } {
  const last = yTrue.rank === 0 ? 1 : yTrue.shape[yTrue.rank - 1];
  const batch = yTrue.shape[0] ?? 1;
  if (yTrue.rank <= 1 || last === 1) {
    return { index: tf.cast(tf.greaterEqual(tf.reshape(yTrue, [batch]), 0.5), 'int32') as tf.Tensor1D, classes: 2 };
  }
  return { index: tf.argMax(tf.reshape(yTrue, [batch, last]), -1) as tf.Tensor1D, classes: last };
}

/**
 * The value-weighted loss. During a training step (`gild` returns a proposal) the class cracks
 * of this batch gild ϕ first and the returned loss uses the gilded ϕ; otherwise (evaluate,
 * validation, predict-time metrics) ϕ is only read.
 */
export function valueWeightedLossValue(
  base: BaseLoss,
  yTrue: tf.Tensor,
  yPred: tf.Tensor,
  phiFor: (classes: number, cracks: () => { losses: Float32Array; counts: Float32Array }) => Float32Array,
  weighting: Weighting = 'balanced',
): tf.Scalar {
  return tf.tidy(() => {
    const batch = yTrue.shape[0] ?? 1;
    const losses = tf.mean(tf.reshape(perSampleLoss(base, yTrue, yPred), [batch, -1]), 1);
    const { index, classes } = classOf(yTrue);
    const mask = tf.cast(tf.oneHot(index, classes), 'float32');
    const counts = tf.sum(mask, 0);
    const classLoss = tf.div(tf.reshape(tf.matMul(tf.reshape(losses, [1, batch]), mask), [classes]), tf.maximum(counts, 1));
    const phi = phiFor(classes, () => {
      // One read from the device for both, not two.
      const both = tf.concat([classLoss, counts]).dataSync() as Float32Array;
      return { losses: both.subarray(0, classes), counts: both.subarray(classes) };
    });
    const share = weighting === 'balanced' ? tf.scalar(1 / classes) : tf.div(counts, batch);
    return tf.sum(tf.mul(tf.mul(tf.tensor1d(phi), share), classLoss)) as tf.Scalar;
  });
}

/** Gilds a copy of `state` with one batch's class losses; returns the proposed next state. */
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

export function freshClassState(classes: number): ClassState {
  return { phi: new Float32Array(classes).fill(1), crack: new Float32Array(classes), meanAbsDeltaPhi: 0 };
}

/** Weight-name prefix of the loss-level stream's state in getWeights/setWeights. */
const CLASS_PREFIX = 'kintsugi/classes/';

/** Whether a saved weight belongs to the class stream (`kintsugi/classes/phi`, `…/crack`). */
export function isClassWeight(entry: NamedTensor): boolean {
  return entry.name.startsWith(CLASS_PREFIX);
}

/**
 * The class stream of one optimizer. ϕ_c may gild only while a training step computes its
 * gradients (`training`); the gilded ϕ is a proposal, which the optimizer takes when its step
 * starts (`takeProposal`) and keeps only when the step succeeds (`commit`).
 */
export class ClassStream {
  private state: ClassState | null = null;
  /** The gilded ϕ of the current training step, kept once the step succeeds. */
  private proposal: ClassState | null = null;
  /** True while `minimize` computes gradients: the only time the class stream may gild. */
  private inTrainingStep = false;

  /** Runs `computeGradients` as a training step. */
  training<T>(computeGradients: () => T): T {
    this.inTrainingStep = true;
    try {
      return computeGradients();
    } finally {
      this.inTrainingStep = false;
    }
  }

  /** `optimizer.valueWeightedLoss(base, options)`: checks both, then returns the loss. */
  loss(base: BaseLoss, options: ClassPathwayOptions): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar {
    if (typeof base !== 'function' && base !== 'binaryCrossentropy' && base !== 'categoricalCrossentropy') {
      throw new RangeError(
        `kintsugi: valueWeightedLoss base must be 'binaryCrossentropy', 'categoricalCrossentropy' or a per-sample loss function; got ${JSON.stringify(base)}`,
      );
    }
    const resolved = resolveClassOptions(options);
    return (yTrue, yPred) =>
      valueWeightedLossValue(base, yTrue, yPred, (classes, readBatch) => {
        if (this.state == null || this.state.phi.length !== classes) this.state = freshClassState(classes);
        if (!this.inTrainingStep) return this.state.phi;
        this.proposal = gildClasses(this.state, readBatch(), resolved);
        return this.proposal.phi;
      }, resolved.weighting);
  }

  /** Takes the pending proposal (null if none): any error in the step that follows drops it. */
  takeProposal(): ClassState | null {
    const proposal = this.proposal;
    this.proposal = null;
    return proposal;
  }

  /** The step succeeded: its proposal becomes the state. */
  commit(proposal: ClassState | null): void {
    if (proposal) this.state = proposal;
  }

  /** The class state, or null before the stream has run. */
  get current(): ClassState | null {
    return this.state;
  }

  /** `kintsugi/classes/phi` and `kintsugi/classes/crack` as new tensors; none before the stream has run. */
  savedWeights(): NamedTensor[] {
    if (!this.state) return [];
    return [
      { name: `${CLASS_PREFIX}phi`, tensor: tf.tensor1d(this.state.phi) },
      { name: `${CLASS_PREFIX}crack`, tensor: tf.tensor1d(this.state.crack) },
    ];
  }

  /** Restores the state from the class entries of setWeights (none: no state). */
  async restore(entries: readonly NamedTensor[]): Promise<void> {
    this.state = await readClassState(entries);
    this.proposal = null;
  }

  reset(): void {
    this.state = null;
    this.proposal = null;
  }
}

async function readClassState(entries: readonly NamedTensor[]): Promise<ClassState | null> {
  if (entries.length === 0) return null;
  const phi = entries.find((w) => w.name === `${CLASS_PREFIX}phi`);
  const crack = entries.find((w) => w.name === `${CLASS_PREFIX}crack`);
  if (phi == null || crack == null || phi.tensor.size !== crack.tensor.size) {
    throw new RangeError(`kintsugi: setWeights needs both '${CLASS_PREFIX}phi' and '${CLASS_PREFIX}crack' of one length`);
  }
  return { phi: Float32Array.from(await phi.tensor.data()), crack: Float32Array.from(await crack.tensor.data()), meanAbsDeltaPhi: 0 };
}
