/**
 * Axis ticks and their labels for the SVG charts: ticks at round values (1, 2, 2.5 or 5 × 10^k),
 * whole numbers only on an axis of whole numbers (epochs), and labels with as many digits as it
 * takes to tell one tick from the next, so 0.0025 is never printed as 3e-3.
 */

/** The smallest round step (1, 2, 2.5, 5 × 10^k; 1, 2, 5 × 10^k on a whole-number axis) of at least `raw`. */
export function niceStep(raw: number, wholeNumbers = false): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  if (wholeNumbers && raw <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  // 2.5 × 10^0 is not whole; from 10 up, 25 × 10^k is.
  const mantissas = wholeNumbers && power < 10 ? [1, 2, 5, 10] : [1, 2, 2.5, 5, 10];
  for (const m of mantissas) {
    // A relative slack, so a step that is round but for rounding (0.20000000000000004) stays 0.2.
    if (m * power >= raw * (1 - 1e-9)) return m * power;
  }
  return 10 * power;
}

/**
 * About `count` intervals over [lo, hi]: the multiples of a round step that lie in the range
 * (ends included within rounding). An empty or non-finite range gives its one end.
 */
export function linearTicks(lo: number, hi: number, count: number, wholeNumbers = false): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (!(hi > lo)) return [lo];
  const step = niceStep((hi - lo) / Math.max(1, count), wholeNumbers);
  const slack = step * 1e-9;
  const first = Math.ceil((lo - slack) / step);
  const last = Math.floor((hi + slack) / step);
  const out: number[] = [];
  // k × step, not a running sum, so the error does not grow along the axis (and 0, never −0).
  for (let k = first; k <= last; k++) out.push(k * step || 0);
  return out;
}

/**
 * `x` with the fewest significant digits that keep it within `tolerance` of its value (a tick
 * step × 1e-6 for ticks, so neighbours never print alike). Exponent form below 0.01 and from
 * 10⁴ on (`2.5e-3`, `1e4`), plain form between.
 */
export function formatNumber(x: number, tolerance = 0): string {
  if (x === 0 || Object.is(x, -0)) return '0';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  const exponential = a < 1e-2 || a >= 1e4;
  const tol = Math.max(tolerance, a * 1e-12);
  for (let digits = 1; digits <= 17; digits++) {
    const text = exponential ? x.toExponential(digits - 1).replace('e+', 'e') : String(Number(x.toPrecision(digits)));
    if (Math.abs(Number(text) - x) <= tol) return text;
  }
  return String(x);
}

/** Labels for `ticks`: each within a millionth of the step between them. */
export function tickLabels(ticks: readonly number[]): string[] {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(ticks[0] ?? 0);
  return ticks.map((t) => formatNumber(t, step * 1e-6));
}
