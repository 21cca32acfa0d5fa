/**
 * Chooses the kernel once per process: the native addon when a binary fits, else the
 * WebAssembly build of the same C++ kernel, else the TypeScript reference kernel, and says which
 * and why (`kernelInfo()`). Falling back prints one line, once.
 */
import { readKernelEnv, threadsNote } from '../env';
import { loadNativeKernel } from './native';
import { referenceKernel } from './reference';
import type { Kernel } from './types';
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
    const native = loadNativeKernel();
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
    if (forced !== 'wasm') console.warn(`kintsugi-optimizer: ${reason}`);
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
