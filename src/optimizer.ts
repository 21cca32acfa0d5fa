/**
 * KintsugiOptimizer: a tf.Optimizer whose step is the Kintsugi dual-stream update of
 * ALGORITHM.md. It validates, reaches tensor memory through `storage`, and hands all variables
 * of a step to one kernel call; ϕ and the base moments live here as Float32Arrays.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  BaseLoss,
  ClassPathwayOptions,
  ClassState,
  freshClassState,
  gildClasses,
  resolveClassOptions,
  valueWeightedLossValue,
} from './class-pathways';
import { summarizePhi, PhiSummary } from './inspect';
import { activeKernel } from './kernel/select';
import { KernelParams, KernelVariable, kernelParamsOf, pathwayCount } from './kernel/types';
import { DEFAULT_OPTIONS, KintsugiOptions, ResolvedOptions, resolveOptions, Granularity } from './options';
import { Access, commitVariables, openVariables } from './storage';

/** tfjs's `{name, tensor}` pair (not exported from tfjs-core's entry point). */
export interface NamedTensor {
  name: string;
  tensor: tf.Tensor;
}

interface VariableState {
  phi: Float32Array;
  /** Momentum accumulator (`momentum`) or first moment (`adam`); empty for `sgd`. */
  m: Float32Array;
  /** Second moment (`adam`); empty otherwise. */
  v: Float32Array;
  skipped: number;
  meanAbsDeltaPhi: number;
}

/** State restored by `setWeights`, bound to variables at the next step. */
interface SavedState {
  name: string;
  phi: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

export interface VariablePhiStats extends PhiSummary {
  name: string;
  granularity: Granularity;
  /** Mean |Δϕ| over this variable's pathways in its last step: near 0 once ϕ has settled. */
  meanAbsDeltaPhi: number;
  /** Steps of this variable skipped for a non-finite gradient. */
  skippedSteps: number;
}

export interface ClassPhiStats extends PhiSummary {
  /** Mean |Δϕ| over the classes in the last training step. */
  meanAbsDeltaPhi: number;
  /** The last crack (mean batch loss) seen per class. */
  crack: number[];
}

export interface PhiStats {
  /** The optimizer's step count. */
  iterations: number;
  /** Variable-steps skipped for non-finite gradients, over all variables. */
  skippedSteps: number;
  variables: VariablePhiStats[];
  /** The loss-level stream's class value weights, once `valueWeightedLoss` has trained. */
  classes: ClassPhiStats | null;
}

export interface StorageStats {
  /** Variable-steps updated in the backend's own memory. */
  inPlace: number;
  /** Variable-steps whose buffer was shared, so θ was copied and assigned back. */
  copy: number;
  /** Variable-steps on the generic `dataSync`/`assign` path. */
  generic: number;
}

/** Weight-name prefix of the loss-level stream's state in getWeights/setWeights. */
const CLASS_PREFIX = 'kintsugi/classes/';

const MOMENT_SUFFIX = { sgd: [], momentum: ['momentum'], adam: ['m', 'v'] } as const;

function lastAxis(shape: readonly number[]): number {
  return shape.length === 0 ? 1 : shape[shape.length - 1];
}

export class KintsugiOptimizer extends tf.Optimizer {
  static className = 'Kintsugi';

  /**
   * tf.Optimizer answers `instanceof` by duck typing, and subclasses inherit that, so without
   * this any tfjs optimizer would pass `x instanceof KintsugiOptimizer`.
   */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }

  private readonly options: ResolvedOptions;
  /** The options as the kernel takes them; only `step` changes between calls. */
  private readonly params: KernelParams;
  private readonly state = new Map<string, VariableState>();
  /** Restored by setWeights and not yet bound; a bound entry becomes null, keeping positions. */
  private pending: Array<SavedState | null> = [];
  private exported: tf.Tensor[] = [];
  private skippedTotal = 0;
  private readonly storageCounts: StorageStats = { inPlace: 0, copy: 0, generic: 0 };
  private out = { skipped: new Uint8Array(16), meanAbsDeltaPhi: new Float64Array(16) };
  /** True while `minimize` computes gradients: the only time the class stream may gild. */
  private inTrainingStep = false;
  private classState: ClassState | null = null;
  /** The class stream's gilded ϕ of the current training step, kept once the step succeeds. */
  private classProposal: ClassState | null = null;

  constructor(options: KintsugiOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.params = kernelParamsOf(this.options);
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries = Array.isArray(variableGradients)
      ? variableGradients.map((e) => [e.name, e.tensor] as const)
      : Object.entries(variableGradients);
    // Taken now, kept only if this step succeeds: any error below drops it.
    const classProposal = this.classProposal;
    this.classProposal = null;
    const variables: tf.Variable[] = [];
    const grads: tf.Tensor[] = [];
    for (const [name, grad] of entries) {
      if (grad == null) continue;
      variables.push(this.checkedVariable(name, grad));
      grads.push(grad);
    }
    const states = variables.map((v, i) => this.stateFor(v, i));
    const opened = openVariables(variables, grads, this.options.storage);
    const kvars: KernelVariable[] = opened.map((op, i) => ({
      name: variables[i].name,
      theta: op.theta,
      grad: op.grad,
      phi: states[i].phi,
      m: states[i].m,
      v: states[i].v,
    }));
    const out = this.outputFor(kvars.length);
    this.params.step = this.iterations + 1;
    activeKernel().step(kvars, this.params, out);
    commitVariables(variables, opened, out.skipped);
    if (classProposal) this.classState = classProposal;
    states.forEach((s, i) => {
      s.meanAbsDeltaPhi = out.meanAbsDeltaPhi[i];
      s.skipped += out.skipped[i];
      this.skippedTotal += out.skipped[i];
      this.countAccess(opened[i].access);
    });
    this.incrementIterations();
  }

  override computeGradients(f: () => tf.Scalar, varList?: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
    this.inTrainingStep = true;
    try {
      return super.computeGradients(f, varList);
    } finally {
      this.inTrainingStep = false;
    }
  }

  /**
   * The loss-level stream in one line: `model.compile({optimizer, loss: optimizer.valueWeightedLoss()})`.
   * Each class of the classifier gets a value weight ϕ_c, gilded by that class's mean loss in
   * each training batch and used to weight it: the loss is (1/C) Σ_c ϕ_c l_c, ϕ held constant
   * (with `weighting: 'frequency'`, Σ_c (n_c/n) ϕ_c l_c: the plain mean loss while ϕ ≡ 1).
   * ϕ moves only in training steps (minimize/fit), never in evaluate, predict or validation.
   * Its state is saved and restored with the optimizer's weights.
   */
  valueWeightedLoss(
    base: BaseLoss = 'binaryCrossentropy',
    options: ClassPathwayOptions = {},
  ): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar {
    if (typeof base !== 'function' && base !== 'binaryCrossentropy' && base !== 'categoricalCrossentropy') {
      throw new RangeError(
        `kintsugi: valueWeightedLoss base must be 'binaryCrossentropy', 'categoricalCrossentropy' or a per-sample loss function; got ${JSON.stringify(base)}`,
      );
    }
    const resolved = resolveClassOptions(options);
    return (yTrue, yPred) =>
      valueWeightedLossValue(base, yTrue, yPred, (classes, readBatch) => {
        if (this.classState == null || this.classState.phi.length !== classes) this.classState = freshClassState(classes);
        if (!this.inTrainingStep) return this.classState.phi;
        this.classProposal = gildClasses(this.classState, readBatch(), resolved);
        return this.classProposal.phi;
      }, resolved.weighting);
  }

  /** A copy of the class value weights of the loss-level stream, or null before it has run. */
  classValueWeights(): Float32Array | null {
    return this.classState ? this.classState.phi.slice() : null;
  }

  /** A copy of the value weights ϕ of one variable (by name or the variable itself). */
  valueWeights(nameOrVariable: string | tf.Variable): Float32Array {
    const name = typeof nameOrVariable === 'string' ? nameOrVariable : nameOrVariable.name;
    const s = this.state.get(name);
    if (s == null) {
      const known = [...this.state.keys()];
      throw new RangeError(
        `kintsugi: no value weights for variable '${name}'` +
          (known.length ? `; known variables: ${known.join(', ')}` : '; the optimizer has not stepped yet'),
      );
    }
    return s.phi.slice();
  }

  /** Per-variable summaries of ϕ, the last step's mean |Δϕ|, and the non-finite skip count. */
  phiStats(options: { top?: number } = {}): PhiStats {
    const top = options.top ?? 5;
    if (!Number.isInteger(top) || top < 0) {
      throw new RangeError(`kintsugi: phiStats option 'top' must be a non-negative integer; got ${top}`);
    }
    return {
      iterations: this.iterations,
      skippedSteps: this.skippedTotal,
      variables: [...this.state].map(([name, s]) => ({
        name,
        granularity: this.options.granularity,
        ...summarizePhi(s.phi, top),
        meanAbsDeltaPhi: s.meanAbsDeltaPhi,
        skippedSteps: s.skipped,
      })),
      classes: this.classState
        ? { ...summarizePhi(this.classState.phi, top), meanAbsDeltaPhi: this.classState.meanAbsDeltaPhi, crack: Array.from(this.classState.crack) }
        : null,
    };
  }

  /** How the variables' memory was reached, counted per variable-step. */
  storageStats(): StorageStats {
    return { ...this.storageCounts };
  }

  override getConfig(): tf.serialization.ConfigDict {
    const { storage: _storage, ...config } = this.options;
    return { ...config };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers adds keys of its own (customObjects) when it deserializes; keep only ours.
    const options = Object.fromEntries(Object.entries(config).filter(([key]) => key in DEFAULT_OPTIONS));
    return new cls(options);
  }

  /**
   * Iteration count, then every ϕ, then the base moments, in tfjs's positional convention
   * (`<variable>/phi`, `<variable>/m` and `<variable>/v` for adam, `<variable>/momentum`).
   * The tensors are snapshots owned by the optimizer until the next getWeights() or dispose().
   */
  override async getWeights(): Promise<NamedTensor[]> {
    tf.dispose(this.exported);
    const saved = this.savedStates();
    const named: NamedTensor[] = [await this.saveIterations()];
    named.push(...saved.map((s) => ({ name: `${s.name}/phi`, tensor: tf.tensor1d(s.phi) })));
    const suffixes = MOMENT_SUFFIX[this.options.base];
    suffixes.forEach((suffix, k) => {
      named.push(...saved.map((s) => ({ name: `${s.name}/${suffix}`, tensor: tf.tensor1d(k === 0 ? s.m : s.v) })));
    });
    if (this.classState) {
      named.push({ name: `${CLASS_PREFIX}phi`, tensor: tf.tensor1d(this.classState.phi) });
      named.push({ name: `${CLASS_PREFIX}crack`, tensor: tf.tensor1d(this.classState.crack) });
    }
    this.exported = named.map((w) => w.tensor);
    return named;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const all = await this.extractIterations(weightValues);
    const classEntries = all.filter((w) => w.name.startsWith(CLASS_PREFIX));
    const rest = all.filter((w) => !w.name.startsWith(CLASS_PREFIX));
    const streams = 1 + MOMENT_SUFFIX[this.options.base].length;
    if (rest.length % streams !== 0) {
      throw new RangeError(
        `kintsugi: setWeights expected the iteration count then ${streams} tensors per variable ` +
          `(base '${this.options.base}'); got ${rest.length} tensors after the count`,
      );
    }
    const count = rest.length / streams;
    const saved: SavedState[] = [];
    for (let i = 0; i < count; i++) {
      const phiEntry = rest[i];
      const name = stripSuffix(phiEntry.name, 'phi');
      if (name == null) {
        throw new RangeError(`kintsugi: setWeights expected a '<variable>/phi' tensor at position ${i + 1}; got '${phiEntry.name}'`);
      }
      const [mEntry, vEntry] = [rest[count + i], rest[2 * count + i]];
      const m = mEntry ? await this.readSaved(mEntry, name, MOMENT_SUFFIX[this.options.base][0] ?? 'm') : new Float32Array(0);
      const v = vEntry ? await this.readSaved(vEntry, name, 'v') : new Float32Array(0);
      saved.push({ name, phi: await this.readSaved(phiEntry, name, 'phi'), m, v });
    }
    this.state.clear();
    this.pending = saved;
    this.classState = await this.readClassState(classEntries);
    this.classProposal = null;
  }

  override dispose(): void {
    tf.dispose(this.exported);
    this.exported = [];
    this.state.clear();
    this.pending = [];
    this.classState = null;
    this.classProposal = null;
    super.dispose();
  }

  private checkedVariable(name: string, grad: tf.Tensor): tf.Variable {
    const variable = tf.engine().registeredVariables[name];
    if (variable == null) {
      throw new RangeError(`kintsugi: gradient given for '${name}', which is not a registered variable`);
    }
    if (!(grad instanceof tf.Tensor)) {
      throw new TypeError(`kintsugi: the gradient of variable '${name}' is not a tf.Tensor`);
    }
    if (grad.isDisposed) {
      throw new TypeError(`kintsugi: the gradient of variable '${name}' is disposed`);
    }
    if (variable.dtype !== 'float32' || grad.dtype !== 'float32') {
      throw new TypeError(
        `kintsugi: variable '${name}' and its gradient must be float32; got variable ${variable.dtype}, gradient ${grad.dtype}`,
      );
    }
    if (!tf.util.arraysEqual(variable.shape, grad.shape)) {
      throw new RangeError(
        `kintsugi: the gradient of variable '${name}' has shape [${grad.shape}], but the variable has shape [${variable.shape}]`,
      );
    }
    return variable;
  }

  /** The variable's state: existing, restored by setWeights (by name, else by position), or new. */
  private stateFor(variable: tf.Variable, position: number): VariableState {
    const existing = this.state.get(variable.name);
    if (existing) return existing;
    const P = pathwayCount(this.params.granularity, variable.size, lastAxis(variable.shape));
    const momentLength = this.options.base === 'sgd' ? 0 : variable.size;
    let restored = this.pending.find((s) => s?.name === variable.name) ?? null;
    if (restored == null) {
      const candidate = this.pending[position];
      if (candidate && candidate.phi.length === P && candidate.m.length === momentLength) restored = candidate;
    }
    if (restored) {
      this.pending[this.pending.indexOf(restored)] = null;
      if (restored.phi.length !== P || restored.m.length !== momentLength) {
        throw new RangeError(
          `kintsugi: saved state of '${restored.name}' (${restored.phi.length} value weights, ${restored.m.length} moments) ` +
            `does not fit variable '${variable.name}' of shape [${variable.shape}] (${P} value weights, ${momentLength} moments)`,
        );
      }
    }
    const state: VariableState = {
      phi: restored?.phi ?? new Float32Array(P).fill(1),
      m: restored?.m ?? new Float32Array(momentLength),
      v: restored?.v ?? new Float32Array(this.options.base === 'adam' ? variable.size : 0),
      skipped: 0,
      meanAbsDeltaPhi: 0,
    };
    this.state.set(variable.name, state);
    return state;
  }

  private savedStates(): SavedState[] {
    const bound = [...this.state].map(([name, s]) => ({ name, phi: s.phi, m: s.m, v: s.v }));
    return [...bound, ...this.pending.filter((s): s is SavedState => s != null)];
  }

  private async readClassState(entries: NamedTensor[]): Promise<ClassState | null> {
    if (entries.length === 0) return null;
    const phi = entries.find((w) => w.name === `${CLASS_PREFIX}phi`);
    const crack = entries.find((w) => w.name === `${CLASS_PREFIX}crack`);
    if (phi == null || crack == null || phi.tensor.size !== crack.tensor.size) {
      throw new RangeError(`kintsugi: setWeights needs both '${CLASS_PREFIX}phi' and '${CLASS_PREFIX}crack' of one length`);
    }
    return { phi: Float32Array.from(await phi.tensor.data()), crack: Float32Array.from(await crack.tensor.data()), meanAbsDeltaPhi: 0 };
  }

  private async readSaved(entry: NamedTensor, name: string, suffix: string): Promise<Float32Array> {
    if (stripSuffix(entry.name, suffix) !== name) {
      throw new RangeError(
        `kintsugi: setWeights expected '${name}/${suffix}' at this position; got '${entry.name}'`,
      );
    }
    if (entry.tensor.dtype !== 'float32') {
      throw new TypeError(`kintsugi: setWeights: '${entry.name}' must be float32; got ${entry.tensor.dtype}`);
    }
    return Float32Array.from(await entry.tensor.data());
  }

  private outputFor(count: number) {
    if (this.out.skipped.length < count) {
      this.out = { skipped: new Uint8Array(count), meanAbsDeltaPhi: new Float64Array(count) };
    }
    return this.out;
  }

  private countAccess(access: Access): void {
    if (access === 'in-place') this.storageCounts.inPlace++;
    else if (access === 'copy') this.storageCounts.copy++;
    else this.storageCounts.generic++;
  }
}

/** 'dense/kernel/phi' → 'dense/kernel' (the name without its '/suffix'), or null. */
function stripSuffix(name: string, suffix: string): string | null {
  return name.endsWith(`/${suffix}`) ? name.slice(0, -suffix.length - 1) : null;
}

tf.serialization.registerClass(KintsugiOptimizer);

/** `kintsugi(options)`: a new KintsugiOptimizer, the way `tf.train.adam(...)` makes an Adam. */
export function kintsugi(options: KintsugiOptions = {}): KintsugiOptimizer {
  return new KintsugiOptimizer(options);
}
