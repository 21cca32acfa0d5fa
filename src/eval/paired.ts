/**
 * Paired comparison of two methods run on the same seeds (same split, same batches), for the
 * rare-event harness. Split-to-split variation in average precision is larger than most
 * differences between methods, so a method is judged by its per-seed difference from a
 * reference, never by two separate means.
 *
 * - The sign test counts the seeds a method won and lost, ignoring exact ties, and asks how
 *   likely so lopsided a count is when each seed is a fair coin: two-sided, exact binomial.
 *   It assumes nothing about the size or shape of the differences.
 * - The bootstrap interval resamples the seeds with replacement and takes the percentile
 *   interval of the resampled mean differences. It uses a seeded generator, so the same
 *   differences always give the same interval.
 */
import { createRng } from './data/synthetic-fraud';

export interface BootstrapOptions {
  /** Number of resamples, an integer in [1, 10_000_000]. Default 10000. */
  resamples?: number;
  /** Coverage of the interval, in (0, 1). Default 0.95. */
  confidence?: number;
  /** Seed of the resampling stream, any integer. Default 1. */
  seed?: number;
}

export interface PairedComparison {
  /** Pairs compared: those where both values are finite. */
  n: number;
  /** Mean of `method − reference` over the pairs (NaN when n = 0). */
  mean: number;
  /** Sample standard deviation of the differences (0 when n < 2). */
  std: number;
  /** Pairs where the method is higher. */
  wins: number;
  /** Pairs where the method is lower. */
  losses: number;
  /** Pairs exactly equal: left out of the sign test. */
  ties: number;
  /** Two-sided exact sign test p-value over wins and losses. */
  signTestP: number;
  /** Bootstrap percentile interval of the mean difference, [low, high] ([NaN, NaN] when n = 0). */
  interval: [number, number];
}

const MAX_RESAMPLES = 10_000_000;

/**
 * Two-sided exact sign test: the probability, with each of `wins + losses` pairs a fair coin,
 * of a split at least as uneven as the one seen, in either direction. 1 when there are no pairs.
 */
export function signTestP(wins: number, losses: number): number {
  for (const [name, v] of [['wins', wins], ['losses', losses]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new RangeError(`signTestP: ${name} must be a non-negative integer; got ${String(v)}`);
  }
  const n = wins + losses;
  const k = Math.min(wins, losses);
  // Σ_{i ≤ k} C(n, i) / 2^n = C(n, k)/2^n · Σ_{i ≤ k} C(n, i)/C(n, k). Both factors are products
  // of ratios, each rounded once, so the error grows with k ulps; a sum of logarithms of
  // magnitude ~n would lose ~n ulps. The power of two is kept apart: 2^n overflows past n = 1023.
  let head = 1;
  let exponent = -n;
  for (let i = 1; i <= k; i++) {
    head *= (n - k + i) / i;
    if (head > 2 ** 500) {
      head *= 2 ** -500;
      exponent += 500;
    }
  }
  for (; exponent < 0; exponent += 500) head *= 2 ** Math.max(exponent, -500);
  let ratio = 1;
  let sum = 1;
  for (let i = k; i > 0; i--) {
    ratio *= i / (n - i + 1);
    sum += ratio;
  }
  return Math.min(1, 2 * head * sum);
}

/**
 * Percentile bootstrap interval of the mean of `values`: `resamples` means of n values drawn
 * with replacement, sorted, and the k-th from each end cut, k = ⌊(1 − confidence)/2 · resamples⌋.
 */
export function bootstrapMeanInterval(values: ArrayLike<number>, options: BootstrapOptions = {}): [number, number] {
  const { resamples, confidence, seed } = checkBootstrap(options);
  const n = values.length;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`bootstrapMeanInterval: values[${i}] is ${String(values[i])}, not a finite number`);
  }
  if (n === 0) return [NaN, NaN];
  const rand = createRng(seed);
  const means = new Float64Array(resamples);
  for (let b = 0; b < resamples; b++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[Math.floor(rand() * n)];
    means[b] = sum / n;
  }
  means.sort();
  // The tiny slack keeps (1 − 0.95)/2 · 10000, which is 250.00000000000023 in doubles, at 250.
  const cut = Math.floor(((1 - confidence) / 2) * resamples + 1e-9);
  return [means[cut], means[resamples - 1 - cut]];
}

/** Per-pair `method[i] − reference[i]`, summarized; pairs with a non-finite value are left out. */
export function pairedComparison(method: ArrayLike<number>, reference: ArrayLike<number>, options: BootstrapOptions = {}): PairedComparison {
  if (method.length !== reference.length) {
    throw new RangeError(`pairedComparison: method has ${method.length} values and reference ${reference.length}; pairs need the same length`);
  }
  checkBootstrap(options);
  const deltas: number[] = [];
  for (let i = 0; i < method.length; i++) {
    const d = method[i] - reference[i];
    if (Number.isFinite(d)) deltas.push(d);
  }
  const n = deltas.length;
  const wins = deltas.filter((d) => d > 0).length;
  const losses = deltas.filter((d) => d < 0).length;
  const mean = n ? deltas.reduce((a, b) => a + b, 0) / n : NaN;
  const std = n > 1 ? Math.sqrt(deltas.reduce((a, d) => a + (d - mean) ** 2, 0) / (n - 1)) : 0;
  return { n, mean, std, wins, losses, ties: n - wins - losses, signTestP: signTestP(wins, losses), interval: bootstrapMeanInterval(deltas, options) };
}

function checkBootstrap(options: BootstrapOptions): Required<BootstrapOptions> {
  if (options === null || typeof options !== 'object') throw new TypeError(`bootstrap options must be an object; got ${String(options)}`);
  const { resamples = 10_000, confidence = 0.95, seed = 1 } = options;
  if (!Number.isInteger(resamples) || resamples < 1 || resamples > MAX_RESAMPLES) {
    throw new RangeError(`bootstrap option 'resamples' must be an integer in [1, ${MAX_RESAMPLES}]; got ${String(resamples)}`);
  }
  if (typeof confidence !== 'number' || !(confidence > 0 && confidence < 1)) {
    throw new RangeError(`bootstrap option 'confidence' must be a number in (0, 1); got ${String(confidence)}`);
  }
  if (!Number.isInteger(seed)) throw new RangeError(`bootstrap option 'seed' must be an integer; got ${String(seed)}`);
  return { resamples, confidence, seed };
}
