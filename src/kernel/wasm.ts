/**
 * The WebAssembly kernel: the native kernel's C++ (native/src, through native/wasm/api.cpp)
 * compiled to wasm32 by scripts/build-wasm.sh, once with wasm SIMD (simd128) and once without.
 * It is the fallback where no native binary fits, and needs neither `fs` nor `path`: the two
 * binaries come base64-encoded from `./wasm-bytes` (dist/kernel/wasm-bytes.js, written by
 * scripts/write-wasm-bytes.cjs after `tsc`; from src/, as in the tests, that same file of the
 * last build), or from the caller.
 *
 * Each step copies every variable's θ, g, ϕ, m, v and supplied crack into the module's memory (one
 * arena, grown when a step needs more and reused after that), runs the C++ step, and copies θ, ϕ,
 * m, v and the outputs back. Under `nonFinite: 'throw'` nothing is copied back, so nothing changes.
 *
 * Loading is synchronous (`new WebAssembly.Module`). Browsers' main threads refuse to compile
 * modules over 4 KB synchronously; there, await `prepareWasmKernel()` first, which compiles and
 * instantiates asynchronously and leaves the result for `loadWasmKernel()`.
 */
import { BASE, crackProblem, GRANULARITY, Kernel, KernelOutput, KernelParams, KernelVariable, NonFiniteGradientError } from './types';

/** The two builds' bytes; either may be null (not built). */
export interface WasmBinaries {
  simd: Uint8Array | null;
  scalar: Uint8Array | null;
}

export interface WasmInfo {
  /** True when the simd128 build runs. */
  simd: boolean;
  /** Size of the running module's binary. */
  bytes: number;
}

/** A `Kernel` run by the wasm module. */
export interface WasmKernel extends Omit<Kernel, 'name'> {
  readonly name: 'wasm';
  /** Current size of the module's linear memory, in bytes (it only grows). */
  readonly memoryBytes: number;
}

export type WasmLoad = { kernel: WasmKernel; info: WasmInfo } | { error: string };

export interface WasmLoadOptions {
  /** Use these binaries instead of the embedded ones. The result is not cached. */
  binaries?: WasmBinaries;
  /** true: the SIMD build or an error; false: the scalar build; absent: SIMD where the runtime validates simd128. */
  simd?: boolean;
}

// ---- The parts of the WebAssembly API used here (tsconfig's lib has no DOM, @types/node no WebAssembly).

type WasmModule = object;
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmInstance {
  readonly exports: Record<string, unknown>;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => WasmInstance;
  compile(bytes: Uint8Array): Promise<WasmModule>;
  instantiate(module: WasmModule, imports: object): Promise<WasmInstance>;
}

function wasmApi(): WasmApi | null {
  const api = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  return api != null && typeof api.Module === 'function' ? api : null;
}

/**
 * The smallest module using simd128: `(func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)`.
 * A runtime that validates it runs the SIMD build.
 */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11,
]);

/** Whether this runtime has wasm SIMD (simd128). */
export function wasmSimdSupported(): boolean {
  const api = wasmApi();
  try {
    return api != null && api.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

// ---- The C ABI of native/wasm/api.cpp.

const ABI_VERSION = 2;
/** Words of one variable descriptor: theta, grad, phi, m, v, crack (addresses, 0 for none), n, P. */
const DESC_WORDS = 8;
/** Arrays a variable may bring, in descriptor order (arrayOf). */
const ARRAYS = 6;
const EMPTY = new Float32Array(0);
/** float64 parameter slots, in api.cpp's ParamSlot order. */
const PARAM_SLOTS = 16;
const ISA_WASM_SIMD = 4;

interface Exports {
  memory: WasmMemory;
  _initialize?: () => void;
  kintsugi_abi_version(): number;
  kintsugi_desc_words(): number;
  kintsugi_param_slots(): number;
  kintsugi_alloc(bytes: number): number;
  kintsugi_free(ptr: number): void;
  kintsugi_step(desc: number, count: number, params: number, skipped: number, meanAbsDeltaPhi: number): number;
  kintsugi_isa(): number;
  kintsugi_set_isa(isa: number): number;
}

const FUNCTIONS = [
  'kintsugi_abi_version', 'kintsugi_desc_words', 'kintsugi_param_slots', 'kintsugi_alloc', 'kintsugi_free',
  'kintsugi_step', 'kintsugi_isa', 'kintsugi_set_isa',
] as const;

/** abort() in the module (out of memory) calls WASI's proc_exit; it surfaces as this error. */
class WasmAbort extends Error {
  constructor(code: number) {
    super(`kintsugi wasm: the module aborted (exit code ${code}), most likely out of memory`);
    this.name = 'WasmAbort';
  }
}

const IMPORTS = {
  env: { emscripten_notify_memory_growth: (): void => {} },
  wasi_snapshot_preview1: {
    proc_exit: (code: number): never => {
      throw new WasmAbort(code);
    },
  },
};

function checkExports(instance: WasmInstance): Exports {
  const e = instance.exports;
  const memory = e.memory as WasmMemory | undefined;
  if (memory == null || !(memory.buffer instanceof ArrayBuffer)) throw new Error('the module exports no memory');
  for (const f of FUNCTIONS) {
    if (typeof e[f] !== 'function') throw new Error(`the module does not export ${f}()`);
  }
  const x = e as unknown as Exports;
  if (typeof x._initialize === 'function') x._initialize();
  const abi = [x.kintsugi_abi_version(), x.kintsugi_desc_words(), x.kintsugi_param_slots()];
  if (abi[0] !== ABI_VERSION || abi[1] !== DESC_WORDS || abi[2] !== PARAM_SLOTS) {
    throw new Error(`the module's ABI (version ${abi[0]}, ${abi[1]} descriptor words, ${abi[2]} parameters) is not this loader's (${ABI_VERSION}, ${DESC_WORDS}, ${PARAM_SLOTS}); rebuild with scripts/build-wasm.sh`);
  }
  return x;
}

// ---- The kernel over one module.

/** Rounds up to a multiple of 16 (plain arithmetic: sizes may exceed 2^31). */
const align16 = (bytes: number): number => Math.ceil(bytes / 16) * 16;
/** The most one step may place in wasm memory: 4 GiB less room for the module's own data and scratch. */
const MAX_ARENA_BYTES = 2 ** 32 - 2 ** 28;

/** Checks the lengths the C++ side trusts, so a bad call throws before anything is copied. */
function validate(vars: readonly KernelVariable[], p: KernelParams, out: KernelOutput): void {
  if (p.granularity !== GRANULARITY.weight && p.granularity !== GRANULARITY.unit && p.granularity !== GRANULARITY.layer) {
    throw new RangeError(`kintsugi wasm: unknown granularity code ${p.granularity}`);
  }
  if (p.base !== BASE.sgd && p.base !== BASE.momentum && p.base !== BASE.adam) {
    throw new RangeError(`kintsugi wasm: unknown base code ${p.base}`);
  }
  if (out.skipped.length < vars.length || out.meanAbsDeltaPhi.length < vars.length) {
    throw new RangeError(`kintsugi wasm: the outputs hold fewer than ${vars.length} slots`);
  }
  for (let i = 0; i < vars.length; i++) {
    const v = vars[i];
    const problem = crackProblem(v, i, p.granularity);
    if (problem !== null) throw problem;
    const n = v.theta.length;
    const P = v.phi.length;
    const bad = (what: string): never => {
      throw new RangeError(`kintsugi wasm: variable '${v.name}': ${what}`);
    };
    if (v.grad.length !== n) bad(`grad has ${v.grad.length} elements, theta ${n}`);
    if (p.granularity === GRANULARITY.weight && P !== n) bad(`weight granularity needs ${n} phi, got ${P}`);
    if (p.granularity === GRANULARITY.layer && P !== 1) bad(`layer granularity needs 1 phi, got ${P}`);
    if (p.granularity === GRANULARITY.unit && (P === 0 ? n !== 0 : n % P !== 0)) bad(`${n} elements do not split into units of ${P}`);
    const needM = p.base !== BASE.sgd;
    const needV = p.base === BASE.adam;
    if (needM ? v.m.length !== n : v.m.length !== 0 && v.m.length !== n) bad(`m has ${v.m.length} elements, expected ${n}`);
    if (needV ? v.v.length !== n : v.v.length !== 0 && v.v.length !== n) bad(`v has ${v.v.length} elements, expected ${n}`);
  }
}

/** The k-th array of a variable in descriptor order: theta, grad, phi, m, v, crack (empty for none). */
function arrayOf(v: KernelVariable, k: number): Float32Array {
  return k === 0 ? v.theta : k === 1 ? v.grad : k === 2 ? v.phi : k === 3 ? v.m : k === 4 ? v.v : (v.crack ?? EMPTY);
}

/** Whether the k-th array is only read by the step (grad, crack), so nothing is copied back. */
const readOnly = (k: number): boolean => k === 1 || k === 5;

function makeKernel(x: Exports): WasmKernel {
  let arena = 0;
  let arenaBytes = 0;
  let broken: Error | null = null;
  // Byte offsets within the arena, per call; reused arrays so a step allocates nothing in JS.
  let offsets = new Float64Array(0);

  /** Makes the arena at least `bytes` long; grows it geometrically (by at most 64 MiB more than asked). */
  function ensureArena(bytes: number): void {
    if (bytes <= arenaBytes) return;
    const roomy = Math.min(Math.max(bytes, arenaBytes * 2), bytes + (64 << 20));
    if (arena !== 0) x.kintsugi_free(arena);
    arena = 0;
    arenaBytes = 0;
    for (const want of roomy > bytes ? [roomy, bytes] : [bytes]) {
      const ptr = x.kintsugi_alloc(want) >>> 0; // addresses above 2 GiB come back as negative i32
      if (ptr !== 0) {
        arena = ptr;
        arenaBytes = want;
        return;
      }
    }
    throw new RangeError(`kintsugi wasm: cannot allocate ${bytes} bytes of wasm memory (wasm32 stops at 4 GiB)`);
  }

  function step(vars: readonly KernelVariable[], p: KernelParams, out: KernelOutput): void {
    if (broken) throw new Error(`kintsugi wasm: the module failed in an earlier step and cannot run again (${broken.message})`);
    validate(vars, p, out);
    const count = vars.length;
    const dimBytes = count * DESC_WORDS * 4;
    const headBytes = align16(dimBytes) + align16(PARAM_SLOTS * 8) + align16(count * 8) + align16(count);
    let total = headBytes;
    if (offsets.length < count * ARRAYS) offsets = new Float64Array(Math.max(count * ARRAYS, offsets.length * 2));
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < ARRAYS; k++) {
        const length = arrayOf(vars[i], k).length;
        offsets[i * ARRAYS + k] = length === 0 ? -1 : total;
        total += align16(length * 4);
      }
    }
    // wasm32 addresses are 32 bits; kintsugi_alloc takes a uint32 size.
    if (total > MAX_ARENA_BYTES) {
      throw new RangeError(`kintsugi wasm: a step of ${total} bytes does not fit in wasm32's 4 GiB; the native kernel or the reference kernel can run it`);
    }
    try {
      ensureArena(total);
    } catch (e) {
      if (!(e instanceof RangeError)) broken = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
    const base = arena;
    const descAt = base;
    const paramsAt = descAt + align16(dimBytes);
    const madAt = paramsAt + align16(PARAM_SLOTS * 8);
    const skippedAt = madAt + align16(count * 8);

    // Views are taken after every call that may grow memory (growth replaces the buffer).
    let buffer = x.memory.buffer;
    let f32 = new Float32Array(buffer);
    const u32 = new Uint32Array(buffer, descAt, count * DESC_WORDS);
    const f64 = new Float64Array(buffer, paramsAt, PARAM_SLOTS);
    f64[0] = p.granularity;
    f64[1] = p.base;
    f64[2] = p.learningRate;
    f64[3] = p.gildingRate;
    f64[4] = p.annealing;
    f64[5] = p.relativeCrack ? 1 : 0;
    f64[6] = p.normalizeMean ? 1 : 0;
    f64[7] = p.phiMin;
    f64[8] = p.phiMax;
    f64[9] = p.momentum;
    f64[10] = p.beta1;
    f64[11] = p.beta2;
    f64[12] = p.epsilon;
    f64[13] = p.weightDecay;
    f64[14] = p.throwOnNonFinite ? 1 : 0;
    f64[15] = p.step;
    for (let i = 0; i < count; i++) {
      const v = vars[i];
      const d = i * DESC_WORDS;
      for (let k = 0; k < ARRAYS; k++) {
        const off = offsets[i * ARRAYS + k];
        if (off < 0) {
          u32[d + k] = 0;
        } else {
          u32[d + k] = base + off;
          f32.set(arrayOf(v, k), (base + off) >>> 2);
        }
      }
      u32[d + ARRAYS] = v.theta.length;
      u32[d + ARRAYS + 1] = v.phi.length;
    }

    let bad: number;
    try {
      bad = x.kintsugi_step(descAt, count, paramsAt, skippedAt, madAt);
    } catch (e) {
      // A trap or abort leaves the module's stack and heap unknown: refuse further steps.
      broken = e instanceof Error ? e : new Error(String(e));
      throw e;
    }
    if (bad === -2) throw new RangeError('kintsugi wasm: the module rejected the granularity or base code');
    if (bad >= 0) throw new NonFiniteGradientError(vars[bad].name);

    buffer = x.memory.buffer;
    f32 = new Float32Array(buffer);
    const skipped = new Uint8Array(buffer, skippedAt, count);
    const mad = new Float64Array(buffer, madAt, count);
    for (let i = 0; i < count; i++) {
      out.skipped[i] = skipped[i];
      out.meanAbsDeltaPhi[i] = mad[i];
      if (skipped[i] !== 0) continue; // untouched in wasm memory as in the caller's arrays
      for (let k = 0; k < ARRAYS; k++) {
        const off = offsets[i * ARRAYS + k];
        if (readOnly(k) || off < 0) continue;
        const a = arrayOf(vars[i], k);
        const at = (base + off) >>> 2;
        a.set(f32.subarray(at, at + a.length));
      }
    }
  }

  return {
    name: 'wasm',
    step,
    get memoryBytes(): number {
      return x.memory.buffer.byteLength;
    },
  };
}

// ---- Loading.

/** Decodes base64 without Buffer or atob, so it runs in any JS engine. */
function fromBase64(text: string): Uint8Array {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  const value = new Uint8Array(128).fill(255);
  for (let i = 0; i < alphabet.length; i++) value[alphabet.charCodeAt(i)] = i;
  let end = text.length;
  while (end > 0 && text[end - 1] === '=') end--;
  const out = new Uint8Array(Math.floor((end * 3) / 4));
  let acc = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < end; i++) {
    const c = text.charCodeAt(i);
    const d = c < 128 ? value[c] : 255;
    if (d === 255) throw new Error(`invalid base64 character at ${i}`);
    acc = (acc << 6) | d;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 255;
    }
  }
  return out.subarray(0, o);
}

let embedded: WasmBinaries | { error: string } | null = null;

/** The binaries embedded in dist/kernel/wasm-bytes.js, or why there are none. Cached; never throws. */
export function embeddedWasmBinaries(): WasmBinaries | { error: string } {
  if (embedded !== null) return embedded;
  const build = "build them with 'bash scripts/build-wasm.sh' and then 'npm run build'";
  try {
    let mod: { simd?: unknown; scalar?: unknown };
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      mod = require('./wasm-bytes');
    } catch (e) {
      // Running from src/ (tests): the generated module lives only in dist/. From dist/kernel this
      // path is the same file as './wasm-bytes', so bundlers resolve both requires.
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        mod = require('../../dist/kernel/wasm-bytes');
      } catch {
        throw e;
      }
    }
    const decode = (s: unknown): Uint8Array | null => (typeof s === 'string' && s.length > 0 ? fromBase64(s) : null);
    const binaries = { simd: decode(mod.simd), scalar: decode(mod.scalar) };
    embedded = binaries.simd == null && binaries.scalar == null ? { error: `no wasm binaries were embedded in this build; ${build}` } : binaries;
  } catch (e) {
    embedded = { error: `wasm binaries not available (${oneLine(e)}); ${build}` };
  }
  return embedded;
}

function oneLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0].trim();
}

/** Which build to run: the bytes, or why none fits. */
function choose(binaries: WasmBinaries, simd: boolean | undefined): { bytes: Uint8Array; simd: boolean } | { error: string } {
  const hasSimd = wasmSimdSupported();
  if (simd === true) {
    if (binaries.simd == null) return { error: 'the wasm SIMD build is not available' };
    if (!hasSimd) return { error: 'this runtime does not support wasm SIMD (simd128)' };
    return { bytes: binaries.simd, simd: true };
  }
  if (simd !== false && hasSimd && binaries.simd != null) return { bytes: binaries.simd, simd: true };
  if (binaries.scalar != null) return { bytes: binaries.scalar, simd: false };
  return { error: hasSimd ? 'the wasm scalar build is not available' : 'this runtime lacks wasm SIMD and the wasm scalar build is not available' };
}

function fromInstance(instance: WasmInstance, simd: boolean, bytes: number): { kernel: WasmKernel; info: WasmInfo } {
  const x = checkExports(instance);
  const isa = x.kintsugi_isa();
  if (simd !== (isa === ISA_WASM_SIMD)) throw new Error(`the ${simd ? 'SIMD' : 'scalar'} build dispatched to instruction set ${isa}`);
  return { kernel: makeKernel(x), info: { simd, bytes } };
}

const cache = new Map<string, WasmLoad>();

/**
 * The wasm kernel and which build runs, or one line saying why there is none. Never throws.
 * Without `options.binaries` the result is cached per choice, so every caller shares one module.
 */
export function loadWasmKernel(options: WasmLoadOptions = {}): WasmLoad {
  const key = options.binaries ? null : `simd=${String(options.simd)}`;
  const hit = key == null ? undefined : cache.get(key);
  if (hit) return hit;
  const result = load(options);
  if (key != null) cache.set(key, result);
  return result;
}

function load(options: WasmLoadOptions): WasmLoad {
  try {
    const api = wasmApi();
    if (api == null) return { error: 'this runtime has no WebAssembly' };
    const binaries = options.binaries ?? embeddedWasmBinaries();
    if ('error' in binaries) return { error: binaries.error };
    const pick = choose(binaries, options.simd);
    if ('error' in pick) return pick;
    let instance: WasmInstance;
    try {
      instance = new api.Instance(new api.Module(pick.bytes), IMPORTS);
    } catch (e) {
      return { error: `wasm kernel could not be instantiated (${oneLine(e)})` };
    }
    return fromInstance(instance, pick.simd, pick.bytes.length);
  } catch (e) {
    return { error: `wasm kernel not loaded (${oneLine(e)})` };
  }
}

/**
 * Compiles and instantiates the embedded module asynchronously, for runtimes (browsers' main
 * threads) that refuse to compile a module this size synchronously; `loadWasmKernel()` then
 * returns it. Resolves to the same result `loadWasmKernel()` will give; never rejects.
 */
export async function prepareWasmKernel(options: Omit<WasmLoadOptions, 'binaries'> = {}): Promise<WasmLoad> {
  const key = `simd=${String(options.simd)}`;
  const hit = cache.get(key);
  if (hit && !('error' in hit)) return hit;
  let result: WasmLoad;
  try {
    const api = wasmApi();
    const binaries = embeddedWasmBinaries();
    if (api == null) {
      result = { error: 'this runtime has no WebAssembly' };
    } else if ('error' in binaries) {
      result = { error: binaries.error };
    } else {
      const pick = choose(binaries, options.simd);
      if ('error' in pick) {
        result = pick;
      } else {
        const instance = await api.instantiate(await api.compile(pick.bytes), IMPORTS);
        result = fromInstance(instance, pick.simd, pick.bytes.length);
      }
    }
  } catch (e) {
    result = { error: `wasm kernel not loaded (${oneLine(e)})` };
  }
  cache.set(key, result);
  return result;
}
