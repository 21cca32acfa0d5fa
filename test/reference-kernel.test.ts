// Hand-derived values for the reference kernel: each case works ALGORITHM.md's four steps out in
// its comments, and the numbers asserted are the ones worked out there.
import { describe, expect, it } from 'vitest';
import { referenceKernel } from '../src/kernel/reference';
import { BASE, GRANULARITY, KernelParams, KernelVariable, NonFiniteGradientError } from '../src/kernel/types';
import { kernelParamsOf, resolveOptions } from '../src/options';

const SGD: KernelParams = kernelParamsOf(resolveOptions({ granularity: 'weight', base: 'sgd', learningRate: 0.1, gildingRate: 0.5, crack: 'absolute' }));

function variable(name: string, theta: number[], grad: number[], P: number, moments = 0): KernelVariable {
  return {
    name,
    theta: Float32Array.from(theta),
    grad: Float32Array.from(grad),
    phi: new Float32Array(P).fill(1),
    m: new Float32Array(moments),
    v: new Float32Array(moments),
  };
}

function run(vars: KernelVariable[], params: Partial<KernelParams>) {
  const out = { skipped: new Uint8Array(vars.length), meanAbsDeltaPhi: new Float64Array(vars.length) };
  referenceKernel.step(vars, { ...SGD, ...params }, out);
  return out;
}

const f32 = (xs: number[]) => Array.from(Float32Array.from(xs));

describe('reference kernel: hand-derived steps', () => {
  it('weight granularity, absolute crack, mean normalization: gild first, then sculpt with the new ϕ', () => {
    // g = [1, 3] → l = [1, 3]; ϕ̂ = 1 + 0.5·l = [1.5, 2.5]; Σ = 4, P = 2 → ϕ = [0.75, 1.25].
    // θ = 1 − 0.1·ϕ·g = [1 − 0.075, 1 − 0.375] = [0.925, 0.625]; mean |Δϕ| = 0.25.
    const v = variable('a', [1, 1], [1, 3], 2);
    const out = run([v], {});
    expect(Array.from(v.phi)).toEqual(f32([0.75, 1.25]));
    expect(Array.from(v.theta)).toEqual(f32([0.925, 0.625]));
    expect(out.meanAbsDeltaPhi[0]).toBeCloseTo(0.25, 7);
    expect(out.skipped[0]).toBe(0);
  });

  it('normalize none keeps the raw gilded ϕ', () => {
    // ϕ = ϕ̂ = [1.5, 2.5]; θ = [1 − 0.1·1.5·1, 1 − 0.1·2.5·3] = [0.85, 0.25].
    const v = variable('a', [1, 1], [1, 3], 2);
    run([v], { normalizeMean: false });
    expect(Array.from(v.phi)).toEqual(f32([1.5, 2.5]));
    expect(Array.from(v.theta)).toEqual(f32([0.85, 0.25]));
  });

  it('relative crack divides by the mean crack', () => {
    // l = [1, 3] / 2 = [0.5, 1.5]; ϕ̂ = [1.25, 1.75]; Σ = 3 → ϕ = [2.5/3, 3.5/3].
    const v = variable('a', [0, 0], [1, 3], 2);
    run([v], { relativeCrack: true });
    expect(Array.from(v.phi)).toEqual(f32([2.5 / 3, 3.5 / 3]));
    // Scaling every gradient by 1000 leaves a relative crack unchanged.
    const big = variable('b', [0, 0], [1000, 3000], 2);
    run([big], { relativeCrack: true });
    expect(Array.from(big.phi)).toEqual(Array.from(v.phi));
  });

  it('unit granularity: one ϕ per output unit (last axis)', () => {
    // Shape [2, 2], g = [[1, 2], [3, 6]]: l_0 = (1 + 3)/2 = 2, l_1 = (2 + 6)/2 = 4.
    // β = 0.25: ϕ̂ = [1.5, 2]; Σ = 3.5 → ϕ = [3/3.5, 4/3.5]. θ = −0.1·ϕ_{e mod 2}·g_e.
    const v = variable('k', [0, 0, 0, 0], [1, 2, 3, 6], 2);
    run([v], { granularity: GRANULARITY.unit, gildingRate: 0.25 });
    const phi = [3 / 3.5, 4 / 3.5];
    expect(Array.from(v.phi)).toEqual(f32(phi));
    const p32 = f32(phi);
    expect(Array.from(v.theta)).toEqual(f32([-0.1 * p32[0] * 1, -0.1 * p32[1] * 2, -0.1 * p32[0] * 3, -0.1 * p32[1] * 6]));
  });

  it('layer granularity: one ϕ per variable, normalized across the variables of the step', () => {
    // a: g = [1, 1] → l = 1; b: g = [3] → l = 3. ϕ̂ = [1.5, 2.5] over the group → ϕ = [0.75, 1.25].
    const a = variable('a', [1, 1], [1, 1], 1);
    const b = variable('b', [1], [3], 1);
    const out = run([a, b], { granularity: GRANULARITY.layer });
    expect(a.phi[0]).toBe(0.75);
    expect(b.phi[0]).toBe(1.25);
    expect(Array.from(a.theta)).toEqual(f32([0.925, 0.925]));
    expect(Array.from(b.theta)).toEqual(f32([1 - 0.1 * 1.25 * 3]));
    expect(out.meanAbsDeltaPhi[0]).toBeCloseTo(0.25, 7);
    expect(out.meanAbsDeltaPhi[1]).toBeCloseTo(0.25, 7);
  });

  it('clamps ϕ into [phiMin, phiMax] after normalization', () => {
    // β = 1, g = [0, 0, 0, 9]: ϕ̂ = [1, 1, 1, 10]; Σ = 13, P = 4 → [4/13, 4/13, 4/13, 40/13]
    // → clamp to [0.5, 2] → [0.5, 0.5, 0.5, 2].
    const v = variable('a', [0, 0, 0, 0], [0, 0, 0, 9], 4);
    run([v], { gildingRate: 1, phiMin: 0.5, phiMax: 2 });
    expect(Array.from(v.phi)).toEqual([0.5, 0.5, 0.5, 2]);
    // θ_3 = −0.1·2·9 = −1.8; θ_0 moves not at all (g = 0).
    expect(Array.from(v.theta)).toEqual(f32([0, 0, 0, -1.8]));
  });

  it('annealing slows gilding of gilded pathways and stops it at ϕ = 1/γ', () => {
    // γ = 0.5, β = 1, no normalization, g = [2, 4]. Step 1: a = 1 − 0.5·1 = 0.5,
    // ϕ = 1 + 0.5·[2, 4] = [2, 3]. Step 2: a = max(0, 1 − 0.5·[2, 3]) = [0, 0] → ϕ stays [2, 3].
    const v = variable('a', [0, 0], [2, 4], 2);
    run([v], { annealing: 0.5, gildingRate: 1, normalizeMean: false });
    expect(Array.from(v.phi)).toEqual([2, 3]);
    const out = run([v], { annealing: 0.5, gildingRate: 1, normalizeMean: false });
    expect(Array.from(v.phi)).toEqual([2, 3]);
    expect(out.meanAbsDeltaPhi[0]).toBe(0);
  });

  it('decoupled weight decay: θ ← θ − α(ϕ d + λ θ)', () => {
    // β = 0 (ϕ = 1), λ = 0.5, θ = 2, g = 1: θ = 2 − 0.1·(1 + 0.5·2) = 1.8.
    const v = variable('a', [2], [1], 1);
    run([v], { gildingRate: 0, weightDecay: 0.5 });
    expect(v.theta[0]).toBe(Math.fround(1.8));
  });

  it('momentum: u ← μu + g, d = u', () => {
    // g = 1 twice, μ = 0.9: u1 = 1, θ1 = −0.1; u2 = 1.9, θ2 = −0.1 − 0.19 = −0.29.
    const v = variable('a', [0], [1], 1, 1);
    run([v], { base: BASE.momentum, gildingRate: 0 });
    expect(v.m[0]).toBe(1);
    expect(v.theta[0]).toBe(Math.fround(-0.1));
    run([v], { base: BASE.momentum, gildingRate: 0, step: 2 });
    expect(v.m[0]).toBe(Math.fround(1.9));
    expect(v.theta[0]).toBeCloseTo(-0.29, 6);
  });

  it('adam with gilding: the bias-corrected direction is ≈ sign(g), scaled by ϕ', () => {
    // Step 1: m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g² → d = g/(|g| + ε) ≈ ±1.
    // ϕ as in the first case: [0.75, 1.25] → θ ≈ −0.1·[0.75, 1.25].
    const v = variable('a', [0, 0], [1, 3], 2, 2);
    run([v], { base: BASE.adam });
    expect(Array.from(v.m)).toEqual(f32([0.1, 0.3]));
    expect(Array.from(v.v)).toEqual(f32([0.001, 0.009]));
    expect(v.theta[0]).toBeCloseTo(-0.075, 6);
    expect(v.theta[1]).toBeCloseTo(-0.125, 6);
  });

  it('skips a variable with a non-finite gradient and leaves everything of it untouched', () => {
    const bad = variable('bad', [1, 2], [NaN, 1], 2, 2);
    const good = variable('good', [1, 2], [1, 3], 2, 2);
    const out = run([bad, good], { base: BASE.adam });
    expect(Array.from(out.skipped)).toEqual([1, 0]);
    expect(Array.from(bad.theta)).toEqual([1, 2]);
    expect(Array.from(bad.phi)).toEqual([1, 1]);
    expect(Array.from(bad.m)).toEqual([0, 0]);
    expect(Array.from(bad.v)).toEqual([0, 0]);
    expect(Array.from(good.phi)).toEqual(f32([0.75, 1.25]));
  });

  it('throws on a non-finite gradient before changing any variable of the call', () => {
    const first = variable('first', [1, 2], [1, 3], 2);
    const bad = variable('dense/kernel', [1, 2], [1, Infinity], 2);
    expect(() => run([first, bad], { throwOnNonFinite: true })).toThrow(NonFiniteGradientError);
    expect(() => run([first, bad], { throwOnNonFinite: true })).toThrow(/dense\/kernel/);
    expect(Array.from(first.theta)).toEqual([1, 2]);
    expect(Array.from(first.phi)).toEqual([1, 1]);
  });

  it('with a zero gilding rate ϕ stays 1 and the step is the base optimizer', () => {
    const v = variable('a', [1, 1], [1, 3], 2);
    run([v], { gildingRate: 0 });
    expect(Array.from(v.phi)).toEqual([1, 1]);
    expect(Array.from(v.theta)).toEqual(f32([0.9, 0.7]));
  });

  it('handles empty variables and all-zero gradients', () => {
    const empty = variable('empty', [], [], 0);
    const zero = variable('zero', [1, 1], [0, 0], 2);
    const out = run([empty, zero], { relativeCrack: true });
    expect(Array.from(zero.phi)).toEqual([1, 1]);
    expect(Array.from(zero.theta)).toEqual([1, 1]);
    expect(out.meanAbsDeltaPhi[0]).toBe(0);
  });
});
