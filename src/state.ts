/**
 * The optimizer's per-variable state (ϕ and the base moments, as Float32Arrays the kernel updates
 * in place) and its saved form.
 *
 * Saved form, in tfjs's positional convention (what `getWeights()` returns and `setWeights()`
 * takes): the iteration count (`iter`, written by tf.Optimizer), then every variable's
 * `<variable>/phi`, then every `<variable>/momentum` (base `momentum`) or every `<variable>/m`
 * followed by every `<variable>/v` (base `adam`), then the class stream's entries
 * (`kintsugi/classes/…`, see ../class-pathways; then `kintsugi/examples/…`, see ../example-pathways). A restored entry binds at the variable's first
 * step: to the variable of the same name, else to the variable at the same position in the
 * gradient list if its sizes fit, else the variable starts fresh.
 */
import * as tf from '@tensorflow/tfjs-core';
import { GranularityCode, pathwayCount } from './kernel/types';
import type { Base } from './options';

/** tfjs's `{name, tensor}` pair (not exported from tfjs-core's entry point). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

export interface VariableState {
  phi: Float32Array;
  /** Momentum accumulator (`momentum`) or first moment (`adam`); empty for `sgd`. */
  m: Float32Array;
  /** Second moment (`adam`); empty otherwise. */
  v: Float32Array;
  skipped: number;
  meanAbsDeltaPhi: number;
}

/** State restored by `setWeights`, bound to variables at the next step. */
export interface SavedState {
  name: string;
  phi: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

const MOMENT_SUFFIX = { sgd: [], momentum: ['momentum'], adam: ['m', 'v'] } as const;

function lastAxis(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : shape[shape.length - 1];
}

/** Every variable's state, by name, and the restored entries not yet bound to a variable. */
export class VariableStates {
  private readonly byName = new Map<string, VariableState>();
  /** Restored by setWeights and not yet bound; a bound entry becomes null, keeping positions. */
  private pending: Array<SavedState | null> = [];
  /** Positions in `pending` per saved name, in order (a bound one is skipped: its entry is null). */
  private pendingByName = new Map<string, number[]>();
  /** Counts `restore` and `clear` calls: a state returned by `statesFor` stays this variable's until it changes. */
  private changes = 0;
  /** What the last `statesFor` bound (new names, restored entries taken), until `keepBinding` or `undoBinding`. */
  private lastBinding: { names: string[]; taken: Array<[number, SavedState]> } | null = null;

  constructor(
    private readonly granularity: GranularityCode,
    private readonly base: Base,
  ) {}

  /**
   * The states of one step's variables, all or none: each existing, restored by setWeights (by
   * name, else by position), or new. Every variable is matched before anything is bound, so a
   * restored entry that does not fit its variable throws, naming both, with nothing bound and
   * every restored entry still pending: each later step throws the same error until setWeights
   * (or dispose) replaces the restore.
   */
  statesFor(variables: readonly tf.Variable[]): VariableState[] {
    const claimed = new Set<number>();
    const plans: Array<{ variable: tf.Variable; existing?: VariableState; at: number; P: number; momentLength: number }> = [];
    for (let position = 0; position < variables.length; position++) {
      const variable = variables[position];
      const existing = this.byName.get(variable.name);
      if (existing) {
        plans.push({ variable, existing, at: -1, P: 0, momentLength: 0 });
        continue;
      }
      const P = pathwayCount(this.granularity, variable.size, lastAxis(variable.shape));
      const momentLength = this.base === 'sgd' ? 0 : variable.size;
      const vLength = this.base === 'adam' ? variable.size : 0;
      const open = (i: number) => this.pending[i] != null && !claimed.has(i);
      let at = this.pendingByName.get(variable.name)?.find(open) ?? -1;
      if (at < 0 && open(position)) {
        const candidate = this.pending[position] as SavedState;
        if (candidate.phi.length === P && candidate.m.length === momentLength && candidate.v.length === vLength) at = position;
      }
      if (at >= 0) {
        const restored = this.pending[at] as SavedState;
        if (restored.phi.length !== P || restored.m.length !== momentLength || restored.v.length !== vLength) {
          throw new RangeError(
            `kintsugi: saved state of '${restored.name}' (${restored.phi.length} value weights, ${restored.m.length}+${restored.v.length} moments) ` +
              `does not fit variable '${variable.name}' of shape [${variable.shape}] (${P} value weights, ${momentLength}+${vLength} moments); ` +
              `nothing was restored or changed: call setWeights again with state that fits`,
          );
        }
        claimed.add(at);
      }
      plans.push({ variable, at, P, momentLength });
    }
    // Everything matched: bind. The states bound in one step share one buffer per role (ϕ, m, v),
    // cut into consecutive views: the kernel then streams each role through one block of memory
    // instead of hundreds of separate allocations, which for 200 variables of a few thousand
    // elements measured 10% faster (bench/throughput's per-variable table).
    const fresh = plans.filter((p) => !p.existing);
    const vLengthOf = (variable: tf.Variable): number => (this.base === 'adam' ? variable.size : 0);
    const arenas = {
      phi: new Float32Array(fresh.reduce((a, p) => a + p.P, 0)),
      m: new Float32Array(fresh.reduce((a, p) => a + p.momentLength, 0)),
      v: new Float32Array(fresh.reduce((a, p) => a + vLengthOf(p.variable), 0)),
    };
    const offsets = { phi: 0, m: 0, v: 0 };
    const take = (role: 'phi' | 'm' | 'v', length: number, from: Float32Array | undefined, fill: number): Float32Array => {
      const view = arenas[role].subarray(offsets[role], offsets[role] + length);
      offsets[role] += length;
      if (from) view.set(from);
      else if (fill !== 0) view.fill(fill);
      return view;
    };
    const binding: { names: string[]; taken: Array<[number, SavedState]> } = { names: [], taken: [] };
    this.lastBinding = binding;
    return plans.map(({ variable, existing, at, P, momentLength }) => {
      if (existing) return existing;
      const restored = at >= 0 ? this.pending[at] : null;
      if (at >= 0) {
        binding.taken.push([at, restored as SavedState]);
        this.pending[at] = null;
      }
      binding.names.push(variable.name);
      const state: VariableState = {
        phi: take('phi', P, restored?.phi, 1),
        m: take('m', momentLength, restored?.m, 0),
        v: take('v', vLengthOf(variable), restored?.v, 0),
        skipped: 0,
        meanAbsDeltaPhi: 0,
      };
      this.byName.set(variable.name, state);
      return state;
    });
  }

  /** The step that called `statesFor` committed: its binding stays. */
  keepBinding(): void {
    this.lastBinding = null;
  }

  /**
   * The step that called `statesFor` failed (a non-finite gradient under 'throw', say): the states
   * it bound are unbound and the restored entries it took are pending again, so getWeights() and
   * phiStats() are as before the step (docs/errors.md, "State unchanged"). Bound last, so deleting
   * them keeps the order of the others.
   */
  undoBinding(): void {
    const binding = this.lastBinding;
    this.lastBinding = null;
    if (binding == null) return;
    for (const name of binding.names) this.byName.delete(name);
    for (const [at, entry] of binding.taken) this.pending[at] = entry;
  }

  /** Changes when `restore` or `clear` forgets the bound states (see `statesFor`). */
  get generation(): number {
    return this.changes;
  }

  /** Bound states in the order their variables first stepped. */
  entries(): IterableIterator<[string, VariableState]> {
    return this.byName.entries();
  }

  /** A copy of one variable's ϕ; throws naming the known variables if it has none. */
  phiOf(name: string): Float32Array {
    const s = this.byName.get(name);
    if (s == null) {
      const known = [...this.byName.keys()];
      throw new RangeError(
        `kintsugi: no value weights for variable '${name}'` +
          (known.length ? `; known variables: ${known.join(', ')}` : '; the optimizer has not stepped yet'),
      );
    }
    return s.phi.slice();
  }

  /** What getWeights saves: the bound states, then the restored ones not yet bound. */
  saved(): SavedState[] {
    const bound = [...this.byName].map(([name, s]) => ({ name, phi: s.phi, m: s.m, v: s.v }));
    return [...bound, ...this.pending.filter((s): s is SavedState => s != null)];
  }

  /** Forgets every state; `saved` binds at the next steps. */
  restore(saved: SavedState[]): void {
    this.changes++;
    this.lastBinding = null;
    this.byName.clear();
    this.pending = saved;
    this.pendingByName = new Map();
    saved.forEach((s, i) => {
      const list = this.pendingByName.get(s.name);
      if (list) list.push(i);
      else this.pendingByName.set(s.name, [i]);
    });
  }

  clear(): void {
    this.changes++;
    this.lastBinding = null;
    this.byName.clear();
    this.pending = [];
    this.pendingByName.clear();
  }
}

/** Every `<variable>/phi`, then the moments of each suffix of `base`: new tensors. */
export function stateWeights(saved: readonly SavedState[], base: Base): NamedTensor[] {
  // Copies: tf.tensor1d keeps the array it is given on cpu, and the kernel updates ϕ, m and v in
  // place, so a tensor made from them would change with every later step.
  const named: NamedTensor[] = saved.map((s) => ({ name: `${s.name}/phi`, tensor: tf.tensor1d(s.phi.slice()) }));
  const suffixes = MOMENT_SUFFIX[base];
  suffixes.forEach((suffix, k) => {
    named.push(...saved.map((s) => ({ name: `${s.name}/${suffix}`, tensor: tf.tensor1d((k === 0 ? s.m : s.v).slice()) })));
  });
  return named;
}

/** The entries after the iteration count (class entries removed) read back as saved states, checking names and dtypes. */
export async function readStateWeights(rest: readonly NamedTensor[], base: Base): Promise<SavedState[]> {
  const streams = 1 + MOMENT_SUFFIX[base].length;
  if (rest.length % streams !== 0) {
    throw new RangeError(
      `kintsugi: setWeights expected the iteration count then ${streams} tensors per variable ` +
        `(base '${base}'); got ${rest.length} tensors after the count`,
    );
  }
  const count = rest.length / streams;
  const saved: SavedState[] = [];
  for (let i = 0; i < count; i++) {
    const phiEntry = rest[i];
    checkEntry(phiEntry, i + 2);
    const name = stripSuffix(phiEntry.name, 'phi');
    if (name == null) {
      throw new RangeError(`kintsugi: setWeights expected a '<variable>/phi' tensor at position ${i + 1}; got '${phiEntry.name}'`);
    }
    const [mEntry, vEntry] = [rest[count + i], rest[2 * count + i]];
    const m = mEntry ? await readSaved(mEntry, name, MOMENT_SUFFIX[base][0] ?? 'm') : new Float32Array(0);
    const v = vEntry ? await readSaved(vEntry, name, 'v') : new Float32Array(0);
    saved.push({ name, phi: await readSaved(phiEntry, name, 'phi'), m, v });
  }
  return saved;
}

async function readSaved(entry: NamedTensor, name: string, suffix: string): Promise<Float32Array> {
  checkEntry(entry);
  if (stripSuffix(entry.name, suffix) !== name) {
    throw new RangeError(
      `kintsugi: setWeights expected '${name}/${suffix}' at this position; got '${entry.name}'`,
    );
  }
  if (entry.tensor.dtype !== 'float32') {
    throw new TypeError(`kintsugi: setWeights: '${entry.name}' must be float32; got ${entry.tensor.dtype}`);
  }
  const values = Float32Array.from(await entry.tensor.data());
  checkValues(entry.name, values, suffix !== 'm' && suffix !== 'momentum');
  return values;
}

/** A `{name, tensor}` pair with a live tf.Tensor; throws a TypeError naming the position otherwise. */
export function checkEntry(entry: unknown, position?: number): asserts entry is NamedTensor {
  const where = position == null ? '' : ` at position ${position}`;
  const e = entry as Partial<NamedTensor> | null;
  if (e == null || typeof e !== 'object' || typeof e.name !== 'string') {
    throw new TypeError(`kintsugi: setWeights expected a {name, tensor} entry${where}; got ${describe(entry)}`);
  }
  if (!(e.tensor instanceof tf.Tensor)) {
    throw new TypeError(`kintsugi: setWeights: '${e.name}' has no tf.Tensor`);
  }
  if (e.tensor.isDisposed) throw new TypeError(`kintsugi: setWeights: the tensor of '${e.name}' is disposed`);
}

/** Every value finite, and ≥ 0 when `nonNegative`; throws naming the entry, the index and the value. */
export function checkValues(name: string, values: Float32Array, nonNegative: boolean): void {
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (!Number.isFinite(x)) {
      throw new RangeError(`kintsugi: setWeights: '${name}' is not finite at index ${i} (got ${x}); saved state must be finite`);
    }
    if (nonNegative && x < 0) {
      throw new RangeError(`kintsugi: setWeights: '${name}' is negative at index ${i} (got ${x}); it must be ≥ 0`);
    }
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value !== 'object') return typeof value;
  return `an object with keys ${Object.keys(value as object).slice(0, 5).join(', ') || '(none)'}`;
}

/** 'dense/kernel/phi' → 'dense/kernel' (the name without its '/suffix'), or null. */
function stripSuffix(name: string, suffix: string): string | null {
  return name.endsWith(`/${suffix}`) ? name.slice(0, -suffix.length - 1) : null;
}
