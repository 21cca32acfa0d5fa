// The CUDA kernel on a GPU: against the reference kernel on every option combination the CPU
// suites cover; bit for bit what the same kernels compute on the host (stepOnHost); bitwise run
// to run; non-finite gradients; state that stays on the device; save on CUDA and load on the CPU
// (and back); no device memory growth over 10,000 steps. Needs `npm run build:cuda` and a GPU:
// skips, saying why, where there is none (CI has no GPU; test/cuda.test.ts requires the addon
// there). scripts/gpu-check.sh runs this file on a GPU machine.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kintsugi, KintsugiOptimizer } from '../src';
import { CudaKernel, cudaHostKernel, cudaStatus, cudaWriteThroughKernel } from '../src/kernel/cuda';
import { KernelVariable, NonFiniteGradientError } from '../src/kernel/types';
import { BASE_PARAMS, bytes, gpuState, optionCases, SHAPES } from './cuda-cases';
import { cloneVars, compareWithReference, expectNear, makeVars, newGrads, out } from './kernel-fixtures';
import { smallMlp, tf, uniqueName, useBackend } from './helpers';

const gpu = gpuState();
if (!gpu.ok) console.warn(`[cuda-gpu.test] SKIPPED: ${gpu.reason}`);

const KEYS = ['theta', 'phi', 'm', 'v'] as const;

/** Where two sets of variables differ in any bit, or ''. */
function bitDifference(a: KernelVariable[], b: KernelVariable[]): string {
  for (let k = 0; k < a.length; k++)
    for (const key of KEYS) if (!bytes(a[k][key]).equals(bytes(b[k][key]))) return `${a[k].name}.${key}`;
  return '';
}

describe.skipIf(!gpu.ok)('the CUDA kernel on a GPU', () => {
  let kernel: CudaKernel;
  let writeThrough: ReturnType<typeof cudaWriteThroughKernel>;
  let host: ReturnType<typeof cudaHostKernel>;
  /** A second kernel of its own, for the tests that keep state on the device. */
  const fresh = () => {
    const s = cudaStatus();
    if (!s.ok) throw new Error(s.reason);
    return new CudaKernel(s.addon, s.probe);
  };

  beforeAll(() => {
    const s = cudaStatus();
    if (!s.ok) throw new Error(s.reason);
    kernel = new CudaKernel(s.addon, s.probe);
    writeThrough = cudaWriteThroughKernel(kernel);
    host = cudaHostKernel(s.addon);
    console.log(`[cuda-gpu.test] ${kernel.description}; driver ${s.probe.driverVersion}, runtime ${s.probe.runtimeVersion}`);
  });
  afterAll(() => kernel?.dispose());

  describe('against the reference kernel', () => {
    for (const c of optionCases()) {
      it(c.label, () => {
        compareWithReference('cuda', writeThrough, c.params, c.shapes, c.steps, c.mutate, { skippedUntouched: true });
      });
    }
  });

  describe('bit for bit what the same kernels compute on the host', () => {
    for (const c of optionCases()) {
      it(c.label, () => {
        const a = makeVars(c.params, c.shapes, 5);
        const b = cloneVars(a);
        for (let t = 1; t <= c.steps; t++) {
          newGrads(a, t);
          c.mutate?.(a, t);
          b.forEach((v, k) => v.grad.set(a[k].grad));
          const oa = out(a.length);
          const ob = out(b.length);
          writeThrough.step(a, { ...c.params, step: t }, oa);
          host.step(b, { ...c.params, step: t }, ob);
          expect(bitDifference(a, b), `step ${t}`).toBe('');
          expect(bytes(oa.skipped).equals(bytes(ob.skipped)), `step ${t} skipped`).toBe(true);
          expect(bytes(oa.meanAbsDeltaPhi).equals(bytes(ob.meanAbsDeltaPhi)), `step ${t} meanAbsDeltaPhi`).toBe(true);
        }
      });
    }
  });

  it('non-finite gradients under throw: names the first bad variable and changes nothing, on the device either', () => {
    for (const granularity of [0, 1, 2] as const) {
      const p = { ...BASE_PARAMS, granularity, throwOnNonFinite: true };
      const k = fresh();
      try {
        const vars = makeVars(p, SHAPES, 3);
        k.step(vars, { ...p, step: 1 }, out(vars.length)); // the state is on the device now
        k.sync();
        newGrads(vars, 2);
        vars[6].grad[5] = NaN;
        vars[7].grad[0] = Infinity;
        const before = cloneVars(vars);
        let caught: unknown;
        try {
          k.step(vars, { ...p, step: 2 }, out(vars.length));
        } catch (e) {
          caught = e;
        }
        expect(caught).toBeInstanceOf(NonFiniteGradientError);
        expect((caught as NonFiniteGradientError).variableName).toBe('v6');
        k.sync();
        expect(bitDifference(vars, before)).toBe('');
      } finally {
        k.dispose();
      }
    }
  });

  it('bitwise identical over 20 steps, run to run, with large and many small variables', () => {
    for (const granularity of [0, 1, 2] as const) {
      const p = { ...BASE_PARAMS, granularity, annealing: 0.2, weightDecay: 0.01 };
      const small = Array.from({ length: 40 }, (_, k): [number, number] => [50 + k, 30]);
      const shapes: [number, number][] = [[300, 1000], [17, 9000], ...small, [1, 2_000_001], [7, 3]];
      const runs = [0, 1].map(() => {
        const k = fresh();
        try {
          const vars = makeVars(p, shapes, 11);
          for (let t = 1; t <= 20; t++) {
            newGrads(vars, t);
            k.step(vars, { ...p, step: t }, out(vars.length));
          }
          k.sync();
          return vars;
        } finally {
          k.dispose();
        }
      });
      expect(bitDifference(runs[0], runs[1]), `granularity ${granularity}`).toBe('');
    }
  });

  it('keeps the state on the device: the host copies change only at sync(), then equal a write-through run', () => {
    const p = { ...BASE_PARAMS, granularity: 1 as const };
    const k = fresh();
    try {
      const resident = makeVars(p, SHAPES, 21);
      const through = cloneVars(resident);
      const initial = cloneVars(resident);
      for (let t = 1; t <= 5; t++) {
        newGrads(resident, t);
        through.forEach((v, i) => v.grad.set(resident[i].grad));
        k.step(resident, { ...p, step: t }, out(resident.length));
        writeThrough.step(through, { ...p, step: t }, out(through.length));
      }
      for (let i = 0; i < resident.length; i++) {
        for (const key of ['phi', 'm', 'v'] as const) expect(bytes(resident[i][key]).equals(bytes(initial[i][key])), `${i}.${key} before sync`).toBe(true);
      }
      k.sync();
      expect(bitDifference(resident, through)).toBe('');
    } finally {
      k.dispose();
    }
  });

  it('no device memory growth over 10,000 steps', () => {
    const p = { ...BASE_PARAMS, granularity: 1 as const };
    const k = fresh();
    try {
      const vars = makeVars(p, [[64, 32], [1, 32], [32, 10], [1, 10]], 4);
      const o = out(vars.length);
      for (let t = 1; t <= 10; t++) k.step(vars, { ...p, step: t }, o);
      const before = k.memory();
      for (let t = 11; t <= 10_010; t++) {
        if (t % 100 === 0) newGrads(vars, t);
        k.step(vars, { ...p, step: t }, o);
      }
      const after = k.memory();
      console.log(`[cuda-gpu.test] device memory over 10,000 steps: held ${before.held} -> ${after.held} B, free ${before.free} -> ${after.free} B`);
      expect(after.held).toBe(before.held);
      expect(before.free - after.free).toBeLessThanOrEqual(2 << 20); // the driver's own bookkeeping, not ours
    } finally {
      k.dispose();
    }
  });

  describe('through the optimizer', () => {
    beforeAll(() => useBackend('cpu'));

    /** The MLP after `steps` steps on each device in turn, each optimizer loading the last one's saved state. */
    async function train(devices: ('cpu' | 'cuda')[], steps: number) {
      const mlp = smallMlp(uniqueName('cuda-save'), 9);
      let previous: KintsugiOptimizer | null = null;
      for (const device of devices) {
        const opt = kintsugi({ learningRate: 0.01, gildingRate: 0.3, granularity: 'unit', device });
        if (previous) {
          await opt.setWeights(await previous.getWeights());
          previous.dispose();
        }
        for (let s = 0; s < steps; s++) opt.minimize(mlp.loss);
        previous = opt;
      }
      const phi = previous!.valueWeights(mlp.vars.w1);
      const stats = previous!.phiStats();
      previous!.dispose();
      const values = mlp.values();
      mlp.dispose();
      return { values, phi, stats };
    }

    it('save on CUDA, load on the CPU, and back: training continues within the reference tolerance', async () => {
      const cpu = await train(['cpu', 'cpu', 'cpu'], 8);
      for (const devices of [['cuda', 'cpu', 'cuda'], ['cpu', 'cuda', 'cpu'], ['cuda', 'cuda', 'cuda']] as ('cpu' | 'cuda')[][]) {
        const run = await train(devices, 8);
        run.values.forEach((v, k) => expectNear('cuda', `${devices.join('→')} variable ${k}`, v, cpu.values[k], undefined, 1e-4));
        expectNear('cuda', `${devices.join('→')} phi of w1`, run.phi, cpu.phi, undefined, 1e-5);
        expect(run.stats.iterations).toBe(24);
      }
    });

    it("'cuda' and the CPU kernel agree step by step on ϕ (valueWeights reads the device)", () => {
      const a = smallMlp(uniqueName('cuda-phi'), 3);
      const b = smallMlp(uniqueName('cpu-phi'), 3);
      const onGpu = kintsugi({ learningRate: 0.01, gildingRate: 0.5, device: 'cuda' });
      const onCpu = kintsugi({ learningRate: 0.01, gildingRate: 0.5 });
      try {
        for (let s = 0; s < 5; s++) {
          onGpu.minimize(a.loss);
          onCpu.minimize(b.loss);
          expectNear('cuda', `step ${s + 1} phi`, onGpu.valueWeights(a.vars.w2), onCpu.valueWeights(b.vars.w2));
        }
      } finally {
        onGpu.dispose();
        onCpu.dispose();
        a.dispose();
        b.dispose();
        tf.disposeVariables();
      }
    });
  });
});
