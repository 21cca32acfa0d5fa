// The CUDA path where no GPU is needed:
//  - the `device` option: its values, the errors of 'cuda' where no GPU can be used (naming
//    `npm run build:cuda` without the addon, the CUDA error with it), 'auto' falling back to the
//    CPU with one line;
//  - the addon (after `npm run build:cuda`): it loads without a CUDA runtime (cudart is linked
//    statically), probes and says why no GPU can be used;
//  - the CUDA step run on the host (stepOnHost: the GPU's kernels on the CPU) against the
//    reference kernel on every option combination the CPU suites cover, bitwise run to run, and
//    its bad-input errors;
//  - a supplied crack (KernelVariable.crack), which the CUDA path refuses before anything changes
//    (through a stand-in addon, so without the addon or a GPU too).
// Without the addon the addon groups skip, saying why; under CI (which builds it) they fail.
import { spawnSync } from 'child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, copyFileSync } from 'fs';
import { createRequire } from 'module';
import { tmpdir } from 'os';
import { join } from 'path';
import { describe, expect, it, vi } from 'vitest';
import { kintsugi } from '../src';
import {
  CUDA_ADDON_PATH, CUDA_NO_CRACK, CudaAddon, cudaHostKernel, CudaKernel, CudaProbe, cudaStatus, cudaWriteThroughKernel, loadCudaAddon,
  packParams,
} from '../src/kernel/cuda';
import { KernelParams, KernelVariable, NonFiniteGradientError } from '../src/kernel/types';
import { BASE_PARAMS, bytes, hostKernel, optionCases, SHAPES } from './cuda-cases';
import { cloneVars, compareWithReference, makeVars, newGrads, out } from './kernel-fixtures';
import { tf, uniqueName, useBackend } from './helpers';

const root = join(__dirname, '..');
const loaded = loadCudaAddon();
const addon = 'error' in loaded ? null : (loaded as CudaAddon);
const whyNot = 'error' in loaded ? loaded.error : '';
if (!addon && !process.env.CI) console.warn(`[cuda.test] SKIPPED the addon's tests: ${whyNot}`);
const status = cudaStatus();

describe('the device option', () => {
  it('accepts cpu, cuda and auto, and names them when given anything else', () => {
    expect(() => kintsugi({ device: 'gpu' as never })).toThrow(/option 'device' must be one of 'cpu', 'cuda', 'auto'; got "gpu"/);
    const opt = kintsugi();
    expect(opt.deviceInfo()).toEqual({ device: 'cpu', reason: "device 'cpu'" });
    expect(opt.getConfig()).not.toHaveProperty('device');
    opt.dispose();
  });

  it.runIf(!status.ok)("'cuda' where no GPU can be used: a RangeError naming the option and saying why", () => {
    const reason = (status as { reason: string }).reason;
    let caught: unknown;
    try {
      kintsugi({ device: 'cuda' });
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RangeError);
    const message = (caught as Error).message;
    expect(message).toMatch(/^kintsugi: option 'device' is 'cuda', but /);
    expect(message).toContain(reason.slice(0, 60));
    expect(message).not.toMatch(/\n/);
    // Without the addon the message names the build command; with it, the CUDA error.
    expect(message).toMatch(addon ? /no usable GPU: cuda\w+: / : /npm run build:cuda/);
  });

  it.runIf(!status.ok)("'auto' where no GPU can be used: the CPU kernel, saying why in one line, once", async () => {
    await useBackend('cpu');
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    try {
      const a = kintsugi({ device: 'auto', learningRate: 0.1 });
      const b = kintsugi({ device: 'auto' });
      expect(a.deviceInfo().device).toBe('cpu');
      expect(a.deviceInfo().reason).toMatch(/^device 'auto': .*; the CPU kernel runs instead$/);
      const lines = warn.mock.calls.map((c) => String(c[0])).filter((l) => l.includes("device 'auto'"));
      expect(lines.length).toBeLessThanOrEqual(1); // once per process (an earlier test may have printed it)
      for (const line of lines) expect(line).not.toMatch(/\n/);
      // It trains.
      const v = tf.variable(tf.tensor1d([1, 2, 3]), true, uniqueName('auto'));
      a.minimize(() => tf.sum(tf.square(v)) as tf.Scalar);
      expect(v.dataSync()[0]).toBeLessThan(1);
      tf.dispose(v);
      a.dispose();
      b.dispose();
    } finally {
      warn.mockRestore();
    }
  });

  it.runIf(status.ok)("'cuda' and 'auto' run on the GPU when one is here", () => {
    for (const device of ['cuda', 'auto'] as const) {
      const opt = kintsugi({ device });
      expect(opt.deviceInfo()).toMatchObject({ device: 'cuda', reason: expect.stringMatching(/CUDA on /) });
      opt.dispose();
    }
  });

  it('without the addon, the loader names the build command (a copy of the loader beside no build/)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kintsugi-cuda-'));
    mkdirSync(join(dir, 'dist', 'kernel'), { recursive: true });
    for (const f of ['cuda.js', 'types.js']) copyFileSync(join(root, 'dist', 'kernel', f), join(dir, 'dist', 'kernel', f));
    const script = `const c = require(${JSON.stringify(join(dir, 'dist', 'kernel', 'cuda.js'))}); const a = c.loadCudaAddon(); console.log(JSON.stringify({ a, s: c.cudaStatus(), o: c.openCudaKernel() }))`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const { a, s, o } = JSON.parse(r.stdout);
    expect(a.error).toMatch(/^the CUDA addon is not built \(no build\/cuda\/kintsugi_cuda\.node\); to build it: cd .* && npm run build:cuda \(needs nvcc/);
    expect(s).toEqual({ ok: false, reason: a.error });
    expect(o).toEqual({ error: a.error });
  });
});

describe.runIf(!addon && !!process.env.CI)('the CUDA addon under CI', () => {
  it('is built', () => {
    throw new Error(`CI builds the CUDA addon (npm run build:cuda) before the tests: ${whyNot}`);
  });
});

describe.skipIf(!addon)('the CUDA addon', () => {
  it('needs no CUDA runtime library: cudart is linked in, and only N-API is exported', () => {
    const { describeBinary } = createRequire(__filename)(join(root, 'scripts', 'lib', 'binary-format.cjs'));
    const d = describeBinary(readFileSync(CUDA_ADDON_PATH));
    expect(d.needed.filter((n: string) => /cuda|nvrtc/i.test(n))).toEqual([]);
    expect(d.exports).toContain('napi_register_module_v1');
    expect(d.exports.filter((e: string) => /kintsugi/.test(e))).toEqual([]);
  });

  it('probes: a device, or the CUDA error saying why there is none', () => {
    const p = addon!.probe();
    console.log(`[cuda.test] probe: ${p.ok ? `${p.name} (compute ${p.computeCapability}), driver ${p.driverVersion}` : p.reason}; runtime ${p.runtimeVersion}`);
    expect(p.runtimeVersion).toBeGreaterThanOrEqual(12000);
    if (p.ok) {
      expect(p.deviceCount).toBeGreaterThan(0);
      expect(p.name.length).toBeGreaterThan(0);
    } else {
      expect(p.reason).toMatch(/^cuda\w+: .+|no device/);
      expect(() => new addon!.Session()).toThrow(new RegExp(`no usable GPU: ${p.reason.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
  });
});

describe.skipIf(!addon)('the CUDA step run on the host, against the reference kernel', () => {
  const kernel = hostKernel();
  const host = 'error' in kernel ? null : kernel;

  for (const c of optionCases()) {
    it(c.label, () => {
      compareWithReference('cuda-host', host!, c.params, c.shapes, c.steps, c.mutate, { skippedUntouched: true });
    });
  }

  it('non-finite gradients under throw: names the first bad variable and changes nothing', () => {
    for (const granularity of [0, 1, 2] as const) {
      const p = { ...BASE_PARAMS, granularity, throwOnNonFinite: true };
      const vars = makeVars(p, SHAPES, 3);
      vars[6].grad[5] = NaN;
      vars[7].grad[0] = Infinity;
      const before = cloneVars(vars);
      expect(() => host!.step(vars, p, out(vars.length))).toThrow(NonFiniteGradientError);
      try {
        host!.step(vars, p, out(vars.length));
      } catch (e) {
        expect((e as NonFiniteGradientError).variableName).toBe('v6');
      }
      vars.forEach((v, k) => {
        for (const key of ['theta', 'phi', 'm', 'v'] as const) expect(bytes(v[key]).equals(bytes(before[k][key])), `${k}.${key}`).toBe(true);
      });
    }
  });

  it('bitwise identical over 10 steps, run to run', () => {
    for (const granularity of [0, 1, 2] as const) {
      const p = { ...BASE_PARAMS, granularity, annealing: 0.2, weightDecay: 0.01 };
      const shapes: [number, number][] = [[300, 1000], [17, 9000], ...SHAPES];
      const runs = [0, 1].map(() => {
        const vars = makeVars(p, shapes, 11);
        for (let t = 1; t <= 10; t++) {
          newGrads(vars, t);
          host!.step(vars, { ...p, step: t }, out(vars.length));
        }
        return vars;
      });
      runs[1].forEach((v, k) => {
        for (const key of ['theta', 'phi', 'm', 'v'] as const) expect(bytes(v[key]).equals(bytes(runs[0][k][key])), `${k}.${key}`).toBe(true);
      });
    }
  });

  it('bad input is an error naming what is wrong, never a crash', () => {
    const good = () => makeVars(BASE_PARAMS, [[4, 3]], 1);
    const packed = (p: Partial<Record<keyof KernelParams, unknown>> = {}) => packParams({ ...BASE_PARAMS, ...p } as KernelParams);
    const call = (vars: unknown, params: unknown = packed(), skipped: unknown = new Uint8Array(4), moved: unknown = new Float64Array(4)) => () =>
      addon!.stepOnHost(vars as KernelVariable[], params as Float64Array, skipped as Uint8Array, moved as Float64Array);
    expect(call(good())()).toBe(-1);
    expect(call('nope')).toThrow(/kintsugi cuda: vars must be an array/);
    expect(call([42])).toThrow(/vars\[0\] must be an object/);
    expect(call([{ ...good()[0], theta: new Float64Array(12) }])).toThrow(/vars\[0\]\.theta must be a Float32Array/);
    expect(call([{ ...good()[0], grad: new Float32Array(11) }])).toThrow(/grad has 11 elements/);
    expect(call([{ ...good()[0], m: new Float32Array(3) }])).toThrow(/m must have 12/);
    const v = good()[0];
    expect(call([{ ...v, grad: v.theta }])).toThrow(/overlap/);
    expect(call(good(), new Float64Array(15))).toThrow(/params must hold the 16 KernelParams fields; got 15/);
    expect(call(good(), [1, 2, 3])).toThrow(/params must be a Float64Array/);
    expect(call(good(), packed({ learningRate: NaN }))).toThrow(/params\.learningRate must be a finite number/);
    expect(call(good(), packed({ granularity: 3 }))).toThrow(/params\.granularity/);
    expect(call(good(), packed({ step: 1.5 }))).toThrow(/params\.step must be an integer/);
    expect(call(good(), packed({ relativeCrack: 2 }))).toThrow(/params\.relativeCrack must be 0 or 1/);
    expect(call(good(), packed({ throwOnNonFinite: 'yes' }))).toThrow(/params\.throwOnNonFinite must be 0 or 1/);
    expect(call(good(), packed(), new Uint8Array(0))).toThrow(/at least vars.length/);
    expect(call(good(), packed(), new Uint8Array(4), new Float32Array(4))).toThrow(/meanAbsDeltaPhi must be a Float64Array/);
  });
});

describe('a supplied crack on the CUDA path', () => {
  const cracked = (p: KernelParams) => makeVars(p, [[4, 3], [2, 5]], 5).map((v, k) => (k === 1 ? { ...v, crack: new Float32Array(v.phi.length).fill(0.5) } : v));
  const snapshot = (vars: KernelVariable[]) => vars.map((v) => (['theta', 'phi', 'm', 'v'] as const).map((key) => bytes(v[key].slice())));
  const unchanged = (vars: KernelVariable[], before: Buffer[][]) =>
    vars.forEach((v, k) => (['theta', 'phi', 'm', 'v'] as const).forEach((key, j) => expect(bytes(v[key]).equals(before[k][j]), `${v.name}.${key}`).toBe(true)));

  /** An addon that records every call, so a test sees that the refusal came before any. */
  function standIn(): { addon: CudaAddon; probe: CudaProbe; calls: string[] } {
    const calls: string[] = [];
    let next = 0;
    class Session {
      alloc() { calls.push('alloc'); return ++next; }
      upload() { calls.push('upload'); }
      download() { calls.push('download'); }
      release() { calls.push('release'); }
      step() { calls.push('step'); return -1; }
      memory() { return { free: 0, total: 0, held: 0 }; }
      stepKernelsMs() { return 0; }
      bandwidth() { return { deviceToDevice: 0, hostToDevice: 0, deviceToHost: 0 }; }
      dispose() { calls.push('dispose'); }
    }
    const probe = { ok: true, reason: '', deviceCount: 1, name: 'stand-in', computeCapability: '9.0', totalMemory: 1e9 } as CudaProbe;
    const addon = {
      probe: () => probe,
      stepOnHost: () => { calls.push('stepOnHost'); return -1; },
      Session,
      version: 'stand-in',
    } as unknown as CudaAddon;
    return { addon, probe, calls };
  }

  it('CudaKernel refuses it with an Error before any device call; a later step without one runs', () => {
    const { addon, probe, calls } = standIn();
    const kernel = new CudaKernel(addon, probe);
    const vars = cracked(BASE_PARAMS);
    const before = snapshot(vars);
    let caught: unknown;
    try {
      kernel.step(vars, BASE_PARAMS, out(vars.length));
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(Error);
    expect((caught as Error).message).toBe(CUDA_NO_CRACK);
    expect(CUDA_NO_CRACK).toBe("kintsugi: per-example cracks (a supplied unit crack) are not supported on device 'cuda' yet; use device 'cpu'");
    expect(calls).toEqual([]);
    unchanged(vars, before);
    // Nothing was held for the refused step: the next one (no crack) allocates every variable afresh.
    kernel.step(vars.map(({ crack: _crack, ...v }) => v), BASE_PARAMS, out(vars.length));
    expect(calls).toEqual(['alloc', 'upload', 'alloc', 'upload', 'step']);
    // crack: undefined is no crack.
    kernel.step(vars.map((v) => ({ ...v, crack: undefined })), BASE_PARAMS, out(vars.length));
    kernel.dispose();
  });

  it('the host and write-through kernels refuse it before the addon is called', () => {
    const { addon, probe, calls } = standIn();
    const vars = cracked(BASE_PARAMS);
    const before = snapshot(vars);
    expect(() => cudaHostKernel(addon).step(vars, BASE_PARAMS, out(vars.length))).toThrow(CUDA_NO_CRACK);
    const kernel = new CudaKernel(addon, probe);
    expect(() => cudaWriteThroughKernel(kernel).step(vars, BASE_PARAMS, out(vars.length))).toThrow(CUDA_NO_CRACK);
    expect(calls).toEqual([]);
    unchanged(vars, before);
    kernel.dispose();
  });

  it.skipIf(!addon)("the addon's stepOnHost refuses it too, writing nothing", () => {
    const vars = cracked(BASE_PARAMS);
    const before = snapshot(vars);
    expect(() => addon!.stepOnHost(vars, packParams(BASE_PARAMS), new Uint8Array(2), new Float64Array(2))).toThrow(CUDA_NO_CRACK);
    unchanged(vars, before);
    expect(addon!.stepOnHost(vars.map((v) => ({ ...v, crack: undefined })), packParams(BASE_PARAMS), new Uint8Array(2), new Float64Array(2))).toBe(-1);
  });
});

describe('the CUDA addon is optional', () => {
  it('is not part of the package: no prebuild and no packed file refers to it', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { files: string[] };
    expect(pkg.files).not.toContain('build');
    expect(existsSync(join(root, 'prebuilds')) ? spawnSync('grep', ['-rl', 'kintsugi_cuda', join(root, 'prebuilds')]).stdout.toString() : '').toBe('');
  });
});
