/**
 * The native kernel: the C++ addon (native/) loaded with node-gyp-build, from a prebuilt binary
 * in prebuilds/ or a local build in build/Release, wrapped as a `Kernel`. Loading never throws:
 * when no binary fits, `loadNativeKernel()` says why in one line and the caller falls back.
 */
import * as path from 'path';
import { Kernel, KernelOutput, KernelParams, KernelVariable, NonFiniteGradientError } from './types';

/** The binding's surface (native/src/addon.cpp). */
export interface NativeAddon {
  step(vars: readonly KernelVariable[], params: KernelParams, skipped: Uint8Array, meanAbsDeltaPhi: Float64Array): number;
  info(): { isa: string; threads: number; version: string; isasAvailable: string[] };
  /** Testing hook: cap the instruction set for this process; returns the one now in use. */
  setIsa(isa: 'scalar' | 'avx2' | 'avx512' | 'neon'): string;
  /** STREAM-style triad a = b + s·c on the kernels' thread pool (the benchmark's roofline). */
  triad(a: Float32Array, b: Float32Array, c: Float32Array, s: number): void;
  /** Testing hook: resize the thread pool; returns the thread count now in use. */
  setThreads(n: number): number;
}

export interface NativeInfo {
  isa: string;
  threads: number;
  addonVersion: string;
}

export type NativeLoad = { kernel: Kernel; info: NativeInfo } | { error: string };

/** The package root: both src/kernel (tests) and dist/kernel (the build) sit two levels below it. */
const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');

let addon: NativeAddon | { error: string } | null = null;

function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].trim();
}

/** The raw binding, or why it could not be loaded. Cached; never throws. */
export function loadNativeAddon(): NativeAddon | { error: string } {
  if (addon !== null) return addon;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const nodeGypBuild = require('node-gyp-build') as (dir: string) => unknown;
    const loaded = nodeGypBuild(PACKAGE_ROOT) as NativeAddon;
    if (typeof loaded?.step !== 'function' || typeof loaded?.info !== 'function') {
      addon = { error: 'the native binary loaded but does not export step() and info()' };
    } else {
      addon = loaded;
    }
  } catch (e) {
    addon = {
      error: `native addon not loaded (${oneLine(e)}); build it with 'npm run build:native'`,
    };
  }
  return addon;
}

function wrap(binding: NativeAddon): Kernel {
  return {
    name: 'native',
    step(vars: readonly KernelVariable[], params: KernelParams, out: KernelOutput): void {
      const bad = binding.step(vars, params, out.skipped, out.meanAbsDeltaPhi);
      if (bad >= 0) throw new NonFiniteGradientError(vars[bad].name);
    },
  };
}

/** The native kernel and what it runs on, or one line saying why there is none. Never throws. */
export function loadNativeKernel(): NativeLoad {
  const binding = loadNativeAddon();
  if ('error' in binding) return { error: binding.error };
  try {
    const info = binding.info();
    return {
      kernel: wrap(binding),
      info: { isa: info.isa, threads: info.threads, addonVersion: info.version },
    };
  } catch (e) {
    return { error: `native addon loaded but info() failed: ${oneLine(e)}` };
  }
}
