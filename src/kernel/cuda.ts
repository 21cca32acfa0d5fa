/// <reference types="node" preserve="true" />
/**
 * The CUDA kernel: the addon `npm run build:cuda` builds (build/cuda/kintsugi_cuda.node, never
 * shipped in a prebuild), wrapped for the optimizer's `device: 'cuda'`. Each variable's ϕ, m and
 * v live in device memory from its first step on; the optimizer's Float32Arrays are host copies,
 * brought up to date by `sync()` when they are read or saved, and uploaded again after
 * `reset()` (setWeights). θ and g cross the bus every step. docs/cuda.md has the design.
 *
 * Node only: the Node entry hands `openCudaKernel` to kernel selection (src/node.ts), so the
 * browser bundle never reaches this file.
 */
import * as path from 'path';
import type { DeviceKernel } from './select';
import { BASE, KernelOutput, KernelParams, KernelVariable, NonFiniteGradientError } from './types';

/** What the CUDA runtime reports (native/cuda/session.h, `Probe`). */
export interface CudaProbe {
  ok: boolean;
  /** Why no GPU can be used (the CUDA error), when `ok` is false. */
  reason: string;
  deviceCount: number;
  name: string;
  computeCapability: string;
  totalMemory: number;
  memoryClockKHz: number;
  busWidthBits: number;
  multiprocessors: number;
  driverVersion: number;
  runtimeVersion: number;
}

/** One optimizer's device state (native/cuda/addon.cpp, `Session`). */
export interface CudaSession {
  alloc(n: number, P: number, base: number): number;
  upload(id: number, phi: Float32Array, m: Float32Array, v: Float32Array): void;
  download(id: number, phi: Float32Array, m: Float32Array, v: Float32Array): void;
  release(id: number): void;
  step(ids: Int32Array, thetas: Float32Array[], grads: Float32Array[], params: Float64Array, skipped: Uint8Array, meanAbsDeltaPhi: Float64Array): number;
  memory(): { free: number; total: number; held: number };
  /** The last step's kernels again, `reps` times, on the data on the device: ms per step. */
  stepKernelsMs(params: Float64Array, reps: number): number;
  /** GB/s of `bytes` copied device→device (read + write counted), host→device and device→host (pinned). */
  bandwidth(bytes: number, reps: number): { deviceToDevice: number; hostToDevice: number; deviceToHost: number };
  dispose(): void;
}

export interface CudaAddon {
  probe(): CudaProbe;
  /** The CUDA step run on the host (native/cuda/host_step.h): what the GPU computes, bit for bit. */
  stepOnHost(vars: readonly KernelVariable[], params: Float64Array, skipped: Uint8Array, meanAbsDeltaPhi: Float64Array): number;
  Session: new () => CudaSession;
  version: string;
}

/** The package root: src/kernel (tests) and dist/kernel (the build) both sit two levels below it. */
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');
export const CUDA_ADDON_PATH = path.join(PACKAGE_ROOT, 'build', 'cuda', 'kintsugi_cuda.node');

/** KernelParams in the order the addon reads them; booleans as 0 or 1. */
export const PARAM_ORDER: readonly (keyof KernelParams)[] = [
  'granularity', 'base', 'learningRate', 'gildingRate', 'annealing', 'relativeCrack', 'normalizeMean', 'phiMin',
  'phiMax', 'momentum', 'beta1', 'beta2', 'epsilon', 'weightDecay', 'throwOnNonFinite', 'step',
];

/** `params` packed into `into` (PARAM_ORDER); non-numbers become NaN, which the addon rejects by name. */
export function packParams(params: KernelParams, into = new Float64Array(PARAM_ORDER.length)): Float64Array {
  for (let k = 0; k < PARAM_ORDER.length; k++) {
    const x = params[PARAM_ORDER[k]] as unknown;
    into[k] = typeof x === 'boolean' ? (x ? 1 : 0) : typeof x === 'number' ? x : NaN;
  }
  return into;
}

function oneLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0].trim().slice(0, 200);
}

let addon: CudaAddon | { error: string } | null = null;

/** The CUDA addon, or one line saying why it cannot be loaded. Cached; never throws. */
export function loadCudaAddon(): CudaAddon | { error: string } {
  if (addon !== null) return addon;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const fs = require('fs') as typeof import('fs');
  const where = path.relative(process.cwd(), PACKAGE_ROOT) || '.';
  if (!fs.existsSync(CUDA_ADDON_PATH)) {
    addon = {
      error: `the CUDA addon is not built (no ${path.relative(PACKAGE_ROOT, CUDA_ADDON_PATH)}); to build it: cd ${where} && npm run build:cuda (needs nvcc from CUDA 12 or newer, and cmake)`,
    };
    return addon;
  }
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const loaded = require(CUDA_ADDON_PATH) as CudaAddon;
    addon = typeof loaded?.probe === 'function' && typeof loaded?.Session === 'function'
      ? loaded
      : { error: 'the CUDA addon loaded but does not export probe() and Session' };
  } catch (e) {
    addon = { error: `the CUDA addon did not load (${oneLine(e)}); rebuild it: cd ${where} && npm run build:cuda` };
  }
  return addon;
}

/** Whether a GPU can run the CUDA kernel here: the addon and its probe, or one line saying why not. */
export function cudaStatus(): { ok: true; addon: CudaAddon; probe: CudaProbe } | { ok: false; reason: string } {
  const loaded = loadCudaAddon();
  if ('error' in loaded) return { ok: false, reason: loaded.error };
  const probe = loaded.probe();
  if (!probe.ok) {
    // CUDA reports a machine with no NVIDIA driver at all as an "insufficient" driver.
    const hint = /InsufficientDriver/.test(probe.reason) ? ' (no NVIDIA driver, or one older than this CUDA runtime needs)' : '';
    return { ok: false, reason: `the CUDA addon found no usable GPU: ${probe.reason}${hint}` };
  }
  return { ok: true, addon: loaded, probe };
}

/** "NVIDIA H200 (compute capability 9.0, 141 GB)". */
export function describeGpu(p: CudaProbe): string {
  return `${p.name} (compute capability ${p.computeCapability}, ${(p.totalMemory / 1e9).toFixed(0)} GB)`;
}

const EMPTY = new Float32Array(0);

/** Why the CUDA path refuses a supplied crack (`KernelVariable.crack`): its kernels have no path for one yet. */
export const CUDA_NO_CRACK =
  "kintsugi: per-example cracks (a supplied unit crack) are not supported on device 'cuda' yet; use device 'cpu'";

/** Throws CUDA_NO_CRACK, before anything changes, when any variable brings a crack. */
function refuseCracks(vars: readonly KernelVariable[]): void {
  for (let i = 0; i < vars.length; i++) if (vars[i].crack !== undefined) throw new Error(CUDA_NO_CRACK);
}

/** Where one variable's state lives on the device, keyed by its host ϕ array. */
interface Slot {
  id: number;
  phi: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/**
 * The optimizer's device kernel: state stays on the GPU across steps (see the file comment).
 * A variable's state is identified by its host ϕ array, which VariableStates keeps for the
 * variable's lifetime and replaces on setWeights.
 */
export class CudaKernel implements DeviceKernel {
  readonly name = 'cuda';
  readonly description: string;
  private session: CudaSession | null;
  private readonly slots = new Map<Float32Array, Slot>();
  private readonly packed = new Float64Array(PARAM_ORDER.length);
  private ids = new Int32Array(16);
  private readonly thetas: Float32Array[] = [];
  private readonly grads: Float32Array[] = [];
  /** Whether a step ran since the host arrays were last brought up to date: sync() copies only then. */
  private dirty = false;

  constructor(addon: CudaAddon, probe: CudaProbe) {
    this.session = new addon.Session();
    this.description = describeGpu(probe);
  }

  private live(): CudaSession {
    if (this.session === null) throw new Error('kintsugi: this CUDA kernel was disposed');
    return this.session;
  }

  step(vars: readonly KernelVariable[], params: KernelParams, out: KernelOutput): void {
    const session = this.live();
    refuseCracks(vars);
    const count = vars.length;
    if (this.ids.length < count) this.ids = new Int32Array(count);
    const made: Slot[] = [];
    try {
      for (let i = 0; i < count; i++) {
        const v = vars[i];
        let slot = this.slots.get(v.phi);
        if (slot === undefined) {
          // m where the base keeps it (momentum, adam), v for adam; the contract allows empty ones otherwise.
          const m = params.base === BASE.sgd ? EMPTY : v.m;
          const second = params.base === BASE.adam ? v.v : EMPTY;
          slot = { id: session.alloc(v.theta.length, v.phi.length, params.base), phi: v.phi, m, v: second };
          made.push(slot);
          this.slots.set(v.phi, slot);
          session.upload(slot.id, slot.phi, slot.m, slot.v);
        }
        this.ids[i] = slot.id;
        this.thetas[i] = v.theta;
        this.grads[i] = v.grad;
      }
      this.thetas.length = count;
      this.grads.length = count;
      const bad = session.step(this.ids.subarray(0, count), this.thetas, this.grads, packParams(params, this.packed), out.skipped, out.meanAbsDeltaPhi);
      if (bad >= 0) throw new NonFiniteGradientError(vars[bad].name);
      made.length = 0;
      this.dirty = true;
    } finally {
      // A step that failed leaves no device state behind for variables it introduced.
      for (const slot of made) {
        this.slots.delete(slot.phi);
        session.release(slot.id);
      }
      this.thetas.length = 0;
      this.grads.length = 0;
    }
  }

  sync(): void {
    const session = this.live();
    // phiStats() then valueWeights() for each variable (the ϕ recorder) must not copy every array back each time.
    if (!this.dirty) return;
    for (const slot of this.slots.values()) session.download(slot.id, slot.phi, slot.m, slot.v);
    this.dirty = false;
  }

  reset(): void {
    const session = this.live();
    for (const slot of this.slots.values()) session.release(slot.id);
    this.slots.clear();
    this.dirty = false;
  }

  dispose(): void {
    if (this.session === null) return;
    this.slots.clear();
    this.session.dispose();
    this.session = null;
  }

  /** Device memory: the device's free and total bytes, and what this kernel holds. */
  memory(): { free: number; total: number; held: number } {
    return this.live().memory();
  }

  /** The session, for the benchmark's kernels-only timing and bandwidth probes. */
  get raw(): CudaSession {
    return this.live();
  }
}

/** The optimizer's CUDA kernel, or one line saying why there is none. Never throws. */
export function openCudaKernel(): DeviceKernel | { error: string } {
  const status = cudaStatus();
  if (!status.ok) return { error: status.reason };
  try {
    return new CudaKernel(status.addon, status.probe);
  } catch (e) {
    return { error: oneLine(e) };
  }
}

/**
 * The CUDA step with Kernel's contract (state in the caller's arrays, updated in place), for
 * the tests and the benchmark: each call uploads every variable's ϕ, m and v, steps, and
 * downloads them again.
 */
export function cudaWriteThroughKernel(kernel: CudaKernel): { name: 'cuda'; step(vars: readonly KernelVariable[], params: KernelParams, out: KernelOutput): void } {
  return {
    name: 'cuda',
    step(vars, params, out) {
      refuseCracks(vars);
      kernel.reset();
      try {
        kernel.step(vars, params, out);
      } finally {
        kernel.sync();
        kernel.reset();
      }
    },
  };
}

/** The CUDA step run on the host (no GPU needed), with Kernel's contract. */
export function cudaHostKernel(loaded: CudaAddon): { name: 'cuda-host'; step(vars: readonly KernelVariable[], params: KernelParams, out: KernelOutput): void } {
  const packed = new Float64Array(PARAM_ORDER.length);
  return {
    name: 'cuda-host',
    step(vars, params, out) {
      refuseCracks(vars);
      const bad = loaded.stepOnHost(vars, packParams(params, packed), out.skipped, out.meanAbsDeltaPhi);
      if (bad >= 0) throw new NonFiniteGradientError(vars[bad].name);
    },
  };
}
