/**
 * What a model saved with its Kintsugi optimizer needs after `tf.loadLayersModel`. tfjs saves the
 * optimizer's config and weights, but not a function loss (`valueWeightedLoss`, `focalLoss`, any
 * loss of your own): the loaded model has none and must be compiled again. So the optimizer's
 * config also carries how its class stream's loss was made (`LossRecipe`), and
 * `valueWeightedLoss()` with no arguments makes the same loss again. And when the recompile is
 * forgotten, tfjs's bare TypeError is replaced by one that says what to do (`missingLossError`).
 */
import type { BaseLoss, ResolvedClassOptions } from './class-pathways';
import { show } from './options';

/** The named base losses; `custom` stands for a function, which cannot be saved. */
export const SAVED_BASES = ['binaryCrossentropy', 'categoricalCrossentropy', 'custom'] as const;
export type SavedBase = (typeof SAVED_BASES)[number];

/** How the class stream's loss was made: its base (named, or `custom`) and its resolved options. */
export interface LossRecipe {
  base: SavedBase;
  options: ResolvedClassOptions;
}

export function recipeOf(base: BaseLoss, options: ResolvedClassOptions): LossRecipe {
  return { base: typeof base === 'function' ? 'custom' : base, options };
}

/** The recipe as getConfig writes it: JSON has no Infinity, so `phiMax: Infinity` is the string 'Infinity'. */
export function recipeConfig(recipe: LossRecipe): { base: SavedBase; options: { [option: string]: string | number } } {
  const { phiMax } = recipe.options;
  return { base: recipe.base, options: { ...recipe.options, phiMax: phiMax === Infinity ? 'Infinity' : phiMax } };
}

/**
 * A recipe read back from a saved config: its base checked, and its options with 'Infinity' (or
 * JSON's null) back to Infinity, for `resolveClassOptions` to check. Throws, naming the value, on
 * anything else.
 */
export function readRecipe(saved: unknown): { base: SavedBase; options: Record<string, unknown> } {
  const s = saved as { base?: unknown; options?: unknown } | null;
  if (s === null || typeof s !== 'object' || s.options === null || typeof s.options !== 'object') {
    throw new TypeError(`kintsugi: the saved config's classStream must be {base, options}; got ${show(saved)}`);
  }
  if (!SAVED_BASES.includes(s.base as SavedBase)) {
    throw new RangeError(`kintsugi: the saved config's classStream base must be one of ${SAVED_BASES.map((b) => `'${b}'`).join(', ')}; got ${show(s.base)}`);
  }
  const options: Record<string, unknown> = { ...(s.options as Record<string, unknown>) };
  if (options.phiMax === 'Infinity' || options.phiMax === null) options.phiMax = Infinity;
  return { base: s.base as SavedBase, options };
}

/** The message when a saved class stream had a function base and `valueWeightedLoss()` is called without one. */
export function customBaseMissing(): Error {
  return new TypeError(
    'kintsugi: this optimizer was saved with valueWeightedLoss(<your per-sample loss function>), and tfjs cannot save a function: pass it again, optimizer.valueWeightedLoss(yourLoss) (the saved options are kept)',
  );
}

/**
 * tfjs-layers' error for a model that has no loss, as `tf.loadLayersModel` leaves one saved with
 * a function loss: `lossFunction is not a function` (another name once minified).
 */
function isMissingLoss(e: unknown): e is TypeError {
  return e instanceof TypeError && /is not a function$/.test(e.message);
}

/**
 * The error to throw instead of `e` when an optimizer restored from a saved config steps a model
 * that has no loss: it says to compile again, and with which loss. Other errors pass unchanged.
 */
export function missingLossError(e: unknown, restored: boolean, recipe: LossRecipe | null): unknown {
  if (!restored || !isMissingLoss(e)) return e;
  const loss = recipe == null
    ? 'the loss it was compiled with, e.g. focalLoss({ ...the same options })'
    : recipe.base === 'custom'
      ? 'optimizer.valueWeightedLoss(yourLoss), which keeps the saved options'
      : 'optimizer.valueWeightedLoss(), which takes the saved base and options';
  return new TypeError(
    `kintsugi: the model has no loss. tfjs cannot save a function loss, so a model from tf.loadLayersModel must be compiled again before it trains: model.compile({ optimizer, loss: ${loss} }) (tfjs said: ${e.message})`,
  );
}
