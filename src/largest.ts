/**
 * The indices i in [0, n) of the k largest value(i), largest first, ties in index order: one pass
 * and a k-slot insertion, so a million candidates cost no sort. Used where a report picks its top
 * rows (the most gilded examples, the examples that most often led a unit).
 */
export function largestIndices(n: number, k: number, value: (i: number) => number): number[] {
  const best: number[] = [];
  if (k <= 0) return best;
  for (let i = 0; i < n; i++) {
    const x = value(i);
    if (best.length === k && x <= value(best[k - 1])) continue;
    let at = best.length === k ? k - 1 : best.length;
    while (at > 0 && value(best[at - 1]) < x) {
      best[at] = best[at - 1];
      at--;
    }
    best[at] = i;
  }
  return best;
}
