// The compatibility suite: every user script of ./user-scripts runs with tf.train.adam() and with
// kintsugi({ gildingRate: 0 }), which must then be Adam, on the cpu and wasm backends.
//
// Across the two optimizers: the same facts exactly, and the same weights and losses within
// float32 tolerance. Not bitwise: tfjs's Adam rounds β1, β2 to float32 and keeps β^t as a running
// float32 product (recomputed with pow after setWeights), and evaluates the update op by op on the
// backend; the kernel computes the bias correction in float64 and fuses the update.
//
// Within each optimizer, the pairs a script names (a restored run and an uninterrupted one, a
// model trained beside another and alone, …) must be bitwise equal for Kintsugi, which promises
// that; tfjs's Adam is held to the tolerance only, since its restore recomputes β^t with pow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kintsugi } from '../../src';
import { BACKENDS, expectCloseToScale, tf, useBackend } from '../helpers';
import { MakeOptimizer, Outcome, SamePair, USER_SCRIPTS } from './user-scripts';

/** Tolerance of kintsugi against tf.train.adam, relative to the largest magnitude of a tensor. */
const RTOL = 1e-5;

const adam: MakeOptimizer = () => tf.train.adam();
const gilded: MakeOptimizer = () => kintsugi({ gildingRate: 0 });

function firstDifference(pair: SamePair): string | null {
  if (pair.a.length !== pair.b.length || pair.a.length === 0) return `${pair.a.length} vs ${pair.b.length} tensors`;
  for (let t = 0; t < pair.a.length; t++) {
    const [a, b] = [pair.a[t], pair.b[t]];
    if (a.length !== b.length) return `tensor ${t}: ${a.length} vs ${b.length} values`;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return `tensor ${t}[${i}]: ${a[i]} vs ${b[i]}`;
  }
  return null;
}

/** max |a − b| / max |b| over all tensors: how far apart two runs ended. */
function spread(a: Float32Array[], b: Float32Array[]): number {
  let worst = 0;
  let scale = 0;
  a.forEach((x, t) => x.forEach((v, i) => {
    worst = Math.max(worst, Math.abs(v - b[t][i]));
    scale = Math.max(scale, Math.abs(b[t][i]));
  }));
  return scale === 0 ? worst : worst / scale;
}

for (const backend of BACKENDS) {
  describe(`drop-in compatibility with tf.train.adam on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    afterAll(() => tf.disposeVariables());

    for (const script of USER_SCRIPTS) {
      it(script.name, async () => {
        const theirs: Outcome = await script.run(adam);
        const ours: Outcome = await script.run(gilded);

        expect(ours.facts).toEqual(theirs.facts);
        expect(ours.weights.length).toBe(theirs.weights.length);
        expect(ours.weights.length).toBeGreaterThan(0);
        ours.weights.forEach((w, i) => expectCloseToScale(w, theirs.weights[i], RTOL));
        expect(ours.losses.length).toBe(theirs.losses.length);
        ours.losses.forEach((l, i) => expect(Math.abs(l - theirs.losses[i]), `loss ${i}`).toBeLessThanOrEqual(RTOL * Math.abs(theirs.losses[i])));

        // Kintsugi frees all it made. tf.train.adam does not: each getWeights() (and so each
        // model.save with includeOptimizer) makes an 'iter' scalar that nobody frees (tfjs 4.22).
        if (ours.tensorsLeft !== undefined) expect(ours.tensorsLeft, 'tensors left after dispose').toBe(0);
        for (const pair of ours.same) expect(firstDifference(pair), `kintsugi: ${pair.what}`).toBeNull();
        for (const pair of theirs.same) pair.a.forEach((w, i) => expectCloseToScale(w, pair.b[i], RTOL));
        console.log(
          `[compat ${backend}] ${script.name}: kintsugi vs adam ${spread(ours.weights, theirs.weights).toExponential(2)} of scale` +
            (theirs.tensorsLeft !== undefined ? `; adam left ${theirs.tensorsLeft} tensors` : '') +
            theirs.same.map((p) => `; adam's '${p.what}' ${firstDifference(p) == null ? 'bitwise' : `within ${spread(p.a, p.b).toExponential(2)}`}`).join(''),
        );
      });
    }
  });
}
