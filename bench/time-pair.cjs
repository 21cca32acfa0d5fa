'use strict';
/**
 * Two steps timed in alternation (a, b, a, b, …) for the same time budget: whatever else the
 * machine does hits both alike, so the ratio of their medians is steadier than the ratio of two
 * rows measured one after the other. Each step runs at least `minReps` times, and on until
 * `minTimeMs` has passed for each (2 × minTimeMs in all) or `maxReps` times.
 */
function timePair(stepA, stepB, { minReps, minTimeMs, maxReps = Infinity, warmup = 2 }) {
  for (let i = 0; i < warmup; i++) stepA(), stepB();
  const a = [];
  const b = [];
  const start = performance.now();
  while (a.length < maxReps && (a.length < minReps || performance.now() - start < 2 * minTimeMs)) {
    let t0 = performance.now();
    stepA();
    a.push(performance.now() - t0);
    t0 = performance.now();
    stepB();
    b.push(performance.now() - t0);
  }
  const median = (x) => x.sort((p, q) => p - q)[x.length >> 1];
  const ma = median(a);
  const mb = median(b);
  return { aMs: ma, bMs: mb, ratio: ma / mb, reps: a.length };
}

module.exports = { timePair };
