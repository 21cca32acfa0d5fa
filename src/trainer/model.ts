/** Builds the model of a `ModelSpec`; both threads use it, each with its own tfjs. Internal. */
import * as path from 'path';
import type * as TF from '@tensorflow/tfjs';
import type { ModelSpec } from './types';

export type Tfjs = typeof TF;
export type LayersModel = TF.LayersModel;

/** Loads the tfjs module the trainer was told to use (`@tensorflow/tfjs` by default). */
export function loadTfjs(name: string): Tfjs {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(name) as Tfjs;
  } catch (e) {
    throw new Error(
      `kintsugi trainer: could not load '${name}' (${e instanceof Error ? e.message.split('\n')[0] : String(e)}); ` +
        `the trainer needs tfjs layers: npm install @tensorflow/tfjs`,
    );
  }
}

function shapeWithoutBatch(shape: unknown, what: string): number[] {
  const s = shape as Array<number | null>;
  if (!Array.isArray(s) || s.length < 2 || s.slice(1).some((d) => typeof d !== 'number' || !(d >= 1))) {
    throw new RangeError(`kintsugi trainer: the model's ${what} shape must be [batch, ...fixed sizes]; got ${JSON.stringify(shape)}`);
  }
  return s.slice(1) as number[];
}

export interface BuiltModel {
  model: LayersModel;
  inputShape: number[];
  outputShape: number[];
}

export function describeSpec(spec: ModelSpec): string {
  return 'topology' in spec ? 'a JSON topology' : `${spec.module}#${spec.exportName ?? 'default'}`;
}

/** Builds (and checks) the spec's model: one input, one output, fixed sizes past the batch axis. */
export async function buildModel(tf: Tfjs, spec: ModelSpec): Promise<BuiltModel> {
  let model: LayersModel;
  if (spec != null && typeof spec === 'object' && 'topology' in spec) {
    const topology = typeof spec.topology === 'string' ? (JSON.parse(spec.topology) as object) : spec.topology;
    model = await tf.models.modelFromJSON({ modelTopology: topology } as unknown as TF.io.ModelJSON);
    if (spec.weights != null) setWeightArrays(tf, model, spec.weights, 'model.weights');
  } else if (spec != null && typeof spec === 'object' && 'module' in spec && typeof spec.module === 'string') {
    const file = path.resolve(spec.module);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(file) as Record<string, unknown>;
    const names = spec.exportName != null ? [spec.exportName] : ['default', 'createModel'];
    const name = names.find((n) => typeof mod[n] === 'function');
    if (name == null) {
      throw new TypeError(`kintsugi trainer: ${file} exports no function named ${names.map((n) => `'${n}'`).join(' or ')}`);
    }
    const made = await (mod[name] as (tf: Tfjs, args: unknown) => unknown)(tf, spec.args);
    if (made == null || typeof (made as LayersModel).trainOnBatch !== 'function') {
      throw new TypeError(`kintsugi trainer: ${file}#${name} must return a tf.LayersModel`);
    }
    model = made as LayersModel;
  } else {
    throw new TypeError("kintsugi trainer: option 'model' must be { topology, weights? } or { module, exportName?, args? }");
  }
  if (model.inputs.length !== 1 || model.outputs.length !== 1) {
    throw new RangeError(`kintsugi trainer: the model must have one input and one output; it has ${model.inputs.length} and ${model.outputs.length}`);
  }
  return {
    model,
    inputShape: shapeWithoutBatch(model.inputs[0].shape, 'input'),
    outputShape: shapeWithoutBatch(model.outputs[0].shape, 'output'),
  };
}

/** `model.setWeights` from plain arrays, checking count and sizes first. */
export function setWeightArrays(tf: Tfjs, model: LayersModel, arrays: ArrayLike<number>[], what: string): void {
  const weights = model.weights;
  if (arrays.length !== weights.length) {
    throw new RangeError(`kintsugi trainer: ${what} has ${arrays.length} arrays; the model has ${weights.length} weights`);
  }
  weights.forEach((w, i) => {
    const size = (w.shape as number[]).reduce((a, b) => a * b, 1);
    if (arrays[i].length !== size) {
      throw new RangeError(`kintsugi trainer: ${what}[${i}] has ${arrays[i].length} values; weight '${w.originalName}' of shape [${w.shape}] needs ${size}`);
    }
  });
  const tensors = weights.map((w, i) => tf.tensor(arrays[i] as Float32Array, w.shape as number[], 'float32'));
  try {
    model.setWeights(tensors);
  } finally {
    tf.dispose(tensors);
  }
}
