// What the CUDA suites share: the option combinations the CPU suites cover (test/native.test.ts),
// as a list, so the CUDA step run on the host (test/cuda.test.ts) and on a GPU
// (test/cuda-gpu.test.ts) are held to the reference kernel on the same cases; and the CUDA
// addon's state (built? a GPU?), said once.
import { cudaHostKernel, cudaStatus, loadCudaAddon } from '../src/kernel/cuda';
import { BASE, GRANULARITY, KernelParams, KernelVariable } from '../src/kernel/types';
import { kernelParamsOf, resolveOptions } from '../src/options';

export const BASE_PARAMS: KernelParams = kernelParamsOf(resolveOptions({ learningRate: 0.01, gildingRate: 0.3 }));

/** Shapes [rows, lastAxis]: empty, single, odd sizes around the block size and a unit row block. */
export const SHAPES: [number, number][] = [
  [0, 3], [1, 1], [7, 1], [1, 17], [1023, 1], [3, 7], [100, 17], [5, 300], [9, 5000], [130, 33],
];

export interface OptionCase {
  label: string;
  params: KernelParams;
  shapes: [number, number][];
  steps: number;
  mutate?: (vars: KernelVariable[], t: number) => void;
}

const GRANULARITIES = Object.entries(GRANULARITY);
const BASES = Object.entries(BASE);

/** Every granularity × base × normalization × crack; clamps, annealing, weight decay; a long variable; non-finite gradients skipped. */
export function optionCases(): OptionCase[] {
  const cases: OptionCase[] = [];
  for (const [gname, granularity] of GRANULARITIES) {
    for (const [bname, base] of BASES) {
      for (const normalizeMean of [true, false]) {
        for (const relativeCrack of [true, false]) {
          cases.push({
            label: `${gname} × ${bname} × normalize ${normalizeMean ? 'mean' : 'none'} × ${relativeCrack ? 'relative' : 'absolute'}`,
            params: { ...BASE_PARAMS, granularity, base, normalizeMean, relativeCrack },
            shapes: SHAPES,
            steps: 3,
          });
        }
      }
    }
    const p = { ...BASE_PARAMS, granularity, gildingRate: 5, phiMin: 0.5, phiMax: 1.5, annealing: 0.7, weightDecay: 0.05 };
    cases.push({ label: `${gname}: clamping, annealing and weight decay`, params: p, shapes: SHAPES, steps: 3 });
    cases.push({
      label: `${gname}: no normalization, absolute crack, phiMax Infinity`,
      params: { ...p, normalizeMean: false, relativeCrack: false, phiMax: Infinity },
      shapes: SHAPES,
      steps: 3,
    });
    cases.push({
      label: `${gname}: 1e6 + 3 elements`,
      params: { ...BASE_PARAMS, granularity, annealing: 0.1, weightDecay: 0.01 },
      shapes: [[1, 1_000_003], [1000, 1001]],
      steps: 2,
    });
    for (const bad of [NaN, Infinity, -Infinity]) {
      cases.push({
        label: `${gname}: a ${bad} gradient is skipped, the others step`,
        params: { ...BASE_PARAMS, granularity },
        shapes: SHAPES,
        steps: 2,
        mutate: (vars, t) => {
          if (t === 2) vars[4].grad[vars[4].grad.length - 1] = bad;
        },
      });
    }
  }
  return cases;
}

/** The CUDA step run on the host, when the addon is built; else why not. */
export function hostKernel(): ReturnType<typeof cudaHostKernel> | { error: string } {
  const addon = loadCudaAddon();
  return 'error' in addon ? { error: addon.error } : cudaHostKernel(addon);
}

/** One line on whether a GPU is here, for the GPU suite's skip. */
export function gpuState(): { ok: true } | { ok: false; reason: string } {
  const s = cudaStatus();
  return s.ok ? { ok: true } : { ok: false, reason: s.reason };
}

export function bytes(a: Float32Array | Float64Array | Uint8Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}
