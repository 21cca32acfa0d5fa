/**
 * Chooses the kernel once per process: the native addon when a binary fits, else the
 * WebAssembly build of the same C++ kernel, else the TypeScript reference kernel, and says which
 * and why (`kernelInfo()`). Falling back prints one line, once.
 */
import { readKernelEnv, threadsNote } from '../env';
import type { DeviceMode } from '../options';
import type { NativeLoad } from './native';
import { referenceKernel } from './reference';
import type { Kernel, KernelOutput, KernelParams, KernelVariable } from './types';
import { loadWasmKernel } from './wasm';

export interface KernelInfo {
  /** Which kernel runs the steps. */
  kernel: 'js' | 'native' | 'wasm';
  /** Why this kernel was chosen, in one line. */
  reason: string;
  /** The instruction set the native kernel dispatched to (native only). */
  isa?: string;
  /** Worker threads of the native kernel (native only). */
  threads?: number;
  /** Version of the native addon (native only). */
  addonVersion?: string;
  /** Whether the WebAssembly kernel runs its SIMD (simd128) build (wasm only). */
  wasmSimd?: boolean;
}

interface Selection {
  kernel: Kernel;
  info: KernelInfo;
}

let selection: Selection | null = null;

/**
 * The native addon's loader, provided by the Node entry (src/node.ts). The browser entry never
 * provides it, so its bundle reaches no `fs`, `path` or `node-gyp-build`.
 */
let loadNative: (() => NativeLoad) | null = null;

export function provideNativeLoader(load: () => NativeLoad): void {
  loadNative = load;
}

function select(): Selection {
  // A bad value of any of the three is an error here, never a silent default (src/env.ts).
  const env = readKernelEnv();
  const forced = env.kernel;
  const note = threadsNote(env.threads);
  if (forced === 'js') {
    return { kernel: referenceKernel, info: { kernel: 'js', reason: 'KINTSUGI_KERNEL=js forces the TypeScript reference kernel' } };
  }
  let nativeError = 'KINTSUGI_KERNEL=wasm skips the native addon';
  if (forced !== 'wasm') {
    const native: NativeLoad = loadNative ? loadNative() : { error: 'the browser entry has no native addon' };
    if (!('error' in native)) {
      const { isa, threads, addonVersion } = native.info;
      return {
        kernel: native.kernel,
        info: {
          kernel: 'native',
          reason: `native addon ${addonVersion} loaded; ${isa} kernels, ${threads} threads${note ? ` (${note})` : ''}`,
          isa,
          threads,
          addonVersion,
        },
      };
    }
    if (forced === 'native') throw new Error(`kintsugi: KINTSUGI_KERNEL=native but ${native.error}`);
    nativeError = native.error;
  }
  const wasm = loadWasmKernel();
  if (!('error' in wasm)) {
    const reason = `${nativeError}; the WebAssembly kernel (${wasm.info.simd ? 'SIMD' : 'scalar'} build) runs instead`;
    // Under Node this is a fallback worth a line; the browser entry has no other choice.
    if (forced !== 'wasm' && loadNative != null) console.warn(`kintsugi-optimizer: ${reason}`);
    return { kernel: wasm.kernel, info: { kernel: 'wasm', reason, wasmSimd: wasm.info.simd } };
  }
  if (forced === 'wasm') throw new Error(`kintsugi: KINTSUGI_KERNEL=wasm but ${wasm.error}`);
  const reason = `${nativeError}; ${wasm.error}; the TypeScript reference kernel runs instead`;
  console.warn(`kintsugi-optimizer: ${reason}`);
  return { kernel: referenceKernel, info: { kernel: 'js', reason } };
}

/** The kernel every optimizer of this process uses. */
export function activeKernel(): Kernel {
  selection ??= select();
  return selection.kernel;
}

/** Which kernel runs, and why. */
export function kernelInfo(): KernelInfo {
  selection ??= select();
  return { ...selection.info };
}

// ---------------------------------------------------------------------------------------------
// The `device` option: where an optimizer's steps run.

/**
 * A kernel that keeps the optimizer's state on a device (src/kernel/cuda.ts). `step` is
 * Kernel's step, except that the variables' ϕ, m and v arrays are host copies: the device holds
 * the current values from a variable's first step on, and `sync()` copies them back.
 */
export interface DeviceKernel {
  readonly name: 'cuda';
  /** The device, in words (name, compute capability, memory). */
  readonly description: string;
  step(vars: readonly KernelVariable[], params: KernelParams, out: KernelOutput): void;
  /** Copies every variable's state back into its host arrays: before they are read or saved. */
  sync(): void;
  /** Forgets the device copies (setWeights replaced the host state); the next step uploads it. */
  reset(): void;
  dispose(): void;
}

/**
 * The CUDA kernel's opener, provided by the Node entry (src/node.ts): a new device kernel, or one
 * line saying why there is none. The browser entry has none.
 */
let openCuda: (() => DeviceKernel | { error: string }) | null = null;

export function provideCudaOpener(open: () => DeviceKernel | { error: string }): void {
  openCuda = open;
}

let autoFellBack = false;

/**
 * The device kernel for an optimizer's `device` option, or null for the CPU kernel, with why.
 * 'cuda' throws (a RangeError naming the option) when no GPU can be used, saying why: no addon
 * (and the command that builds it), or the CUDA error. 'auto' falls back to the CPU and prints
 * the reason once per process.
 */
export function openDevice(device: DeviceMode): { kernel: DeviceKernel | null; reason: string } {
  if (device === 'cpu') return { kernel: null, reason: "device 'cpu'" };
  const opened = openCuda ? openCuda() : { error: 'the browser build has no CUDA kernel' };
  if (!('error' in opened)) return { kernel: opened, reason: `device '${device}': CUDA on ${opened.description}` };
  if (device === 'cuda') throw new RangeError(`kintsugi: option 'device' is 'cuda', but ${opened.error.slice(0, 220)}`);
  const reason = `device 'auto': ${opened.error}; the CPU kernel runs instead`;
  if (!autoFellBack && openCuda != null) console.warn(`kintsugi-optimizer: ${reason}`);
  autoFellBack = true;
  return { kernel: null, reason };
}
