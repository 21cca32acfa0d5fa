/**
 * The optimizer's options: their types, defaults and validation, and their translation into the
 * kernel contract's `KernelParams` (`kernelParamsOf`).
 *
 * Every option is checked once, at construction; a bad one throws an error that names the
 * option, the value given and what is allowed, so a typo never trains silently with a default.
 */
import { clip, quoted } from './clip';
import { readEnv, readKernelEnv } from './env';
import { BASE, GRANULARITY, KernelParams } from './kernel/types';

export type Crack = 'absolute' | 'relative';
export type Granularity = 'weight' | 'unit' | 'layer';
export type Normalize = 'mean' | 'none';
export type Base = 'sgd' | 'momentum' | 'adam';
export type NonFinitePolicy = 'skip' | 'throw';
/** How θ and g are reached: `auto` works in place where the backend allows it; `copy` always goes
 * through `dataSync()` and `assign` (the path tfjs-node, webgl and unknown backends take). */
export type StorageMode = 'auto' | 'copy';
/** Where the steps run: the CPU kernel; a CUDA GPU (`npm run build:cuda`; throws when none can be
 * used, saying why); or the GPU when one can be used, else the CPU (saying why, once). */
export type DeviceMode = 'cpu' | 'cuda' | 'auto';

export interface KintsugiOptions {
  /** α, the step size. Default 0.001. */
  learningRate?: number;
  /** β, how fast a pathway's value weight ϕ grows with its crack. Default 0.01. */
  gildingRate?: number;
  /** What the crack measures: the mean |gradient| of a pathway (`absolute`), or that divided by
   * the mean crack of its group (`relative`, scale-free). Default `relative`. */
  crack?: Crack;
  /** γ: gilded pathways gild more slowly (`a = max(0, 1 − γϕ)`). Default 0 (off). */
  annealing?: number;
  /** Which elements share one ϕ: each element, each output unit (last axis), or each variable. Default `unit`. */
  granularity?: Granularity;
  /** `mean` keeps the mean ϕ of each group at 1 (Σϕ = P); `none` lets it grow. Default `mean`. */
  normalize?: Normalize;
  /** Lower bound of ϕ after normalization. Default 0. */
  phiMin?: number;
  /** Upper bound of ϕ after normalization. Default 10. */
  phiMax?: number;
  /** The base direction the value weights scale. Default `adam`. */
  base?: Base;
  /** μ for `base: 'momentum'`. Default 0.9. */
  momentum?: number;
  /** β1 for `base: 'adam'`. Default 0.9. */
  beta1?: number;
  /** β2 for `base: 'adam'`. Default 0.999. */
  beta2?: number;
  /** ε for `base: 'adam'`. Default 1e-7 (as `tf.train.adam` on float32 backends). */
  epsilon?: number;
  /** λ, decoupled (AdamW-style) weight decay. Default 0. */
  weightDecay?: number;
  /** What a NaN or ±Inf gradient does: skip that variable's step (counted), or throw. Default `skip`. */
  nonFinite?: NonFinitePolicy;
  /** How the optimizer reaches tensor memory. Default `auto` (or `KINTSUGI_STORAGE` if set). */
  storage?: StorageMode;
  /** Where the steps run. Default `cpu`. See docs/cuda.md. */
  device?: DeviceMode;
}

export type ResolvedOptions = Required<KintsugiOptions>;

export const DEFAULT_OPTIONS: Readonly<ResolvedOptions> = Object.freeze({
  learningRate: 0.001,
  gildingRate: 0.01,
  crack: 'relative',
  annealing: 0,
  granularity: 'unit',
  normalize: 'mean',
  phiMin: 0,
  phiMax: 10,
  base: 'adam',
  momentum: 0.9,
  beta1: 0.9,
  beta2: 0.999,
  epsilon: 1e-7,
  weightDecay: 0,
  nonFinite: 'skip',
  storage: 'auto',
  device: 'cpu',
});

export const CHOICES: { readonly [K in keyof KintsugiOptions]?: readonly string[] } = {
  crack: ['absolute', 'relative'],
  granularity: ['weight', 'unit', 'layer'],
  normalize: ['mean', 'none'],
  base: ['sgd', 'momentum', 'adam'],
  nonFinite: ['skip', 'throw'],
  storage: ['auto', 'copy'],
  device: ['cpu', 'cuda', 'auto'],
};

export interface NumberRule {
  min: number;
  max: number;
  minOpen?: boolean;
  maxOpen?: boolean;
  allowInfinity?: boolean;
}

type NumericOption = 'learningRate' | 'gildingRate' | 'annealing' | 'phiMin' | 'phiMax' | 'momentum' | 'beta1' | 'beta2' | 'epsilon' | 'weightDecay';

export const NUMBER_RULES: { readonly [K in NumericOption]: NumberRule } = {
  // 0 is allowed, as tfjs's optimizers allow it: a schedule may freeze θ, and a model saved then must load.
  learningRate: { min: 0, max: Infinity },
  gildingRate: { min: 0, max: Infinity },
  annealing: { min: 0, max: Infinity },
  phiMin: { min: 0, max: 1 },
  phiMax: { min: 1, max: Infinity, allowInfinity: true },
  momentum: { min: 0, max: 1, maxOpen: true },
  beta1: { min: 0, max: 1, maxOpen: true },
  beta2: { min: 0, max: 1, maxOpen: true },
  epsilon: { min: 0, max: Infinity, minOpen: true },
  weightDecay: { min: 0, max: Infinity },
};

function describeRange(r: NumberRule): string {
  const lo = `${r.minOpen ? '(' : '['}${r.min}`;
  const hi = r.max === Infinity ? 'Infinity)' : `${r.max}${r.maxOpen ? ')' : ']'}`;
  return `a ${r.allowInfinity ? '' : 'finite '}number in ${lo}, ${hi}`;
}

export function show(value: unknown): string {
  // Clipped (src/clip.ts), so a 5 MB string or array never turns into a 5 MB message.
  if (typeof value === 'string') return quoted(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value == null) return String(value);
  // new Number(0.1) would show as 0.1, making "must be a number; got 0.1" a riddle.
  if (value instanceof Number || value instanceof String || value instanceof Boolean) {
    return `a ${value.constructor.name} object (${show(value.valueOf())}), not a primitive ${typeof value.valueOf()}`;
  }
  try {
    const json = JSON.stringify(value);
    if (json === undefined) return typeof value;
    return json.length > 40 ? `${json.slice(0, 40)}…` : json;
  } catch {
    return typeof value;
  }
}

/** `where` names the function in the message, so one rule serves every options object. */
export function checkNumber(name: string, value: unknown, r: NumberRule, where = 'kintsugi'): number {
  const ok =
    typeof value === 'number' &&
    !Number.isNaN(value) &&
    (Number.isFinite(value) || (r.allowInfinity === true && value === Infinity)) &&
    (r.minOpen ? value > r.min : value >= r.min) &&
    (r.maxOpen ? value < r.max : value <= r.max);
  if (!ok) {
    throw new RangeError(`${where}: option '${name}' must be ${describeRange(r)}; got ${show(value)}`);
  }
  return value as number;
}

export function checkChoice(name: string, value: unknown, choices: readonly string[]): string {
  if (typeof value !== 'string' || !choices.includes(value)) {
    throw new RangeError(
      `kintsugi: option '${name}' must be one of ${choices.map((c) => `'${c}'`).join(', ')}; got ${show(value)}`,
    );
  }
  return value;
}

/**
 * `options` laid over `defaults`, after checking that it is an object (or nullish) whose names
 * are all known; an undefined value keeps the default. A typo would otherwise train silently
 * with the default, so it is an error naming `where` and listing the options.
 */
export function mergeKnown<T extends object>(where: string, defaults: Readonly<T>, options: unknown, what = 'option'): T {
  if (options != null && (typeof options !== 'object' || Array.isArray(options))) {
    throw new TypeError(`${where}: options must be an object; got ${show(options)}`);
  }
  const known = Object.keys(defaults);
  const merged: Record<string, unknown> = { ...defaults };
  for (const [key, value] of Object.entries(options ?? {})) {
    if (!known.includes(key)) throw new RangeError(`${where}: unknown ${what} '${clip(key)}'; the options are ${known.join(', ')}`);
    if (value !== undefined) merged[key] = value;
  }
  return merged as T;
}

/** Fills in defaults and checks every option; throws on the first bad one. */
export function resolveOptions(options: KintsugiOptions | undefined | null): ResolvedOptions {
  readKernelEnv(); // a bad kernel variable fails here, when the optimizer is made (src/env.ts)
  const envStorage = readEnv('KINTSUGI_STORAGE');
  const merged: Record<string, unknown> = mergeKnown('kintsugi', { ...DEFAULT_OPTIONS, ...(envStorage ? { storage: envStorage } : {}) }, options);
  const known = Object.keys(DEFAULT_OPTIONS);
  for (const key of known) {
    const choices = CHOICES[key as keyof KintsugiOptions];
    const rule = NUMBER_RULES[key as NumericOption];
    if (choices) checkChoice(key, merged[key], choices);
    else if (rule) checkNumber(key, merged[key], rule);
  }
  // phiMin ≤ 1 ≤ phiMax by the ranges above, so ϕ ≡ 1 (the start) is always feasible.
  const resolved = merged as unknown as ResolvedOptions;
  return resolved;
}

/** The resolved options in the kernel's terms (numeric codes and booleans), at step 1; the optimizer derives it once and sets `step` and `learningRate` before each step. */
export function kernelParamsOf(o: ResolvedOptions): KernelParams {
  return {
    granularity: GRANULARITY[o.granularity],
    base: BASE[o.base],
    learningRate: o.learningRate,
    gildingRate: o.gildingRate,
    annealing: o.annealing,
    relativeCrack: o.crack === 'relative',
    normalizeMean: o.normalize === 'mean',
    phiMin: o.phiMin,
    phiMax: o.phiMax,
    momentum: o.momentum,
    beta1: o.beta1,
    beta2: o.beta2,
    epsilon: o.epsilon,
    weightDecay: o.weightDecay,
    throwOnNonFinite: o.nonFinite === 'throw',
    step: 1,
  };
}

/** What a value is, for messages: `show` for primitives, the class name for objects (a tf.Tensor is not spelled out). */
export function kindOf(value: unknown): string {
  if (value === null || typeof value !== 'object') return show(value);
  return `an object of class ${value.constructor?.name ?? 'Object'}`;
}
