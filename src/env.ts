/**
 * The package's environment variables, read by one parser with one behaviour: unset or empty
 * means the default; an accepted value means exactly what the README's table says; anything else
 * is a RangeError, thrown where the variable is first used, that names the variable, the value
 * (clipped) and the values it accepts. Nothing falls back silently.
 *
 * First use: making an optimizer, for all four; kernel selection (`activeKernel()`,
 * `kernelInfo()`), for KINTSUGI_KERNEL, KINTSUGI_ISA and KINTSUGI_THREADS, whichever kernel then
 * runs. The native addon also reads KINTSUGI_ISA and KINTSUGI_THREADS in
 * C++ when it loads (native/src/runtime.cpp, pool.cpp, with the same rules, ignoring what they
 * refuse since nothing can throw there); src/kernel/native.ts then applies the values parsed here
 * through the binding's setIsa/setThreads, so this file decides.
 */
import { quoted } from './clip';

export const ENV_NAMES = ['KINTSUGI_KERNEL', 'KINTSUGI_ISA', 'KINTSUGI_THREADS', 'KINTSUGI_STORAGE'] as const;
export type EnvName = (typeof ENV_NAMES)[number];

/** The most threads the native pool runs (its setThreads range is [1, 256]). */
export const MAX_THREADS = 256;

export interface ThreadsSetting {
  /** Threads the native kernel runs with: `requested`, capped at the CPU count unless forced. */
  threads: number;
  /** The number the variable gives. */
  requested: number;
  /** The value ended in '!': more threads than CPUs on purpose. */
  forced: boolean;
}

export interface EnvValues {
  KINTSUGI_KERNEL: 'js' | 'wasm' | 'native';
  KINTSUGI_ISA: 'scalar' | 'avx2' | 'neon' | 'avx512';
  KINTSUGI_THREADS: ThreadsSetting;
  KINTSUGI_STORAGE: 'auto' | 'copy';
}

const CHOICES: { [K in Exclude<EnvName, 'KINTSUGI_THREADS'>]: readonly EnvValues[K][] } = {
  KINTSUGI_KERNEL: ['js', 'wasm', 'native'],
  KINTSUGI_ISA: ['scalar', 'avx2', 'neon', 'avx512'],
  KINTSUGI_STORAGE: ['auto', 'copy'],
};

/** What unset means, for the message. */
const DEFAULTS: Record<EnvName, string> = {
  KINTSUGI_KERNEL: 'native, else wasm, else js',
  KINTSUGI_ISA: 'the best verified set of this CPU',
  KINTSUGI_THREADS: 'the CPU count, at most 8',
  KINTSUGI_STORAGE: "'auto'",
};

/** Counts the CPUs this process may run on; the Node entry provides it (src/node.ts), elsewhere 1. */
let countCpus: () => number = () => 1;

/** CPUs this process may run on (1 where the Node entry was not loaded, as in a browser). */
export function cpuCount(): number {
  return countCpus();
}

/** Set by the Node entry, so this module imports no Node built-in and bundles for a browser. */
export function provideCpuCount(count: () => number): void {
  countCpus = count;
}

function oneOf(choices: readonly string[]): string {
  const q = choices.map((c) => `'${c}'`);
  return `${q.slice(0, -1).join(', ')} or ${q[q.length - 1]}`;
}

function accepted(name: EnvName, cpus: number): string {
  if (name === 'KINTSUGI_THREADS') {
    return `a whole number ≥ 1, capped at the ${cpus} CPUs here unless it ends in '!' (e.g. '16!', at most ${MAX_THREADS})`;
  }
  return oneOf(CHOICES[name]);
}

/**
 * One variable's value: undefined when `raw` is unset or empty (the default), else exactly the
 * documented value.
 *
 * @param cpus the CPU count KINTSUGI_THREADS is capped at (default: this machine's).
 * @throws RangeError `kintsugi: NAME is "value"; it must be …, or unset for …` on any other value.
 */
export function parseEnv<K extends EnvName>(name: K, raw: string | undefined, cpus: number = cpuCount()): EnvValues[K] | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (name === 'KINTSUGI_THREADS') {
    const m = /^([1-9][0-9]*)(!?)$/.exec(raw);
    const requested = m ? Number(m[1]) : NaN;
    const forced = m?.[2] === '!';
    if (m && (!forced || requested <= MAX_THREADS)) {
      return { threads: forced ? requested : Math.min(requested, cpus), requested, forced } as EnvValues[K];
    }
  } else if ((CHOICES[name as Exclude<EnvName, 'KINTSUGI_THREADS'>] as readonly string[]).includes(raw)) {
    return raw as EnvValues[K];
  }
  throw new RangeError(`kintsugi: ${name} is ${quoted(raw)}; it must be ${accepted(name, cpus)}, or unset for ${DEFAULTS[name]}`);
}

/** The variable as this process has it (none outside Node), parsed by `parseEnv`. */
export function readEnv<K extends EnvName>(name: K): EnvValues[K] | undefined {
  const raw = typeof process !== 'undefined' && process.env != null ? process.env[name] : undefined;
  return parseEnv(name, raw);
}

/**
 * The three kernel variables, all checked whichever kernel runs (the wasm and js kernels ignore
 * ISA and threads, but a bad value is still an error). Kernel selection reads them, and making an
 * optimizer checks them, so a bad value fails at `kintsugi(...)`, not inside its first step.
 */
export function readKernelEnv(): { kernel?: EnvValues['KINTSUGI_KERNEL']; isa?: EnvValues['KINTSUGI_ISA']; threads?: ThreadsSetting } {
  return { kernel: readEnv('KINTSUGI_KERNEL'), isa: readEnv('KINTSUGI_ISA'), threads: readEnv('KINTSUGI_THREADS') };
}

/** One line for kernelInfo() when KINTSUGI_THREADS asked for more threads than there are CPUs. */
export function threadsNote(setting: ThreadsSetting | undefined): string {
  if (setting === undefined || setting.forced || setting.threads === setting.requested) return '';
  return `KINTSUGI_THREADS=${setting.requested} capped at the ${setting.threads} CPUs; a trailing '!' forces up to ${MAX_THREADS}`;
}
