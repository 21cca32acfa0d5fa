// setWeights against random mutations of a trained optimizer's own getWeights(): entries dropped,
// swapped, duplicated, renamed, resized, reshaped, retyped (int32, bool), made non-tensors or
// disposed, values set to NaN/±Infinity/negative/huge/fractional (ϕ, m, v and the iteration count),
// and whole variables permuted or dropped consistently across the streams. The list is judged by a
// restatement of docs/errors.md (the setWeights table, and "restore by name, else by position if
// the sizes fit, else fresh" of src/state.ts), and then:
// - refused: a TypeError/RangeError (one line, under 300 characters), getWeights() bit for bit and
//   every variable as before, and the next step equal to a twin optimizer's that never saw the call;
// - accepted, but an entry bound by name does not fit its variable: that step throws a RangeError,
//   changing nothing (variables, getWeights() bit for bit), and the next step throws the same;
// - accepted: the step equals, bit for bit (variables, each variable's ϕ, m, v, the count), a twin
//   restored with the state the rule predicts for each variable (for a consistent permutation, the
//   unmutated list).
// `npm test` runs a fixed number of cases; KINTSUGI_FUZZ_RUNS runs more.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KintsugiOptimizer, kintsugi } from '../src';
import type { Base, Granularity } from '../src/options';
import { tf, uniqueName, useBackend } from './helpers';
import { fuzzParameters } from './fuzz';

type Bytes = Array<[string, string]>;

function hex(a: ArrayLike<number>): string {
  return Buffer.from(Float32Array.from(a).buffer).toString('hex');
}

async function weightBytes(opt: KintsugiOptimizer): Promise<Bytes> {
  const weights = await opt.getWeights();
  return Promise.all(weights.map(async (w) => [w.name, hex(await w.tensor.data())] as [string, string]));
}

/** A saved entry before it is made a tensor: what the mutations change. */
interface Entry {
  name: string;
  values: number[];
  dtype: 'float32' | 'int32' | 'bool';
  /** Made a column, [n, 1], n its length when it becomes a tensor. */
  column?: boolean;
  /** Not a proper {name, tensor}: a number instead of a tensor, a disposed tensor, or null. */
  broken?: 'number' | 'disposed' | 'null';
}

type Op =
  | { kind: 'drop'; i: number }
  | { kind: 'swap'; i: number; j: number }
  | { kind: 'dup'; i: number; j: number }
  | { kind: 'rename'; i: number; to: number; text: string }
  | { kind: 'resize'; i: number; grow: boolean }
  | { kind: 'reshape'; i: number }
  | { kind: 'dtype'; i: number; dtype: 'int32' | 'bool' }
  | { kind: 'value'; i: number; at: number; x: number }
  | { kind: 'broken'; i: number; how: 'number' | 'disposed' | 'null' }
  | { kind: 'permuteVars'; swap: boolean }
  | { kind: 'dropVar'; k: number }
  | { kind: 'renameVar'; k: number; other: boolean };

const idx = fc.nat({ max: 1000 });
const special = fc.constantFrom(NaN, Infinity, -Infinity, -1, -1e-30, -0, 0, 1e-45, 2.5, 1e20, 1e38, 2 ** 53, 2 ** 53 + 2, 2 ** 31, 7);
const ops: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('drop' as const), i: idx }),
  fc.record({ kind: fc.constant('swap' as const), i: idx, j: idx }),
  fc.record({ kind: fc.constant('dup' as const), i: idx, j: idx }),
  fc.record({ kind: fc.constant('rename' as const), i: idx, to: fc.nat({ max: 6 }), text: fc.string({ maxLength: 8 }) }),
  fc.record({ kind: fc.constant('resize' as const), i: idx, grow: fc.boolean() }),
  fc.record({ kind: fc.constant('reshape' as const), i: idx }),
  fc.record({ kind: fc.constant('dtype' as const), i: idx, dtype: fc.constantFrom<'int32' | 'bool'>('int32', 'bool') }),
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('value' as const), i: idx, at: idx, x: special }) },
  fc.record({ kind: fc.constant('broken' as const), i: idx, how: fc.constantFrom<'number' | 'disposed' | 'null'>('number', 'disposed', 'null') }),
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('permuteVars' as const), swap: fc.boolean() }) },
  fc.record({ kind: fc.constant('dropVar' as const), k: fc.nat({ max: 1 }) }),
  // A variable renamed in every stream: to one that does not exist (binds by position if it fits),
  // or to the other variable's name (binds by name to it: a misfit if the sizes differ).
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('renameVar' as const), k: fc.nat({ max: 1 }), other: fc.boolean() }) },
);

const SUFFIXES: Record<Base, string[]> = { sgd: ['phi'], momentum: ['phi', 'momentum'], adam: ['phi', 'm', 'v'] };

function apply(list: Entry[], op: Op, base: Base, varNames: string[]): Entry[] {
  const out = list.map((e) => ({ ...e, values: e.values.slice() }));
  const n = out.length;
  const at = (i: number) => (n === 0 ? -1 : i % n);
  switch (op.kind) {
    case 'drop':
      if (n > 0) out.splice(at(op.i), 1);
      return out;
    case 'swap':
      if (n > 0) [out[at(op.i)], out[at(op.j)]] = [out[at(op.j)], out[at(op.i)]];
      return out;
    case 'dup':
      if (n > 0) out.splice(op.j % (n + 1), 0, { ...out[at(op.i)], values: out[at(op.i)].values.slice() });
      return out;
    case 'rename': {
      if (n === 0) return out;
      const e = out[at(op.i)];
      const stem = e.name.includes('/') ? e.name.slice(0, e.name.lastIndexOf('/')) : e.name;
      const suffix = e.name.slice(e.name.lastIndexOf('/') + 1);
      const names = [
        `${varNames[(varNames.indexOf(stem) + 1) % varNames.length]}/${suffix}`, // the other variable's
        `${stem}/${suffix === 'phi' ? 'v' : 'phi'}`,
        `ghost/${suffix}`, // a variable that does not exist: binds by position, if at all
        'iter',
        `${stem}/${op.text}`,
        op.text,
        `${stem.toUpperCase()}/${suffix}`,
      ];
      e.name = names[op.to % names.length];
      return out;
    }
    case 'resize':
      if (n > 0) {
        const e = out[at(op.i)];
        if (op.grow) e.values.push(0.5);
        else e.values.pop();
      }
      return out;
    case 'reshape':
      if (n > 0) out[at(op.i)].column = true;
      return out;
    case 'dtype':
      if (n > 0) out[at(op.i)].dtype = op.dtype;
      return out;
    case 'value':
      if (n > 0 && out[at(op.i)].values.length > 0) {
        const e = out[at(op.i)];
        e.values[op.at % e.values.length] = op.x;
      }
      return out;
    case 'broken':
      if (n > 0) out[at(op.i)].broken = op.how;
      return out;
    case 'renameVar': {
      const from = varNames[op.k];
      const to = op.other ? varNames[1 - op.k] : `renamed_${op.k}`;
      for (const e of out) if (e.name.startsWith(`${from}/`)) e.name = `${to}${e.name.slice(from.length)}`;
      return out;
    }
    case 'permuteVars':
    case 'dropVar': {
      // Only meaningful on an intact list: iter, then one block per suffix with one entry per variable.
      const streams = SUFFIXES[base].length;
      if (n !== 1 + streams * varNames.length) return out;
      const k = varNames.length;
      const order = op.kind === 'permuteVars' ? (op.swap ? [1, 0] : [0, 1]) : [1 - op.k];
      const next = [out[0]];
      for (let s = 0; s < streams; s++) for (const v of order) next.push(out[1 + s * k + v]);
      return next;
    }
  }
}

function toTensor(e: Entry): { name: string; tensor: tf.Tensor } {
  if (e.broken === 'null') return null as never;
  if (e.broken === 'number') return { name: e.name, tensor: 1 as never };
  const values = e.dtype === 'bool' ? e.values.map((x) => (x ? 1 : 0)) : e.values;
  const tensor = e.column ? tf.tensor(values, [values.length, 1], e.dtype) : e.name === 'iter' && e.values.length === 1 ? tf.scalar(values[0], e.dtype) : tf.tensor1d(values, e.dtype);
  if (e.broken === 'disposed') tensor.dispose();
  return { name: e.name, tensor };
}

interface Saved {
  name: string;
  phi: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** docs/errors.md's setWeights table, restated: the parsed state, or the error class expected. */
function parse(list: Array<{ name: string; tensor: tf.Tensor } | null>, base: Base): { iter: number; saved: Saved[] } | 'refused' {
  if (list.length === 0) return 'refused';
  for (const e of list) {
    if (e == null || typeof e.name !== 'string' || !(e.tensor instanceof tf.Tensor) || e.tensor.isDisposed) return 'refused';
  }
  const [first, ...rest] = list as Array<{ name: string; tensor: tf.Tensor }>;
  if (first.name !== 'iter' || first.tensor.size !== 1) return 'refused';
  const iter = first.tensor.dataSync()[0];
  if (!Number.isInteger(iter) || iter < 0 || iter > 2 ** 53) return 'refused';
  const suffixes = SUFFIXES[base];
  if (rest.length % suffixes.length !== 0) return 'refused';
  const count = rest.length / suffixes.length;
  const saved: Saved[] = [];
  for (let i = 0; i < count; i++) {
    const phiName = rest[i].name;
    if (!phiName.endsWith('/phi')) return 'refused';
    const name = phiName.slice(0, -4);
    const arrays: Float32Array[] = [];
    for (let s = 0; s < suffixes.length; s++) {
      const e = rest[s * count + i];
      if (e.name !== `${name}/${suffixes[s]}` || e.tensor.dtype !== 'float32') return 'refused';
      const values = Float32Array.from(e.tensor.dataSync());
      const nonNegative = suffixes[s] === 'phi' || suffixes[s] === 'v';
      if (values.some((x) => !Number.isFinite(x) || (nonNegative && x < 0))) return 'refused';
      arrays.push(values);
    }
    const empty = new Float32Array(0);
    saved.push({ name, phi: arrays[0], m: arrays[1] ?? empty, v: arrays[2] ?? empty });
  }
  return { iter, saved };
}

/** src/state.ts's binding, restated: each variable's state (null: fresh), or 'misfit' when the step must throw. */
function bind(saved: Saved[], variables: tf.Variable[], granularity: Granularity, base: Base): Array<Saved | null> | 'misfit' {
  const claimed = new Set<number>();
  const result: Array<Saved | null> = [];
  for (let p = 0; p < variables.length; p++) {
    const v = variables[p];
    const P = granularity === 'weight' ? v.size : granularity === 'layer' ? 1 : v.shape.length === 0 ? 1 : v.shape[v.shape.length - 1];
    const mLen = base === 'sgd' ? 0 : v.size;
    const vLen = base === 'adam' ? v.size : 0;
    const fits = (s: Saved) => s.phi.length === P && s.m.length === mLen && s.v.length === vLen;
    let at = saved.findIndex((s, i) => s.name === v.name && !claimed.has(i));
    if (at < 0 && p < saved.length && !claimed.has(p) && fits(saved[p])) at = p;
    if (at >= 0 && !fits(saved[at])) return 'misfit';
    if (at >= 0) claimed.add(at);
    result.push(at >= 0 ? saved[at] : null);
  }
  return result;
}

const shapes = fc.constantFrom<number[]>([2, 3], [3], [3, 1], [6], [1, 3]);

const cases = fc.record({
  base: fc.constantFrom<Base>('sgd', 'momentum', 'adam'),
  granularity: fc.constantFrom<Granularity>('weight', 'unit', 'layer'),
  shapes: fc.tuple(shapes, shapes),
  ops: fc.array(ops, { minLength: 0, maxLength: 4 }),
  seed: fc.nat({ max: 1000 }),
});

beforeAll(() => useBackend('cpu'));
afterAll(() => tf.disposeVariables());

describe('setWeights with mutated saved state, property-based', () => {
  it('refuses with a clear error and changes nothing, or restores exactly what docs/errors.md says (by name, else by position)', async () => {
    // How often each outcome came up: a run that never reaches one would test it vacuously.
    const seen = { refused: 0, misfit: 0, accepted: 0, byPosition: 0, fresh: 0 };
    await fc.assert(
      fc.asyncProperty(cases, async ({ base, granularity, shapes: [s0, s1], ops: opList, seed }) => {
        const prefix = uniqueName('st');
        const init = (shape: number[], k: number) => {
          const n = shape.reduce((a, b) => a * b, 1);
          return Array.from({ length: n }, (_, i) => Math.sin(seed + 7 * k + i));
        };
        const make = (tag: string) => [
          tf.variable(tf.tensor(init(s0, 0), s0), true, `${prefix}${tag}/a`),
          tf.variable(tf.tensor(init(s1, 1), s1), true, `${prefix}${tag}/b`),
        ];
        const vars = make('');
        const twinVars = make('_twin');
        const options = { learningRate: 0.05, gildingRate: 0.5, base, granularity };
        const opt = kintsugi(options);
        const twin = kintsugi(options);
        const gradValues = (step: number) => [init(s0, 10 + step).map((x) => x * 0.3), init(s1, 20 + step).map((x) => -x)];
        const step = (o: KintsugiOptimizer, vs: tf.Variable[], k: number) => {
          const g = gradValues(k);
          const map: tf.NamedTensorMap = { [vs[0].name]: tf.tensor(g[0], s0), [vs[1].name]: tf.tensor(g[1], s1) };
          try {
            o.applyGradients(map);
          } finally {
            tf.dispose(Object.values(map));
          }
        };
        const values = (vs: tf.Variable[]) => vs.map((v) => hex(v.dataSync()));
        /** Each variable's ϕ, m, v (twin names mapped to ours), and the count. */
        const stateOf = async (o: KintsugiOptimizer, vs: tf.Variable[]) => {
          // The first entry of a name: bound states come before pending ones (a duplicate left unbound).
          const bytes = new Map<string, string>();
          for (const [name, hexed] of await weightBytes(o)) if (!bytes.has(name)) bytes.set(name, hexed);
          return [bytes.get('iter'), ...vs.flatMap((v) => SUFFIXES[base].map((s) => bytes.get(`${v.name}/${s}`)))];
        };
        let tensors: Array<{ name: string; tensor: tf.Tensor } | null> = [];
        try {
          for (let k = 0; k < 3; k++) {
            step(opt, vars, k);
            step(twin, twinVars, k);
          }
          const weights = await opt.getWeights();
          const original: Entry[] = await Promise.all(
            weights.map(async (w) => ({ name: w.name, values: Array.from(await w.tensor.data()), dtype: w.tensor.dtype as Entry['dtype'] })),
          );
          let list = original;
          for (const op of opList) list = apply(list, op, base, vars.map((v) => v.name));
          tensors = list.map(toTensor);
          const expected = parse(tensors, base);
          const before = await weightBytes(opt);
          const valuesBefore = values(vars);

          let refused: unknown;
          try {
            await opt.setWeights(tensors as never);
          } catch (e) {
            refused = e;
          }
          if (refused) {
            expect(refused instanceof TypeError || refused instanceof RangeError, String(refused)).toBe(true);
            const message = (refused as Error).message;
            expect(message.startsWith('kintsugi: '), message).toBe(true);
            expect(message.length, message).toBeLessThan(300);
            expect(message).not.toMatch(/[\r\n]/);
            expect(expected, `refused a list the docs accept: ${message}`).toBe('refused');
            seen.refused++;
            expect(await weightBytes(opt)).toEqual(before);
            expect(values(vars)).toEqual(valuesBefore);
            step(opt, vars, 3);
            step(twin, twinVars, 3);
            expect(values(vars)).toEqual(values(twinVars));
            expect(await stateOf(opt, vars)).toEqual(await stateOf(twin, twinVars));
            return;
          }
          expect(expected, `accepted a list the docs refuse: ${JSON.stringify(list.map((e) => [e.name, e.dtype, e.values.length, e.broken]))}`).not.toBe('refused');
          const { iter, saved } = expected as Exclude<typeof expected, 'refused'>;
          expect(opt.iterations).toBe(iter);
          const binding = bind(saved, vars, granularity, base);
          const restored = await weightBytes(opt);
          if (binding === 'misfit') {
            seen.misfit++;
            let first = '';
            try {
              step(opt, vars, 3);
            } catch (e) {
              expect(e).toBeInstanceOf(RangeError);
              first = (e as Error).message;
            }
            expect(first).toMatch(/^kintsugi: saved state of '.*' .* does not fit variable/);
            expect(first.length).toBeLessThan(300 + 2 * prefix.length);
            expect(await weightBytes(opt)).toEqual(restored);
            expect(values(vars)).toEqual(valuesBefore);
            expect(() => step(opt, vars, 3)).toThrow(first);
            expect(opt.iterations).toBe(iter);
            return;
          }
          seen.accepted++;
          if (binding.some((b, p) => b != null && b.name !== vars[p].name)) seen.byPosition++;
          if (binding.some((b) => b == null)) seen.fresh++;
          // The twin gets, by name, what the rule says each variable binds to (fresh: ϕ = 1, moments 0).
          const canonical: Array<{ name: string; tensor: tf.Tensor }> = [{ name: 'iter', tensor: tf.scalar(iter) }];
          const suffixes = SUFFIXES[base];
          suffixes.forEach((s, k) => {
            twinVars.forEach((tv, p) => {
              const b = binding[p];
              const P = granularity === 'weight' ? tv.size : granularity === 'layer' ? 1 : tv.shape[tv.shape.length - 1];
              const array = b ? [b.phi, b.m, b.v][k] : s === 'phi' ? new Float32Array(P).fill(1) : new Float32Array(tv.size);
              canonical.push({ name: `${tv.name}/${s}`, tensor: tf.tensor1d(array) });
            });
          });
          await twin.setWeights(canonical);
          tf.dispose(canonical.map((c) => c.tensor));
          step(opt, vars, 3);
          step(twin, twinVars, 3);
          expect(values(vars)).toEqual(values(twinVars));
          expect(await stateOf(opt, vars)).toEqual(await stateOf(twin, twinVars));
          if (opList.every((o) => o.kind === 'permuteVars' || o.kind === 'reshape')) {
            // A consistent permutation is restored by name: as the unmutated list.
            expect(binding.map((b) => b?.name)).toEqual(vars.map((v) => v.name));
          }
        } finally {
          tf.dispose(tensors.filter((t) => t != null && t.tensor instanceof tf.Tensor && !t.tensor.isDisposed).map((t) => t!.tensor));
          opt.dispose();
          twin.dispose();
          tf.dispose([...vars, ...twinVars]);
        }
      }),
      fuzzParameters(400),
    );
    if (process.env.KINTSUGI_FUZZ_DEBUG) console.log(seen);
    if (!process.env.KINTSUGI_FUZZ_SEED) for (const [outcome, n] of Object.entries(seen)) expect(n, `no case was ${outcome}`).toBeGreaterThan(0);
  });
});
