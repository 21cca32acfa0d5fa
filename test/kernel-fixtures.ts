// Random kernel inputs and the comparison rule shared by the suites that check a kernel against
// the reference kernel (native, wasm).
import { expect } from 'vitest';
import { referenceKernel } from '../src/kernel/reference';
import { BASE, GRANULARITY, Kernel, KernelParams, KernelVariable, pathwayCount } from '../src/kernel/types';
import { fillRandom } from './helpers';

/** A Float32Array view into a larger buffer, at a byteOffset that is not a multiple of 16 or 32. */
export function view(n: number, offsetFloats: number): Float32Array {
  return new Float32Array(new ArrayBuffer((n + offsetFloats + 3) * 4), offsetFloats * 4, n);
}

/** Seeded variables of the given [rows, lastAxis] shapes, each array a view at an odd offset. */
export function makeVars(p: KernelParams, shapes: [number, number][], seed: number): KernelVariable[] {
  return shapes.map(([rows, last], k) => {
    const n = rows * last;
    const P = pathwayCount(p.granularity, n, last);
    return {
      name: `v${k}`,
      theta: fillRandom(view(n, k % 4), seed + k, 1),
      grad: fillRandom(view(n, (k + 1) % 4), seed + 100 + k, 0.1 * (k + 1)),
      phi: fillRandom(view(P, (k + 2) % 4), seed + 200 + k, 0.2, 1),
      m: fillRandom(view(p.base === BASE.sgd ? 0 : n, (k + 3) % 4), seed + 300 + k, 0.01),
      v: fillRandom(view(p.base === BASE.adam ? n : 0, k % 3), seed + 400 + k, 0.001, 0.001),
    };
  });
}

export function cloneVars(vars: KernelVariable[]): KernelVariable[] {
  return vars.map((v) => ({ name: v.name, theta: v.theta.slice(), grad: v.grad.slice(), phi: v.phi.slice(), m: v.m.slice(), v: v.v.slice() }));
}

export function newGrads(vars: KernelVariable[], seed: number): void {
  vars.forEach((v, k) => fillRandom(v.grad, seed * 1000 + k, 0.1 * (k + 1)));
}

/**
 * |a − b| ≤ rtol · max(|a|, |b|, terms, 1e-3 · max|b|): relative, with a floor at the array's
 * scale. `terms` is the size of the operands a sum cancelled (m = β m + c g can cancel to far
 * below its terms, and float32 rounds the terms, not the result; with 70000-element variables
 * some θ cancel that far too).
 */
export function expectNear(kernel: string, what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, terms?: ArrayLike<number>, rtol = 1e-5): void {
  expect(actual.length, what).toBe(expected.length);
  let max = 0;
  for (let i = 0; i < expected.length; i++) max = Math.max(max, Math.abs(expected[i]));
  const floor = Math.max(1e-3 * max, 1e-30);
  for (let i = 0; i < actual.length; i++) {
    const scale = Math.max(Math.abs(actual[i]), Math.abs(expected[i]), terms ? terms[i] : 0, floor);
    const err = Math.abs(actual[i] - expected[i]) / scale;
    if (!(err <= rtol)) throw new Error(`${what}[${i}]: ${kernel} ${actual[i]} vs reference ${expected[i]} (relative ${err})`);
  }
}

export function out(n: number) {
  return { skipped: new Uint8Array(n), meanAbsDeltaPhi: new Float64Array(n) };
}

function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * The size of the terms θ − α(ϕ d + λθ) sums, per element: θ cancels to far below them as the
 * first moment does, and d carries m's error (m's terms, scaled as Adam scales m).
 */
function thetaTerms(p: KernelParams, thetaBefore: Float32Array, after: KernelVariable, mTerms: Float64Array, t: number): Float64Array {
  const n = thetaBefore.length;
  const P = after.phi.length;
  const ibc1 = 1 / (1 - Math.pow(p.beta1, t));
  const ibc2 = 1 / (1 - Math.pow(p.beta2, t));
  const terms = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const phi = p.granularity === GRANULARITY.weight ? after.phi[i] : p.granularity === GRANULARITY.unit ? after.phi[i % P] : after.phi[0];
    const d =
      p.base === BASE.sgd ? Math.abs(after.grad[i])
      : p.base === BASE.momentum ? mTerms[i]
      : (mTerms[i] * ibc1) / (Math.sqrt(after.v[i] * ibc2) + p.epsilon);
    const th = Math.abs(thetaBefore[i]);
    terms[i] = th + p.learningRate * (Math.abs(phi) * d + p.weightDecay * th);
  }
  return terms;
}

export interface CompareOptions {
  /** Scale θ's tolerance by the size of its update's terms too (long variables cancel θ as well). */
  thetaTerms?: boolean;
  /** Also require a skipped variable's θ to be bitwise untouched. */
  skippedUntouched?: boolean;
}

/** Runs `kernel` and the reference kernel for `steps` steps on copies of the same variables, comparing each step. */
export function compareWithReference(
  label: string, kernel: Pick<Kernel, 'step'>, p: KernelParams, shapes: [number, number][], steps = 3,
  mutate?: (vars: KernelVariable[], t: number) => void, options: CompareOptions = {},
): void {
  const a = makeVars(p, shapes, 7);
  const b = cloneVars(a);
  // The first moment m = β m + c g can cancel far below its terms, and float32 rounds the terms.
  // mTerms follows the size the terms had, β T + c |g| from T = |m₀|, over all steps so far.
  const [beta, c] = p.base === BASE.momentum ? [p.momentum, 1] : [p.beta1, 1 - p.beta1];
  const mTerms = b.map((v) => Float64Array.from(v.m, Math.abs));
  for (let t = 1; t <= steps; t++) {
    newGrads(a, t);
    mutate?.(a, t);
    b.forEach((v, k) => v.grad.set(a[k].grad));
    b.forEach((v, k) =>
      v.grad.forEach((g, i) => {
        if (Number.isFinite(g) && mTerms[k].length) mTerms[k][i] = beta * mTerms[k][i] + c * Math.abs(g);
      }),
    );
    const thetaBefore = options.thetaTerms ? b.map((v) => v.theta.slice()) : [];
    const ownBefore = options.skippedUntouched ? a.map((v) => v.theta.slice()) : [];
    const oa = out(a.length);
    const ob = out(b.length);
    kernel.step(a, { ...p, step: t }, oa);
    referenceKernel.step(b, { ...p, step: t }, ob);
    expect(Array.from(oa.skipped)).toEqual(Array.from(ob.skipped));
    for (let k = 0; k < a.length; k++) {
      const at = `step ${t} ${a[k].name}`;
      const skipped = ob.skipped[k] === 1;
      const terms = options.thetaTerms && !skipped ? thetaTerms(p, thetaBefore[k], b[k], mTerms[k], t) : undefined;
      expectNear(label, `${at} theta`, a[k].theta, b[k].theta, terms);
      expectNear(label, `${at} phi`, a[k].phi, b[k].phi);
      expectNear(label, `${at} m`, a[k].m, b[k].m, mTerms[k]);
      expectNear(label, `${at} v`, a[k].v, b[k].v);
      expect(Math.abs(oa.meanAbsDeltaPhi[k] - ob.meanAbsDeltaPhi[k])).toBeLessThanOrEqual(1e-6 + 1e-3 * ob.meanAbsDeltaPhi[k]);
      if (skipped && options.skippedUntouched) {
        // A skipped variable is bitwise untouched.
        expect(Buffer.compare(bytes(a[k].theta), bytes(ownBefore[k]))).toBe(0);
      }
    }
  }
}
