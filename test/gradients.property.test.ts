// One step with random gradients holding NaN/±Infinity at random positions of random variables,
// after a few finite warm-up steps, under every base, granularity and crack, on the default kernel.
// - nonFinite 'throw': a NonFiniteGradientError naming the first variable (in gradient order)
//   whose gradient is not finite, and nothing changed: every variable, getWeights() bit for bit
//   (so the iteration count too), phiStats().
// - nonFinite 'skip': the step counts; a variable whose gradient is not finite keeps its values and
//   its ϕ, m and v bit for bit and counts one skip; every other variable and its state equal, bit
//   for bit, a second optimizer (same options, same history, its own copies of the variables) that
//   was given only the finite gradients in the same order, the rule docs/errors.md states ("skip
//   that variable's step"; `layer` normalizes across the variables that are not skipped).
// `npm test` runs a fixed number of cases; KINTSUGI_FUZZ_RUNS runs more.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KintsugiOptimizer, kintsugi, NonFiniteGradientError } from '../src';
import type { Base, Crack, Granularity } from '../src/options';
import { tf, uniqueName, useBackend } from './helpers';
import { fuzzParameters } from './fuzz';

type Bytes = Array<[string, string]>;

/** getWeights() as names and hex bytes (NaN payloads and -0 included). */
async function weightBytes(opt: KintsugiOptimizer, rename: (n: string) => string = (n) => n): Promise<Bytes> {
  const weights = await opt.getWeights();
  return Promise.all(weights.map(async (w) => [rename(w.name), hex(await w.tensor.data())] as [string, string]));
}

function hex(a: ArrayLike<number> & { buffer?: ArrayBufferLike }): string {
  const f = Float32Array.from(a as ArrayLike<number>);
  return Buffer.from(f.buffer).toString('hex');
}

const shapes = fc.constantFrom<number[]>([], [1], [3], [5], [2, 3], [4, 2], [3, 1], [1, 4], [2, 2, 2]);
const finite = fc.float({ min: -1e3, max: 1e3, noNaN: true });
const poison = fc.constantFrom(NaN, Infinity, -Infinity);

const cases = fc
  .record({
    base: fc.constantFrom<Base>('sgd', 'momentum', 'adam'),
    granularity: fc.constantFrom<Granularity>('weight', 'unit', 'layer'),
    crack: fc.constantFrom<Crack>('absolute', 'relative'),
    weightDecay: fc.constantFrom(0, 0.01),
    nonFinite: fc.constantFrom<'skip' | 'throw'>('skip', 'throw'),
    shapes: fc.array(shapes, { minLength: 1, maxLength: 4 }),
    warmup: fc.integer({ min: 0, max: 2 }),
    seed: fc.integer(),
  })
  .chain((c) => {
    const sizes = c.shapes.map((s) => s.reduce((a, b) => a * b, 1));
    const values = (n: number) => fc.array(finite, { minLength: n, maxLength: n });
    return fc.record({
      c: fc.constant(c),
      init: fc.tuple(...sizes.map(values)),
      warm: fc.array(fc.tuple(...sizes.map(values)), { minLength: c.warmup, maxLength: c.warmup }),
      grads: fc.tuple(...sizes.map(values)),
      // Per variable: none, or some positions made NaN/±Infinity.
      poisoned: fc.tuple(
        ...sizes.map((n) =>
          fc.option(fc.array(fc.tuple(fc.nat({ max: n - 1 }), poison), { minLength: 1, maxLength: Math.min(n, 3) }), { freq: 2 }),
        ),
      ),
    });
  });

beforeAll(() => useBackend('cpu'));
afterAll(() => tf.disposeVariables());

describe('non-finite gradients, property-based', () => {
  it("'throw' throws and changes nothing; 'skip' leaves the poisoned variables alone and steps the others exactly as if only they had been given", async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ({ c, init, warm, grads, poisoned }) => {
        const prefix = uniqueName('g');
        const make = (tag: string) =>
          c.shapes.map((shape, i) => tf.variable(tf.tensor(init[i], shape), true, `${prefix}${tag}/v${i}`));
        const vars = make('');
        const refVars = make('_ref');
        const options = { learningRate: 0.01, gildingRate: 0.3, base: c.base, granularity: c.granularity, crack: c.crack, weightDecay: c.weightDecay, nonFinite: c.nonFinite };
        const opt = kintsugi(options);
        const ref = kintsugi(options);
        const grad = (vs: tf.Variable[], g: number[][], only?: (i: number) => boolean) => {
          const map: tf.NamedTensorMap = {};
          vs.forEach((v, i) => {
            if (!only || only(i)) map[v.name] = tf.tensor(g[i], c.shapes[i]);
          });
          return map;
        };
        const step = (o: KintsugiOptimizer, map: tf.NamedTensorMap) => {
          try {
            o.applyGradients(map);
          } finally {
            tf.dispose(Object.values(map));
          }
        };
        try {
          for (const g of warm) {
            step(opt, grad(vars, g));
            step(ref, grad(refVars, g));
          }
          const bad = grads.map((g, i) => {
            const out = g.slice();
            for (const [at, x] of poisoned[i] ?? []) out[at] = x;
            return out;
          });
          const isBad = bad.map((g) => g.some((x) => !Number.isFinite(x)));
          const before = await weightBytes(opt);
          const valuesBefore = vars.map((v) => hex(v.dataSync()));
          const statsBefore = opt.phiStats();
          const iterations = opt.iterations;

          let error: unknown;
          try {
            step(opt, grad(vars, bad));
          } catch (e) {
            error = e;
          }
          if (c.nonFinite === 'throw' && isBad.some(Boolean)) {
            expect(error).toBeInstanceOf(NonFiniteGradientError);
            const message = (error as Error).message;
            expect(message.length).toBeLessThan(300);
            expect(message).not.toMatch(/[\r\n]/);
            expect((error as NonFiniteGradientError).variableName).toBe(vars[isBad.indexOf(true)].name);
            expect(opt.iterations).toBe(iterations);
            expect(vars.map((v) => hex(v.dataSync()))).toEqual(valuesBefore);
            expect(await weightBytes(opt)).toEqual(before);
            expect(opt.phiStats()).toEqual(statsBefore);
            return;
          }
          if (error) throw error;
          expect(opt.iterations).toBe(iterations + 1);
          step(ref, grad(refVars, bad, (i) => !isBad[i]));
          expect(ref.iterations).toBe(opt.iterations);
          const ours = new Map(await weightBytes(opt));
          const theirs = new Map(await weightBytes(ref, (n) => n.replace(`${prefix}_ref/`, `${prefix}/`)));
          const old = new Map(before);
          vars.forEach((v, i) => {
            const suffixes = ['phi', ...(c.base === 'sgd' ? [] : c.base === 'momentum' ? ['momentum'] : ['m', 'v'])];
            if (isBad[i]) {
              expect(hex(v.dataSync()), `${v.name} stepped with a non-finite gradient`).toBe(valuesBefore[i]);
              for (const s of suffixes) {
                const name = `${v.name}/${s}`;
                // A variable first seen in this step gets fresh state (ϕ = 1, moments 0), and keeps it.
                const fresh = s === 'phi' ? 1 : 0;
                const expected = old.get(name) ?? hex(new Float32Array(Buffer.from(ours.get(name) ?? '', 'hex').length / 4).fill(fresh));
                expect(ours.get(name), name).toBe(expected);
              }
            } else {
              expect(hex(v.dataSync()), `${v.name} differs from the reference step`).toBe(hex(refVars[i].dataSync()));
              for (const s of suffixes) expect(ours.get(`${v.name}/${s}`), `${v.name}/${s}`).toBe(theirs.get(`${v.name}/${s}`));
            }
          });
          const stats = opt.phiStats();
          const skipsBefore = new Map(statsBefore.variables.map((s) => [s.name, s.skippedSteps]));
          for (const s of stats.variables) {
            const i = vars.findIndex((v) => v.name === s.name);
            expect(s.skippedSteps, s.name).toBe((skipsBefore.get(s.name) ?? 0) + (isBad[i] ? 1 : 0));
          }
        } finally {
          opt.dispose();
          ref.dispose();
          tf.dispose([...vars, ...refVars]);
        }
      }),
      fuzzParameters(300),
    );
  });
});
