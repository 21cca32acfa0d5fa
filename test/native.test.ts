// The native kernel against the reference kernel (the oracle), on every instruction set this CPU
// has, plus thread-count determinism and bad input through the binding. Skips, saying why, when
// no native binary is built.
import { spawnSync } from 'child_process';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { loadNativeAddon, loadNativeKernel, NativeAddon } from '../src/kernel/native';
import { BASE, GRANULARITY, KernelParams, KernelVariable, NonFiniteGradientError } from '../src/kernel/types';
import { kernelParamsOf, resolveOptions } from '../src/options';
import { cloneVars, compareWithReference, makeVars, newGrads, out } from './kernel-fixtures';


const loaded = loadNativeKernel();
const addon = loadNativeAddon();
const available = 'kernel' in loaded && !('error' in addon);
const whyNot = 'error' in loaded ? loaded.error : 'addon unavailable';
if (!available && !process.env.CI) console.warn(`[native.test] SKIPPED: ${whyNot}`);

// CI builds the addon before the tests (npm test), so a binding that does not load there is a
// failure, not a skip.
describe.runIf(!available && !!process.env.CI)('native addon under CI', () => {
  it('loads', () => {
    throw new Error(`CI needs the native addon: ${whyNot}`);
  });
});
const native = available ? (loaded as Extract<typeof loaded, { kernel: unknown }>) : null;
const binding = available ? (addon as NativeAddon) : null;
const ISAS = binding ? binding.info().isasAvailable : [];
/** What automatic dispatch picks: the best verified path (AVX-512 is opt-in, see docs/native.md). */
const DEFAULT_ISA = ISAS.includes('avx2') ? 'avx2' : ISAS.includes('neon') ? 'neon' : 'scalar';

const BASE_PARAMS: KernelParams = kernelParamsOf(resolveOptions({ learningRate: 0.01, gildingRate: 0.3 }));

/** Shapes [rows, lastAxis]: empty, single, odd sizes around vector widths and a table period. */
const SHAPES: [number, number][] = [
  [0, 3], [1, 1], [7, 1], [1, 17], [1023, 1], [3, 7], [100, 17], [5, 300], [9, 5000],
];


function compare(p: KernelParams, shapes: [number, number][], steps = 3, mutate?: (vars: KernelVariable[], t: number) => void): void {
  compareWithReference('native', native!.kernel, p, shapes, steps, mutate);
}

const GRANULARITIES = Object.entries(GRANULARITY);
const BASES = Object.entries(BASE);

describe.skipIf(!available)('native kernel', () => {
  it('reports what it runs on', () => {
    const info = binding!.info();
    console.log(`[native.test] addon ${info.version}: isa ${info.isa}, threads ${info.threads}, available ${info.isasAvailable.join(',')}`);
    expect(native!.kernel.name).toBe('native');
    expect(info.isasAvailable).toContain(info.isa);
  });

  for (const isa of ISAS) {
    describe(`parity with the reference kernel on ${isa}`, () => {
      const use = () => expect(binding!.setIsa(isa as 'scalar')).toBe(isa);

      for (const [gname, granularity] of GRANULARITIES) {
        for (const [bname, base] of BASES) {
          for (const normalizeMean of [true, false]) {
            it(`${gname} × ${bname} × normalize ${normalizeMean ? 'mean' : 'none'}`, () => {
              use();
              for (const relativeCrack of [true, false]) {
                compare({ ...BASE_PARAMS, granularity, base, normalizeMean, relativeCrack }, SHAPES);
              }
            });
          }
        }
      }

      it('clamping, annealing and weight decay', () => {
        use();
        for (const [, granularity] of GRANULARITIES) {
          const p = { ...BASE_PARAMS, granularity, gildingRate: 5, phiMin: 0.5, phiMax: 1.5, annealing: 0.7, weightDecay: 0.05 };
          compare(p, SHAPES);
          compare({ ...p, normalizeMean: false, relativeCrack: false, phiMax: Infinity }, SHAPES);
        }
      });

      it('1e6 + 3 elements, every granularity', () => {
        use();
        for (const [, granularity] of GRANULARITIES) {
          compare({ ...BASE_PARAMS, granularity, annealing: 0.1, weightDecay: 0.01 }, [[1, 1_000_003], [1000, 1001]], 2);
        }
      });

      it('non-finite gradients: skip leaves the variable untouched, the others step', () => {
        use();
        for (const [, granularity] of GRANULARITIES) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            compare({ ...BASE_PARAMS, granularity }, SHAPES, 2, (vars, t) => {
              if (t === 2) vars[4].grad[vars[4].grad.length - 1] = bad;
            });
          }
        }
      });

      it('non-finite gradients: throw names the variable and changes nothing', () => {
        use();
        for (const [, granularity] of GRANULARITIES) {
          const p = { ...BASE_PARAMS, granularity, throwOnNonFinite: true };
          const vars = makeVars(p, SHAPES, 3);
          vars[6].grad[5] = NaN;
          vars[7].grad[0] = Infinity;
          const before = cloneVars(vars);
          let caught: unknown;
          try {
            native!.kernel.step(vars, p, out(vars.length));
          } catch (e) {
            caught = e;
          }
          expect(caught).toBeInstanceOf(NonFiniteGradientError);
          expect((caught as NonFiniteGradientError).variableName).toBe('v6');
          vars.forEach((v, k) => {
            for (const key of ['theta', 'phi', 'm', 'v'] as const) expect(Buffer.compare(bytes(v[key]), bytes(before[k][key]))).toBe(0);
          });
        }
      });
    });
  }

  function bytes(a: Float32Array): Buffer {
    return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  }

  it('bitwise identical theta, phi and moments after 20 steps with 1, 2 and 4 threads', () => {
    const before = binding!.info().threads;
    try {
      for (const isa of ISAS) {
        binding!.setIsa(isa as 'scalar');
        for (const [gname, granularity] of GRANULARITIES) {
          const p = { ...BASE_PARAMS, granularity, annealing: 0.2, weightDecay: 0.01 };
          // Large variables cut into chunks, and 40 small ones that the pool runs grouped.
          const small = Array.from({ length: 40 }, (_, k): [number, number] => [50 + k, 30]);
          const shapes: [number, number][] = [[300, 1000], [17, 9000], ...small, [1, 200_001], [7, 3]];
          const runs = [1, 2, 4].map((threads) => {
            expect(binding!.setThreads(threads)).toBe(threads);
            const vars = makeVars(p, shapes, 11);
            for (let t = 1; t <= 20; t++) {
              newGrads(vars, t);
              native!.kernel.step(vars, { ...p, step: t }, out(vars.length));
            }
            return vars;
          });
          for (const other of runs.slice(1)) {
            other.forEach((v, k) => {
              for (const key of ['theta', 'phi', 'm', 'v'] as const) {
                expect(Buffer.compare(bytes(v[key]), bytes(runs[0][k][key])), `${isa} ${gname} ${key} of v${k}`).toBe(0);
              }
            });
          }
        }
      }
    } finally {
      binding!.setThreads(before);
      binding!.setIsa(DEFAULT_ISA as 'avx2');
    }
  });

  it('KINTSUGI_ISA and KINTSUGI_THREADS are read at load', () => {
    const root = path.resolve(__dirname, '..');
    const script = `const a = require('node-gyp-build')(${JSON.stringify(root)}); console.log(JSON.stringify(a.info()))`;
    const run = (env: Record<string, string>) => {
      const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { isa: string; threads: number };
    };
    // '3!': three threads even on a machine with fewer CPUs (without '!' the count is capped at them).
    expect(run({ KINTSUGI_ISA: 'scalar', KINTSUGI_THREADS: '3!' })).toMatchObject({ isa: 'scalar', threads: 3 });
    // AVX-512 is opt-in (not yet run on AVX-512 hardware): asked for, it is used where the CPU has it.
    expect(run({ KINTSUGI_ISA: 'avx512' }).isa).toBe(ISAS[ISAS.length - 1]);
    // C++ cannot throw at load, so it ignores a bad value; the package refuses it first (test/env.test.ts).
    expect(run({ KINTSUGI_ISA: 'bogus' }).isa).toBe(DEFAULT_ISA);
    expect(run({}).isa).toBe(DEFAULT_ISA);
    if (ISAS.includes('avx2')) expect(run({ KINTSUGI_ISA: 'avx2' }).isa).toBe('avx2');
  });

  it('triad computes a = b + s·c on the pool and rejects mismatched input', () => {
    const n = 300_001; // several chunks and a ragged tail
    const b = Float32Array.from({ length: n }, (_, i) => i % 7);
    const c = Float32Array.from({ length: n }, (_, i) => i % 5);
    const a = new Float32Array(n);
    binding!.triad(a, b, c, 0.5);
    for (const i of [0, 1, 65_535, 65_536, n - 1]) expect(a[i]).toBe(Math.fround(b[i] + 0.5 * c[i]));
    expect(() => binding!.triad(a, b, new Float32Array(3), 1)).toThrow(/one length/);
    expect(() => binding!.triad(a, b, c as unknown as Float32Array, NaN)).toThrow(/finite/);
    expect(() => binding!.triad(a, b, new Float64Array(n) as unknown as Float32Array, 1)).toThrow(/Float32Array/);
  });

  describe('bad input is an error, not a crash', () => {
    const good = () => makeVars({ ...BASE_PARAMS }, [[4, 3]], 1);
    const call = (vars: unknown, params: unknown = BASE_PARAMS, skipped: unknown = new Uint8Array(4), moved: unknown = new Float64Array(4)) =>
      () => binding!.step(vars as KernelVariable[], params as KernelParams, skipped as Uint8Array, moved as Float64Array);
    const withVar = (patch: Partial<Record<keyof KernelVariable, unknown>>) => call([{ ...good()[0], ...patch }]);

    it('wrong array types', () => {
      expect(withVar({ theta: new Float64Array(12) })).toThrow(/theta must be a Float32Array/);
      expect(withVar({ grad: Array.from({ length: 12 }, () => 0) })).toThrow(/grad must be a Float32Array/);
      expect(withVar({ phi: undefined })).toThrow(/phi must be a Float32Array/);
      expect(call('nope')).toThrow(/vars must be an array/);
      expect(call([42])).toThrow(/must be an object/);
      expect(call(good(), BASE_PARAMS, new Float64Array(4))).toThrow(/skipped must be a Uint8Array/);
      expect(call(good(), BASE_PARAMS, new Uint8Array(4), new Float32Array(4))).toThrow(/Float64Array/);
      expect(call(good(), BASE_PARAMS, new Uint8Array(0))).toThrow(/at least vars.length/);
    });

    it('wrong lengths', () => {
      expect(withVar({ grad: new Float32Array(11) })).toThrow(/grad has 11 elements/);
      expect(withVar({ phi: new Float32Array(5) })).toThrow(/multiple of phi.length/);
      expect(withVar({ m: new Float32Array(0) })).toThrow(/m must have 12/);
      expect(withVar({ v: new Float32Array(3) })).toThrow(/v must have 12/);
      expect(call([{ ...good()[0], phi: new Float32Array(3) }], { ...BASE_PARAMS, granularity: GRANULARITY.weight })).toThrow(/phi.length == theta.length/);
      expect(call([{ ...good()[0], phi: new Float32Array(3) }], { ...BASE_PARAMS, granularity: GRANULARITY.layer })).toThrow(/phi.length == 1/);
      // sgd accepts empty moments.
      expect(call([{ ...good()[0], m: new Float32Array(0), v: new Float32Array(0) }], { ...BASE_PARAMS, base: BASE.sgd })()).toBe(-1);
    });

    it('detached buffers and overlapping arrays', () => {
      const theta = new Float32Array(12);
      structuredClone(theta.buffer, { transfer: [theta.buffer] });
      expect(withVar({ theta })).toThrow(/detached/);
      const v = good()[0];
      expect(withVar({ grad: v.theta, theta: v.theta })).toThrow(/overlap/);
      const shared = new Float32Array(30);
      expect(withVar({ m: shared.subarray(0, 12), v: shared.subarray(6, 18) })).toThrow(/overlap/);
      // Two variables reading the same gradient is fine: it is never written.
      const g = new Float32Array(12).fill(0.1);
      const [a, b] = [good()[0], makeVars(BASE_PARAMS, [[4, 3]], 2)[0]];
      expect(call([{ ...a, grad: g }, { ...b, grad: g }])()).toBe(-1);
    });

    it('bad hyperparameters', () => {
      const bad: [keyof KernelParams, unknown][] = [
        ['learningRate', NaN], ['learningRate', -1], ['learningRate', Infinity], ['gildingRate', -0.1],
        ['annealing', NaN], ['phiMin', -1], ['phiMax', NaN], ['momentum', 1], ['beta1', 1], ['beta2', -0.5],
        ['epsilon', 0], ['weightDecay', Infinity], ['step', 0], ['step', 1.5], ['granularity', 3],
        ['base', -1], ['base', 0.5], ['relativeCrack', 1], ['throwOnNonFinite', undefined], ['learningRate', '0.1'],
      ];
      for (const [key, value] of bad) {
        expect(call(good(), { ...BASE_PARAMS, [key]: value }), `${key} = ${String(value)}`).toThrow(/kintsugi native: params\./);
      }
      expect(call(good(), { ...BASE_PARAMS, phiMin: 1, phiMax: 0.5 })).toThrow(/phiMax/); // phiMin ≤ 1 ≤ phiMax (test/option-ranges.test.ts)
      expect(call(good(), null)).toThrow(/params must be an object/);
      expect(call(good(), { ...BASE_PARAMS, phiMax: Infinity })()).toBe(-1);
    });
  });
});
