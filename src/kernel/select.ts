/**
 * Chooses the kernel once per process: the native addon when a binary fits, else the reference
 * kernel, and says which and why (`kernelInfo()`). Falling back prints one line, once.
 */
import { loadNativeKernel } from './native';
import { referenceKernel } from './reference';
import type { Kernel } from './types';

export interface KernelInfo {
  /** Which kernel runs the steps. */
  kernel: 'js' | 'native';
  /** Why this kernel was chosen, in one line. */
  reason: string;
  /** The instruction set the native kernel dispatched to (native only). */
  isa?: string;
  /** Worker threads of the native kernel (native only). */
  threads?: number;
  /** Version of the native addon (native only). */
  addonVersion?: string;
}

interface Selection {
  kernel: Kernel;
  info: KernelInfo;
}

let selection: Selection | null = null;

function select(): Selection {
  const forced = process.env.KINTSUGI_KERNEL;
  if (forced != null && forced !== '' && forced !== 'js' && forced !== 'native') {
    throw new RangeError(`kintsugi: KINTSUGI_KERNEL must be 'js' or 'native'; got ${JSON.stringify(forced)}`);
  }
  if (forced === 'js') {
    return { kernel: referenceKernel, info: { kernel: 'js', reason: 'KINTSUGI_KERNEL=js forces the TypeScript reference kernel' } };
  }
  const native = loadNativeKernel();
  if (!('error' in native)) {
    const { isa, threads, addonVersion } = native.info;
    return {
      kernel: native.kernel,
      info: { kernel: 'native', reason: `native addon ${addonVersion} loaded; ${isa} kernels, ${threads} threads`, isa, threads, addonVersion },
    };
  }
  if (forced === 'native') {
    throw new Error(`kintsugi: KINTSUGI_KERNEL=native but ${native.error}`);
  }
  const reason = `${native.error}; the TypeScript reference kernel runs instead`;
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
