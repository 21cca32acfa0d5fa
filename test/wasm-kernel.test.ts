// The WebAssembly kernel (native/src compiled by scripts/build-wasm.sh) against the reference
// kernel, for both builds (simd128 and scalar), and the two builds against each other. Skips,
// saying why, when build/wasm/ holds no builds, except under CI, where that is a failure.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { describe, expect, it } from 'vitest';
import { BASE, GRANULARITY, KernelParams, KernelVariable, NonFiniteGradientError } from '../src/kernel/types';
import { embeddedWasmBinaries, loadWasmKernel, WasmKernel, wasmSimdSupported } from '../src/kernel/wasm';
import { kernelParamsOf, resolveOptions } from '../src/options';
import { cloneVars, compareWithReference, makeVars, newGrads, out } from './kernel-fixtures';


const ROOT = path.resolve(__dirname, '..');
const WASM_DIR = path.join(ROOT, 'build', 'wasm');
const read = (file: string): Uint8Array | null => {
  const at = path.join(WASM_DIR, file);
  return fs.existsSync(at) ? new Uint8Array(fs.readFileSync(at)) : null;
};
const binaries = { simd: read('kintsugi-simd.wasm'), scalar: read('kintsugi-scalar.wasm') };
const built = binaries.simd != null && binaries.scalar != null;
const missing = `build/wasm/kintsugi-{simd,scalar}.wasm not found; run 'bash scripts/build-wasm.sh' (needs Emscripten)`;
if (!built && !process.env.CI) console.warn(`[wasm-kernel.test] SKIPPED: ${missing}`);

describe.runIf(!built && !!process.env.CI)('wasm kernel under CI', () => {
  it('has its builds', () => {
    throw new Error(`CI needs the wasm kernel: ${missing}`);
  });
});

const simdRuntime = wasmSimdSupported();

function load(simd: boolean): WasmKernel {
  const loaded = loadWasmKernel({ binaries, simd });
  if ('error' in loaded) throw new Error(loaded.error);
  expect(loaded.info).toEqual({ simd, bytes: (simd ? binaries.simd : binaries.scalar)!.length });
  return loaded.kernel;
}

const BASE_PARAMS: KernelParams = kernelParamsOf(resolveOptions({ learningRate: 0.01, gildingRate: 0.3 }));

/** Shapes [rows, lastAxis] of 0, 1, 3, 7, 1000 and 70000 elements (more than one 64K chunk), and tables. */
const SHAPES: [number, number][] = [
  [0, 3], [1, 1], [3, 1], [1, 3], [7, 1], [1, 7], [1000, 1], [1, 1000], [3, 7], [1, 70_000], [7000, 10], [70, 1000],
];


function bytes(a: Float32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}


function compare(kernel: WasmKernel, p: KernelParams, shapes: [number, number][], steps = 3, mutate?: (vars: KernelVariable[], t: number) => void): void {
  compareWithReference('wasm', kernel, p, shapes, steps, mutate, { thetaTerms: true, skippedUntouched: true });
}

const GRANULARITIES = Object.entries(GRANULARITY);
const BASES = Object.entries(BASE);
const BUILDS = built ? (['scalar', 'simd'] as const) : [];

describe.skipIf(!built)('wasm kernel', () => {
  it('loads both builds; the SIMD build dispatches to wasm-simd', () => {
    console.log(`[wasm-kernel.test] simd ${binaries.simd!.length} bytes, scalar ${binaries.scalar!.length} bytes; runtime simd128: ${simdRuntime}`);
    expect(simdRuntime).toBe(true); // Node >= 16.4 has simd128
    const auto = loadWasmKernel({ binaries });
    expect('kernel' in auto && auto.info.simd).toBe(true);
    expect(load(true).name).toBe('wasm');
    expect(load(false).name).toBe('wasm');
  });

  for (const build of BUILDS) {
    describe(`${build} build: parity with the reference kernel`, () => {
      for (const [gname, granularity] of GRANULARITIES) {
        for (const [bname, base] of BASES) {
          it(`${gname} × ${bname}, normalize mean and none, relative crack on and off`, () => {
            const kernel = load(build === 'simd');
            for (const normalizeMean of [true, false]) {
              for (const relativeCrack of [true, false]) {
                compare(kernel, { ...BASE_PARAMS, granularity, base, normalizeMean, relativeCrack }, SHAPES);
              }
            }
          });
        }
      }

      it('clamping, annealing and weight decay, five steps', () => {
        const kernel = load(build === 'simd');
        for (const [, granularity] of GRANULARITIES) {
          for (const [, base] of BASES) {
            const p = { ...BASE_PARAMS, granularity, base, gildingRate: 5, phiMin: 0.5, phiMax: 1.5, annealing: 0.7, weightDecay: 0.05 };
            compare(kernel, p, SHAPES, 5);
            compare(kernel, { ...p, normalizeMean: false, relativeCrack: false, phiMax: Infinity }, SHAPES, 5);
          }
        }
      });

      it('non-finite gradients: skip leaves the variable untouched, the others step', () => {
        const kernel = load(build === 'simd');
        for (const [, granularity] of GRANULARITIES) {
          for (const bad of [NaN, Infinity, -Infinity]) {
            compare(kernel, { ...BASE_PARAMS, granularity, annealing: 0.3 }, SHAPES, 3, (vars, t) => {
              if (t === 2) vars[9].grad[vars[9].grad.length - 1] = bad;
              if (t === 3) vars[4].grad[0] = bad;
            });
          }
        }
      });

      it('non-finite gradients: throw names the first bad variable and writes nothing', () => {
        const kernel = load(build === 'simd');
        for (const [, granularity] of GRANULARITIES) {
          for (const [, base] of BASES) {
            const p = { ...BASE_PARAMS, granularity, base, throwOnNonFinite: true };
            const vars = makeVars(p, SHAPES, 3);
            vars[6].grad[5] = NaN;
            vars[9].grad[0] = Infinity;
            const before = cloneVars(vars);
            const o = out(vars.length);
            o.skipped.fill(7);
            o.meanAbsDeltaPhi.fill(-1);
            let caught: unknown;
            try {
              kernel.step(vars, p, o);
            } catch (e) {
              caught = e;
            }
            expect(caught).toBeInstanceOf(NonFiniteGradientError);
            expect((caught as NonFiniteGradientError).variableName).toBe('v6');
            vars.forEach((v, k) => {
              for (const key of ['theta', 'grad', 'phi', 'm', 'v'] as const) expect(Buffer.compare(bytes(v[key]), bytes(before[k][key]))).toBe(0);
            });
            expect(Array.from(o.skipped).every((s) => s === 7)).toBe(true);
            expect(Array.from(o.meanAbsDeltaPhi).every((d) => d === -1)).toBe(true);
            // The module is still usable after a throw.
            vars[6].grad[5] = 0;
            vars[9].grad[0] = 0;
            kernel.step(vars, { ...p, throwOnNonFinite: false }, o);
            expect(Array.from(o.skipped).every((s) => s === 0)).toBe(true);
          }
        }
      });

      it('reuses its memory: steps after the first grow nothing', () => {
        const kernel = load(build === 'simd');
        const p = { ...BASE_PARAMS, granularity: GRANULARITY.unit };
        const vars = makeVars(p, [[500, 1000], [3, 7]], 5);
        kernel.step(vars, p, out(2));
        const grown = kernel.memoryBytes;
        for (let t = 2; t <= 6; t++) {
          newGrads(vars, t);
          kernel.step(vars, { ...p, step: t }, out(2));
          kernel.step(vars.slice(1), { ...p, step: t }, out(1));
        }
        expect(kernel.memoryBytes).toBe(grown);
      });

      it('bad lengths are a RangeError before anything is written', () => {
        const kernel = load(build === 'simd');
        const p = { ...BASE_PARAMS, granularity: GRANULARITY.unit };
        const vars = makeVars(p, [[4, 3], [2, 5]], 1);
        const before = cloneVars(vars);
        const bad: [Partial<KernelVariable>, KernelParams, RegExp][] = [
          [{ grad: new Float32Array(11) }, p, /grad has 11 elements/],
          [{ phi: new Float32Array(4) }, p, /10 elements do not split into units of 4/],
          [{ m: new Float32Array(0) }, p, /m has 0 elements/],
          [{ v: new Float32Array(3) }, p, /v has 3 elements/],
          [{ phi: new Float32Array(3) }, { ...p, granularity: GRANULARITY.weight }, /needs 10 phi/],
          [{ phi: new Float32Array(3) }, { ...p, granularity: GRANULARITY.layer }, /needs 1 phi/],
          [{ crack: new Float32Array(4) }, p, /crack has 4 values, phi 5/],
          [{ crack: Float32Array.from([1, 2, -1, 0, 0]) }, p, /crack\[2\] is -1/],
          [{ crack: Float32Array.from([1, NaN, 0, 0, 0]) }, p, /crack\[1\] is NaN/],
          [{ crack: new Float32Array(1), phi: new Float32Array(1) }, { ...p, granularity: GRANULARITY.layer }, /unit granularity only/],
        ];
        for (const [patch, params, message] of bad) {
          // The second variable is the bad one: the first is left alone too.
          const call = params.granularity === GRANULARITY.unit ? [vars[0], { ...vars[1], ...patch }] : [{ ...vars[1], ...patch }];
          expect(() => kernel.step(call, params, out(2))).toThrow(message);
        }
        expect(() => kernel.step(vars, p, out(1))).toThrow(/fewer than 2 slots/);
        expect(() => kernel.step(vars, { ...p, base: 5 as 0 }, out(2))).toThrow(/unknown base/);
        vars.forEach((v, k) => {
          for (const key of ['theta', 'phi', 'm', 'v'] as const) expect(Buffer.compare(bytes(v[key]), bytes(before[k][key]))).toBe(0);
        });
        // More than wasm32 can hold: refused before any copy (length-only stand-ins, never read).
        const huge = { length: 400_000_000 } as unknown as Float32Array;
        const big = { name: 'big', theta: huge, grad: huge, phi: new Float32Array(1), m: huge, v: huge };
        expect(() => kernel.step([big], { ...p, granularity: GRANULARITY.layer }, out(1))).toThrow(/does not fit in wasm32/);
        // sgd takes empty moments.
        const sgd = { ...p, base: BASE.sgd };
        kernel.step(vars.map((v) => ({ ...v, m: new Float32Array(0), v: new Float32Array(0) })), sgd, out(2));
      });
    });
  }

  it('the SIMD and scalar builds give bitwise the same theta, phi, m and v', () => {
    const simd = load(true);
    const scalar = load(false);
    for (const [gname, granularity] of GRANULARITIES) {
      for (const [bname, base] of BASES) {
        const p = { ...BASE_PARAMS, granularity, base, annealing: 0.2, weightDecay: 0.01, phiMax: 2 };
        const a = makeVars(p, SHAPES, 21);
        const b = cloneVars(a);
        for (let t = 1; t <= 5; t++) {
          newGrads(a, t);
          b.forEach((v, k) => v.grad.set(a[k].grad));
          const oa = out(a.length);
          const ob = out(b.length);
          simd.step(a, { ...p, step: t }, oa);
          scalar.step(b, { ...p, step: t }, ob);
          for (let k = 0; k < a.length; k++) {
            for (const key of ['theta', 'phi', 'm', 'v'] as const) {
              expect(Buffer.compare(bytes(a[k][key]), bytes(b[k][key])), `${gname} ${bname} step ${t} ${key} of v${k}`).toBe(0);
            }
            // meanAbsDeltaPhi of weight granularity is summed in four float64 lanes by SIMD, in one by scalar.
            expect(Math.abs(oa.meanAbsDeltaPhi[k] - ob.meanAbsDeltaPhi[k])).toBeLessThanOrEqual(1e-12 * Math.max(1, ob.meanAbsDeltaPhi[k]));
          }
        }
      }
    }
  });

  it('loading never throws', () => {
    const bad = loadWasmKernel({ binaries: { simd: null, scalar: new Uint8Array([0, 97, 115, 109, 9, 9]) }, simd: false });
    expect('error' in bad && bad.error).toMatch(/could not be instantiated/);
    const none = loadWasmKernel({ binaries: { simd: null, scalar: null } });
    expect('error' in none && none.error).toMatch(/not available/);
    const forced = loadWasmKernel({ binaries: { simd: null, scalar: binaries.scalar }, simd: true });
    expect('error' in forced && forced.error).toMatch(/SIMD build is not available/);
    const fallback = loadWasmKernel({ binaries: { simd: null, scalar: binaries.scalar } });
    expect('kernel' in fallback && fallback.info.simd).toBe(false);
    const wrongModule = loadWasmKernel({ binaries: { simd: null, scalar: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]) } });
    expect('error' in wrongModule && wrongModule.error).toMatch(/exports no memory/);
    // From src/ the embedded builds are those of dist/ (the last `npm run build`), if any: either
    // way an answer, not an exception.
    const embedded = embeddedWasmBinaries();
    if ('error' in embedded) {
      expect(embedded.error).toMatch(/build-wasm\.sh/);
    } else {
      for (const b of [embedded.simd, embedded.scalar]) if (b) expect(Array.from(b.subarray(0, 4))).toEqual([0, 97, 115, 109]);
    }
    expect(() => loadWasmKernel()).not.toThrow();
  });

  it('write-wasm-bytes embeds both builds, and the compiled kernel loads them with no fs', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kintsugi-wasm-'));
    try {
      const script = path.join(ROOT, 'scripts', 'write-wasm-bytes.cjs');
      const r = spawnSync(process.execPath, [script, path.join(dir, 'wasm-bytes.js')], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const embedded = require(path.join(dir, 'wasm-bytes.js')) as { simd: string; scalar: string };
      expect(Buffer.compare(Buffer.from(embedded.simd, 'base64'), Buffer.from(binaries.simd!))).toBe(0);
      expect(Buffer.compare(Buffer.from(embedded.scalar, 'base64'), Buffer.from(binaries.scalar!))).toBe(0);
      // The built loader (dist/kernel/wasm.js, when `npm run build` has run) next to the generated module.
      const dist = path.join(ROOT, 'dist', 'kernel');
      if (!fs.existsSync(path.join(dist, 'wasm.js'))) {
        console.warn('[wasm-kernel.test] dist/kernel/wasm.js not built; the embedded-bytes load is not checked');
        return;
      }
      for (const f of ['wasm.js', 'types.js']) fs.copyFileSync(path.join(dist, f), path.join(dir, f));
      const check = `
        const { loadWasmKernel } = require('./wasm.js');
        const results = [undefined, false].map((simd) => {
          const l = loadWasmKernel({ simd });
          if (l.error) throw new Error(l.error);
          const v = { name: 'w', theta: new Float32Array([1, 2, 3]), grad: new Float32Array([0.5, -1, 2]), phi: new Float32Array(3).fill(1), m: new Float32Array(3), v: new Float32Array(3) };
          const out = { skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) };
          l.kernel.step([v], { granularity: 1, base: 2, learningRate: 0.1, gildingRate: 0.5, annealing: 0, relativeCrack: true, normalizeMean: true,
            phiMin: 0, phiMax: 10, momentum: 0.9, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0, throwOnNonFinite: false, step: 1 }, out);
          return { simd: l.info.simd, theta: Array.from(v.theta), phi: Array.from(v.phi) };
        });
        console.log(JSON.stringify(results));`;
      const run = spawnSync(process.execPath, ['-e', check], { cwd: dir, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      const [simd, scalar] = JSON.parse(run.stdout) as { simd: boolean; theta: number[]; phi: number[] }[];
      expect(simd.simd).toBe(true);
      expect(scalar.simd).toBe(false);
      expect(simd.theta).toEqual(scalar.theta);
      expect(simd.phi).toEqual(scalar.phi);
      expect(simd.theta[0]).toBeLessThan(1);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
