// Random kernel inputs and the comparison rule shared by the suites that check a kernel against
// the reference kernel (native, wasm).
import { expect } from 'vitest';
import { BASE, KernelParams, KernelVariable, pathwayCount } from '../src/kernel/types';
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
