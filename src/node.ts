/**
 * What only Node offers, handed to the portable code: the native addon's loader and the CUDA
 * kernel's opener (to kernel selection), and the CPU count (the cap of KINTSUGI_THREADS). The
 * Node entry (./index) imports this module for these effects; the browser entry (./browser)
 * does not, so a bundle of it never reaches `fs`, `path`, `os`, `node-gyp-build` or the CUDA addon.
 */
import * as os from 'os';
import { provideCpuCount } from './env';
import { openCudaKernel } from './kernel/cuda';
import { loadNativeKernel } from './kernel/native';
import { provideCudaOpener, provideNativeLoader } from './kernel/select';

provideCpuCount(() => {
  // availableParallelism: Node ≥ 18.14; a sandbox may report no CPUs at all.
  const n = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return Number.isInteger(n) && n >= 1 ? n : 1;
});
provideNativeLoader(loadNativeKernel);
provideCudaOpener(openCudaKernel);
