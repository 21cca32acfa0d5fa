/**
 * The ϕ recorder: every variable's ϕ (and the class stream's) at the end of each epoch, for the
 * ϕ report's drift chart. Its epoch count runs across `fit` calls, and it saves to JSON and
 * restores from it, so a history survives a model's save and load the way the optimizer's
 * state does.
 */
import { KintsugiOptimizer } from '../../optimizer';
import { kindOf, show } from '../../options';

export interface PhiSnapshot {
  /** 0-based, counted across every `fit` this recorder has seen (see `onEpochEnd`). */
  epoch: number;
  phi: Map<string, Float32Array>;
  classes: Float32Array | null;
}

/** A recorder's history as JSON holds it: `JSON.stringify(recorder)` writes it. */
export interface PhiRecorderJSON {
  snapshots: Array<{ epoch: number; phi: Record<string, number[]>; classes: number[] | null }>;
}

/**
 * Records every variable's ϕ at the end of each epoch. Pass it to `fit` as a callback:
 * `model.fit(x, y, { callbacks: recorder })`. To continue a history after `tf.loadLayersModel`,
 * save `JSON.stringify(recorder)` with the model and pass it back parsed:
 * `new PhiRecorder(loadedOptimizer, saved)`.
 */
export class PhiRecorder {
  readonly snapshots: PhiSnapshot[] = [];
  private readonly optimizer: KintsugiOptimizer;

  constructor(optimizer: KintsugiOptimizer, saved?: PhiRecorderJSON) {
    if (!(optimizer instanceof KintsugiOptimizer)) {
      throw new TypeError(`PhiRecorder: the first argument must be a KintsugiOptimizer (made by kintsugi()); got ${kindOf(optimizer)}`);
    }
    // Checked whole before anything is kept.
    if (saved !== undefined) this.snapshots.push(...readSaved(saved));
    this.optimizer = optimizer;
  }

  /**
   * An arrow property: tfjs calls callbacks detached from their object. tfjs numbers each fit's
   * epochs from 0 (or from `initialEpoch`), so a second fit would reuse the first one's numbers;
   * the recorder numbers on from its last epoch instead, and keeps tfjs's number when that is
   * larger (a fit resumed with `initialEpoch`).
   */
  readonly onEpochEnd = (epoch: number): void => {
    const last = this.snapshots[this.snapshots.length - 1];
    const next = last ? last.epoch + 1 : 0;
    const phi = new Map<string, Float32Array>();
    for (const v of this.optimizer.phiStats({ top: 0 }).variables) phi.set(v.name, this.optimizer.valueWeights(v.name));
    this.follow(phi);
    this.snapshots.push({ epoch: Number.isInteger(epoch) ? Math.max(next, epoch) : next, phi, classes: this.optimizer.classValueWeights() });
  };

  /**
   * A model loaded in a process that already holds its variable names gets them suffixed
   * (`dense_Dense1/kernel_1`). When every name changed but the variables match by position and
   * length, the history takes the new names, so the drift goes on in one series per variable:
   * by name, else by position, as the optimizer binds restored state (src/state.ts).
   */
  private follow(phi: Map<string, Float32Array>): void {
    const last = this.snapshots[this.snapshots.length - 1];
    if (!last) return;
    const [before, after] = [[...last.phi.keys()], [...phi.keys()]];
    const renamed = before.length === after.length && before.every((name, i) => !phi.has(name) && last.phi.get(name)?.length === phi.get(after[i])?.length);
    if (!renamed || before.length === 0) return;
    const alias = new Map(before.map((name, i) => [name, after[i]]));
    for (const s of this.snapshots) s.phi = new Map([...s.phi].map(([name, values]) => [alias.get(name) ?? name, values]));
  }

  /** Mean |ϕ_epoch − ϕ_previous epoch| per variable (and `classes`), one point per epoch after the first, at epoch + 1. */
  drift(): Map<string, Array<[number, number]>> {
    const out = new Map<string, Array<[number, number]>>();
    const add = (name: string, epoch: number, a: Float32Array | null | undefined, b: Float32Array | null | undefined) => {
      if (!a || !b || a.length !== b.length || a.length === 0) return;
      let s = 0;
      for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
      if (!out.has(name)) out.set(name, []);
      out.get(name)?.push([epoch + 1, s / a.length]);
    };
    for (let k = 1; k < this.snapshots.length; k++) {
      const [prev, cur] = [this.snapshots[k - 1], this.snapshots[k]];
      for (const [name, phi] of cur.phi) add(name, cur.epoch, phi, prev.phi.get(name));
      add('classes', cur.epoch, cur.classes, prev.classes);
    }
    return out;
  }

  /** The history as plain JSON (float32 values print exactly, so a round trip is bitwise). */
  toJSON(): PhiRecorderJSON {
    return {
      snapshots: this.snapshots.map((s) => ({
        epoch: s.epoch,
        phi: Object.fromEntries([...s.phi].map(([name, phi]) => [name, Array.from(phi)])),
        classes: s.classes ? Array.from(s.classes) : null,
      })),
    };
  }
}

/** The snapshots of a saved history, every one checked (epochs rising, values finite). */
function readSaved(saved: unknown): PhiSnapshot[] {
  const fail = (what: string, Kind: ErrorConstructor = TypeError): never => {
    throw new Kind(`PhiRecorder: the saved history ${what}; pass what JSON.stringify(recorder) wrote, parsed`);
  };
  if (saved === null || typeof saved !== 'object' || !Array.isArray((saved as PhiRecorderJSON).snapshots)) fail(`is ${show(saved)}, not {snapshots: [...]}`);
  const numbers = (values: unknown, where: string): Float32Array => {
    if (!Array.isArray(values) || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) fail(`has ${where} that is not a list of finite numbers`);
    return Float32Array.from(values as number[]);
  };
  let previous = -1;
  return (saved as PhiRecorderJSON).snapshots.map((s, i) => {
    if (s === null || typeof s !== 'object') return fail(`has snapshot ${i} = ${show(s)}`);
    if (!Number.isInteger(s.epoch) || s.epoch <= previous) fail(`has snapshot ${i} at epoch ${show(s.epoch)}; epochs must be whole numbers ≥ 0, rising`, RangeError);
    previous = s.epoch;
    if (s.phi === null || typeof s.phi !== 'object' || Array.isArray(s.phi)) fail(`has snapshot ${i} without a ϕ map`);
    const phi = new Map(Object.entries(s.phi).map(([name, values]) => [name, numbers(values, `a ϕ of '${name}' in snapshot ${i}`)]));
    const classes = s.classes == null ? null : numbers(s.classes, `class ϕ in snapshot ${i}`);
    return { epoch: s.epoch, phi, classes };
  });
}
