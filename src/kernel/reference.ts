/**
 * The TypeScript reference kernel: ALGORITHM.md step by step, in float64 arithmetic rounded to
 * float32 on store. It is the fallback when no native binary fits, and the oracle the native
 * kernels are tested against, so every value it produces is defined by the plain expressions
 * below, evaluated in the order written.
 *
 * It is also written to run as fast as plain JavaScript allows, without changing a bit of that
 * arithmetic. Like the native kernel (native/src/step.cpp) it makes few passes over memory: a
 * pre-pass that reads g for the cracks (and doubles as the non-finite check), the gilding of
 * the P pathways (small, except for `weight`), and one update pass. Decisions that are the same
 * for every element (base optimizer, granularity) are taken once per variable, so no inner loop
 * asks them per element, and parameters are read into locals once.
 */
import {
  BASE,
  crackProblem,
  GRANULARITY,
  Kernel,
  KernelOutput,
  KernelParams,
  KernelVariable,
  NonFiniteGradientError,
} from './types';

// Scratch, grown as needed and reused, so steady-state steps allocate nothing.
/** Stage 1's crack sums of every variable of the step: P slots per `unit` variable, else 1. */
let sumsScratch: Float64Array = new Float64Array(64);
/** The cracks of one normalization group. */
let crackScratch: Float64Array = new Float64Array(64);
/** `layer`: ϕ of the group (one per live variable), rounded to float32 as ϕ is. */
let groupScratch: Float32Array = new Float32Array(64);

function f64Scratch(a: Float64Array, size: number): Float64Array {
  return a.length >= size ? a : new Float64Array(Math.max(size, a.length * 2));
}

/** x − x is NaN exactly when x is NaN or ±Infinity. */
function finite(x: number): boolean {
  return x - x === 0;
}

// ---------------------------------------------------------------------------------------------
// Step 1, crack: l_p = mean |g_e| over the elements of pathway p.

/** Σ |g_e| over all of g, in element order. */
function sumAbs(g: Float32Array): number {
  let s = 0;
  for (let e = 0; e < g.length; e++) s += Math.abs(g[e]);
  return s;
}

/**
 * `unit`: the column sums Σ_rows |g[row, u]| of g viewed as rows × P (P the last axis, so n is a
 * multiple of P), into out[off, off + P), each column summed in row order. P = 1 is a single
 * column: the plain sum, without the inner loop of length one.
 */
function unitSums(g: Float32Array, P: number, out: Float64Array, off: number): void {
  if (P === 1) {
    out[off] = sumAbs(g);
    return;
  }
  for (let u = 0; u < P; u++) out[off + u] = 0;
  const rows = P > 0 ? g.length / P : 0;
  // Four rows per sweep: a column is still summed row by row, ((s + |a|) + |b|) + ..., the same
  // float64 additions in the same order, but its running sum is loaded and stored once per four
  // rows instead of once per row, which halves the time of this pass.
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const r0 = r * P;
    const r1 = r0 + P;
    const r2 = r1 + P;
    const r3 = r2 + P;
    for (let u = 0; u < P; u++) {
      out[off + u] = out[off + u] + Math.abs(g[r0 + u]) + Math.abs(g[r1 + u]) + Math.abs(g[r2 + u]) + Math.abs(g[r3 + u]);
    }
  }
  for (; r < rows; r++) {
    const row = r * P;
    for (let u = 0; u < P; u++) out[off + u] += Math.abs(g[row + u]);
  }
}

/** `crack: relative`: divide each crack by the group's mean crack; all-zero stays zero. */
export function makeRelative(cracks: Float64Array, P: number): void {
  let s = 0;
  for (let q = 0; q < P; q++) s += cracks[q];
  if (!(s > 0)) return;
  const inv = P / s;
  for (let q = 0; q < P; q++) cracks[q] *= inv;
}

// ---------------------------------------------------------------------------------------------
// Steps 2 and 3, gild and normalize: a_p = max(0, 1 − γ ϕ_p), ϕ̂_p = ϕ_p + β a_p l_p, then
// ϕ_p ← clamp(ϕ̂_p · P / Σ ϕ̂, phiMin, phiMax) (without `normalize: mean`, the scale is 1).

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
  const gamma = p.annealing;
  const beta = p.gildingRate;
  const phiMin = p.phiMin;
  const phiMax = p.phiMax;
  let sumHat = 0;
  for (let q = 0; q < P; q++) {
    const a = Math.max(0, 1 - gamma * phi[q]);
    const hat = phi[q] + beta * a * cracks[q];
    cracks[q] = hat;
    sumHat += hat;
  }
  const scale = p.normalizeMean && sumHat > 0 && finite(sumHat) ? P / sumHat : 1;
  let delta = 0;
  for (let q = 0; q < P; q++) {
    const old = phi[q];
    phi[q] = Math.min(phiMax, Math.max(phiMin, cracks[q] * scale));
    delta += Math.abs(phi[q] - old); // the stored, float32 ϕ
  }
  return P > 0 ? delta / P : 0;
}

/**
 * `weight` granularity: gildGroup's arithmetic, expression for expression, with each pathway's
 * crack l_e = |g_e| · crackScale made on the fly (crackScale is makeRelative's factor, or 1)
 * instead of stored, which would cost an n-element float64 buffer and two more passes over it.
 * ϕ̂ is computed twice, for the sum and for the store; both give the same float64.
 */
function gildEach(phi: Float32Array, grad: Float32Array, crackScale: number, p: KernelParams): number {
  const P = phi.length;
  const gamma = p.annealing;
  const beta = p.gildingRate;
  const phiMin = p.phiMin;
  const phiMax = p.phiMax;
  let scale = 1;
  if (p.normalizeMean) {
    let sumHat = 0;
    for (let q = 0; q < P; q++) sumHat += hatOf(phi[q], grad[q], crackScale, beta, gamma);
    if (sumHat > 0 && finite(sumHat)) scale = P / sumHat;
  }
  let delta = 0;
  for (let q = 0; q < P; q++) {
    const old = phi[q];
    phi[q] = Math.min(phiMax, Math.max(phiMin, hatOf(old, grad[q], crackScale, beta, gamma) * scale));
    delta += Math.abs(phi[q] - old); // the stored, float32 ϕ
  }
  return P > 0 ? delta / P : 0;
}

/** ϕ̂ = ϕ + β a l with a = max(0, 1 − γ ϕ) and l = |g| · crackScale, as gildGroup computes it. */
function hatOf(phi: number, g: number, crackScale: number, beta: number, gamma: number): number {
  return phi + beta * Math.max(0, 1 - gamma * phi) * (Math.abs(g) * crackScale);
}

// ---------------------------------------------------------------------------------------------
// Step 4, sculpt: θ_e ← θ_e − α (ϕ_{p(e)} d_e + λ θ_e), with d the base optimizer's direction.
//
// First the update of one element, once per base, so no element asks which base it is. Moments
// are rounded to float32 as they are stored, and d is computed from the stored values, as a
// float32 kernel would. V8 inlines these into the walks below.

/** sgd: d = g. */
function sgdAt(theta: Float32Array, grad: Float32Array, e: number, ph: number, lr: number, wd: number): void {
  const th = theta[e];
  theta[e] = th - lr * (ph * grad[e] + wd * th);
}

/** momentum: u ← μ u + g, d = u. */
function momentumAt(
  theta: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  e: number,
  ph: number,
  lr: number,
  wd: number,
  mu: number,
): void {
  const d = Math.fround(mu * m[e] + grad[e]);
  m[e] = d;
  const th = theta[e];
  theta[e] = th - lr * (ph * d + wd * th);
}

/** adam: m ← β₁m + (1 − β₁)g, v ← β₂v + (1 − β₂)g², d = (m / bc1) / (√(v / bc2) + ε). */
function adamAt(
  theta: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  e: number,
  ph: number,
  lr: number,
  wd: number,
  b1: number,
  omb1: number,
  b2: number,
  omb2: number,
  bc1: number,
  bc2: number,
  eps: number,
): void {
  const g = grad[e];
  const mt = Math.fround(b1 * m[e] + omb1 * g);
  const vt = Math.fround(b2 * v[e] + omb2 * g * g);
  m[e] = mt;
  v[e] = vt;
  const d = mt / bc1 / (Math.sqrt(vt / bc2) + eps);
  const th = theta[e];
  theta[e] = th - lr * (ph * d + wd * th);
}

// Then the walk over a variable, the same for every base: θ viewed as rows × P, P = phi.length,
// so element e = r·P + u has pathway u. That is p(e) for every granularity: `unit` is rows × U,
// `layer` n × 1, `weight` 1 × n. Four rows per sweep: one ϕ_u serves four elements, and V8
// checks each typed array (map, length, data pointer) once per four elements instead of once per
// element, which takes a quarter of the instructions out of adam's update and more out of sgd's.
// `weight`, a single row, takes the one-row loop. Elements are independent, so the order in
// which they are updated changes nothing.

function sculptSgd(v: KernelVariable, p: KernelParams): void {
  const { theta, grad, phi } = v;
  const P = phi.length;
  const rows = P > 0 ? theta.length / P : 0;
  const lr = p.learningRate;
  const wd = p.weightDecay;
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const r0 = r * P;
    const r1 = r0 + P;
    const r2 = r1 + P;
    const r3 = r2 + P;
    for (let u = 0; u < P; u++) {
      const ph = phi[u];
      sgdAt(theta, grad, r0 + u, ph, lr, wd);
      sgdAt(theta, grad, r1 + u, ph, lr, wd);
      sgdAt(theta, grad, r2 + u, ph, lr, wd);
      sgdAt(theta, grad, r3 + u, ph, lr, wd);
    }
  }
  for (; r < rows; r++) {
    const row = r * P;
    for (let u = 0; u < P; u++) sgdAt(theta, grad, row + u, phi[u], lr, wd);
  }
}

function sculptMomentum(v: KernelVariable, p: KernelParams): void {
  const { theta, grad, phi, m } = v;
  const P = phi.length;
  const rows = P > 0 ? theta.length / P : 0;
  const lr = p.learningRate;
  const wd = p.weightDecay;
  const mu = p.momentum;
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const r0 = r * P;
    const r1 = r0 + P;
    const r2 = r1 + P;
    const r3 = r2 + P;
    for (let u = 0; u < P; u++) {
      const ph = phi[u];
      momentumAt(theta, grad, m, r0 + u, ph, lr, wd, mu);
      momentumAt(theta, grad, m, r1 + u, ph, lr, wd, mu);
      momentumAt(theta, grad, m, r2 + u, ph, lr, wd, mu);
      momentumAt(theta, grad, m, r3 + u, ph, lr, wd, mu);
    }
  }
  for (; r < rows; r++) {
    const row = r * P;
    for (let u = 0; u < P; u++) momentumAt(theta, grad, m, row + u, phi[u], lr, wd, mu);
  }
}

function sculptAdam(v: KernelVariable, p: KernelParams, bc1: number, bc2: number): void {
  const { theta, grad, phi, m, v: vv } = v;
  const P = phi.length;
  const rows = P > 0 ? theta.length / P : 0;
  const lr = p.learningRate;
  const wd = p.weightDecay;
  const b1 = p.beta1;
  const b2 = p.beta2;
  const omb1 = 1 - b1;
  const omb2 = 1 - b2;
  const eps = p.epsilon;
  let r = 0;
  for (; r + 3 < rows; r += 4) {
    const r0 = r * P;
    const r1 = r0 + P;
    const r2 = r1 + P;
    const r3 = r2 + P;
    for (let u = 0; u < P; u++) {
      const ph = phi[u];
      adamAt(theta, grad, m, vv, r0 + u, ph, lr, wd, b1, omb1, b2, omb2, bc1, bc2, eps);
      adamAt(theta, grad, m, vv, r1 + u, ph, lr, wd, b1, omb1, b2, omb2, bc1, bc2, eps);
      adamAt(theta, grad, m, vv, r2 + u, ph, lr, wd, b1, omb1, b2, omb2, bc1, bc2, eps);
      adamAt(theta, grad, m, vv, r3 + u, ph, lr, wd, b1, omb1, b2, omb2, bc1, bc2, eps);
    }
  }
  for (; r < rows; r++) {
    const row = r * P;
    for (let u = 0; u < P; u++) adamAt(theta, grad, m, vv, row + u, phi[u], lr, wd, b1, omb1, b2, omb2, bc1, bc2, eps);
  }
}

function sculpt(v: KernelVariable, p: KernelParams, bc1: number, bc2: number): void {
  if (p.base === BASE.sgd) sculptSgd(v, p);
  else if (p.base === BASE.momentum) sculptMomentum(v, p);
  else sculptAdam(v, p, bc1, bc2);
}

// ---------------------------------------------------------------------------------------------

/**
 * One step: stage 1 (the crack sums) for every variable first, then steps 1 to 4 per variable,
 * or, for `layer`, gilding across the step's variables and then the update of each.
 */
function step(vars: readonly KernelVariable[], p: KernelParams, out: KernelOutput): void {
  const granularity = p.granularity;
  const unit = granularity === GRANULARITY.unit;

  // Stage 1, crack sums of every variable before any variable is written. They double as the
  // non-finite check: a sum of |g| is finite exactly when every g in it is (|g| ≤ 3.4e38 cannot
  // overflow a float64 sum), so under `throw` nothing has changed when the error is raised.
  // `unit` keeps P column sums per variable, `weight` and `layer` the one sum Σ|g|.
  let slots = 0;
  for (let i = 0; i < vars.length; i++) {
    const problem = crackProblem(vars[i], i, granularity);
    if (problem !== null) throw problem;
    slots += unit ? vars[i].phi.length : 1;
  }
  const sums = (sumsScratch = f64Scratch(sumsScratch, slots));
  for (let i = 0, off = 0; i < vars.length; i++) {
    const g = vars[i].grad;
    let ok: boolean;
    if (unit) {
      const P = vars[i].phi.length;
      unitSums(g, P, sums, off);
      ok = true;
      for (let u = 0; u < P; u++) ok = ok && finite(sums[off + u]);
      off += P;
    } else {
      sums[off] = sumAbs(g);
      ok = finite(sums[off]);
      off += 1;
    }
    if (!ok && p.throwOnNonFinite) throw new NonFiniteGradientError(vars[i].name);
    out.skipped[i] = ok ? 0 : 1;
    out.meanAbsDeltaPhi[i] = 0;
  }

  // Adam's bias corrections, 1 − β^t, are the same for every variable of the step.
  const bc1 = 1 - Math.pow(p.beta1, p.step);
  const bc2 = 1 - Math.pow(p.beta2, p.step);

  if (granularity === GRANULARITY.layer) {
    // One ϕ per variable, normalized across the variables of the step that are not skipped: the
    // crack of variable i is its mean |g|, Σ|g| / n.
    const cracks = (crackScratch = f64Scratch(crackScratch, vars.length));
    if (groupScratch.length < vars.length) groupScratch = new Float32Array(Math.max(vars.length, groupScratch.length * 2));
    const group = groupScratch;
    let P = 0;
    for (let i = 0; i < vars.length; i++) {
      if (out.skipped[i] === 1) continue;
      const n = vars[i].grad.length;
      cracks[P] = n > 0 ? sums[i] / n : 0;
      group[P] = vars[i].phi[0];
      P++;
    }
    if (p.relativeCrack) makeRelative(cracks, P);
    gildGroup(group, cracks, P, p);
    for (let i = 0, q = 0; i < vars.length; i++) {
      if (out.skipped[i] === 1) continue;
      const v = vars[i];
      out.meanAbsDeltaPhi[i] = Math.abs(group[q] - v.phi[0]);
      v.phi[0] = group[q];
      q++;
      sculpt(v, p, bc1, bc2);
    }
    return;
  }

  for (let i = 0, off = 0; i < vars.length; i++) {
    const v = vars[i];
    const P = v.phi.length;
    const at = off;
    off += unit ? P : 1;
    if (out.skipped[i] === 1) continue;
    if (unit) {
      // l_u = column sum / rows, or the caller's crack; then the variable's P pathways are one group.
      const cracks = (crackScratch = f64Scratch(crackScratch, P));
      const rows = P > 0 ? v.grad.length / P : 0;
      const given = v.crack;
      if (given !== undefined) for (let u = 0; u < P; u++) cracks[u] = given[u];
      else for (let u = 0; u < P; u++) cracks[u] = rows > 0 ? sums[at + u] / rows : sums[at + u];
      if (p.relativeCrack) makeRelative(cracks, P);
      out.meanAbsDeltaPhi[i] = gildGroup(v.phi, cracks, P, p);
    } else {
      // `weight`: l_e = |g_e|, whose sum Σ|g| stage 1 already has, for makeRelative's factor.
      const s = sums[at];
      const crackScale = p.relativeCrack && s > 0 ? P / s : 1;
      out.meanAbsDeltaPhi[i] = gildEach(v.phi, v.grad, crackScale, p);
    }
    sculpt(v, p, bc1, bc2);
  }
}

export const referenceKernel: Kernel = { name: 'js', step };
