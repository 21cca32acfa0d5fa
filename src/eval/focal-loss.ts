/**
 * Binary focal loss (Lin et al. 2017, "Focal Loss for Dense Object Detection") for tfjs.
 *
 * tfjs ships none, and it is the standard loss-level answer to class imbalance that Kintsugi's
 * rare-event claim has to be measured against: it down-weights the easy, well-classified
 * examples (mostly the majority class) by (1 − p_t)^γ and re-balances the classes by α_t.
 *
 *   FL(p_t) = −α_t (1 − p_t)^γ log(p_t),   p_t = p if y = 1 else 1 − p,   α_t = α if y = 1 else 1 − α
 *
 * Written in the form that also accepts soft labels y ∈ [0, 1] (label smoothing):
 * `α_t = yα + (1 − y)(1 − α)`, `1 − p_t = y(1 − p) + (1 − y)p`, and `−log p_t` is replaced by the
 * binary cross-entropy; for y ∈ {0, 1} this is exactly the formula above.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkNumber, mergeKnown, show } from '../options';

export interface FocalLossOptions {
  /** γ ≥ 0, the focusing parameter: how much easy examples are down-weighted. 0 gives α-weighted
   * cross-entropy. Default 2 (the paper's choice). */
  gamma?: number;
  /** α ∈ [0, 1], the weight of the positive class (negatives get 1 − α). Default 0.25 (the paper's
   * choice together with γ = 2; note that it weights positives *less*, because γ already removes
   * most of the negatives' loss). Use 0.5 for no class weighting (then FL = ½·weighted CE). */
  alpha?: number;
  /** Whether `yPred` holds logits (pre-sigmoid) rather than probabilities. Logits are more stable:
   * the loss of a confidently wrong prediction is not capped by clipping. Default false. */
  fromLogits?: boolean;
  /** Probabilities are clipped to [ε, 1 − ε] before the log, and 1 − p_t is kept ≥ ε so that the
   * gradient of (1 − p_t)^γ stays finite for γ < 1. Default 1e-7. Must lie in (0, 0.5). */
  epsilon?: number;
}

type Resolved = Required<FocalLossOptions>;

/** A loss as `model.compile({loss})` and `optimizer.minimize` accept it. */
export type FocalLossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar;
/** A loss that keeps one value per sample (see {@link focalLossPerSample}). */
export type FocalLossPerSampleFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

const DEFAULTS: Readonly<Resolved> = Object.freeze({ gamma: 2, alpha: 0.25, fromLogits: false, epsilon: 1e-7 });

function resolve(fn: string, options: FocalLossOptions | undefined | null): Resolved {
  const o = mergeKnown(fn, DEFAULTS, options);
  checkNumber('gamma', o.gamma, { min: 0, max: Infinity }, fn);
  checkNumber('alpha', o.alpha, { min: 0, max: 1 }, fn);
  checkNumber('epsilon', o.epsilon, { min: 0, max: 0.5, minOpen: true, maxOpen: true }, fn);
  if (typeof o.fromLogits !== 'boolean') {
    throw new TypeError(`${fn}: option 'fromLogits' must be true or false; got ${show(o.fromLogits)}`);
  }
  return o;
}

/** The loss of every element, same shape as the inputs. Caller owns the tidy scope. */
function elementwise(fn: string, o: Resolved, yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  // [b] against [b, 1] would broadcast to [b, b] and give a plausible, wrong number.
  if (!tf.util.arraysEqual(yTrue.shape, yPred.shape)) {
    throw new RangeError(
      `${fn}: yTrue and yPred must have the same shape; got [${yTrue.shape.join(', ')}] and [${yPred.shape.join(', ')}]`,
    );
  }
  const y = tf.cast(yTrue, 'float32');
  const pred = tf.cast(yPred, 'float32');
  let p: tf.Tensor;
  let ce: tf.Tensor;
  if (o.fromLogits) {
    // BCE with logits z: max(z, 0) − zy + log(1 + e^−|z|), which never overflows.
    p = tf.sigmoid(pred);
    ce = tf.add(tf.sub(tf.relu(pred), tf.mul(pred, y)), tf.log1p(tf.exp(tf.neg(tf.abs(pred)))));
  } else {
    p = tf.clipByValue(pred, o.epsilon, 1 - o.epsilon);
    ce = tf.neg(tf.add(tf.mul(y, tf.log(p)), tf.mul(tf.sub(1, y), tf.log(tf.sub(1, p)))));
  }
  // α_t = (1 − α) + y(2α − 1)
  const alphaT = tf.add(1 - o.alpha, tf.mul(y, 2 * o.alpha - 1));
  let loss = tf.mul(alphaT, ce);
  if (o.gamma !== 0) {
    // 1 − p_t = y(1 − p) + (1 − y)p = y + p − 2yp
    const oneMinusPt = tf.sub(tf.add(y, p), tf.mul(tf.mul(y, p), 2));
    const modulating = tf.pow(tf.clipByValue(oneMinusPt, o.epsilon, 1), tf.scalar(o.gamma));
    loss = tf.mul(modulating, loss);
  }
  return loss;
}

/**
 * Binary focal loss, averaged over every element: a drop-in `loss` for
 * `model.compile({loss: focalLoss(), optimizer})` on a model with sigmoid outputs (or linear
 * outputs with `fromLogits: true`). `yTrue` and `yPred` must have the same shape; labels are 0/1
 * (soft labels in [0, 1] also work).
 *
 * With `fit({classWeight})`, use {@link focalLossPerSample} instead: tfjs multiplies the loss by
 * each sample's class weight before averaging, and a loss already averaged to a scalar turns that
 * into a mere rescaling by the batch's mean weight, silently losing the class weighting.
 *
 * @throws RangeError/TypeError naming the option when an option is out of range or unknown.
 */
export function focalLoss(options: FocalLossOptions = {}): FocalLossFn {
  const o = resolve('focalLoss', options);
  const loss = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Scalar =>
    tf.tidy(() => tf.mean(elementwise('focalLoss', o, yTrue, yPred)) as tf.Scalar);
  // tfjs-layers names a function loss by its `name` in logs and errors.
  Object.defineProperty(loss, 'name', { value: 'focalLoss' });
  return loss;
}

/**
 * Binary focal loss per sample: the mean over the last axis for inputs of rank ≥ 2 (shape
 * `[batch]` for `[batch, outputs]`), the element itself for rank 0 or 1. This is the shape
 * tfjs-layers' own losses have, so it is the one to give `model.compile({loss})` when `fit` gets
 * a `classWeight` (tfjs weights each sample's loss, then averages). tfjs `fit` has no
 * `sampleWeight`; with this, a custom training loop can weight samples itself
 * (`tf.mean(tf.mul(perSample(y, p), w))`).
 */
export function focalLossPerSample(options: FocalLossOptions = {}): FocalLossPerSampleFn {
  const o = resolve('focalLossPerSample', options);
  const loss = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor =>
    tf.tidy(() => {
      const e = elementwise('focalLossPerSample', o, yTrue, yPred);
      return e.rank >= 2 ? tf.mean(e, -1) : e;
    });
  Object.defineProperty(loss, 'name', { value: 'focalLossPerSample' });
  return loss;
}
