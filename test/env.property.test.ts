// The environment parser (src/env.ts) against random strings: every value of every variable is
// either exactly the documented value (README, "Kernel") or a RangeError naming the variable, the
// value (clipped) and what it accepts. `npm test` runs a fixed number of cases;
// KINTSUGI_FUZZ_RUNS runs more.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ENV_NAMES, EnvName, parseEnv } from '../src/env';
import { fuzzParameters } from './fuzz';

/** The README's table, restated: what each value means, or undefined when it is refused. */
function documented(name: EnvName, raw: string, cpus: number): unknown {
  if (raw === '') return { value: undefined };
  switch (name) {
    case 'KINTSUGI_KERNEL':
      return ['js', 'wasm', 'native'].includes(raw) ? { value: raw } : undefined;
    case 'KINTSUGI_ISA':
      return ['scalar', 'avx2', 'neon', 'avx512'].includes(raw) ? { value: raw } : undefined;
    case 'KINTSUGI_STORAGE':
      return ['auto', 'copy'].includes(raw) ? { value: raw } : undefined;
    case 'KINTSUGI_THREADS': {
      const m = /^([1-9][0-9]*)(!?)$/.exec(raw);
      const n = Number(m?.[1]);
      const forced = m?.[2] === '!';
      if (!m || (forced && n > 256)) return undefined;
      return { value: { threads: forced ? n : Math.min(n, cpus), requested: n, forced } };
    }
  }
}

const nearMisses = fc.constantFrom(
  '0', '1', '2', '8', '16', '256', '257', '1000', '-3', '+4', '04', '4x', '4 ', ' 4', '4!', '16!', '256!', '257!', '!', '4!!', '1e2', '0x10', '٣', '4.0',
  'js', 'JS', 'wasm', 'native', 'native ', 'scalar', 'avx2', 'avx512', 'neon', 'wasm-simd', 'AVX2', 'auto', 'copy', 'Copy', 'bogus', 'abc',
);
const values = fc.oneof(nearMisses, fc.bigInt({ min: 1n, max: 10n ** 30n }).map((n) => `${n}${n % 2n ? '!' : ''}`), fc.string({ maxLength: 12 }), fc.string({ unit: fc.constantFrom('1', '2', '5', '0', '!', ' ', '-'), maxLength: 5 }), fc.string({ minLength: 41, maxLength: 2000 }));

describe('environment parser, property-based', () => {
  it('gives the documented value, or a RangeError naming the variable, the clipped value and the accepted values', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ENV_NAMES), values, fc.integer({ min: 1, max: 512 }), (name, raw, cpus) => {
        const expected = documented(name, raw, cpus) as { value: unknown } | undefined;
        let got: unknown;
        try {
          got = parseEnv(name, raw, cpus);
        } catch (e) {
          expect(e).toBeInstanceOf(RangeError);
          const message = (e as Error).message;
          expect(expected, `${name}=${JSON.stringify(raw)} threw ${message}`).toBeUndefined();
          expect(message.startsWith(`kintsugi: ${name} is "`)).toBe(true);
          expect(message).toContain('; it must be ');
          expect(message.length).toBeLessThan(300);
          expect(message).not.toMatch(/[\r\n]/);
          const shown = JSON.stringify(raw.slice(0, 40)).slice(1, -1);
          const cut = raw.length > 40 || shown.length > 40;
          expect(message).toContain(cut ? `"${shown.slice(0, 40)}…"` : `"${shown}"`);
          return;
        }
        expect(expected, `${name}=${JSON.stringify(raw)} gave ${JSON.stringify(got)}`).toBeDefined();
        expect(got).toEqual(expected!.value);
      }),
      fuzzParameters(2000),
    );
  });

  it('unset is the default, like empty', () => {
    for (const name of ENV_NAMES) expect(parseEnv(name, undefined, 4)).toBeUndefined();
  });
});
