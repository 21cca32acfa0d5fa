/**
 * KintsugiOptimizer: a tf.Optimizer whose step is the Kintsugi dual-stream update of
 * ALGORITHM.md. It validates the gradients, reaches tensor memory through `storage`, and hands all
 * variables of a step to one kernel call. What it keeps lives beside it: ϕ and the base moments
 * in `state`, the class stream in `class-pathways`, the counts behind phiStats/storageStats in
 * `stats`. docs/architecture.md draws one step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BaseLoss, ClassPathwayOptions, ClassStream, isClassWeight } from './class-pathways';
import { activeKernel } from './kernel/select';
import { KernelOutput, KernelParams, KernelVariable } from './kernel/types';
import { DEFAULT_OPTIONS, KintsugiOptions, kernelParamsOf, ResolvedOptions, resolveOptions } from './options';
import { PhiStats, StepStats, StorageStats } from './stats';
import { NamedTensor, readStateWeights, stateWeights, VariableStates } from './state';
import { commitVariables, openVariables } from './storage';

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
  private readonly states: VariableStates;
  private readonly classes = new ClassStream();
  private readonly stats = new StepStats();
  /** The tensors of the last getWeights(), owned by the optimizer until the next one or dispose(). */
  private exported: tf.Tensor[] = [];
  private out: KernelOutput = { skipped: new Uint8Array(16), meanAbsDeltaPhi: new Float64Array(16) };

  constructor(options: KintsugiOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.params = kernelParamsOf(this.options);
    this.states = new VariableStates(this.params.granularity, this.options.base);
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries = Array.isArray(variableGradients)
      ? variableGradients.map((e) => [e.name, e.tensor] as const)
      : Object.entries(variableGradients);
    // Taken now, kept only if this step succeeds: any error below drops it.
    const classProposal = this.classes.takeProposal();
    const variables: tf.Variable[] = [];
    const grads: tf.Tensor[] = [];
    for (const [name, grad] of entries) {
      if (grad == null) continue;
      variables.push(checkedVariable(name, grad));
      grads.push(grad);
    }
    const states = variables.map((v, i) => this.states.stateFor(v, i));
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
    this.classes.commit(classProposal);
    this.stats.record(states, opened, out);
    this.incrementIterations();
  }

  override computeGradients(f: () => tf.Scalar, varList?: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
    return this.classes.training(() => super.computeGradients(f, varList));
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
    return this.classes.loss(base, options);
  }

  /** A copy of the class value weights of the loss-level stream, or null before it has run. */
  classValueWeights(): Float32Array | null {
    return this.classes.current ? this.classes.current.phi.slice() : null;
  }

  /** A copy of the value weights ϕ of one variable (by name or the variable itself). */
  valueWeights(nameOrVariable: string | tf.Variable): Float32Array {
    return this.states.phiOf(typeof nameOrVariable === 'string' ? nameOrVariable : nameOrVariable.name);
  }

  /** Per-variable summaries of ϕ, the last step's mean |Δϕ|, and the non-finite skip count. */
  phiStats(options: { top?: number } = {}): PhiStats {
    return this.stats.phiStats(options, this.iterations, this.options.granularity, this.states.entries(), this.classes.current);
  }

  /** How the variables' memory was reached, counted per variable-step. */
  storageStats(): StorageStats {
    return this.stats.storageStats();
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
   * (`<variable>/phi`, `<variable>/m` and `<variable>/v` for adam, `<variable>/momentum`; see
   * ./state), then the class stream's `kintsugi/classes/phi` and `kintsugi/classes/crack`.
   * The tensors are snapshots owned by the optimizer until the next getWeights() or dispose().
   */
  override async getWeights(): Promise<NamedTensor[]> {
    tf.dispose(this.exported);
    const saved = this.states.saved();
    const named: NamedTensor[] = [await this.saveIterations()];
    named.push(...stateWeights(saved, this.options.base), ...this.classes.savedWeights());
    this.exported = named.map((w) => w.tensor);
    return named;
  }

  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const all = await this.extractIterations(weightValues);
    const classEntries = all.filter((w) => isClassWeight(w));
    const saved = await readStateWeights(all.filter((w) => !isClassWeight(w)), this.options.base);
    this.states.restore(saved);
    await this.classes.restore(classEntries);
  }

  override dispose(): void {
    tf.dispose(this.exported);
    this.exported = [];
    this.states.clear();
    this.classes.reset();
    super.dispose();
  }

  /** The kernel's output slots for `count` variables, reused across steps. */
  private outputFor(count: number): KernelOutput {
    if (this.out.skipped.length < count) {
      this.out = { skipped: new Uint8Array(count), meanAbsDeltaPhi: new Float64Array(count) };
    }
    return this.out;
  }
}

/** The registered variable a gradient belongs to; throws, naming it, before anything changes. */
function checkedVariable(name: string, grad: tf.Tensor): tf.Variable {
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

tf.serialization.registerClass(KintsugiOptimizer);

/** `kintsugi(options)`: a new KintsugiOptimizer, the way `tf.train.adam(...)` makes an Adam. */
export function kintsugi(options: KintsugiOptions = {}): KintsugiOptimizer {
  return new KintsugiOptimizer(options);
}
