/**
 * Ranking metrics for binary classifiers on rare events, in plain TypeScript (no tfjs).
 *
 * tfjs ships no precision-recall AUC, and accuracy or ROC-AUC alone flatter a model when
 * positives are 1% of the data: these are the numbers the rare-event benchmarks report.
 *
 * Conventions shared by every function here:
 * - `labels` holds 0 (negative) or 1 (positive); `scores` holds any real numbers, higher meaning
 *   "more likely positive" (probabilities, logits, anomaly scores). ±Infinity is allowed.
 * - A threshold t predicts positive for `score >= t`. The thresholds considered are the distinct
 *   scores, so samples with equal scores are always flagged together: a tie can never be split
 *   in whichever way happens to help the metric.
 * - A metric that is undefined for the input (no positives for average precision and the
 *   recall-based metrics; only one class for ROC-AUC and recall at a false-positive rate)
 *   returns NaN rather than throwing, so that a benchmark loop over many small folds records
 *   the hole instead of dying in the middle. Check with `Number.isNaN`.
 * - Malformed input (length mismatch, a label other than 0/1, a NaN score) throws, naming the
 *   offending index and value.
 */

/** One point per distinct score, from the highest score down. */
interface Curve {
  /** The distinct scores, descending. */
  thresholds: Float64Array;
  /** Positives with `score >= thresholds[k]`. */
  tp: Float64Array;
  /** Negatives with `score >= thresholds[k]`. */
  fp: Float64Array;
  /** All positives. */
  positives: number;
  /** All negatives. */
  negatives: number;
}

function checkInputs(fn: string, labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  if (labels == null || typeof labels.length !== 'number') {
    throw new TypeError(`${fn}: labels must be an array-like of 0/1 numbers; got ${String(labels)}`);
  }
  if (scores == null || typeof scores.length !== 'number') {
    throw new TypeError(`${fn}: scores must be an array-like of numbers; got ${String(scores)}`);
  }
  if (labels.length !== scores.length) {
    throw new RangeError(
      `${fn}: labels and scores must have the same length; got ${labels.length} labels and ${scores.length} scores`,
    );
  }
  const n = labels.length;
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (l !== 0 && l !== 1) {
      throw new RangeError(`${fn}: labels must be 0 or 1; labels[${i}] is ${String(l)}`);
    }
    const s = scores[i];
    if (typeof s !== 'number' || Number.isNaN(s)) {
      throw new RangeError(`${fn}: scores must be numbers, not NaN; scores[${i}] is ${String(s)}`);
    }
  }
  return n;
}

function checkFraction(fn: string, name: string, value: number): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new RangeError(`${fn}: ${name} must be a number in [0, 1]; got ${String(value)}`);
  }
}

/** Sorts once and counts, per distinct score, how many positives and negatives lie at or above it. */
function buildCurve(fn: string, labels: ArrayLike<number>, scores: ArrayLike<number>): Curve {
  const n = checkInputs(fn, labels, scores);
  const order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  // Descending. Infinity − Infinity is NaN, which `|| 0` turns into "equal", as a tie should be;
  // -0 and +0 compare equal too: they are one threshold.
  order.sort((a, b) => (scores[b] as number) - (scores[a] as number) || 0);

  const thresholds: number[] = [];
  const tp: number[] = [];
  const fp: number[] = [];
  let cumTp = 0;
  let cumFp = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k] as number;
    if (labels[i] === 1) cumTp += 1;
    else cumFp += 1;
    const s = scores[i] as number;
    const next = k + 1 < n ? (scores[order[k + 1] as number] as number) : NaN;
    // Close the group only after its last member, so equal scores share one point.
    if (k + 1 === n || next !== s) {
      thresholds.push(s);
      tp.push(cumTp);
      fp.push(cumFp);
    }
  }
  return {
    thresholds: Float64Array.from(thresholds),
    tp: Float64Array.from(tp),
    fp: Float64Array.from(fp),
    positives: cumTp,
    negatives: cumFp,
  };
}

/**
 * Average precision: the area under the precision-recall curve, step-wise as scikit-learn's
 * `average_precision_score` defines it, `AP = Σₙ (Rₙ − Rₙ₋₁) Pₙ` over the distinct scores from
 * the highest down (R₀ = 0). No interpolation, so it is not the trapezoidal PR-AUC, which is
 * optimistic. A random ranker scores about the prevalence; a perfect one scores 1.
 *
 * @returns AP in [0, 1], or NaN when there are no positives (recall is undefined).
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const c = buildCurve('averagePrecision', labels, scores);
  if (c.positives === 0) return NaN;
  let ap = 0;
  let prevTp = 0;
  for (let k = 0; k < c.thresholds.length; k++) {
    const tp = c.tp[k] as number;
    const fp = c.fp[k] as number;
    // Groups that add no positive add no recall, so they add nothing (and cannot divide by zero).
    if (tp > prevTp) ap += (tp - prevTp) * (tp / (tp + fp));
    prevTp = tp;
  }
  // One division at the end: a perfect ranking sums P ones, so it gives exactly 1, not 1 + ε.
  return ap / c.positives;
}

/**
 * Area under the ROC curve: the probability that a random positive scores higher than a random
 * negative, a tie counting 1/2 (the Mann-Whitney statistic; equal to the trapezoidal area).
 *
 * @returns AUC in [0, 1], or NaN when either class is absent.
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const c = buildCurve('rocAuc', labels, scores);
  if (c.positives === 0 || c.negatives === 0) return NaN;
  // Each negative wins against the positives strictly above it and half-wins against its ties.
  let pairs = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let k = 0; k < c.thresholds.length; k++) {
    const tp = c.tp[k] as number;
    const fp = c.fp[k] as number;
    pairs += (fp - prevFp) * (prevTp + (tp - prevTp) / 2);
    prevTp = tp;
    prevFp = fp;
  }
  return pairs / (c.positives * c.negatives);
}

/**
 * The highest recall reached at any threshold whose precision is at least `minPrecision`
 * ("how many frauds can we catch if at most 1 − minPrecision of our alerts may be false?").
 *
 * @param minPrecision in [0, 1].
 * @returns recall in [0, 1]; 0 when no threshold is precise enough (flag nothing); NaN when
 *   there are no positives.
 */
export function recallAtPrecision(
  labels: ArrayLike<number>,
  scores: ArrayLike<number>,
  minPrecision: number,
): number {
  checkFraction('recallAtPrecision', 'minPrecision', minPrecision);
  const c = buildCurve('recallAtPrecision', labels, scores);
  if (c.positives === 0) return NaN;
  let best = 0;
  for (let k = 0; k < c.thresholds.length; k++) {
    const tp = c.tp[k] as number;
    const fp = c.fp[k] as number;
    // Compare tp ≥ minPrecision·(tp+fp) rather than the quotient, so 0.5 ≥ 0.5 is not lost to rounding.
    if (tp >= minPrecision * (tp + fp) && tp / c.positives > best) best = tp / c.positives;
  }
  return best;
}

/**
 * The highest recall (true-positive rate) reached at any threshold whose false-positive rate is
 * at most `maxFpr` ("how many frauds can we catch if we may bother 0.1% of honest customers?").
 *
 * @param maxFpr in [0, 1].
 * @returns recall in [0, 1]; 0 when even the highest threshold has too many false positives;
 *   NaN when either class is absent (recall or the false-positive rate is undefined).
 */
export function recallAtFpr(labels: ArrayLike<number>, scores: ArrayLike<number>, maxFpr: number): number {
  checkFraction('recallAtFpr', 'maxFpr', maxFpr);
  const c = buildCurve('recallAtFpr', labels, scores);
  if (c.positives === 0 || c.negatives === 0) return NaN;
  let best = 0;
  for (let k = 0; k < c.thresholds.length; k++) {
    const tp = c.tp[k] as number;
    const fp = c.fp[k] as number;
    // fp only grows as the threshold falls, so the first threshold past the budget ends the search.
    if (fp > maxFpr * c.negatives) break;
    best = tp / c.positives;
  }
  return best;
}

/** The threshold with the best F1 and what it achieves. */
export interface BestF1 {
  /** F1 = 2PR / (P + R) at `threshold`. */
  f1: number;
  /** Predict positive for `score >= threshold`. */
  threshold: number;
  precision: number;
  recall: number;
}

/**
 * The threshold (among the distinct scores) that maximises F1. On a tie in F1 the highest
 * threshold wins, i.e. the one that flags the fewest samples.
 *
 * @returns `{f1, threshold, precision, recall}`; every field NaN when there are no positives
 *   (F1 is undefined). With positives, f1 > 0: the lowest threshold flags every sample.
 */
export function bestF1(labels: ArrayLike<number>, scores: ArrayLike<number>): BestF1 {
  const c = buildCurve('bestF1', labels, scores);
  const best: BestF1 = { f1: NaN, threshold: NaN, precision: NaN, recall: NaN };
  if (c.positives === 0) return best;
  best.f1 = -1;
  for (let k = 0; k < c.thresholds.length; k++) {
    const tp = c.tp[k] as number;
    const fp = c.fp[k] as number;
    // 2TP / (2TP + FP + FN), which avoids 0/0 when TP is 0.
    const f1 = (2 * tp) / (tp + fp + c.positives);
    if (f1 > best.f1) {
      best.f1 = f1;
      best.threshold = c.thresholds[k] as number;
      best.precision = tp / (tp + fp);
      best.recall = tp / c.positives;
    }
  }
  return best;
}

/** A precision-recall curve, laid out as scikit-learn's `precision_recall_curve` lays it out. */
export interface PrecisionRecallCurve {
  /** precision[k] at thresholds[k]; one extra last entry, 1, for "flag nothing". */
  precision: number[];
  /** recall[k] at thresholds[k], non-increasing; one extra last entry, 0, for "flag nothing". */
  recall: number[];
  /** The distinct scores, ascending. */
  thresholds: number[];
}

/**
 * Precision and recall at every distinct score, for plotting or for choosing an operating point.
 * The layout matches scikit-learn (≥ 1.1, which no longer truncates at full recall): thresholds
 * ascending, and `precision`/`recall` one longer than `thresholds`, ending with the conventional
 * point (precision 1, recall 0) that no threshold reaches.
 *
 * With no positives, recall is undefined: every `recall` entry is NaN (scikit-learn writes 1
 * and warns; NaN keeps a plot from drawing a curve that means nothing).
 */
export function precisionRecallCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): PrecisionRecallCurve {
  const c = buildCurve('precisionRecallCurve', labels, scores);
  const m = c.thresholds.length;
  const precision: number[] = new Array<number>(m + 1);
  const recall: number[] = new Array<number>(m + 1);
  const thresholds: number[] = new Array<number>(m);
  for (let k = 0; k < m; k++) {
    // The curve is built from the highest score down; the output runs from the lowest up.
    const j = m - 1 - k;
    const tp = c.tp[j] as number;
    const fp = c.fp[j] as number;
    thresholds[k] = c.thresholds[j] as number;
    precision[k] = tp / (tp + fp);
    recall[k] = c.positives === 0 ? NaN : tp / c.positives;
  }
  precision[m] = 1;
  recall[m] = c.positives === 0 ? NaN : 0;
  return { precision, recall, thresholds };
}
