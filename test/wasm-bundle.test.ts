// The WebAssembly kernel as a bundler sees it: dist/kernel/wasm.js bundled by esbuild for the
// browser (no Node built-ins may be reached), then run in a bare V8 context that has
// WebAssembly and nothing of Node (no require, process, Buffer or atob), where it must step a
// variable the way the reference kernel does.
import * as esbuild from 'esbuild';
import * as fs from 'fs';
import * as path from 'path';
import * as vm from 'vm';
import { describe, expect, it } from 'vitest';
import { referenceKernel } from '../src/kernel/reference';
import { BASE, GRANULARITY, KernelParams } from '../src/kernel/types';
import { fillRandom } from './helpers';

const ENTRY = path.resolve(__dirname, '..', 'dist', 'kernel', 'wasm.js');
const BYTES = path.resolve(__dirname, '..', 'dist', 'kernel', 'wasm-bytes.js');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const embedded = fs.existsSync(BYTES) && (require(BYTES) as { simd: string | null }).simd != null;
const missing = 'dist/kernel/wasm-bytes.js holds no wasm builds; run npm run build:wasm, then npm run build';
if (!embedded && !process.env.CI) console.warn(`[wasm-bundle.test] SKIPPED: ${missing}`);

describe.runIf(!embedded && !!process.env.CI)('wasm kernel bundle under CI', () => {
  it('has the embedded builds', () => {
    throw new Error(`CI needs the wasm kernel embedded in dist: ${missing}`);
  });
});

describe.runIf(embedded)('the wasm kernel, bundled for the browser', () => {
  it('bundles with no Node built-ins and steps like the reference kernel in a context without Node', async () => {
    const built = await esbuild.build({
      entryPoints: [ENTRY], bundle: true, platform: 'browser', format: 'iife', globalName: 'kintsugiWasm', write: false, logLevel: 'silent',
    });
    const code = built.outputFiles[0].text;
    const context = vm.createContext({}); // a fresh realm: its own WebAssembly, nothing of Node
    vm.runInContext(`${code}\nglobalThis.kintsugiWasm = kintsugiWasm;`, context);
    expect(vm.runInContext('typeof require + typeof process + typeof Buffer + typeof atob', context)).toBe('undefinedundefinedundefinedundefined');

    const params: KernelParams = {
      granularity: GRANULARITY.unit, base: BASE.adam, learningRate: 0.01, gildingRate: 0.3, annealing: 0.1, relativeCrack: true,
      normalizeMean: true, phiMin: 0, phiMax: 10, momentum: 0.9, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, weightDecay: 0.01,
      throwOnNonFinite: false, step: 1,
    };
    const make = () => ({
      name: 'w', theta: fillRandom(new Float32Array(300), 1), grad: fillRandom(new Float32Array(300), 2, 0.1),
      phi: new Float32Array(30).fill(1), m: new Float32Array(300), v: new Float32Array(300),
    });
    const a = make();
    const b = make();
    context.input = { vars: [a], params };
    const ran = vm.runInContext(`(() => {
      const loaded = kintsugiWasm.loadWasmKernel();
      if ('error' in loaded) return loaded.error;
      const out = { skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) };
      for (let t = 1; t <= 3; t++) loaded.kernel.step(input.vars, { ...input.params, step: t }, out);
      return loaded.info.simd ? 'simd' : 'scalar';
    })()`, context);
    expect(['simd', 'scalar']).toContain(ran);
    const out = { skipped: new Uint8Array(1), meanAbsDeltaPhi: new Float64Array(1) };
    for (let t = 1; t <= 3; t++) referenceKernel.step([b], { ...params, step: t }, out);
    for (const key of ['theta', 'phi', 'm', 'v'] as const) {
      a[key].forEach((x, i) => {
        const y = b[key][i];
        expect(Math.abs(x - y) / Math.max(Math.abs(x), Math.abs(y), 1e-3), `${key}[${i}]`).toBeLessThanOrEqual(1e-5);
      });
    }
  });
});
