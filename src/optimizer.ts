/**
 * KintsugiOptimizer: a tf.Optimizer whose step is the Kintsugi dual-stream update of
 * ALGORITHM.md. It validates the gradients, reaches tensor memory through `storage`, and hands all
 * variables of a step to one kernel call. What it keeps lives beside it: ϕ and the base moments
 * in `state`, the class stream in `class-pathways`, the counts behind phiStats/storageStats in
 * `stats`. docs/architecture.md draws one step.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BaseLoss, ClassPathwayOptions, ClassStream, isClassWeight, readSavedRecipe } from './class-pathways';
import { CrackDriver, ExampleCrackOptions, ExampleCrackTaps } from './example-cracks';
import { ExamplePathwayOptions, ExampleStream, isExampleWeight } from './example-pathways';
import { activeKernel, DeviceKernel, openDevice } from './kernel/select';
import { KernelOutput, KernelParams, KernelVariable } from './kernel/types';
import { checkNumber, DEFAULT_OPTIONS, kindOf, KintsugiOptions, kernelParamsOf, NUMBER_RULES, ResolvedOptions, resolveOptions, show } from './options';
import { recipeConfig } from './reload';
import { PhiStats, StepStats, StorageStats } from './stats';
import { checkEntry, NamedTensor, readStateWeights, stateWeights, VariableState, VariableStates } from './state';
import { VariableStorage } from './storage';

// Read once: `tf.x` goes through a getter of the namespace object on every access.
const { engine, Tensor } = tf;
const EMPTY = new Float32Array(0);

/**
 * What a step over the same variables reuses: the variable list, their states and the kernel's
 * per-variable records (θ and g are filled in each step and cleared after it).
 */
interface StepPlan {
  variables: tf.Variable[];
  states: VariableState[];
  kvars: KernelVariable[];
  /** `VariableStates.generation` when built: a restore or clear since makes the plan stale. */
  generation: number;
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
  /** The options as the kernel takes them; `step` and `learningRate` are set before each call. */
  private readonly params: KernelParams;
  private readonly states: VariableStates;
  private readonly classes: ClassStream;
  private readonly examples: ExampleStream;
  /** Per-example cracks: the taps in a model's Dense layers (`exampleCracks`). */
  private readonly cracks = new ExampleCrackTaps();
  /** Set by dispose(): a disposed optimizer refuses to step (its state is gone). */
  private disposed = false;
  private readonly stats = new StepStats();
  /** The tensors of the last getWeights(), owned by the optimizer until the next one or dispose(). */
  private exported: tf.Tensor[] = [];
  private out: KernelOutput = { skipped: new Uint8Array(16), meanAbsDeltaPhi: new Float64Array(16) };
  private readonly storage: VariableStorage;
  /** The GPU kernel holding ϕ, m and v on the device (`device` option), or null for the CPU kernel. */
  private readonly device: DeviceKernel | null;
  private readonly deviceReason: string;
  private plan: StepPlan | null = null;
  /** The current step's variables and gradients, in order (reused arrays). */
  private readonly stepVariables: tf.Variable[] = [];
  private readonly stepGrads: tf.Tensor[] = [];

  constructor(options: KintsugiOptions = {}) {
    super();
    this.options = resolveOptions(options);
    this.params = kernelParamsOf(this.options);
    this.states = new VariableStates(this.params.granularity, this.options.base);
    this.storage = new VariableStorage(this.options.storage);
    this.classes = new ClassStream(this.options.nonFinite);
    this.examples = new ExampleStream(this.options.nonFinite);
    // Last: 'cuda' throws here when no GPU can be used, before the optimizer holds anything.
    ({ kernel: this.device, reason: this.deviceReason } = openDevice(this.options.device));
  }

  /**
   * α, read at every step as tfjs's own optimizers read theirs: learning-rate schedules and
   * reduce-on-plateau callbacks set `optimizer.learningRate` between steps. A value outside
   * [0, Infinity) throws and leaves the rate as it was; getConfig() saves the current rate.
   */
  get learningRate(): number {
    return this.options.learningRate;
  }

  set learningRate(value: number) {
    this.options.learningRate = checkNumber('learningRate', value, NUMBER_RULES.learningRate);
  }

  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    this.checkLive();
    // Taken now, kept only if this step succeeds: any error below drops it.
    const classProposal = this.classes.takeProposal();
    const exampleProposal = this.examples.takeProposal();
    let kept = false;
    try {
      // nonFinite 'throw': a NaN/±Infinity class loss or crack throws here, before anything changes.
      this.classes.checkFinite(classProposal);
      const count = this.gather(variableGradients);
      const plan = this.planFor(count);
      const opened = this.storage.open(plan.variables, this.stepGrads, count);
      const kvars = plan.kvars;
      const tapped = this.cracks.attached;
      for (let i = 0; i < count; i++) {
        kvars[i].theta = opened[i].theta;
        kvars[i].grad = opened[i].grad;
        if (tapped) kvars[i].crack = this.cracks.crackOf(plan.variables[i].name);
      }
      const out = this.outputFor(count);
      this.params.step = this.iterations + 1;
      this.params.learningRate = this.options.learningRate;
      (this.device ?? activeKernel()).step(kvars, this.params, out);
      this.storage.commit(plan.variables, out.skipped);
      this.classes.commit(classProposal);
      this.examples.commit(exampleProposal);
      this.cracks.commit(exampleProposal?.rowIds ?? null, exampleProposal?.examples ?? 0);
      this.states.keepBinding();
      kept = true;
      this.stats.record(plan.states, opened, out);
      this.incrementIterations();
    } finally {
      if (!kept) {
        this.classes.discard(classProposal);
        // States this step bound (new, or restored by setWeights) are unbound again, and the plan
        // that holds them dropped: a failed step leaves getWeights() and phiStats() as they were.
        this.states.undoBinding();
        this.plan = null;
        this.cracks.discard();
      }
      this.release();
    }
  }

  override computeGradients(f: () => tf.Scalar, varList?: tf.Variable[]): { value: tf.Scalar; grads: tf.NamedTensorMap } {
    this.checkLive();
    try {
      return this.classes.training(() => this.examples.training(() => this.cracks.training(() => super.computeGradients(f, varList))));
    } catch (e) {
      // A model loaded without its function loss fails here: the error says how to compile it again.
      throw this.classes.explainMissingLoss(e);
    }
  }

  /**
   * The loss-level stream in one line: `model.compile({optimizer, loss: optimizer.valueWeightedLoss()})`.
   * Each class of the classifier gets a value weight ϕ_c, gilded by that class's mean loss in
   * each training batch and used to weight it: the loss is (1/C) Σ_c ϕ_c l_c, ϕ held constant
   * (with `weighting: 'frequency'`, Σ_c (n_c/n) ϕ_c l_c: the plain mean loss while ϕ ≡ 1).
   * ϕ moves only in training steps (minimize/fit), never in evaluate, predict or validation.
   * Its state is saved and restored with the optimizer's weights, and its base and options with
   * the optimizer's config: after `tf.loadLayersModel`, `valueWeightedLoss()` with no arguments
   * makes the same loss again (a function base must be passed again). Defaults:
   * 'binaryCrossentropy' and the options' defaults.
   */
  valueWeightedLoss(base?: BaseLoss, options?: ClassPathwayOptions): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar {
    return this.classes.loss(base, options);
  }

  /**
   * Example pathways: one value weight per training example, gilded by that example's loss each
   * time it is in a training batch, and weighting that loss: (1/b) Σ_r ϕ_{id(r)} l_r, ϕ held
   * constant (src/example-pathways.ts, docs/algorithm.md). The targets carry each row's example id
   * as their last column: `model.fitDataset(exampleDataset(x, y), …)`. ϕ moves only in training
   * steps; evaluate and validation report the plain mean loss. Saved with the optimizer's weights
   * (`kintsugi/examples/phi`, `kintsugi/examples/seen`); after a load, make the loss again with
   * the same options.
   */
  exampleWeightedLoss(base: BaseLoss, options: ExamplePathwayOptions): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Scalar {
    return this.examples.loss(base, options);
  }

  /**
   * Per-example cracks (`granularity: 'unit'`): taps every Dense layer of `model` so that, in each
   * training step (minimize, fit), a unit's crack is the largest (`top: 1`, default) or the mean of
   * the `top` largest of the batch's per-example parts |δ_u(n)|·‖a(n)‖ (bias: |δ_u(n)|), instead of
   * the batch-mean |g| of its column (docs/algorithm.md, "Per-example cracks"). Variables of other
   * layers keep the gradient's crack. Call it before training; dispose() removes the taps. Returns
   * the number of Dense layers tapped.
   */
  exampleCracks(model: unknown, options?: ExampleCrackOptions): number {
    this.checkLive();
    if (this.options.granularity !== 'unit') {
      throw new RangeError(`kintsugi: exampleCracks needs granularity 'unit' (a crack per unit); this optimizer has granularity '${this.options.granularity}'`);
    }
    if (this.device !== null) {
      throw new RangeError("kintsugi: per-example cracks are not supported on device 'cuda' yet; make the optimizer with device 'cpu'");
    }
    return this.cracks.attach(model, options);
  }

  /**
   * With per-example cracks and example ids (exampleDataset / withExampleIds with
   * exampleWeightedLoss): for each unit of variable `name`, the examples that most often gave the
   * unit its largest part, most often first (at most `top`, default 3). Counted exactly (`steps`
   * = `atMost`) while units × examples ≤ 2^22; beyond, in 64 bounded counters per unit, where
   * `steps` is a sure count and `atMost` an upper bound. Null when this variable has none recorded (no example
   * ids in its steps, or no per-example cracks); a name the optimizer has never stepped throws.
   */
  exampleCrackDrivers(name: string, top = 3): CrackDriver[][] | null {
    if (typeof name !== 'string') throw new TypeError(`kintsugi: exampleCrackDrivers takes a variable name (a string); got ${kindOf(name)}`);
    if (!Number.isInteger(top) || top < 1) throw new RangeError(`kintsugi: exampleCrackDrivers' top must be a whole number ≥ 1; got ${show(top)}`);
    const drivers = this.cracks.driversOf(name, top);
    if (drivers === null) this.states.phiOf(name); // throws, naming the known variables, for a name never stepped
    return drivers;
  }

  /** Names of the variables whose crack drivers were recorded (see exampleCrackDrivers). */
  exampleCrackVariables(): string[] {
    return this.cracks.driverVariables();
  }

  /** A copy of the examples' value weights, or null before the example pathways have trained (or been restored). */
  exampleValueWeights(): Float32Array | null {
    return this.examples.copyOf('phi');
  }

  /** A copy of how many training batches each example has been in, or null as exampleValueWeights(). */
  exampleTimesSeen(): Int32Array | null {
    return this.examples.copyOf('seen');
  }

  /** A copy of the class value weights of the loss-level stream (read back from the backend), or null before it has run. */
  classValueWeights(): Float32Array | null {
    return this.classes.phiValues();
  }

  /** A copy of the value weights ϕ of one variable (by name or the variable itself). */
  valueWeights(nameOrVariable: string | tf.Variable): Float32Array {
    this.device?.sync();
    return this.states.phiOf(typeof nameOrVariable === 'string' ? nameOrVariable : nameOrVariable.name);
  }

  /** Per-variable summaries of ϕ, the last step's mean |Δϕ|, and the non-finite skip count. */
  phiStats(options: { top?: number } = {}): PhiStats {
    this.device?.sync();
    return this.stats.phiStats(options, this.iterations, this.options.granularity, this.states.entries(), this.classes.snapshot());
  }

  /** Where the steps run (the `device` option as resolved) and why; `auto` says why it fell back. */
  deviceInfo(): { device: 'cpu' | 'cuda'; reason: string } {
    return { device: this.device ? 'cuda' : 'cpu', reason: this.deviceReason };
  }

  /** How the variables' memory was reached, counted per variable-step. */
  storageStats(): StorageStats {
    return this.stats.storageStats();
  }

  /**
   * The options but `storage` and `device` (they describe the machine, not the model). JSON has
   * no Infinity (JSON.stringify writes null), so `phiMax: Infinity` is written as the string
   * 'Infinity', which fromConfig reads back.
   */
  override getConfig(): tf.serialization.ConfigDict {
    const { storage: _storage, device: _device, ...config } = this.options;
    // Once the class stream has a loss, how it was made (src/reload.ts), so that a loaded model is recompiled with the same.
    const recipe = this.classes.lossRecipe;
    return { ...config, phiMax: config.phiMax === Infinity ? 'Infinity' : config.phiMax, ...(recipe ? { classStream: recipeConfig(recipe) } : {}) };
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    // tfjs-layers adds keys of its own (customObjects) when it deserializes; keep only ours (own
    // keys: `in` would also keep inherited names such as 'constructor' or 'toString').
    const options = Object.fromEntries(Object.entries(config).filter(([key]) => Object.prototype.hasOwnProperty.call(DEFAULT_OPTIONS, key)));
    // getConfig writes phiMax Infinity as 'Infinity'; configs saved before that hold null (JSON's Infinity).
    if (options.phiMax === 'Infinity' || (options.phiMax === null && 'phiMax' in options)) options.phiMax = Infinity;
    const recipe = config.classStream === undefined ? null : readSavedRecipe(config.classStream);
    const made = new cls(options);
    (made as unknown as KintsugiOptimizer).classes.restoreRecipe(recipe);
    return made;
  }

  /**
   * Iteration count, then every ϕ, then the base moments, in tfjs's positional convention
   * (`<variable>/phi`, `<variable>/m` and `<variable>/v` for adam, `<variable>/momentum`; see
   * ./state), then the class stream's `kintsugi/classes/phi` and `kintsugi/classes/crack`, then
   * the example pathways' `kintsugi/examples/phi` and `kintsugi/examples/seen`.
   * The tensors are snapshots owned by the optimizer until the next getWeights() or dispose().
   */
  override async getWeights(): Promise<NamedTensor[]> {
    tf.dispose(this.exported);
    this.device?.sync();
    const saved = this.states.saved();
    const named: NamedTensor[] = [await this.saveIterations()];
    named.push(...stateWeights(saved, this.options.base), ...this.classes.savedWeights(), ...this.examples.savedWeights());
    this.exported = named.map((w) => w.tensor);
    return named;
  }

  /**
   * Validates every entry (the iteration count, names, order, dtypes, finite values, v ≥ 0,
   * ϕ ≥ 0, the class entries), then changes everything at once; an error changes nothing. What
   * needs a variable's shape (the length of ϕ, m and v) is checked at the variable's first step,
   * all or none (see `VariableStates.statesFor`).
   */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    this.checkLive();
    if (!Array.isArray(weightValues) || weightValues.length === 0) {
      throw new TypeError(
        `kintsugi: setWeights expected a list starting with the iteration count ('iter'); got ${Array.isArray(weightValues) ? 'an empty list' : String(weightValues === null ? 'null' : typeof weightValues)}`,
      );
    }
    weightValues.forEach((w, i) => checkEntry(w, i + 1));
    const iterations = await readIterations(weightValues[0]);
    const all = weightValues.slice(1);
    const classEntries = all.filter((w) => isClassWeight(w));
    const exampleEntries = all.filter((w) => isExampleWeight(w));
    const saved = await readStateWeights(all.filter((w) => !isClassWeight(w) && !isExampleWeight(w)), this.options.base);
    const classState = await this.classes.read(classEntries);
    const exampleState = await this.examples.read(exampleEntries);
    // Everything checked: commit.
    this.iterations_ = iterations;
    this.device?.reset();
    this.states.restore(saved);
    this.classes.restore(classState);
    this.examples.restore(exampleState);
  }

  override dispose(): void {
    this.disposed = true;
    tf.dispose(this.exported);
    this.exported = [];
    this.states.clear();
    this.device?.dispose();
    this.plan = null;
    this.cracks.detach();
    this.classes.reset();
    this.examples.reset();
    super.dispose();
  }

  private checkLive(): void {
    if (this.disposed) {
      throw new Error('kintsugi: this optimizer was disposed; make a new one (its state is gone, so it cannot step or be restored)');
    }
  }

  /**
   * Checks every gradient of the step (throwing, naming it, before anything changes) and puts
   * the variables and gradients that take a step into `stepVariables`/`stepGrads`; returns how many.
   */
  private gather(variableGradients: tf.NamedTensorMap | NamedTensor[]): number {
    const registered = engine().registeredVariables;
    const variables = this.stepVariables;
    const grads = this.stepGrads;
    let count = 0;
    if (Array.isArray(variableGradients)) {
      for (let i = 0; i < variableGradients.length; i++) {
        const { name, tensor } = variableGradients[i];
        if (tensor == null) continue;
        variables[count] = checkedVariable(registered, name, tensor);
        grads[count++] = tensor;
      }
    } else {
      const names = Object.keys(variableGradients);
      for (let i = 0; i < names.length; i++) {
        const grad = variableGradients[names[i]];
        if (grad == null) continue;
        variables[count] = checkedVariable(registered, names[i], grad);
        grads[count++] = grad;
      }
    }
    variables.length = count;
    grads.length = count;
    return count;
  }

  /**
   * The step's variables with their states and kernel records: the last step's when it had the
   * same variables in the same order and no state was restored or cleared since, else new
   * (binding the variables' states as `VariableStates.statesFor` does).
   */
  private planFor(count: number): StepPlan {
    const variables = this.stepVariables;
    const last = this.plan;
    if (last != null && last.generation === this.states.generation && last.variables.length === count) {
      let same = true;
      for (let i = 0; i < count && same; i++) same = last.variables[i] === variables[i];
      if (same) return last;
    }
    this.plan = null;
    // All or none: a restored entry that does not fit throws here with nothing bound (src/state.ts).
    const states: VariableState[] = this.states.statesFor(variables.slice(0, count));
    const kvars: KernelVariable[] = states.map((s, i) => ({
      name: variables[i].name,
      theta: EMPTY,
      grad: EMPTY,
      phi: s.phi,
      m: s.m,
      v: s.v,
    }));
    const plan: StepPlan = { variables: variables.slice(), states, kvars, generation: this.states.generation };
    this.plan = plan;
    return plan;
  }

  /** Drops this step's references to tensor memory (θ and g), so none outlives the step. */
  private release(): void {
    this.stepGrads.length = 0;
    this.stepVariables.length = 0;
    const kvars = this.plan?.kvars;
    if (kvars) {
      for (let i = 0; i < kvars.length; i++) {
        kvars[i].theta = EMPTY;
        kvars[i].grad = EMPTY;
        if (kvars[i].crack !== undefined) kvars[i].crack = undefined;
      }
    }
    this.storage.release();
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
function checkedVariable(registered: Readonly<Record<string, tf.Variable | undefined>>, name: string, grad: tf.Tensor): tf.Variable {
  const variable = registered[name];
  if (variable == null) {
    throw new RangeError(`kintsugi: gradient given for '${name}', which is not a registered variable`);
  }
  if (!(grad instanceof Tensor)) {
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
  if (!sameShape(variable.shape, grad.shape)) {
    throw new RangeError(
      `kintsugi: the gradient of variable '${name}' has shape [${grad.shape}], but the variable has shape [${variable.shape}]`,
    );
  }
  return variable;
}

/** The saved iteration count: one whole number in [0, 2^53]; throws (changing nothing) otherwise. */
async function readIterations(entry: NamedTensor): Promise<number> {
  if (entry.name !== 'iter' || entry.tensor.size !== 1) {
    throw new RangeError(
      `kintsugi: setWeights expected the iteration count ('iter', one value) first; got '${entry.name}' with ${entry.tensor.size} values`,
    );
  }
  const value = (await entry.tensor.data())[0] as number;
  if (!Number.isInteger(value) || value < 0 || value > 2 ** 53) {
    throw new RangeError(`kintsugi: setWeights: the iteration count must be a whole number in [0, 2^53]; got ${value}`);
  }
  return value;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

tf.serialization.registerClass(KintsugiOptimizer);

/** `kintsugi(options)`: a new KintsugiOptimizer, the way `tf.train.adam(...)` makes an Adam. */
export function kintsugi(options: KintsugiOptions = {}): KintsugiOptimizer {
  return new KintsugiOptimizer(options);
}
