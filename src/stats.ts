/**
 * What the optimizer reports about itself: summaries of ϕ (how spread it is and which pathways
 * are most gilded), per variable and for the class stream (`phiStats`), the steps skipped for
 * non-finite gradients, and how the variables' memory was reached (`storageStats`). It only
 * reads the optimizer's state; the counts it keeps are updated once per successful step.
 */
import type { ClassState } from './class-pathways';
import type { KernelOutput } from './kernel/types';
import type { Granularity } from './options';
import type { VariableState } from './state';
import type { Access } from './storage';

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

export interface VariablePhiStats extends PhiSummary {
  name: string;
  granularity: Granularity;
  /** Mean |Δϕ| over this variable's pathways in its last step: near 0 once ϕ has settled. */
  meanAbsDeltaPhi: number;
  /** Steps of this variable skipped for a non-finite gradient. */
  skippedSteps: number;
}

export interface ClassPhiStats extends PhiSummary {
  /** Mean |Δϕ| over the classes in the last training step. */
  meanAbsDeltaPhi: number;
  /** The last crack (mean batch loss) seen per class. */
  crack: number[];
}

export interface PhiStats {
  /** The optimizer's step count. */
  iterations: number;
  /** Variable-steps skipped for non-finite gradients, over all variables. */
  skippedSteps: number;
  variables: VariablePhiStats[];
  /** The loss-level stream's class value weights, once `valueWeightedLoss` has trained. */
  classes: ClassPhiStats | null;
}

export interface StorageStats {
  /** Variable-steps updated in the backend's own memory. */
  inPlace: number;
  /** Variable-steps whose buffer was shared, so θ was copied and assigned back. */
  copy: number;
  /** Variable-steps on the generic `dataSync`/`assign` path. */
  generic: number;
}

/** The counts an optimizer keeps over its lifetime (neither setWeights nor dispose resets them). */
export class StepStats {
  private skippedTotal = 0;
  private readonly storage: StorageStats = { inPlace: 0, copy: 0, generic: 0 };

  /** After a successful step: each variable's last mean |Δϕ| and skips, and how its memory was reached. */
  record(states: readonly VariableState[], accesses: ReadonlyArray<{ access: Access }>, out: KernelOutput): void {
    for (let i = 0; i < states.length; i++) {
      const s = states[i];
      s.meanAbsDeltaPhi = out.meanAbsDeltaPhi[i];
      s.skipped += out.skipped[i];
      this.skippedTotal += out.skipped[i];
      this.countAccess(accesses[i].access);
    }
  }

  /** `phiStats()`: per-variable summaries of ϕ, the last step's mean |Δϕ|, the skip counts, and the class stream's ϕ. */
  phiStats(
    options: { top?: number },
    iterations: number,
    granularity: Granularity,
    variables: Iterable<[string, VariableState]>,
    classes: ClassState | null,
  ): PhiStats {
    const top = options.top ?? 5;
    if (!Number.isInteger(top) || top < 0) {
      throw new RangeError(`kintsugi: phiStats option 'top' must be a non-negative integer; got ${top}`);
    }
    return {
      iterations,
      skippedSteps: this.skippedTotal,
      variables: [...variables].map(([name, s]) => ({
        name,
        granularity,
        ...summarizePhi(s.phi, top),
        meanAbsDeltaPhi: s.meanAbsDeltaPhi,
        skippedSteps: s.skipped,
      })),
      classes: classes
        ? { ...summarizePhi(classes.phi, top), meanAbsDeltaPhi: classes.meanAbsDeltaPhi, crack: Array.from(classes.crack) }
        : null,
    };
  }

  /** `storageStats()`: a copy of the access counts. */
  storageStats(): StorageStats {
    return { ...this.storage };
  }

  private countAccess(access: Access): void {
    if (access === 'in-place') this.storage.inPlace++;
    else if (access === 'copy') this.storage.copy++;
    else this.storage.generic++;
  }
}
