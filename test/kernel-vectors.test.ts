// The shared kernel test vectors (test/vectors/kernel-vectors.json, written by
// scripts/make-kernel-vectors.cjs) on every kernel: the TypeScript reference, and the native addon
// on each instruction set it reports, at 1 and 2 threads (bitwise equal). The file's header
// ("spec", "tolerance") defines the format and the rule this runner implements; native/test/
// vectors_test.cpp runs the same file on the C++ kernels.
//
// Adding a backend is one entry in BACKENDS.
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { afterAll, describe, expect, it } from 'vitest';
import { CUDA_NO_CRACK, CudaKernel, cudaHostKernel, cudaStatus, cudaWriteThroughKernel, loadCudaAddon } from '../src/kernel/cuda';
import { loadNativeAddon, loadNativeKernel, NativeAddon } from '../src/kernel/native';
import { referenceKernel } from '../src/kernel/reference';
import { BASE, Kernel, KernelParams, KernelVariable, NonFiniteGradientError } from '../src/kernel/types';
import { loadWasmKernel } from '../src/kernel/wasm';

// ---------------------------------------------------------------------------------------------
// Backends.

/** What the runner needs of a kernel: its step (KernelOutput filled, NonFiniteGradientError thrown). */
type StepKernel = Pick<Kernel, 'step'>;

/** A kernel to run every vector on, and how to run it. */
interface VectorBackend {
  name: string;
  /** The kernel, or one line saying why there is none (skipped then; a failure when CI is set). */
  kernel: StepKernel | { error: string };
  /** Called before each case runs, e.g. to select an instruction set. */
  setup?: () => void;
  /** Run each case at each of these thread counts; the results must be bitwise equal. */
  threads?: { counts: number[]; set: (n: number) => void };
  /** Why the backend may be absent even under CI (which otherwise requires every backend). */
  optional?: string;
  /** The error the backend throws for a case with a supplied crack, which it does not support (checked instead of the case). */
  refusesCrack?: string;
}

/** The kernel of a loader's result (`{ kernel, info }` or `{ error }`), or its error. */
function kernelOf(load: { kernel: StepKernel } | { error: string }): StepKernel | { error: string } {
  return 'error' in load ? { error: load.error } : load.kernel;
}

/** The native addon: one backend per instruction set it reports, each at 1 and 2 threads. */
function nativeBackends(): VectorBackend[] {
  const loaded = loadNativeKernel();
  if ('error' in loaded) return [{ name: 'native', kernel: kernelOf(loaded) }];
  const binding = loadNativeAddon() as NativeAddon; // loaded, since the kernel is
  const before = binding.info();
  afterAll(() => {
    binding.setIsa(before.isa as 'scalar');
    binding.setThreads(before.threads);
  });
  return before.isasAvailable.map((isa) => ({
    name: `native ${isa}`,
    kernel: loaded.kernel,
    setup: () => {
      const now = binding.setIsa(isa as 'scalar');
      if (now !== isa) throw new Error(`setIsa('${isa}') selected '${now}'`);
    },
    threads: {
      counts: [1, 2],
      set: (n) => {
        if (binding.setThreads(n) !== n) throw new Error(`setThreads(${n}) did not take`);
      },
    },
  }));
}

/**
 * The CUDA step run on the host (the addon of `npm run build:cuda`, which CI builds), and on a
 * GPU (CI has none: skipped, saying why, where there is none).
 */
function cudaBackends(): VectorBackend[] {
  const addon = loadCudaAddon();
  const status = cudaStatus();
  let gpu: VectorBackend['kernel'] = { error: status.ok ? '' : status.reason };
  if (status.ok) {
    const kernel = new CudaKernel(status.addon, status.probe);
    afterAll(() => kernel.dispose());
    gpu = cudaWriteThroughKernel(kernel);
  }
  return [
    { name: 'cuda-host', kernel: 'error' in addon ? { error: addon.error } : cudaHostKernel(addon), refusesCrack: CUDA_NO_CRACK },
    { name: 'cuda', kernel: gpu, optional: 'a GPU is not part of CI', refusesCrack: CUDA_NO_CRACK },
  ];
}

const BACKENDS: VectorBackend[] = [
  { name: 'reference', kernel: referenceKernel },
  ...nativeBackends(),
  ...cudaBackends(),
  { name: 'wasm-simd', kernel: kernelOf(loadWasmKernel({ simd: true })) },
  { name: 'wasm-scalar', kernel: kernelOf(loadWasmKernel({ simd: false })) },
];

// ---------------------------------------------------------------------------------------------
// The file.

const FILE = path.join(__dirname, 'vectors', 'kernel-vectors.json');
const GENERATOR = path.join(__dirname, '..', 'scripts', 'make-kernel-vectors.cjs');

type Num = number | 'NaN' | 'Infinity' | '-Infinity';
interface Fill {
  fill: { length: number; seed: number; scale: number; shift: number; set?: [number, Num][] };
}
type InputArray = Num[] | Fill;
type ExpectedArray = Num[] | { stride: number; tail: number; values: Num[] };
interface JsonVariable {
  name: string;
  n: number;
  P: number;
  theta: InputArray;
  grad: InputArray;
  phi: InputArray;
  m: InputArray;
  v: InputArray;
  laterGrads?: InputArray[];
  crack?: InputArray;
}
type JsonParams = { [K in keyof KernelParams]: KernelParams[K] extends number ? Num : KernelParams[K] };
interface JsonState {
  theta: ExpectedArray;
  phi: ExpectedArray;
  m: ExpectedArray;
  v: ExpectedArray;
}
interface JsonCheck {
  afterStep: number;
  throwIndex: number;
  skipped?: number[];
  meanAbsDeltaPhi?: number[];
  variables: JsonState[];
}
interface JsonCase {
  name: string;
  origin: 'hand' | 'oracle';
  derivation: string;
  params: JsonParams;
  steps: number;
  variables: JsonVariable[];
  checks: JsonCheck[];
}
interface Tolerance {
  rtol: number;
  floorFraction: number;
  floorMin: number;
  meanAbsDeltaPhi: { atol: number; rtol: number };
}

/** Every KernelParams field, so that a field added to the type fails to compile here. */
const PARAM_FIELDS: Record<keyof KernelParams, 'number' | 'boolean'> = {
  granularity: 'number', base: 'number', learningRate: 'number', gildingRate: 'number', annealing: 'number',
  relativeCrack: 'boolean', normalizeMean: 'boolean', phiMin: 'number', phiMax: 'number', momentum: 'number',
  beta1: 'number', beta2: 'number', epsilon: 'number', weightDecay: 'number', throwOnNonFinite: 'boolean', step: 'number',
};
const STATE_KEYS = ['theta', 'phi', 'm', 'v'] as const;

function num(x: Num): number {
  if (typeof x === 'number') return x;
  if (x === 'NaN') return NaN;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  throw new Error(`not a number: ${JSON.stringify(x)}`);
}

/** spec.fill: the seeded LCG. */
function expandFill({ fill }: Fill): Float32Array {
  const out = new Float32Array(fill.length);
  let state = fill.seed >>> 0;
  for (let k = 0; k < fill.length; k++) {
    state = (Math.imul(1664525, state) + 1013904223) >>> 0;
    const u = Math.floor(state / 256) / 16777216;
    const y = (2 * u - 1) * fill.scale;
    out[k] = y + fill.shift;
  }
  for (const [i, x] of fill.set ?? []) out[i] = num(x);
  return out;
}

function inputArray(a: InputArray, length: number, what: string): Float32Array {
  const out = Array.isArray(a) ? Float32Array.from(a, num) : expandFill(a);
  if (out.length !== length) throw new Error(`${what} has ${out.length} elements, expected ${length}`);
  return out;
}

/** An expected array as (index, value) pairs (spec.checks: plain or sampled). */
function expectedArray(e: ExpectedArray, length: number, what: string): { idx: number[]; val: number[] } {
  if (Array.isArray(e)) {
    if (e.length !== length) throw new Error(`${what} expects ${e.length} elements, the array has ${length}`);
    return { idx: e.map((_, i) => i), val: e.map(num) };
  }
  const idx: number[] = [];
  for (let i = 0; i < length; i++) if (i % e.stride === 0 || i >= length - e.tail) idx.push(i);
  if (idx.length !== e.values.length) throw new Error(`${what}: sampled ${e.values.length} values, the rule gives ${idx.length}`);
  return { idx, val: e.values.map(num) };
}

interface Parsed {
  json: JsonCase;
  params: KernelParams;
  names: string[];
  initial: { theta: Float32Array; phi: Float32Array; m: Float32Array; v: Float32Array }[];
  /** grads[step][variable] */
  grads: Float32Array[][];
  /** The supplied crack of each variable (the same at every step), or undefined. */
  cracks: (Float32Array | undefined)[];
}

function parseCase(c: JsonCase): Parsed {
  const keys = Object.keys(c.params).sort();
  expect(keys, `${c.name}: params`).toEqual(Object.keys(PARAM_FIELDS).sort());
  const params = {} as Record<string, number | boolean>;
  for (const [key, type] of Object.entries(PARAM_FIELDS)) {
    const value = (c.params as Record<string, Num | boolean>)[key];
    params[key] = type === 'boolean' ? (value as boolean) : num(value as Num);
    expect(typeof params[key], `${c.name}: params.${key}`).toBe(type);
  }
  const names = c.variables.map((v) => v.name);
  expect(new Set(names).size, `${c.name}: variable names are unique`).toBe(names.length);
  const base = params.base as number;
  const initial = c.variables.map((v) => ({
    theta: inputArray(v.theta, v.n, `${c.name} ${v.name}.theta`),
    phi: inputArray(v.phi, v.P, `${c.name} ${v.name}.phi`),
    m: inputArray(v.m, base === BASE.sgd ? 0 : v.n, `${c.name} ${v.name}.m`),
    v: inputArray(v.v, base === BASE.adam ? v.n : 0, `${c.name} ${v.name}.v`),
  }));
  const grads: Float32Array[][] = [];
  for (let s = 0; s < c.steps; s++) {
    grads.push(c.variables.map((v) => {
      if (v.laterGrads) expect(v.laterGrads.length, `${c.name} ${v.name}.laterGrads`).toBe(c.steps - 1);
      const g = s === 0 || !v.laterGrads ? v.grad : v.laterGrads[s - 1];
      return inputArray(g, v.n, `${c.name} ${v.name} gradient of step ${s + 1}`);
    }));
  }
  const cracks = c.variables.map((v) => (v.crack === undefined ? undefined : inputArray(v.crack, v.P, `${c.name} ${v.name}.crack`)));
  expect(c.checks.length, `${c.name}: checks`).toBeGreaterThan(0);
  expect(c.checks[c.checks.length - 1].afterStep, `${c.name}: the last check is after the last step`).toBe(c.steps);
  return { json: c, params: params as unknown as KernelParams, names, initial, grads, cracks };
}

const doc = JSON.parse(fs.readFileSync(FILE, 'utf8')) as { format: string; tolerance: Tolerance; cases: JsonCase[] };
const TOL = doc.tolerance;
const CASES = doc.cases.map(parseCase);

// ---------------------------------------------------------------------------------------------
// Running a case.

interface Snapshot {
  afterStep: number;
  throwIndex: number;
  skipped: Uint8Array;
  meanAbsDeltaPhi: Float64Array;
  state: { theta: Float32Array; phi: Float32Array; m: Float32Array; v: Float32Array }[];
  /** The state before the step. */
  before: { theta: Float32Array; phi: Float32Array; m: Float32Array; v: Float32Array }[];
}

/** Runs every step of a case on `kernel`; a snapshot after each checked step. */
function runCase(kernel: StepKernel, c: Parsed): Snapshot[] {
  const state = c.initial.map((s) => ({ theta: s.theta.slice(), phi: s.phi.slice(), m: s.m.slice(), v: s.v.slice() }));
  const snapshots: Snapshot[] = [];
  const checkAt = new Set(c.json.checks.map((k) => k.afterStep));
  const copy = () => state.map((x) => ({ theta: x.theta.slice(), phi: x.phi.slice(), m: x.m.slice(), v: x.v.slice() }));
  for (let s = 0; s < c.json.steps; s++) {
    const before = checkAt.has(s + 1) ? copy() : [];
    const vars: KernelVariable[] = state.map((x, i) => {
      const crack = c.cracks[i];
      return crack === undefined ? { name: c.names[i], grad: c.grads[s][i], ...x } : { name: c.names[i], grad: c.grads[s][i], ...x, crack };
    });
    const out = { skipped: new Uint8Array(vars.length), meanAbsDeltaPhi: new Float64Array(vars.length) };
    let throwIndex = -1;
    try {
      kernel.step(vars, { ...c.params, step: c.params.step + s }, out);
    } catch (e) {
      if (!(e instanceof NonFiniteGradientError)) throw e;
      throwIndex = c.names.indexOf(e.variableName);
      if (throwIndex < 0) throw new Error(`step ${s + 1}: NonFiniteGradientError names '${e.variableName}', no variable of the case`);
    }
    if (checkAt.has(s + 1)) {
      snapshots.push({
        afterStep: s + 1,
        throwIndex,
        skipped: out.skipped,
        meanAbsDeltaPhi: out.meanAbsDeltaPhi,
        state: copy(),
        before,
      });
    }
  }
  return snapshots;
}

/** spec.tolerance's T for m after each step: b T + c |g| over the finite gradients, from |m₀|. */
function mTerms(c: Parsed): Map<number, Float64Array[]> {
  const p = c.params;
  const [b, k] = p.base === BASE.momentum ? [p.momentum, 1] : [p.beta1, 1 - p.beta1];
  const terms = c.initial.map((s) => Float64Array.from(s.m, Math.abs));
  const out = new Map<number, Float64Array[]>();
  for (let s = 0; s < c.json.steps; s++) {
    c.grads[s].forEach((g, i) => {
      if (terms[i].length === 0) return;
      for (let e = 0; e < g.length; e++) if (Number.isFinite(g[e])) terms[i][e] = b * terms[i][e] + k * Math.abs(g[e]);
    });
    out.set(s + 1, terms.map((t) => t.slice()));
  }
  return out;
}

/** The worst element of a backend so far, as a fraction of its tolerance. */
interface Worst {
  ratio: number;
  where: string;
}

/** The failures of one kernel's snapshots against the case's checks (empty: it passes). */
function verify(c: Parsed, snapshots: Snapshot[], worst: Worst): string[] {
  const failures: string[] = [];
  const fail = (msg: string) => {
    if (failures.length < 12) failures.push(msg);
  };
  const terms = mTerms(c);
  c.json.checks.forEach((want, k) => {
    const got = snapshots[k];
    const at = `after step ${want.afterStep}`;
    if (got.throwIndex !== want.throwIndex) fail(`${at}: throwIndex ${got.throwIndex}, expected ${want.throwIndex}`);
    const exactAll = want.throwIndex >= 0;
    if (!exactAll) {
      want.skipped!.forEach((x, i) => {
        if (got.skipped[i] !== x) fail(`${at}: skipped[${i}] = ${got.skipped[i]}, expected ${x}`);
      });
      want.meanAbsDeltaPhi!.forEach((x, i) => {
        const d = Math.abs(got.meanAbsDeltaPhi[i] - x);
        const allowed = TOL.meanAbsDeltaPhi.atol + TOL.meanAbsDeltaPhi.rtol * Math.abs(x);
        if (d / allowed > worst.ratio) Object.assign(worst, { ratio: d / allowed, where: `${c.json.name} ${at} meanAbsDeltaPhi[${i}]` });
        if (!(d <= allowed)) {
          fail(`${at}: meanAbsDeltaPhi[${i}] = ${got.meanAbsDeltaPhi[i]}, expected ${x}`);
        }
      });
    }
    want.variables.forEach((wv, i) => {
      const unchanged = exactAll || want.skipped![i] === 1;
      for (const key of STATE_KEYS) {
        const actual = got.state[i][key];
        const what = `${at}: ${c.names[i]}.${key}`;
        if (unchanged && !bits(actual).equals(bits(got.before[i][key]))) fail(`${what} changed in a step that must not write it`);
        const { idx, val } = expectedArray(wv[key], actual.length, what);
        let max = 0;
        for (const x of val) max = Math.max(max, Math.abs(x));
        const floor = Math.max(TOL.floorFraction * max, TOL.floorMin);
        const t = key === 'm' ? terms.get(want.afterStep)![i] : null;
        idx.forEach((e, j) => {
          const a = actual[e];
          const x = val[j];
          const scale = Math.max(Math.abs(a), Math.abs(x), t ? t[e] : 0, floor);
          const err = Math.abs(a - x) / scale;
          if (err / TOL.rtol > worst.ratio) Object.assign(worst, { ratio: err / TOL.rtol, where: `${c.json.name} ${what}[${e}]` });
          if (!(err <= TOL.rtol)) fail(`${what}[${e}] = ${a}, expected ${x} (relative ${err.toExponential(3)} > ${TOL.rtol})`);
        });
      }
    });
  });
  return failures;
}

function bits(a: Float32Array | Float64Array | Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

/** Where two runs of one kernel differ in any bit, or null. */
function bitwiseDifference(a: Snapshot[], b: Snapshot[], names: string[]): string | null {
  for (let k = 0; k < a.length; k++) {
    const at = `after step ${a[k].afterStep}`;
    if (a[k].throwIndex !== b[k].throwIndex) return `${at}: throwIndex`;
    if (a[k].throwIndex < 0) {
      if (!bits(a[k].skipped).equals(bits(b[k].skipped))) return `${at}: skipped`;
      if (!bits(a[k].meanAbsDeltaPhi).equals(bits(b[k].meanAbsDeltaPhi))) return `${at}: meanAbsDeltaPhi`;
    }
    for (let i = 0; i < names.length; i++) {
      for (const key of STATE_KEYS) {
        if (!bits(a[k].state[i][key]).equals(bits(b[k].state[i][key]))) return `${at}: ${names[i]}.${key}`;
      }
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Tests.

describe('kernel vectors: the file', () => {
  it('has the format this runner reads, and cases with unique names', () => {
    expect(doc.format).toBe('kintsugi-kernel-vectors/1');
    const names = doc.cases.map((c) => c.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBeGreaterThan(40);
  });

  it('is what scripts/make-kernel-vectors.cjs writes (its oracle, its hand derivations)', () => {
    const r = spawnSync(process.execPath, [GENERATOR, '--check'], { encoding: 'utf8' });
    expect(r.status, r.stderr + r.stdout).toBe(0);
  });
});

for (const backend of BACKENDS) {
  const kernel = backend.kernel;
  if ('error' in kernel) {
    if (process.env.CI && !backend.optional) {
      it(`kernel vectors on ${backend.name}: the kernel loads`, () => {
        throw new Error(`${backend.name} is not available under CI: ${kernel.error}`);
      });
    } else {
      console.warn(`[kernel-vectors.test] SKIPPED ${backend.name}: ${kernel.error}`);
      it.skip(`kernel vectors on ${backend.name} (${kernel.error})`, () => {});
    }
    continue;
  }

  describe(`kernel vectors on ${backend.name}`, () => {
    const worst: Worst = { ratio: 0, where: '' };
    afterAll(() => {
      console.log(`[kernel-vectors.test] ${backend.name}: worst deviation from the vectors ${worst.ratio.toFixed(4)} of the tolerance (${worst.where})`);
    });
    for (const c of CASES) {
      it(c.json.name, () => {
        backend.setup?.();
        if (backend.refusesCrack !== undefined && c.cracks.some((x) => x !== undefined)) {
          expect(() => runCase(kernel, c)).toThrow(backend.refusesCrack);
          return;
        }
        let runs: Snapshot[][];
        if (backend.threads) {
          const { counts, set } = backend.threads;
          runs = counts.map((n) => {
            set(n);
            return runCase(kernel, c);
          });
          runs.slice(1).forEach((other, k) => {
            const diff = bitwiseDifference(runs[0], other, c.names);
            if (diff) throw new Error(`${counts[k + 1]} threads differ from ${counts[0]} in the bits of ${diff}`);
          });
        } else {
          runs = [runCase(kernel, c)];
        }
        const failures = verify(c, runs[0], worst);
        if (failures.length) throw new Error(`${backend.name} disagrees with the vector:\n  ${failures.join('\n  ')}`);
      });
    }
  });
}
