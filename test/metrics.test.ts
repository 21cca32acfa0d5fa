import { describe, expect, it } from 'vitest';
import {
  averagePrecision,
  bestF1,
  precisionRecallCurve,
  recallAtFpr,
  recallAtPrecision,
  rocAuc,
} from '../src/eval/metrics';
import { rng } from './helpers';

// The example of scikit-learn's documentation, worked by hand.
//   labels [0, 0, 1, 1], scores [0.1, 0.4, 0.35, 0.8]; P = 2 positives, N = 2 negatives.
//   From the highest score down:       tp fp  precision  recall
//     t = 0.8  (label 1)                1  0   1          1/2
//     t = 0.4  (label 0)                1  1   1/2        1/2
//     t = 0.35 (label 1)                2  1   2/3        1
//     t = 0.1  (label 0)                2  2   1/2        1
//   AP  = 1/2·1 + 0·1/2 + 1/2·2/3 + 0·1/2 = 1/2 + 1/3 = 5/6
//   AUC: the negative at 0.4 loses to 1 positive (0.8), the one at 0.1 to both: 3 of 4 pairs = 3/4
//   F1 = 2TP/(TP+FP+P): 2/3, 2/4, 4/5, 4/6 → best 4/5 at t = 0.35 (precision 2/3, recall 1)
const SK_LABELS = [0, 0, 1, 1];
const SK_SCORES = [0.1, 0.4, 0.35, 0.8];

// A case with ties: labels [1, 1, 0, 0, 1, 0], scores [0.9, 0.6, 0.6, 0.6, 0.3, 0.3]; P = N = 3.
//   Groups:  t = 0.9 {1}        → tp 1 fp 0  precision 1    recall 1/3
//            t = 0.6 {1, 0, 0}  → tp 2 fp 2  precision 1/2  recall 2/3
//            t = 0.3 {1, 0}     → tp 3 fp 3  precision 1/2  recall 1
//   AP  = 1/3·1 + 1/3·1/2 + 1/3·1/2 = 2/3
//   AUC pairs (positive vs negative, tie = 1/2):
//     0.9 beats all 3 → 3;  0.6 ties two 0.6s and beats 0.3 → 2;  0.3 loses twice, ties once → 1/2
//     total 5.5 of 9 = 11/18
//   F1: 2/(1+0+3) = 1/2, 4/(2+2+3) = 4/7, 6/(3+3+3) = 2/3 → best 2/3 at t = 0.3
const TIE_LABELS = [1, 1, 0, 0, 1, 0];
const TIE_SCORES = [0.9, 0.6, 0.6, 0.6, 0.3, 0.3];

/** The same permutation applied to both arrays. */
function shuffled(labels: number[], scores: number[], seed: number): [number[], number[]] {
  const r = rng(seed);
  const idx = labels.map((_, i) => i);
  for (let i = idx.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [idx[i], idx[j]] = [idx[j] as number, idx[i] as number];
  }
  return [idx.map((i) => labels[i] as number), idx.map((i) => scores[i] as number)];
}

describe('averagePrecision', () => {
  it('matches the hand-worked scikit-learn example (5/6)', () => {
    expect(averagePrecision(SK_LABELS, SK_SCORES)).toBeCloseTo(5 / 6, 12);
  });

  it('groups tied scores into one threshold (2/3)', () => {
    expect(averagePrecision(TIE_LABELS, TIE_SCORES)).toBeCloseTo(2 / 3, 12);
  });

  it('does not depend on the order of the input', () => {
    for (const seed of [1, 2, 3]) {
      const [l, s] = shuffled(TIE_LABELS, TIE_SCORES, seed);
      expect(averagePrecision(l, s)).toBeCloseTo(2 / 3, 12);
    }
  });

  it('is the prevalence when every score is equal', () => {
    // One threshold flags all 4: precision 1/4 at recall 1 → AP = 1·1/4.
    expect(averagePrecision([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5])).toBeCloseTo(0.25, 12);
  });

  it('is 1 for a perfect ranker', () => {
    expect(averagePrecision([0, 1, 0, 1, 1], [0.1, 0.9, 0.2, 0.8, 0.7])).toBe(1);
    // 30 positives: summing 30 steps of 1/30 gives 1.0000000000000002, which AP must not report.
    const labels = Array.from({ length: 300 }, (_, i) => (i % 10 === 0 ? 1 : 0));
    expect(averagePrecision(labels, labels.map((y, i) => y * 2 + i / 1000))).toBe(1);
  });

  it('is 43/90 for the inverted ranker of 3 positives and 2 negatives', () => {
    // Scores negated: the two negatives come first.
    //   tp: 0, 0, 1, 2, 3   fp: 1, 2, 2, 2, 2
    //   AP = 1/3·1/3 + 1/3·2/4 + 1/3·3/5 = 1/9 + 1/6 + 1/5 = (10 + 15 + 18)/90 = 43/90
    expect(averagePrecision([0, 1, 0, 1, 1], [-0.1, -0.9, -0.2, -0.8, -0.7])).toBeCloseTo(43 / 90, 12);
  });

  it('is 1 when every label is positive, NaN when none is', () => {
    expect(averagePrecision([1, 1], [0.3, 0.7])).toBe(1);
    expect(averagePrecision([0, 0, 0], [0.3, 0.7, 0.1])).toBeNaN();
    expect(averagePrecision([], [])).toBeNaN();
  });

  it('is invariant under a monotone transform of the scores (logits vs probabilities)', () => {
    const logits = [-2, 0.5, 0.5, 3, -1, 1.5];
    const probs = logits.map((z) => 1 / (1 + Math.exp(-z)));
    const labels = [0, 1, 0, 1, 0, 0];
    expect(averagePrecision(labels, probs)).toBeCloseTo(averagePrecision(labels, logits), 12);
  });

  it('agrees with the per-positive definition on random data with many ties', () => {
    // AP = (1/P) Σ over positives i of precision at threshold score_i: the same sum regrouped.
    const r = rng(7);
    const n = 300;
    const labels = Array.from({ length: n }, () => (r() < 0.1 ? 1 : 0));
    const scores = Array.from({ length: n }, () => Math.round(r() * 20) / 20);
    let sum = 0;
    let pos = 0;
    for (let i = 0; i < n; i++) {
      if (labels[i] !== 1) continue;
      pos += 1;
      let flagged = 0;
      let hits = 0;
      for (let j = 0; j < n; j++) {
        if ((scores[j] as number) >= (scores[i] as number)) {
          flagged += 1;
          hits += labels[j] as number;
        }
      }
      sum += hits / flagged;
    }
    expect(averagePrecision(labels, scores)).toBeCloseTo(sum / pos, 10);
  });

  it('accepts typed arrays', () => {
    expect(averagePrecision(Uint8Array.from(SK_LABELS), Float32Array.from(SK_SCORES))).toBeCloseTo(5 / 6, 6);
  });

  it('treats ±Infinity as ordinary, tying scores', () => {
    expect(averagePrecision([1, 0, 1], [Infinity, -Infinity, Infinity])).toBe(1);
    // One tied group of 1 positive and 1 negative: precision 1/2 at recall 1.
    expect(averagePrecision([1, 0], [Infinity, Infinity])).toBe(0.5);
  });
});

describe('rocAuc', () => {
  it('matches the hand-worked scikit-learn example (3/4)', () => {
    expect(rocAuc(SK_LABELS, SK_SCORES)).toBeCloseTo(0.75, 12);
  });

  it('counts ties as one half (11/18)', () => {
    expect(rocAuc(TIE_LABELS, TIE_SCORES)).toBeCloseTo(11 / 18, 12);
    const [l, s] = shuffled(TIE_LABELS, TIE_SCORES, 9);
    expect(rocAuc(l, s)).toBeCloseTo(11 / 18, 12);
  });

  it('is 1/2 when every score is equal', () => {
    expect(rocAuc([1, 0, 0, 1, 0], [2, 2, 2, 2, 2])).toBe(0.5);
  });

  it('is 1 for a perfect ranker and 0 for an inverted one', () => {
    expect(rocAuc([0, 1, 0, 1, 1], [0.1, 0.9, 0.2, 0.8, 0.7])).toBe(1);
    expect(rocAuc([0, 1, 0, 1, 1], [-0.1, -0.9, -0.2, -0.8, -0.7])).toBe(0);
  });

  it('is NaN when one class is absent', () => {
    expect(rocAuc([1, 1], [0.3, 0.7])).toBeNaN();
    expect(rocAuc([0, 0], [0.3, 0.7])).toBeNaN();
    expect(rocAuc([], [])).toBeNaN();
  });

  it('agrees with brute-force pair counting on random data with many ties', () => {
    const r = rng(11);
    const n = 200;
    const labels = Array.from({ length: n }, () => (r() < 0.2 ? 1 : 0));
    const scores = Array.from({ length: n }, () => Math.floor(r() * 10));
    let wins = 0;
    let pairs = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (labels[i] !== 1 || labels[j] !== 0) continue;
        pairs += 1;
        const si = scores[i] as number;
        const sj = scores[j] as number;
        wins += si > sj ? 1 : si === sj ? 0.5 : 0;
      }
    }
    expect(rocAuc(labels, scores)).toBeCloseTo(wins / pairs, 12);
  });
});

describe('recallAtPrecision', () => {
  it('reads the hand-worked scikit-learn example', () => {
    // Precision at each threshold (desc): 1, 1/2, 2/3, 1/2 with recall 1/2, 1/2, 1, 1.
    expect(recallAtPrecision(SK_LABELS, SK_SCORES, 1)).toBe(0.5);
    expect(recallAtPrecision(SK_LABELS, SK_SCORES, 0.9)).toBe(0.5);
    expect(recallAtPrecision(SK_LABELS, SK_SCORES, 0.6)).toBe(1); // 2/3 ≥ 0.6 at t = 0.35
    expect(recallAtPrecision(SK_LABELS, SK_SCORES, 0)).toBe(1);
  });

  it('includes the boundary (precision exactly equal to the minimum)', () => {
    // Ties: precision 1/2 at recall 2/3 and at recall 1; so 0.5 allows recall 1, 0.51 only 1/3.
    expect(recallAtPrecision(TIE_LABELS, TIE_SCORES, 0.5)).toBe(1);
    expect(recallAtPrecision(TIE_LABELS, TIE_SCORES, 0.51)).toBeCloseTo(1 / 3, 12);
  });

  it('is 0 when no threshold is precise enough', () => {
    // t = 0.9 flags the negative (precision 0); t = 0.1 flags both (precision 1/2).
    expect(recallAtPrecision([0, 1], [0.9, 0.1], 0.6)).toBe(0);
    // All equal: the only threshold has precision 1/4.
    expect(recallAtPrecision([1, 0, 0, 0], [1, 1, 1, 1], 0.25)).toBe(1);
    expect(recallAtPrecision([1, 0, 0, 0], [1, 1, 1, 1], 0.26)).toBe(0);
  });

  it('reads perfect and inverted rankers', () => {
    expect(recallAtPrecision([0, 1, 0, 1, 1], [0.1, 0.9, 0.2, 0.8, 0.7], 1)).toBe(1);
    // Inverted (see AP above): precision 0, 0, 1/3, 1/2, 3/5 at recall 0, 0, 1/3, 2/3, 1.
    expect(recallAtPrecision([0, 1, 0, 1, 1], [-0.1, -0.9, -0.2, -0.8, -0.7], 0.5)).toBe(1);
    expect(recallAtPrecision([0, 1, 0, 1, 1], [-0.1, -0.9, -0.2, -0.8, -0.7], 0.7)).toBe(0);
  });

  it('is NaN with no positives; 1 when every label is positive', () => {
    expect(recallAtPrecision([0, 0], [0.1, 0.2], 0.5)).toBeNaN();
    expect(recallAtPrecision([1, 1], [0.1, 0.2], 1)).toBe(1);
  });

  it('rejects a minPrecision outside [0, 1]', () => {
    expect(() => recallAtPrecision(SK_LABELS, SK_SCORES, 1.5)).toThrow(/minPrecision must be a number in \[0, 1\]; got 1\.5/);
    expect(() => recallAtPrecision(SK_LABELS, SK_SCORES, NaN)).toThrow(/minPrecision.*NaN/);
  });
});

describe('recallAtFpr', () => {
  it('reads the hand-worked scikit-learn example', () => {
    // N = 2; fp at each threshold (desc): 0, 1, 1, 2 with recall 1/2, 1/2, 1, 1.
    expect(recallAtFpr(SK_LABELS, SK_SCORES, 0)).toBe(0.5);
    expect(recallAtFpr(SK_LABELS, SK_SCORES, 0.49)).toBe(0.5); // allows 0.98 false positives: 0
    expect(recallAtFpr(SK_LABELS, SK_SCORES, 0.5)).toBe(1); // allows 1
    expect(recallAtFpr(SK_LABELS, SK_SCORES, 1)).toBe(1);
  });

  it('reads the tie case', () => {
    // N = 3; fp 0, 2, 3 at recall 1/3, 2/3, 1.
    expect(recallAtFpr(TIE_LABELS, TIE_SCORES, 0)).toBeCloseTo(1 / 3, 12);
    expect(recallAtFpr(TIE_LABELS, TIE_SCORES, 0.5)).toBeCloseTo(1 / 3, 12); // 1.5 < 2
    expect(recallAtFpr(TIE_LABELS, TIE_SCORES, 2 / 3)).toBeCloseTo(2 / 3, 12);
  });

  it('is 0 when even the highest threshold has too many false positives', () => {
    expect(recallAtFpr([0, 1], [0.9, 0.1], 0)).toBe(0);
    // All equal: one threshold with fp = 3 of 3.
    expect(recallAtFpr([1, 0, 0, 0], [1, 1, 1, 1], 0.99)).toBe(0);
    expect(recallAtFpr([1, 0, 0, 0], [1, 1, 1, 1], 1)).toBe(1);
  });

  it('reads perfect and inverted rankers', () => {
    expect(recallAtFpr([0, 1, 0, 1, 1], [0.1, 0.9, 0.2, 0.8, 0.7], 0)).toBe(1);
    expect(recallAtFpr([0, 1, 0, 1, 1], [-0.1, -0.9, -0.2, -0.8, -0.7], 0.5)).toBe(0);
  });

  it('is NaN when either class is absent', () => {
    expect(recallAtFpr([0, 0], [0.1, 0.2], 0.1)).toBeNaN();
    expect(recallAtFpr([1, 1], [0.1, 0.2], 0.1)).toBeNaN();
  });

  it('rejects a maxFpr outside [0, 1]', () => {
    expect(() => recallAtFpr(SK_LABELS, SK_SCORES, -0.1)).toThrow(/maxFpr must be a number in \[0, 1\]; got -0\.1/);
  });
});

describe('bestF1', () => {
  it('finds the best threshold of the hand-worked scikit-learn example', () => {
    const b = bestF1(SK_LABELS, SK_SCORES);
    expect(b.f1).toBeCloseTo(0.8, 12);
    expect(b.threshold).toBe(0.35);
    expect(b.precision).toBeCloseTo(2 / 3, 12);
    expect(b.recall).toBe(1);
  });

  it('keeps tied scores together', () => {
    const b = bestF1(TIE_LABELS, TIE_SCORES);
    expect(b.f1).toBeCloseTo(2 / 3, 12);
    expect(b.threshold).toBe(0.3);
    expect(b.precision).toBe(0.5);
    expect(b.recall).toBe(1);
  });

  it('prefers the higher threshold on a tie in F1', () => {
    // labels [1, 0, 0, 1], scores [4, 3, 2, 1]; P = 2; F1 = 2TP/(TP+FP+P):
    //   t = 4: 2/(1+0+2) = 2/3;  t = 3: 2/(1+1+2) = 1/2;  t = 2: 2/(1+2+2) = 2/5;  t = 1: 4/(2+2+2) = 2/3
    // t = 4 and t = 1 tie at 2/3; the higher, 4, wins (1 flagged instead of 4).
    const tie = bestF1([1, 0, 0, 1], [4, 3, 2, 1]);
    expect(tie.threshold).toBe(4);
    expect(tie.f1).toBeCloseTo(2 / 3, 12);
    expect(tie.precision).toBe(1);
    expect(tie.recall).toBe(0.5);
  });

  it('finds an interior optimum', () => {
    // labels [1, 1, 0, 0, 1], scores [6, 5, 4, 3, 2]; P = 3:
    //   t = 6: 2/(1+0+3) = 1/2;  t = 5: 4/(2+0+3) = 4/5;  t = 4: 4/6;  t = 3: 4/7;  t = 2: 6/(3+2+3) = 3/4
    expect(bestF1([1, 1, 0, 0, 1], [6, 5, 4, 3, 2])).toEqual({ f1: 0.8, threshold: 5, precision: 1, recall: 2 / 3 });
  });

  it('is 1 for a perfect ranker, at the lowest positive score', () => {
    expect(bestF1([0, 1, 0, 1, 1], [0.1, 0.9, 0.2, 0.8, 0.7])).toEqual({ f1: 1, threshold: 0.7, precision: 1, recall: 1 });
  });

  it('flags everything for an inverted ranker', () => {
    // Inverted: tp 0, 0, 1, 2, 3 / fp 1, 2, 2, 2, 2; F1 = 0, 0, 2/6, 4/7, 6/8 → 3/4 at the lowest score.
    const b = bestF1([0, 1, 0, 1, 1], [-0.1, -0.9, -0.2, -0.8, -0.7]);
    expect(b.f1).toBeCloseTo(0.75, 12);
    expect(b.threshold).toBe(-0.9);
    expect(b.precision).toBeCloseTo(0.6, 12);
    expect(b.recall).toBe(1);
  });

  it('with equal scores, flags everything', () => {
    // One threshold: tp 1, fp 3 → F1 = 2/(1+3+1) = 2/5.
    expect(bestF1([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5])).toEqual({ f1: 0.4, threshold: 0.5, precision: 0.25, recall: 1 });
  });

  it('is all NaN with no positives; 1 at the lowest score when every label is positive', () => {
    const none = bestF1([0, 0], [0.2, 0.1]);
    expect(none.f1).toBeNaN();
    expect(none.threshold).toBeNaN();
    expect(none.precision).toBeNaN();
    expect(none.recall).toBeNaN();
    // All positive, P = 2: t = 0.7 → 2/(1+0+2) = 2/3; t = 0.3 → 4/4 = 1.
    expect(bestF1([1, 1], [0.3, 0.7])).toEqual({ f1: 1, threshold: 0.3, precision: 1, recall: 1 });
  });
});

describe('precisionRecallCurve', () => {
  it('lays out the hand-worked scikit-learn example as scikit-learn does', () => {
    const c = precisionRecallCurve(SK_LABELS, SK_SCORES);
    expect(c.thresholds).toEqual([0.1, 0.35, 0.4, 0.8]);
    expect(c.precision.length).toBe(5);
    [0.5, 2 / 3, 0.5, 1, 1].forEach((p, k) => expect(c.precision[k]).toBeCloseTo(p, 12));
    expect(c.recall).toEqual([1, 1, 0.5, 0.5, 0]);
  });

  it('has one point per distinct score', () => {
    const c = precisionRecallCurve(TIE_LABELS, TIE_SCORES);
    expect(c.thresholds).toEqual([0.3, 0.6, 0.9]);
    expect(c.precision).toEqual([0.5, 0.5, 1, 1]);
    [1, 2 / 3, 1 / 3, 0].forEach((r, k) => expect(c.recall[k]).toBeCloseTo(r, 12));
  });

  it('collapses equal scores to one threshold', () => {
    expect(precisionRecallCurve([1, 0, 0, 0], [0.5, 0.5, 0.5, 0.5])).toEqual({
      precision: [0.25, 1],
      recall: [1, 0],
      thresholds: [0.5],
    });
  });

  it('gives NaN recall with no positives, and handles empty input', () => {
    const c = precisionRecallCurve([0, 0], [0.2, 0.1]);
    expect(c.thresholds).toEqual([0.1, 0.2]);
    expect(c.precision).toEqual([0, 0, 1]);
    expect(c.recall.every((r) => Number.isNaN(r))).toBe(true);
    const e = precisionRecallCurve([], []);
    expect(e.thresholds).toEqual([]);
    expect(e.precision).toEqual([1]);
    expect(e.recall.length).toBe(1);
    expect(e.recall[0]).toBeNaN();
  });

  it('integrates to averagePrecision', () => {
    // AP = Σ (R_k − R_{k+1}) P_k over the ascending layout.
    const r = rng(3);
    const labels = Array.from({ length: 100 }, () => (r() < 0.15 ? 1 : 0));
    const scores = Array.from({ length: 100 }, () => Math.floor(r() * 30));
    const c = precisionRecallCurve(labels, scores);
    let ap = 0;
    for (let k = 0; k < c.thresholds.length; k++) {
      ap += ((c.recall[k] as number) - (c.recall[k + 1] as number)) * (c.precision[k] as number);
    }
    expect(ap).toBeCloseTo(averagePrecision(labels, scores), 12);
  });
});

describe('input validation', () => {
  const fns: [string, (l: ArrayLike<number>, s: ArrayLike<number>) => unknown][] = [
    ['averagePrecision', averagePrecision],
    ['rocAuc', rocAuc],
    ['recallAtPrecision', (l, s) => recallAtPrecision(l, s, 0.5)],
    ['recallAtFpr', (l, s) => recallAtFpr(l, s, 0.1)],
    ['bestF1', bestF1],
    ['precisionRecallCurve', precisionRecallCurve],
  ];

  for (const [name, fn] of fns) {
    it(`${name} names the problem`, () => {
      expect(() => fn([0, 1], [0.5])).toThrow(new RegExp(`${name}: .*same length; got 2 labels and 1 scores`));
      expect(() => fn([0, 2, 1], [0.1, 0.2, 0.3])).toThrow(new RegExp(`${name}: labels must be 0 or 1; labels\\[1\\] is 2`));
      expect(() => fn([0, 0.5], [0.1, 0.2])).toThrow(/labels\[1\] is 0\.5/);
      expect(() => fn([0, 1, 1], [0.1, 0.2, NaN])).toThrow(new RegExp(`${name}: scores must be numbers, not NaN; scores\\[2\\] is NaN`));
    });
  }
});
