// The paired statistics of the rare-event harness: the sign test against exact binomial tails
// (worked by hand, and by BigInt arithmetic for any n), the bootstrap interval's coverage of the
// mean, its shrinking with n and its determinism, and bad input refused with a clear message.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bootstrapMeanInterval, pairedComparison, signTestP } from '../src/eval/paired';
import { createRng } from '../src/eval/data/synthetic-fraud';
import { fuzzParameters } from './fuzz';

/** 2 · Σ_{i ≤ min(w, l)} C(n, i) / 2^n, capped at 1, in exact integer arithmetic. */
function exactSignTest(wins: number, losses: number): number {
  const n = wins + losses;
  let c = 1n;
  let tail = 0n;
  for (let i = 0; i <= Math.min(wins, losses); i++) {
    tail += c;
    c = (c * BigInt(n - i)) / BigInt(i + 1);
  }
  return Math.min(1, Number(2n * tail) / 2 ** n);
}

/** n standard normal draws from a seeded stream (Box-Muller). */
function normals(n: number, seed: number): number[] {
  const rand = createRng(seed);
  return Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand()));
}

const width = ([low, high]: [number, number]) => high - low;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('signTestP', () => {
  it('gives the exact two-sided binomial tail, worked by hand', () => {
    // 10 seeds: 10–0 → 2·1/1024; 9–1 → 2·(1 + 10)/1024; 8–2 → 2·(1 + 10 + 45)/1024.
    expect(signTestP(10, 0)).toBe(2 / 1024);
    expect(signTestP(0, 10)).toBe(2 / 1024);
    expect(signTestP(9, 1)).toBeCloseTo(22 / 1024, 15);
    expect(signTestP(8, 2)).toBeCloseTo(112 / 1024, 15);
    // 15–5 of 20: 2·(1 + 20 + 190 + 1140 + 4845 + 15504)/2^20.
    expect(signTestP(15, 5)).toBeCloseTo(43400 / 2 ** 20, 14);
    // An even split, or no pairs at all, is no evidence: p = 1.
    expect(signTestP(5, 5)).toBe(1);
    expect(signTestP(0, 0)).toBe(1);
    expect(signTestP(1, 0)).toBe(1);
  });

  it('matches exact integer arithmetic for any counts up to 1000 pairs, and is symmetric', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 0, max: 500 }), (w, l) => {
        const p = signTestP(w, l);
        const exact = exactSignTest(w, l);
        expect(Math.abs(p - exact)).toBeLessThanOrEqual(1e-12 * exact + 1e-300);
        expect(signTestP(l, w)).toBe(p);
      }),
      fuzzParameters(200),
    );
  });

  it('stays a probability when 2^n overflows a double', () => {
    const p = signTestP(700, 500);
    expect(p).toBeGreaterThan(0);
    expect(p).toBeLessThan(1e-7);
    expect(signTestP(1000, 1000)).toBe(1);
  });

  it('refuses counts that are not non-negative integers', () => {
    expect(() => signTestP(-1, 3)).toThrow(/signTestP: wins must be a non-negative integer; got -1/);
    expect(() => signTestP(2, 1.5)).toThrow(/losses must be a non-negative integer; got 1\.5/);
    expect(() => signTestP(NaN, 1)).toThrow(/got NaN/);
  });
});

describe('bootstrapMeanInterval', () => {
  it('cuts the k-th resampled mean from each end: {0, 1} gives means 0, ½, 1 with chances ¼, ½, ¼', () => {
    expect(bootstrapMeanInterval([0, 1])).toEqual([0, 1]);
    // At 40% coverage the cut is the 30th percentile from each end, inside the ½ atom.
    expect(bootstrapMeanInterval([0, 1], { confidence: 0.4 })).toEqual([0.5, 0.5]);
    expect(bootstrapMeanInterval([3, 3, 3])).toEqual([3, 3]);
    expect(bootstrapMeanInterval([-0.25])).toEqual([-0.25, -0.25]);
    expect(bootstrapMeanInterval([])).toEqual([NaN, NaN]);
  });

  it('is deterministic: the same values and seed give the same interval, another seed another one', () => {
    const xs = normals(10, 3);
    expect(bootstrapMeanInterval(xs)).toEqual(bootstrapMeanInterval(xs));
    expect(bootstrapMeanInterval(xs, { seed: 2 })).not.toEqual(bootstrapMeanInterval(xs));
  });

  it('contains the sample mean', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 1, maxLength: 30 }), (xs) => {
        const [low, high] = bootstrapMeanInterval(xs, { resamples: 2000 });
        const m = mean(xs);
        // The slack is rounding: a resample that repeats the sample sums in another order.
        expect(low).toBeLessThanOrEqual(m + 1e-12);
        expect(high).toBeGreaterThanOrEqual(m - 1e-12);
      }),
      fuzzParameters(100),
    );
  });

  it('shrinks like 1/√n, and agrees with the normal interval on a normal sample', () => {
    const xs = normals(12, 5);
    const once = width(bootstrapMeanInterval(xs));
    const four = width(bootstrapMeanInterval([...xs, ...xs, ...xs, ...xs]));
    const sixteen = width(bootstrapMeanInterval(Array.from({ length: 16 }, () => xs).flat()));
    expect(four / once).toBeGreaterThan(0.4);
    expect(four / once).toBeLessThan(0.6);
    expect(sixteen / once).toBeGreaterThan(0.2);
    expect(sixteen / once).toBeLessThan(0.3);

    const big = normals(200, 9);
    const m = mean(big);
    const sd = Math.sqrt(big.reduce((a, x) => a + (x - m) ** 2, 0) / big.length);
    const normal = 2 * 1.959964 * (sd / Math.sqrt(big.length));
    expect(width(bootstrapMeanInterval(big)) / normal).toBeGreaterThan(0.9);
    expect(width(bootstrapMeanInterval(big)) / normal).toBeLessThan(1.1);
  });

  it('refuses bad options and non-finite values, naming them', () => {
    expect(() => bootstrapMeanInterval([1, 2], { resamples: 0 })).toThrow(/'resamples' must be an integer in \[1, 10000000\]; got 0/);
    expect(() => bootstrapMeanInterval([1, 2], { confidence: 1 })).toThrow(/'confidence' must be a number in \(0, 1\); got 1/);
    expect(() => bootstrapMeanInterval([1, 2], { seed: 0.5 })).toThrow(/'seed' must be an integer; got 0\.5/);
    expect(() => bootstrapMeanInterval([1, NaN])).toThrow(/values\[1\] is NaN, not a finite number/);
  });
});

describe('pairedComparison', () => {
  it('summarizes method − reference per pair: wins, losses, ties, mean, std, p, interval', () => {
    const r = pairedComparison([0.5, 0.6, 0.7, 0.9], [0.4, 0.6, 0.9, 0.5]);
    expect(r).toMatchObject({ n: 4, wins: 2, losses: 1, ties: 1, signTestP: 1 });
    expect(r.mean).toBeCloseTo((0.1 + 0 - 0.2 + 0.4) / 4, 12);
    const deltas = [0.1, 0, -0.2, 0.4];
    expect(r.std).toBeCloseTo(Math.sqrt(deltas.reduce((a, d) => a + (d - r.mean) ** 2, 0) / 3), 12);
    expect(r.interval[0]).toBeLessThanOrEqual(r.mean);
    expect(r.interval[1]).toBeGreaterThanOrEqual(r.mean);
    expect(r.interval).toEqual(bootstrapMeanInterval([0.5 - 0.4, 0.6 - 0.6, 0.7 - 0.9, 0.9 - 0.5]));

    const sweep = pairedComparison([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]);
    expect(sweep).toMatchObject({ n: 10, wins: 10, losses: 0, ties: 0, signTestP: 2 / 1024 });
  });

  it('leaves out pairs with a non-finite value, and compares nothing to NaN', () => {
    const r = pairedComparison([0.5, NaN, 0.7], [0.4, 0.3, Infinity]);
    expect(r).toMatchObject({ n: 1, wins: 1, losses: 0, ties: 0, std: 0 });
    const none = pairedComparison([NaN], [0.1]);
    expect(none.n).toBe(0);
    expect(none.mean).toBeNaN();
    expect(none.signTestP).toBe(1);
    expect(none.interval).toEqual([NaN, NaN]);
  });

  it('refuses pairs of different lengths and bad options, before computing anything', () => {
    expect(() => pairedComparison([1, 2], [1])).toThrow(/method has 2 values and reference 1; pairs need the same length/);
    expect(() => pairedComparison([1], [1], { resamples: 1.5 })).toThrow(/'resamples' must be an integer/);
  });
});
