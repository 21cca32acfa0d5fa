// The binding's two phases (native/src/addon.cpp): every getter, proxy trap or other JavaScript that
// reading the arguments can run has run before the binding checks a single array, so such code
// cannot detach or shrink an array between its check and the kernel's writes. Also: the two ways
// the variables are read (in JavaScript and passed as arguments, up to 1024 variables; through
// N-API property reads beyond that) give bitwise the same step. And a supplied crack
// (KernelVariable.crack): each way it can be wrong is an error that writes nothing, on both paths,
// and a valid one steps as the reference kernel does.
//
// Skips, saying why, when the addon does not load; fails under CI.
import { describe, expect, it } from 'vitest';
import { loadNativeAddon, NativeAddon } from '../src/kernel/native';
import { referenceKernel } from '../src/kernel/reference';
import { BASE, GRANULARITY, KernelParams, KernelVariable } from '../src/kernel/types';
import { kernelParamsOf, resolveOptions } from '../src/options';
import { cloneVars, expectNear, makeVars, newGrads, out } from './kernel-fixtures';

const loaded = loadNativeAddon();
const binding = 'error' in loaded ? null : (loaded as NativeAddon);
const why = 'error' in loaded ? loaded.error : '';
if (!binding && !process.env.CI) console.warn(`[native-binding.test] SKIPPED: ${why}`);

describe.runIf(!binding && !!process.env.CI)('native binding under CI', () => {
  it('has the native addon', () => {
    throw new Error(`CI needs the native addon: ${why}`);
  });
});

const PARAMS: KernelParams = kernelParamsOf(resolveOptions({ learningRate: 0.01, gildingRate: 0.3 }));

let seed = 1;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 4294967296) - 0.5;
function variable(name: string, rows: number, units: number): KernelVariable {
  const n = rows * units;
  const filled = (k: number, scale: number) => Float32Array.from({ length: k }, () => rand() * scale);
  return { name, theta: filled(n, 1), grad: filled(n, 0.1), phi: new Float32Array(units).fill(1), m: filled(n, 0.01), v: filled(n, 0.001).map(Math.abs) };
}
const copy = (v: KernelVariable): KernelVariable => ({ ...v, theta: v.theta.slice(), grad: v.grad.slice(), phi: v.phi.slice(), m: v.m.slice(), v: v.v.slice() });
const detach = (a: Float32Array) => structuredClone(a.buffer, { transfer: [a.buffer] });
const step = (vars: unknown, params: unknown = PARAMS, n = (vars as unknown[]).length) =>
  binding!.step(vars as KernelVariable[], params as KernelParams, new Uint8Array(n), new Float64Array(n));

describe.skipIf(!binding)('native binding: reading the arguments, then checking them', () => {
  it('a getter that detaches an array already read is caught: an error, no write', () => {
    const a = variable('a', 4, 3);
    const before = a.m.slice();
    const b = variable('b', 4, 3);
    const sneaky = { ...b, get theta() { detach(a.theta); return b.theta; } };
    expect(() => step([a, sneaky])).toThrow(/vars\[0\] \('a'\)\.theta is backed by a detached ArrayBuffer/);
    expect(Array.from(a.m)).toEqual(Array.from(before));
  });

  it('a params getter that detaches a variable’s array is caught too', () => {
    const a = variable('a', 4, 3);
    const params = { ...PARAMS, get learningRate() { detach(a.v); return 0.01; } };
    expect(() => step([a], params)).toThrow(/vars\[0\] \('a'\)\.v is backed by a detached ArrayBuffer/);
  });

  it('a getter that shrinks a resizable buffer is caught: the lengths are read after it ran', () => {
    const a = variable('a', 4, 3);
    const buffer = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer)(48, { maxByteLength: 48 });
    const theta = new Float32Array(buffer); // length-tracking
    theta.set(a.theta);
    const shrinking = { ...a, theta, get grad() { (buffer as unknown as { resize(n: number): void }).resize(8); return a.grad; } };
    expect(() => step([shrinking])).toThrow(/grad has 12 elements, theta 2/);
  });

  it('each getter runs once per step', () => {
    const a = variable('a', 4, 3);
    let reads = 0;
    const counted = { ...a, get grad() { reads++; return a.grad; } };
    expect(step([counted])).toBe(-1);
    expect(reads).toBe(1);
  });

  it('a getter may itself call step: both calls step as they would alone', () => {
    const [a, b, inner] = [variable('a', 4, 3), variable('b', 5, 2), variable('inner', 3, 3)];
    const [a2, b2, inner2] = [copy(a), copy(b), copy(inner)];
    const reentrant = { ...b, get grad() { expect(step([inner])).toBe(-1); return b.grad; } };
    expect(step([a, reentrant])).toBe(-1);
    expect(step([inner2])).toBe(-1);
    expect(step([a2, b2])).toBe(-1);
    for (const [x, y] of [[a, a2], [b, b2], [inner, inner2]] as const) {
      for (const key of ['theta', 'phi', 'm', 'v'] as const) expect(Array.from(x[key]), `${x.name}.${key}`).toEqual(Array.from(y[key]));
    }
  });

  it('a getter that throws propagates its error, and nothing is written', () => {
    const a = variable('a', 4, 3);
    const before = a.theta.slice();
    const throwing = { ...variable('b', 4, 3), get phi(): Float32Array { throw new Error('from a getter'); } };
    expect(() => step([a, throwing])).toThrow('from a getter');
    expect(Array.from(a.theta)).toEqual(Array.from(before));
  });

  it('more than 1024 variables (read through N-API) step bitwise as in calls of fewer (read in JavaScript)', () => {
    // Unit granularity: each variable is its own group, so splitting the call changes nothing.
    expect(PARAMS.granularity).toBe(GRANULARITY.unit);
    const vars = Array.from({ length: 1500 }, (_, i) => variable(`v${i}`, 1 + (i % 7), 1 + (i % 5)));
    const split = vars.map(copy);
    for (let t = 1; t <= 2; t++) {
      expect(step(vars, { ...PARAMS, step: t })).toBe(-1);
      for (let i = 0; i < split.length; i += 1000) expect(step(split.slice(i, i + 1000), { ...PARAMS, step: t })).toBe(-1);
    }
    for (let i = 0; i < vars.length; i++) {
      for (const key of ['theta', 'phi', 'm', 'v'] as const) {
        expect(Buffer.from(vars[i][key].buffer).equals(Buffer.from(split[i][key].buffer)), `${vars[i].name}.${key}`).toBe(true);
      }
    }
  });

  it('errors name the variable on both paths', () => {
    const bad = (count: number) => Array.from({ length: count }, (_, i) => (i === count - 1 ? { ...variable(`v${i}`, 2, 2), m: new Float32Array(1) } : variable(`v${i}`, 2, 2)));
    expect(() => step(bad(3))).toThrow(/vars\[2\] \('v2'\): m must have 4 elements/);
    expect(() => step(bad(1100))).toThrow(/vars\[1099\] \('v1099'\): m must have 4 elements/);
    expect(() => step([variable('a', 2, 2), 7])).toThrow(/vars\[1\] must be an object/);
  });
});

describe.skipIf(!binding)('native binding: a supplied crack', () => {
  const STATE = ['theta', 'phi', 'm', 'v'] as const;
  const bits = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  /** Every array of every variable (the crack too), copied. */
  const snapshot = (vars: KernelVariable[]) => vars.map((v) => [...STATE.map((k) => v[k].slice()), v.crack?.slice()]);
  function expectUnchanged(vars: KernelVariable[], before: ReturnType<typeof snapshot>): void {
    vars.forEach((v, i) => {
      STATE.forEach((k, j) => expect(bits(v[k]).equals(bits(before[i][j]!)), `${v.name}.${k}`).toBe(true));
      if (v.crack instanceof Float32Array && v.crack.buffer.byteLength > 0) {
        expect(bits(v.crack).equals(bits(before[i][4]!)), `${v.name}.crack`).toBe(true);
      }
    });
  }
  const crackFor = (units: number, x = 0.5) => new Float32Array(units).fill(x);

  /** [what, how vars[last] ('b', 4 × 3, unit) gets its crack or params, the error]. */
  const BAD: [string, (b: KernelVariable, a: KernelVariable) => { b: KernelVariable; params?: KernelParams }, RegExp, ErrorConstructor][] = [
    ['weight granularity', (b) => ({ b: { ...b, phi: new Float32Array(12).fill(1), crack: crackFor(12) }, params: { ...PARAMS, granularity: GRANULARITY.weight } }), /\('b'\): crack is for unit granularity only/, RangeError],
    ['layer granularity', (b) => ({ b: { ...b, phi: new Float32Array(1).fill(1), crack: crackFor(1) }, params: { ...PARAMS, granularity: GRANULARITY.layer } }), /\('b'\): crack is for unit granularity only/, RangeError],
    ['a Float64Array', (b) => ({ b: { ...b, crack: new Float64Array(3) as unknown as Float32Array } }), /\('b'\)\.crack must be a Float32Array/, TypeError],
    ['a plain array', (b) => ({ b: { ...b, crack: [1, 1, 1] as unknown as Float32Array } }), /\('b'\)\.crack must be a Float32Array/, TypeError],
    ['null', (b) => ({ b: { ...b, crack: null as unknown as Float32Array } }), /\('b'\)\.crack must be a Float32Array/, TypeError],
    ['P + 1 values', (b) => ({ b: { ...b, crack: crackFor(4) } }), /\('b'\): crack has 4 values, phi 3/, RangeError],
    ['no values', (b) => ({ b: { ...b, crack: crackFor(0) } }), /\('b'\): crack has 0 values, phi 3/, RangeError],
    ['a negative value', (b) => ({ b: { ...b, crack: Float32Array.of(1, -1, 1) } }), /\('b'\): crack\[1\] is -1; a crack is finite and >= 0/, RangeError],
    ['NaN', (b) => ({ b: { ...b, crack: Float32Array.of(1, 1, NaN) } }), /\('b'\): crack\[2\] is NaN; a crack is finite and >= 0/, RangeError],
    ['Infinity', (b) => ({ b: { ...b, crack: Float32Array.of(Infinity, 1, 1) } }), /\('b'\): crack\[0\] is Infinity; a crack is finite and >= 0/, RangeError],
    ['-Infinity', (b) => ({ b: { ...b, crack: Float32Array.of(1, -Infinity, 1) } }), /\('b'\): crack\[1\] is -Infinity; a crack is finite and >= 0/, RangeError],
    ['memory of its own theta', (b) => ({ b: { ...b, crack: b.theta.fill(0.5).subarray(3, 6) } }), /overlap in memory, and one of them is written/, RangeError],
    ['memory of another variable’s phi', (b, a) => ({ b: { ...b, crack: a.phi } }), /the arrays of vars\[\d+\] and vars\[\d+\] overlap in memory/, RangeError],
  ];

  for (const count of [2, 1100]) {
    const path = count === 2 ? 'read in JavaScript' : 'read through N-API';
    for (const [what, make, message, kind] of BAD) {
      it(`${what} (${path}): ${kind.name}, and no array changes`, () => {
        // Every variable but the last is fine and carries a valid crack; the last is 'b'.
        const vars = Array.from({ length: count - 1 }, (_, i) => ({ ...variable(i === 0 ? 'a' : `v${i}`, 4, 3), crack: crackFor(3, i % 4) }));
        const { b, params } = make(variable('b', 4, 3), vars[0]);
        if (params && params.granularity !== GRANULARITY.unit) {
          // The other variables must fit that granularity, and carry no crack.
          for (let i = 0; i < vars.length; i++) {
            const { crack: _crack, ...rest } = vars[i];
            vars[i] = { ...rest, phi: new Float32Array(params.granularity === GRANULARITY.weight ? 12 : 1).fill(1) } as typeof vars[number];
          }
        }
        const all = [...vars, b];
        const before = snapshot(all);
        let caught: unknown;
        try {
          step(all, params);
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(kind);
        expect((caught as Error).message).toMatch(message);
        expect((caught as Error).message).toMatch(count === 2 ? /^kintsugi native: / : /vars\[1099\]|vars\[0\]/);
        expectUnchanged(all, before);
      });
    }
  }

  it('a getter that detaches a crack already read is caught: an error, no write', () => {
    const a = { ...variable('a', 4, 3), crack: crackFor(3) };
    const before = snapshot([a]);
    const b = variable('b', 4, 3);
    const sneaky = { ...b, get theta() { detach(a.crack); return b.theta; } };
    expect(() => step([a, sneaky])).toThrow(/vars\[0\] \('a'\)\.crack is backed by a detached ArrayBuffer/);
    STATE.forEach((k, j) => expect(bits(a[k]).equals(bits(before[0][j]!)), k).toBe(true));
  });

  it('crack: undefined is no crack, bitwise; a crack may share memory with grad (both are read only)', () => {
    const a = variable('a', 5, 4);
    const [b, c] = [copy(a), copy(a)];
    expect(step([a])).toBe(-1);
    expect(step([{ ...b, crack: undefined }])).toBe(-1);
    for (const key of STATE) expect(bits(b[key]).equals(bits(a[key])), key).toBe(true);
    c.grad.fill(0.25); // rows of 4 units: the crack [0.25 × 4] is the mean |g| of every unit
    const d = copy(c);
    expect(step([{ ...c, crack: c.grad.subarray(0, 4) }])).toBe(-1);
    expect(step([d])).toBe(-1);
    for (const key of STATE) expect(Array.from(c[key]), key).toEqual(Array.from(d[key]));
  });

  for (const [bname, base] of Object.entries(BASE)) {
    for (const relativeCrack of [false, true]) {
      it(`a valid crack steps as on the reference kernel (${bname}, relative crack ${relativeCrack})`, () => {
        const p: KernelParams = { ...PARAMS, base, relativeCrack, annealing: 0.2, granularity: GRANULARITY.unit };
        const shapes: [number, number][] = [[3, 4], [1, 1], [50, 7], [2, 300], [0, 5], [70, 1000]];
        const mine = makeVars(p, shapes, 11);
        // Every variable but the third a crack, one with a 0; the same arrays for both kernels (read only).
        mine.forEach((v, k) => {
          if (k % 3 !== 2) v.crack = Float32Array.from({ length: v.phi.length }, (_, u) => (u === 1 ? 0 : ((u * 7 + k) % 5) * 0.3));
        });
        const theirs = cloneVars(mine).map((v, k) => ({ ...v, crack: mine[k].crack }));
        const without = cloneVars(mine); // the same step without the cracks, which must differ
        const [beta, c] = base === BASE.momentum ? [p.momentum, 1] : [p.beta1, 1 - p.beta1];
        const mTerms = mine.map((v) => Float64Array.from(v.m, Math.abs));
        for (let t = 1; t <= 3; t++) {
          newGrads(mine, t);
          theirs.forEach((v, k) => v.grad.set(mine[k].grad));
          without.forEach((v, k) => v.grad.set(mine[k].grad));
          mine.forEach((v, k) => v.grad.forEach((g, i) => {
            if (mTerms[k].length) mTerms[k][i] = beta * mTerms[k][i] + c * Math.abs(g);
          }));
          const [om, or, ow] = [out(mine.length), out(mine.length), out(mine.length)];
          expect(binding!.step(mine, { ...p, step: t }, om.skipped, om.meanAbsDeltaPhi)).toBe(-1);
          referenceKernel.step(theirs, { ...p, step: t }, or);
          referenceKernel.step(without, { ...p, step: t }, ow);
          for (let k = 0; k < mine.length; k++) {
            const at = `step ${t} ${mine[k].name}`;
            expectNear('native', `${at} phi`, mine[k].phi, theirs[k].phi);
            expectNear('native', `${at} theta`, mine[k].theta, theirs[k].theta);
            expectNear('native', `${at} m`, mine[k].m, theirs[k].m, mTerms[k]);
            expectNear('native', `${at} v`, mine[k].v, theirs[k].v);
            expect(Math.abs(om.meanAbsDeltaPhi[k] - or.meanAbsDeltaPhi[k])).toBeLessThanOrEqual(1e-6 + 1e-3 * or.meanAbsDeltaPhi[k]);
          }
        }
        // The cracks were used: where a variable has one (and pathways to tell apart), ϕ is not what g alone gives.
        expect(Array.from(mine[0].phi)).not.toEqual(Array.from(without[0].phi));
        expect(Array.from(mine[3].phi)).not.toEqual(Array.from(without[3].phi));
      });
    }
  }
});
