// `kintsugi(options)` against random option objects: known names with random values of random
// kinds (numbers at and around each range's ends, NaN, ±Infinity, -0, boxed numbers, strings near
// the choices, long strings, objects, arrays, null, undefined, booleans, bigints, symbols) and
// unknown names. Each either throws a clear error (TypeError/RangeError, one line, under 300
// characters, naming the option) or constructs, and then `getConfig()` is exactly the given valid
// values over DEFAULT_OPTIONS, and `fromConfig(JSON.parse(JSON.stringify(getConfig())))` gives the
// same config. `npm test` runs a fixed number of cases; KINTSUGI_FUZZ_RUNS runs more.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KintsugiOptimizer, kintsugi } from '../src';
import { cudaStatus } from '../src/kernel/cuda';
import { CHOICES, DEFAULT_OPTIONS, NUMBER_RULES, NumberRule } from '../src/options';
import { fuzzParameters } from './fuzz';

type Key = keyof typeof DEFAULT_OPTIONS;
const KNOWN = Object.keys(DEFAULT_OPTIONS) as Key[];
const CUDA_USABLE = cudaStatus().ok;

/** The README/docs rule restated: is `value` accepted for `key`? */
function accepted(key: Key, value: unknown): boolean {
  if (value === undefined) return true; // keeps the default
  // device 'cuda' is refused, naming the option, where no GPU can run it (docs/cuda.md).
  if (key === 'device' && value === 'cuda' && !CUDA_USABLE) return false;
  const choices = CHOICES[key];
  if (choices) return typeof value === 'string' && choices.includes(value);
  const r = (NUMBER_RULES as Record<string, NumberRule>)[key];
  if (typeof value !== 'number' || Number.isNaN(value)) return false;
  if (!Number.isFinite(value) && !(r.allowInfinity && value === Infinity)) return false;
  const lo = r.minOpen ? value > r.min : value >= r.min;
  const hi = r.maxOpen ? value < r.max : value <= r.max;
  return lo && hi;
}

const boundaries = fc.constantFrom(
  0, -0, 1, -1, 0.5, 0.9, 0.999, 1 - 1e-16, 1 + 1e-15, 1e-7, 10, 1e300, -1e-300,
  Number.MIN_VALUE, -Number.MIN_VALUE, Number.MAX_VALUE, Number.EPSILON, NaN, Infinity, -Infinity,
);
const strings = fc.oneof(
  fc.constantFrom(...Object.values(CHOICES).flat()),
  fc.constantFrom('Relative', 'ADAM', 'adam ', ' sgd', 'skip\n', '', 'Infinity', 'NaN', '0.1', '1e-3', 'null', 'undefined', 'weights'),
  fc.string({ maxLength: 12 }),
  fc.string({ minLength: 41, maxLength: 3000 }),
);
const numbers = fc.oneof(boundaries, fc.double(), fc.double({ min: 0, max: 1 }), fc.integer({ min: -5, max: 5 }));
const values: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: numbers },
  { weight: 3, arbitrary: strings },
  { weight: 1, arbitrary: numbers.map((n) => new Number(n)) },
  { weight: 1, arbitrary: strings.map((s) => new String(s)) },
  { weight: 2, arbitrary: fc.constantFrom(undefined, null, true, false, 0n, 10n ** 30n, Symbol('x'), [], [0.1], {}, { valueOf: () => 0.1 }, () => 0.1) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.array(fc.string({ minLength: 30, maxLength: 60 }), { minLength: 10, maxLength: 40 }) },
);
const unknownNames = fc.oneof(
  fc.constantFrom('lr', 'learningrate', 'learning_rate', 'LearningRate', 'beta_1', 'phimax', 'epsilon ', 'decay', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', ''),
  fc.string({ maxLength: 10 }).filter((s) => !(KNOWN as string[]).includes(s)),
  fc.string({ minLength: 41, maxLength: 2000 }),
);

/** An option object: mostly known names (some missing, some undefined), sometimes an unknown one. */
const optionObjects = fc
  .tuple(
    fc.uniqueArray(fc.constantFrom(...KNOWN), { maxLength: KNOWN.length }),
    fc.array(values, { minLength: KNOWN.length, maxLength: KNOWN.length }),
    fc.array(fc.boolean(), { minLength: KNOWN.length, maxLength: KNOWN.length }),
    fc.option(fc.array(fc.tuple(unknownNames, values), { minLength: 1, maxLength: 2 }), { freq: 4 }),
  )
  .map(([keys, vals, useGood, unknown]) => {
    // Half of the time a known name gets a value from its own accepted set, so that many cases construct.
    const entries: Array<[string, unknown]> = keys.map((k, i) => [k, useGood[i] ? goodValue(k, i, vals[i]) : vals[i]]);
    if (unknown) entries.splice(entries.length >> 1, 0, ...unknown);
    return Object.fromEntries(entries) as Record<string, unknown>;
  });

function goodValue(key: Key, i: number, raw: unknown): unknown {
  const choices = CHOICES[key];
  if (choices) return choices[i % choices.length];
  const r = (NUMBER_RULES as Record<string, NumberRule>)[key];
  const x = typeof raw === 'number' && Number.isFinite(raw) ? Math.abs(raw) % 1 : 0.25;
  if (r.max === Infinity) return r.min + (r.minOpen ? 1e-9 : 0) + x * 100;
  return r.min + (r.minOpen ? 1e-9 : 0) + x * (r.max - r.min) * (r.maxOpen ? 0.999 : 1);
}

const inputs: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 12, arbitrary: optionObjects },
  { weight: 1, arbitrary: fc.constantFrom(undefined, null, 0.1, 'adam', true, [], [['learningRate', 0.1]], new Number(1), 0n) },
);

function checkMessage(e: unknown): string {
  expect(e instanceof TypeError || e instanceof RangeError, `not a TypeError/RangeError: ${String(e)}`).toBe(true);
  const message = (e as Error).message;
  expect(message.startsWith('kintsugi: '), message).toBe(true);
  expect(message.length, `message of ${message.length} characters: ${message.slice(0, 200)}…`).toBeLessThan(300);
  expect(message, message).not.toMatch(/[\r\n]/);
  return message;
}

/** -0 and 0 are the same option value; JSON writes -0 as 0. */
function normalized(config: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(config).map(([k, v]) => [k, Object.is(v, -0) ? 0 : v]));
}

describe('kintsugi(options), property-based', () => {
  it('throws a clear error, or getConfig() is exactly the valid values over the defaults and round-trips through JSON', () => {
    fc.assert(
      fc.property(inputs, (options) => {
        const isObject = options != null && typeof options === 'object' && !Array.isArray(options);
        const entries = isObject ? Object.entries(options as object) : [];
        const unknown = entries.filter(([k]) => !(KNOWN as string[]).includes(k));
        const bad = entries.filter(([k, v]) => (KNOWN as string[]).includes(k) && !accepted(k as Key, v));
        const valid = options == null || (isObject && unknown.length === 0 && bad.length === 0);
        let opt: KintsugiOptimizer;
        try {
          opt = kintsugi(options as never);
        } catch (e) {
          const message = checkMessage(e);
          expect(valid, `valid options threw: ${message}`).toBe(false);
          if (options != null && !isObject) expect(e).toBeInstanceOf(TypeError);
          else if (unknown.length > 0) expect(message).toContain('unknown option');
          else expect(bad.some(([k]) => message.includes(`option '${k}'`)), message).toBe(true);
          return;
        }
        expect(valid, `invalid options constructed: ${String(unknown.map(([k]) => k))} ${String(bad.map(([k]) => k))}`).toBe(true);
        const { storage: _storage, device: _device, ...defaults } = DEFAULT_OPTIONS;
        const given = Object.fromEntries(entries.filter(([k, v]) => v !== undefined && k !== 'storage' && k !== 'device'));
        const expected: Record<string, unknown> = { ...defaults, ...given };
        if (expected.phiMax === Infinity) expected.phiMax = 'Infinity';
        const config = opt.getConfig();
        expect(config).toEqual(expected);
        for (const key of Object.keys(expected)) expect(Object.is(config[key], expected[key]), key).toBe(true);
        const direct = KintsugiOptimizer.fromConfig(KintsugiOptimizer, JSON.parse(JSON.stringify(config)));
        expect(normalized(direct.getConfig())).toEqual(normalized(config));
        opt.dispose();
        direct.dispose();
      }),
      fuzzParameters(1000),
    );
  });

  it('fromConfig ignores keys that are not options (tfjs-layers adds its own), whatever their names', () => {
    fc.assert(
      fc.property(unknownNames, values, (key, value) => {
        fc.pre(key !== '__proto__');
        const config = kintsugi({ learningRate: 0.01, phiMax: Infinity }).getConfig();
        const withExtra = { ...JSON.parse(JSON.stringify(config)), [key]: value };
        const back = KintsugiOptimizer.fromConfig(KintsugiOptimizer, withExtra);
        expect(back.getConfig()).toEqual(config);
        back.dispose();
      }),
      fuzzParameters(200),
    );
  });
});
