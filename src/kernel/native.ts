/**
 * The native kernel: the C++ addon (native/) loaded with node-gyp-build, from a prebuilt binary
 * in prebuilds/ or a local build in build/Release, wrapped as a `Kernel`. Loading never throws:
 * when no binary fits, `loadNativeKernel()` says why in one line and the caller falls back.
 */
import * as path from 'path';
import { readEnv } from '../env';
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

/** 'glibc' or 'musl' on Linux (what node-gyp-build matches prebuild tags against), else ''. */
function libcOf(): string {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** The binaries this install ships, as "linux-x64 (glibc, musl), darwin-arm64, …". */
function shippedPrebuilds(): string {
  const dir = path.join(PACKAGE_ROOT, 'prebuilds');
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const fs = require('fs') as typeof import('fs');
    return fs.readdirSync(dir).sort().map((target) => {
      const tags = fs.readdirSync(path.join(dir, target)).map((f) => f.split('.').find((t) => t === 'glibc' || t === 'musl')).filter(Boolean);
      return tags.length > 0 ? `${target} (${tags.join(', ')})` : target;
    }).join(', ') || 'none';
  } catch {
    return 'none';
  }
}

/**
 * One line, in the manner of sharp's: which platform found no binary (or which binary failed to
 * load, and why), what ships, and the command that builds one from source.
 */
export function explainNativeLoadFailure(e: unknown): string {
  const libc = libcOf();
  const platform = `${process.platform}-${process.arch}${libc ? ` (${libc})` : ''}`;
  const message = oneLine(e);
  const what = /No native build was found/.test(message)
    ? `no native binary for ${platform} in this install (it ships: ${shippedPrebuilds()})`
    : `the native binary for ${platform} did not load (${message.slice(0, 200)})`;
  return `${what}; to build one from source: cd ${path.relative(process.cwd(), PACKAGE_ROOT) || '.'} && npm run build:native (needs a C++17 compiler, python3 and make)`;
}

/**
 * KINTSUGI_ISA and KINTSUGI_THREADS as src/env.ts parses them, applied through the binding's
 * hooks right after it loads. The C++ side read them at load too, with the same rules, but it can
 * only ignore a bad value; here a bad value makes the addon unusable, with the parser's message
 * (kernel selection has already thrown it before it loads the addon).
 */
function applyEnvironment(binding: NativeAddon): NativeAddon | { error: string } {
  let isa, threads;
  try {
    isa = readEnv('KINTSUGI_ISA');
    threads = readEnv('KINTSUGI_THREADS');
  } catch (e) {
    return { error: oneLine(e) };
  }
  try {
    if (isa !== undefined) binding.setIsa(isa);
    if (threads !== undefined && binding.info().threads !== threads.threads) binding.setThreads(threads.threads);
  } catch (e) {
    return { error: `the native addon loaded but did not take KINTSUGI_ISA/KINTSUGI_THREADS: ${oneLine(e)}` };
  }
  return binding;
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
      addon = applyEnvironment(loaded);
    }
  } catch (e) {
    addon = { error: explainNativeLoadFailure(e) };
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
