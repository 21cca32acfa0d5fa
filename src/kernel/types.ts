/**
 * The kernel contract: one call per optimizer step, for all variables of that step, over
 * Float32Arrays and plain numbers. It imports nothing, knows nothing of tfjs or of the optimizer,
 * so any backend can implement it: the TypeScript reference kernel (./reference), the native addon
 * (./native) and its WebAssembly build (./wasm) do, and each is tested against the others
 * (test/kernel-vectors.test.ts). The optimizer turns its options into `KernelParams` with
 * `kernelParamsOf` (../options).
 */

/** Numeric codes, so the native binding receives plain integers. */
export const GRANULARITY = { weight: 0, unit: 1, layer: 2 } as const;
export const BASE = { sgd: 0, momentum: 1, adam: 2 } as const;

export type GranularityCode = (typeof GRANULARITY)[keyof typeof GRANULARITY];
export type BaseCode = (typeof BASE)[keyof typeof BASE];

/** One variable's slice of a step. Every array is updated in place except `grad`. */
export interface KernelVariable {
  /** Used only in error messages. */
  name: string;
  /** θ, n elements. */
  theta: Float32Array;
  /** g, n elements, read only. */
  grad: Float32Array;
  /** ϕ, P pathways: n for `weight`, the last axis for `unit`, 1 for `layer`. */
  phi: Float32Array;
  /** First base buffer: the momentum accumulator u (`momentum`) or m (`adam`); n elements, empty for `sgd`. */
  m: Float32Array;
  /** Second moment v (`adam`); n elements, empty otherwise. */
  v: Float32Array;
  /**
   * `unit` granularity only, optional: the crack l_u of each of the P pathways, supplied by the
   * caller (per-example cracks, docs/algorithm.md) instead of the kernel's mean |g| over the
   * unit's column. Finite and ≥ 0; `crack: relative` still divides it by the variable's mean. The
   * non-finite check still reads g. Read only.
   */
  crack?: Float32Array;
}

/** The hyperparameters of one step, shared by all variables in it. */
export interface KernelParams {
  granularity: GranularityCode;
  base: BaseCode;
  learningRate: number;
  gildingRate: number;
  annealing: number;
  relativeCrack: boolean;
  normalizeMean: boolean;
  phiMin: number;
  phiMax: number;
  momentum: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  weightDecay: number;
  /** Throw (before any variable is changed) instead of skipping a variable with a non-finite gradient. */
  throwOnNonFinite: boolean;
  /** The optimizer's step count t, 1 on the first call; Adam's bias correction uses it. */
  step: number;
}

/** Filled by the kernel, one slot per variable, so a step allocates nothing. */
export interface KernelOutput {
  /** 1 where the variable's step was skipped for a non-finite gradient, else 0. */
  skipped: Uint8Array;
  /** Mean |Δϕ| of the variable's pathways in this step (0 when skipped). */
  meanAbsDeltaPhi: Float64Array;
}

export interface Kernel {
  readonly name: 'js' | 'native' | 'wasm';
  step(vars: readonly KernelVariable[], params: KernelParams, out: KernelOutput): void;
}

/**
 * Thrown under `nonFinite: 'throw'`; nothing of the call has been changed when it is. Also for a
 * NaN or ±Infinity class loss of the class stream, with `variableName` 'kintsugi/classes' and a
 * message of its own (the optimizer passes it).
 */
export class NonFiniteGradientError extends Error {
  constructor(readonly variableName: string, message?: string) {
    super(
      message ??
        `kintsugi: the gradient of variable '${variableName}' contains NaN or Infinity; ` +
          `no variable was changed (nonFinite: 'throw')`,
    );
    this.name = 'NonFiniteGradientError';
  }
}

/**
 * The error every kernel throws, before it changes anything, for a supplied `crack` that does not
 * fit: another granularity than `unit`, a length other than P, or a value that is negative, NaN or
 * infinite. Null when it fits (or is absent).
 */
export function crackProblem(v: KernelVariable, index: number, granularity: GranularityCode): RangeError | null {
  const c = v.crack;
  if (c === undefined) return null;
  const who = `kintsugi: vars[${index}] ('${v.name}').crack`;
  if (granularity !== GRANULARITY.unit) return new RangeError(`${who} is for unit granularity only`);
  if (!(c instanceof Float32Array)) return new RangeError(`${who} must be a Float32Array`);
  if (c.length !== v.phi.length) return new RangeError(`${who} has ${c.length} values, phi ${v.phi.length}`);
  for (let u = 0; u < c.length; u++) {
    const x = c[u];
    if (!(x >= 0 && x - x === 0)) return new RangeError(`${who}[${u}] is ${x}; a crack is finite and >= 0`);
  }
  return null;
}

/** Number of pathways P of a variable of `size` elements whose last axis is `lastAxis`. */
export function pathwayCount(granularity: GranularityCode, size: number, lastAxis: number): number {
  if (granularity === GRANULARITY.weight) return size;
  if (granularity === GRANULARITY.unit) return lastAxis;
  return 1;
}
