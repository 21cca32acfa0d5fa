/**
 * The TypeScript reference kernel: ALGORITHM.md step by step, in float64 arithmetic rounded to
 * float32 on store. It is the fallback when no native binary fits, and the oracle the native
 * kernels are tested against, so it is written for clarity over speed.
 */
import {
  BASE,
  GRANULARITY,
  Kernel,
  KernelOutput,
  KernelParams,
  KernelVariable,
  NonFiniteGradientError,
} from './types';

/** Scratch for cracks, grown as needed and reused, so steady-state steps allocate nothing. */
let scratch = new Float64Array(64);
function scratchOf(size: number): Float64Array {
  if (scratch.length < size) scratch = new Float64Array(Math.max(size, scratch.length * 2));
  return scratch;
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    // x - x is NaN exactly when x is NaN or ±Infinity.
    if (a[i] - a[i] !== 0) return false;
  }
  return true;
}

/** Step 1: the crack of each of the P pathways of one variable, into `out[0..P)`. */
function cracksOf(v: KernelVariable, granularity: number, out: Float64Array): void {
  const g = v.grad;
  const n = g.length;
  const P = v.phi.length;
  if (granularity === GRANULARITY.weight) {
    for (let e = 0; e < n; e++) out[e] = Math.abs(g[e]);
    return;
  }
  if (granularity === GRANULARITY.layer) {
    let s = 0;
    for (let e = 0; e < n; e++) s += Math.abs(g[e]);
    out[0] = n > 0 ? s / n : 0;
    return;
  }
  for (let u = 0; u < P; u++) out[u] = 0;
  const rows = P > 0 ? n / P : 0;
  for (let r = 0; r < rows; r++) {
    const row = r * P;
    for (let u = 0; u < P; u++) out[u] += Math.abs(g[row + u]);
  }
  if (rows > 0) for (let u = 0; u < P; u++) out[u] /= rows;
}

/** `crack: relative`: divide each crack by the group's mean crack; all-zero stays zero. */
export function makeRelative(cracks: Float64Array, P: number): void {
  let s = 0;
  for (let q = 0; q < P; q++) s += cracks[q];
  if (!(s > 0)) return;
  const inv = P / s;
  for (let q = 0; q < P; q++) cracks[q] *= inv;
}

/**
 * Steps 2 and 3 on one normalization group: gild, normalize, clamp. `cracks` holds the group's
 * cracks on entry and is overwritten. Returns the mean |Δϕ|.
 */
export function gildGroup(
  phi: Float32Array,
  cracks: Float64Array,
  P: number,
  p: Pick<KernelParams, 'annealing' | 'gildingRate' | 'normalizeMean' | 'phiMin' | 'phiMax'>,
): number {
  let sumHat = 0;
  for (let q = 0; q < P; q++) {
    const a = Math.max(0, 1 - p.annealing * phi[q]);
    const hat = phi[q] + p.gildingRate * a * cracks[q];
    cracks[q] = hat;
    sumHat += hat;
  }
  const scale = p.normalizeMean && sumHat > 0 && Number.isFinite(sumHat) ? P / sumHat : 1;
  let delta = 0;
  for (let q = 0; q < P; q++) {
    const old = phi[q];
    phi[q] = Math.min(p.phiMax, Math.max(p.phiMin, cracks[q] * scale));
    delta += Math.abs(phi[q] - old);
  }
  return P > 0 ? delta / P : 0;
}

/** Step 4: the base direction scaled by ϕ, plus decoupled weight decay. */
function sculpt(v: KernelVariable, granularity: number, p: KernelParams): void {
  const { theta, grad, phi, m, v: vv } = v;
  const n = theta.length;
  const P = phi.length;
  const bc1 = 1 - Math.pow(p.beta1, p.step);
  const bc2 = 1 - Math.pow(p.beta2, p.step);
  const lr = p.learningRate;
  const wd = p.weightDecay;
  for (let e = 0; e < n; e++) {
    const ph = granularity === GRANULARITY.weight ? phi[e] : granularity === GRANULARITY.unit ? phi[e % P] : phi[0];
    const g = grad[e];
    let d: number;
    if (p.base === BASE.sgd) {
      d = g;
    } else if (p.base === BASE.momentum) {
      m[e] = p.momentum * m[e] + g;
      d = m[e];
    } else {
      m[e] = p.beta1 * m[e] + (1 - p.beta1) * g;
      vv[e] = p.beta2 * vv[e] + (1 - p.beta2) * g * g;
      d = m[e] / bc1 / (Math.sqrt(vv[e] / bc2) + p.epsilon);
    }
    const th = theta[e];
    theta[e] = th - lr * (ph * d + wd * th);
  }
}

function step(vars: readonly KernelVariable[], p: KernelParams, out: KernelOutput): void {
  // Every gradient is checked before anything is written, so `throw` changes nothing.
  for (let i = 0; i < vars.length; i++) {
    const ok = allFinite(vars[i].grad);
    if (!ok && p.throwOnNonFinite) throw new NonFiniteGradientError(vars[i].name);
    out.skipped[i] = ok ? 0 : 1;
    out.meanAbsDeltaPhi[i] = 0;
  }

  if (p.granularity === GRANULARITY.layer) {
    // One ϕ per variable, normalized across all variables of the step.
    const live = vars.map((_, i) => i).filter((i) => out.skipped[i] === 0);
    const P = live.length;
    const cracks = scratchOf(P);
    const group = new Float32Array(P);
    const one = new Float64Array(1);
    live.forEach((i, q) => {
      cracksOf(vars[i], p.granularity, one);
      cracks[q] = one[0];
      group[q] = vars[i].phi[0];
    });
    if (p.relativeCrack) makeRelative(cracks, P);
    gildGroup(group, cracks, P, p);
    live.forEach((i, q) => {
      out.meanAbsDeltaPhi[i] = Math.abs(group[q] - vars[i].phi[0]);
      vars[i].phi[0] = group[q];
      sculpt(vars[i], p.granularity, p);
    });
    return;
  }

  for (let i = 0; i < vars.length; i++) {
    if (out.skipped[i] === 1) continue;
    const v = vars[i];
    const P = v.phi.length;
    const cracks = scratchOf(P);
    cracksOf(v, p.granularity, cracks);
    if (p.relativeCrack) makeRelative(cracks, P);
    out.meanAbsDeltaPhi[i] = gildGroup(v.phi, cracks, P, p);
    sculpt(v, p.granularity, p);
  }
}

export const referenceKernel: Kernel = { name: 'js', step };
