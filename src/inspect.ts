/**
 * Summaries of a ϕ vector: how spread it is and which pathways are most gilded.
 */

export interface GildedPathway {
  /** Pathway index: element (weight), output unit (unit) or 0 (layer). */
  index: number;
  phi: number;
}

export interface PhiSummary {
  pathways: number;
  mean: number;
  min: number;
  max: number;
  std: number;
  /** Gini coefficient of ϕ: 0 when all pathways are equal, towards 1 when a few hold all the gold. */
  gini: number;
  /** The most gilded pathways, highest ϕ first. */
  top: GildedPathway[];
}

export function summarizePhi(phi: Float32Array, topK: number): PhiSummary {
  const P = phi.length;
  if (P === 0) return { pathways: 0, mean: NaN, min: NaN, max: NaN, std: NaN, gini: NaN, top: [] };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let q = 0; q < P; q++) {
    sum += phi[q];
    if (phi[q] < min) min = phi[q];
    if (phi[q] > max) max = phi[q];
  }
  const mean = sum / P;
  let sq = 0;
  for (let q = 0; q < P; q++) sq += (phi[q] - mean) ** 2;
  const sorted = Float64Array.from(phi).sort();
  let weighted = 0;
  for (let i = 0; i < P; i++) weighted += (2 * (i + 1) - P - 1) * sorted[i];
  const gini = sum > 0 ? weighted / (P * sum) : 0;
  return { pathways: P, mean, min, max, std: Math.sqrt(sq / P), gini, top: topPathways(phi, topK) };
}

/** The k largest ϕ with their indices; ties keep the lower index first. */
export function topPathways(phi: Float32Array, k: number): GildedPathway[] {
  const best: GildedPathway[] = [];
  if (k <= 0) return best;
  for (let q = 0; q < phi.length; q++) {
    if (best.length < k || phi[q] > best[best.length - 1].phi) {
      let at = best.length;
      while (at > 0 && best[at - 1].phi < phi[q]) at--;
      best.splice(at, 0, { index: q, phi: phi[q] });
      if (best.length > k) best.pop();
    }
  }
  return best;
}
