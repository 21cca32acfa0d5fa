// One definition of the option ranges. NUMBER_RULES and CHOICES in src/options.ts define what the
// optimizer accepts; the native binding (native/src/addon.cpp) checks the same hyperparameters
// again, because it is a boundary of its own (anything can call it). This file derives boundary
// values from those definitions alone (min, max, the doubles just inside and just outside each,
// NaN, ±Infinity, values that are not numbers) and checks that the binding accepts exactly what
// resolveOptions accepts, value by value, the options mapped to KernelParams by kernelParamsOf.
//
// Skips, saying why, when the addon does not load; fails under CI.
import { describe, expect, it } from 'vitest';
import { loadNativeAddon, NativeAddon } from '../src/kernel/native';
import { BASE, GRANULARITY, KernelParams, KernelVariable } from '../src/kernel/types';
import { CHOICES, DEFAULT_OPTIONS, kernelParamsOf, KintsugiOptions, NUMBER_RULES, NumberRule, resolveOptions, ResolvedOptions } from '../src/options';

const loaded = loadNativeAddon();
const binding = 'error' in loaded ? null : (loaded as NativeAddon);
const why = 'error' in loaded ? loaded.error : '';
if (!binding && !process.env.CI) console.warn(`[option-ranges.test] SKIPPED: ${why}`);

describe.runIf(!binding && !!process.env.CI)('option ranges under CI', () => {
  it('has the native addon', () => {
    throw new Error(`CI needs the native addon: ${why}`);
  });
});

// ---------------------------------------------------------------------------------------------
// Values derived from a rule.

const f64 = new Float64Array(1);
const bits = new BigInt64Array(f64.buffer);
/** The smallest double above x (x finite). */
function nextUp(x: number): number {
  if (x === 0) return Number.MIN_VALUE;
  f64[0] = x;
  bits[0] += x > 0 ? 1n : -1n;
  return f64[0];
}
const nextDown = (x: number): number => -nextUp(-x);

/** Values that are not numbers (or not finite ones), for any numeric field. */
const NOT_NUMBERS: unknown[] = [NaN, Infinity, -Infinity, '1', '0.5', null, true, false, {}, [1], 1n];

/** min, max and the doubles on either side of each, a value between, -0 and the extremes. */
function boundaryValues(r: NumberRule): unknown[] {
  const values: unknown[] = [r.min, nextDown(r.min), nextUp(r.min), -0, -1, Number.MAX_VALUE, -Number.MAX_VALUE];
  if (Number.isFinite(r.max)) values.push(r.max, nextDown(r.max), nextUp(r.max), (r.min + r.max) / 2);
  else values.push(r.min + 1, 1e300);
  return [...values, ...NOT_NUMBERS];
}

const label = (value: unknown): string => (typeof value === 'bigint' ? `${value}n` : Object.is(value, -0) ? '-0' : typeof value === 'string' ? JSON.stringify(value) : String(value));

// ---------------------------------------------------------------------------------------------
// The two sides.

/** Whether resolveOptions accepts `options`. */
function facadeAccepts(options: Record<string, unknown>): boolean {
  try {
    resolveOptions(options as KintsugiOptions);
    return true;
  } catch (e) {
    expect(e).toBeInstanceOf(RangeError);
    return false;
  }
}

/** The KernelParams of the default options with `name` set to `value`, whether valid or not:
 * kernelParamsOf maps, it does not check. */
const paramsWith = (name: string, value: unknown): KernelParams =>
  kernelParamsOf({ ...DEFAULT_OPTIONS, [name]: value } as ResolvedOptions);

/** The KernelParams field an option maps to (found by a sentinel value), or null for none. */
function kernelField(name: string): keyof KernelParams | null {
  const sentinel = 0.123456789;
  const mapped = paramsWith(name, sentinel);
  const fields = (Object.keys(mapped) as (keyof KernelParams)[]).filter((k) => mapped[k] === sentinel);
  return fields.length === 1 ? fields[0] : null;
}

/** One small variable that fits `p`'s granularity and base. */
function varsFor(p: KernelParams): KernelVariable[] {
  const n = 6;
  const P = p.granularity === GRANULARITY.weight ? n : p.granularity === GRANULARITY.layer ? 1 : 3;
  const moments = (needed: boolean) => (needed ? new Float32Array(n) : new Float32Array(0));
  return [{
    name: 'v', theta: new Float32Array(n).fill(0.5), grad: new Float32Array(n).fill(0.1), phi: new Float32Array(P).fill(1),
    m: moments(p.base !== BASE.sgd), v: moments(p.base === BASE.adam),
  }];
}

/** Whether the binding accepts `params`; a refusal must be the binding's own error naming `field`.
 * The variable fits `params`' granularity and base (the defaults' where those are not valid codes). */
function kernelAccepts(params: KernelParams, field: string): boolean {
  const defaults = kernelParamsOf(DEFAULT_OPTIONS as ResolvedOptions);
  const code = <T>(x: unknown, otherwise: T): T => ([0, 1, 2].includes(x as number) ? (x as T) : otherwise);
  const vars = varsFor({ ...defaults, granularity: code(params.granularity, defaults.granularity), base: code(params.base, defaults.base) });
  try {
    expect(binding!.step(vars, params, new Uint8Array(1), new Float64Array(1))).toBe(-1);
    return true;
  } catch (e) {
    expect(e, String(e)).toBeInstanceOf(Error);
    expect((e as Error).message).toMatch(new RegExp(`^kintsugi native: params\\.${field} must be`));
    expect(e instanceof RangeError || e instanceof TypeError).toBe(true);
    return false;
  }
}

// ---------------------------------------------------------------------------------------------

describe.skipIf(!binding)('option ranges: the native binding accepts exactly what resolveOptions accepts', () => {
  const numeric = Object.entries(NUMBER_RULES) as [keyof typeof NUMBER_RULES, NumberRule][];

  it('every numeric option maps to a KernelParams field of its own', () => {
    for (const [name] of numeric) expect(kernelField(name), name).not.toBeNull();
  });

  for (const [name, rule] of numeric) {
    const hi = rule.max === Infinity ? (rule.allowInfinity ? 'Infinity]' : 'Infinity)') : `${rule.max}${rule.maxOpen ? ')' : ']'}`;
    it(`${name} in ${rule.minOpen ? '(' : '['}${rule.min}, ${hi}`, () => {
      const field = kernelField(name)!;
      const disagreements: string[] = [];
      let accepted = 0;
      for (const value of boundaryValues(rule)) {
        const facade = facadeAccepts({ [name]: value });
        const kernel = kernelAccepts(paramsWith(name, value), field);
        if (facade !== kernel) disagreements.push(`${label(value)}: resolveOptions ${facade ? 'accepts' : 'refuses'}, the binding ${kernel ? 'accepts' : 'refuses'}`);
        if (facade) accepted++;
      }
      expect(disagreements, `${name}\n${disagreements.join('\n')}`).toEqual([]);
      // The derived values do straddle the range: some inside, some outside.
      expect(accepted).toBeGreaterThan(1);
      expect(accepted).toBeLessThan(boundaryValues(rule).length);
    });
  }

  it('phiMin and phiMax together: every pair of their boundary values', () => {
    // resolveOptions checks each alone; phiMin ≤ 1 ≤ phiMax makes every accepted pair ordered, so
    // the binding needs no check across the two either (it had phiMax ≥ phiMin, now implied).
    const mins = boundaryValues(NUMBER_RULES.phiMin).filter((x) => typeof x === 'number');
    const maxs = boundaryValues(NUMBER_RULES.phiMax).filter((x) => typeof x === 'number');
    for (const phiMin of mins) {
      for (const phiMax of maxs) {
        const facade = facadeAccepts({ phiMin, phiMax });
        const params = { ...paramsWith('phiMin', phiMin), phiMax: paramsWith('phiMax', phiMax).phiMax };
        let kernel = true;
        try {
          binding!.step(varsFor(params), params, new Uint8Array(1), new Float64Array(1));
        } catch (e) {
          expect((e as Error).message).toMatch(/^kintsugi native: params\.phi(Min|Max) must be/);
          kernel = false;
        }
        expect(kernel, `phiMin ${label(phiMin)}, phiMax ${label(phiMax)}`).toBe(facade);
      }
    }
  });

  it('phiMax = Infinity is in NUMBER_RULES itself (allowInfinity), so it needs no kernel-only range', () => {
    // The class-pathway stream and `normalize: 'none'` runs use an unbounded ϕ; both sides take it.
    expect(NUMBER_RULES.phiMax.allowInfinity).toBe(true);
    expect(facadeAccepts({ phiMax: Infinity })).toBe(true);
    expect(kernelAccepts(paramsWith('phiMax', Infinity), 'phiMax')).toBe(true);
    expect(kernelAccepts(paramsWith('phiMax', -Infinity), 'phiMax')).toBe(false);
  });

  it('an undefined option means its default to resolveOptions; to the binding every field is required', () => {
    // Not a disagreement: the optimizer always passes kernelParamsOf's complete object.
    for (const [name] of numeric) {
      expect(facadeAccepts({ [name]: undefined })).toBe(true);
      expect(kernelAccepts(paramsWith(name, undefined), kernelField(name)!), name).toBe(false);
    }
  });

  // The choices: each one maps (kernelParamsOf) to a code or a boolean, which the binding takes.
  const mapped = (Object.keys(CHOICES) as (keyof KintsugiOptions)[]).map((name) => {
    const defaults = kernelParamsOf(DEFAULT_OPTIONS as ResolvedOptions);
    const fields = (CHOICES[name] ?? []).map((c) => paramsWith(name, c));
    const changed = (Object.keys(defaults) as (keyof KernelParams)[]).filter((k) => fields.some((f) => f[k] !== defaults[k]));
    return { name, field: changed.length === 1 ? changed[0] : null };
  });

  it('every choice maps to one KernelParams field, except storage and device (not kernel matters)', () => {
    for (const { name, field } of mapped) expect(field === null, name).toBe(name === 'storage' || name === 'device');
  });

  for (const { name, field } of mapped.filter((m) => m.field !== null)) {
    it(`${name} → ${field}: every choice, and values that are not one`, () => {
      for (const choice of CHOICES[name] ?? []) {
        expect(facadeAccepts({ [name]: choice }), `${name} = ${choice}`).toBe(true);
        expect(kernelAccepts(paramsWith(name, choice), field!), `${name} = ${choice}`).toBe(true);
      }
      for (const other of ['bogus', '', 'Unit', 0, null]) {
        expect(facadeAccepts({ [name]: other }), `${name} = ${label(other)}`).toBe(false);
        // A code field gets undefined for it, which the binding refuses. A boolean field gets false
        // (kernelParamsOf compares with one choice), a valid value: there resolveOptions alone
        // refuses the string, and the binding's range is the booleans (tested below).
        const value = paramsWith(name, other)[field!];
        if (typeof value !== 'boolean') expect(kernelAccepts(paramsWith(name, other), field!), `${name} = ${label(other)}`).toBe(false);
      }
    });
  }

  // The codes and booleans the binding takes, exactly: what the maps in src/kernel/types.ts produce.
  it('granularity and base: exactly the codes of GRANULARITY and BASE', () => {
    for (const [field, codes] of [['granularity', Object.values(GRANULARITY)], ['base', Object.values(BASE)]] as const) {
      const candidates: unknown[] = [...codes, -1, Math.max(...codes) + 1, 0.5, 1.5, -0, ...NOT_NUMBERS];
      for (const value of candidates) {
        const params = { ...kernelParamsOf(DEFAULT_OPTIONS as ResolvedOptions), [field]: value } as KernelParams;
        const accepted = typeof value === 'number' && (codes as readonly number[]).includes(value);
        expect(kernelAccepts(params, field), `${field} = ${label(value)}`).toBe(accepted);
      }
    }
  });

  it('relativeCrack, normalizeMean, throwOnNonFinite: booleans only', () => {
    for (const field of ['relativeCrack', 'normalizeMean', 'throwOnNonFinite'] as const) {
      for (const value of [true, false, 0, 1, 'true', null, undefined, {}]) {
        const params = { ...kernelParamsOf(DEFAULT_OPTIONS as ResolvedOptions), [field]: value } as KernelParams;
        expect(kernelAccepts(params, field), `${field} = ${label(value)}`).toBe(typeof value === 'boolean');
      }
    }
  });

  it('step: kernel only (the optimizer’s count, no option): an integer in [1, 2^53 − 1]', () => {
    const base = kernelParamsOf(DEFAULT_OPTIONS as ResolvedOptions);
    const accepted = [1, 2, 1000, Number.MAX_SAFE_INTEGER];
    const refused: unknown[] = [0, -0, -1, 0.5, 1.5, nextUp(1), Number.MAX_SAFE_INTEGER + 1, ...NOT_NUMBERS];
    for (const step of accepted) expect(kernelAccepts({ ...base, step }, 'step'), `step = ${step}`).toBe(true);
    for (const step of refused) expect(kernelAccepts({ ...base, step } as KernelParams, 'step'), `step = ${label(step)}`).toBe(false);
  });
});
