/**
 * Entry points: `pruneLowMagnitude`, `stripPruning`, `pruneScope`, `getModelSparsity`: tfmot's
 * `prune.py`. (`cloneModel`, which they build on, is in `model/clone.ts`.)
 */
import {dispose, serialization, util} from '@tensorflow/tfjs-core';
import {LayersModel, layers, Sequential} from '@tensorflow/tfjs-layers';
import {cloneModel, isInputLayer} from '../model/clone';
import {countNonzero} from '../ops/mask';
import type {PruningPolicy} from './policy';
import {BlockPoolingType} from './pruning';
import {ChannelScore, linkChannelPruning, PruningStructure} from './channels';
import {ConstantSparsity, PolynomialDecay, PruningSchedule} from './schedules';
import {checkOptions, describeValue} from '../util/validate';
import {collectPrunableLayers, isPruneLowMagnitude, linkGlobalPruning} from './model_wrappers';
import {PruneLowMagnitude} from './wrapper';

type Layer = layers.Layer;

/** Options of `pruneLowMagnitude` (tfmot's arguments in camelCase, plus `globalPruning`). */
export interface PruneLowMagnitudeOptions {
  /** When and how much to prune; default `new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 100})`. */
  pruningSchedule?: PruningSchedule;
  /** `[height, width]` of blocks pruned together (rank-2 weights only); default `[1, 1]`. */
  blockSize?: [number, number];
  /** Pooling of a block's magnitudes: 'AVG' (default) or 'MAX'. */
  blockPoolingType?: BlockPoolingType;
  /** Wrap only the layers this policy allows (models only, as in tfmot). */
  pruningPolicy?: PruningPolicy;
  /** `[m, n]`: m zeros in every n consecutive weights along input channels (e.g. `[2, 4]`). */
  sparsityMByN?: [number, number]|null;
  /**
   * One magnitude threshold across all pruned weights of the model instead of one per weight, as
   * `torch.nn.utils.prune.global_unstructured`; layers then reach different sparsities whose
   * weighted mean is the schedule's. Unstructured pruning only. tfmot has none.
   */
  globalPruning?: boolean;
  /**
   * 'weights' (default) or 'channels': whole output channels, tied across BatchNormalization,
   * depthwise layers and residual branches, so `shrinkModel` can remove them. tfmot has none.
   */
  structure?: PruningStructure;
  /** Channel score with `structure: 'channels'`: 'l1' (default), 'l2' or 'batchNormScale'. */
  channelScore?: ChannelScore;
}

const OPTION_NAMES = ['pruningSchedule', 'blockSize', 'blockPoolingType', 'pruningPolicy', 'sparsityMByN',
  'globalPruning', 'structure', 'channelScore'];

/** tfmot's dispatch error, for anything `pruneLowMagnitude` cannot prune. */
function unsupportedTypeError(toPrune: unknown): Error {
  return new Error('`pruneLowMagnitude` can only prune an object of the following types: tf.Sequential, ' +
      'a functional tf.LayersModel, tf.layers.Layer, list of tf.layers.Layer. You passed an object of type: ' +
      `${describeValue(toPrune, 'type')}.`);
}

/**
 * Wraps a layer, a list of layers, or every layer of a `Sequential` or functional `LayersModel`
 * (nested models included) with `PruneLowMagnitude`: tfmot's `prune_low_magnitude`. The wrappers
 * wrap the original layer objects, so the pruned model starts from the same weights (and shares
 * them with the original). Already wrapped layers are kept as they are. The result of a model is a
 * new, uncompiled model: compile it before `fit`, and train with `UpdatePruningStep`.
 * ```ts
 * const pruned = pruneLowMagnitude(model, {
 *   pruningSchedule: new PolynomialDecay({initialSparsity: 0.5, finalSparsity: 0.8, beginStep: 0, endStep: 1000}),
 * }) as tf.LayersModel;
 * pruned.compile({optimizer: 'adam', loss: 'categoricalCrossentropy'});
 * await pruned.fit(x, y, {epochs: 2, callbacks: [new UpdatePruningStep()]});
 * ```
 * @param toPrune a layer, an array of layers, a `Sequential`, or a functional `LayersModel`.
 * @param options schedule, block settings, policy, M:N, global pruning.
 * @returns a `PruneLowMagnitude` for a layer, an array for an array, a new model for a model
 *     (a `Sequential` for a `Sequential`).
 * @throws Error `` `pruneLowMagnitude` can only prune an object of the following types: ... You passed
 *     an object of type: <type>. `` for anything else; the registry's error naming an unsupported
 *     layer; the wrapper's errors for bad options; an error naming an unknown option.
 */
export function pruneLowMagnitude(toPrune: Sequential, options?: PruneLowMagnitudeOptions): Sequential;
export function pruneLowMagnitude(toPrune: LayersModel, options?: PruneLowMagnitudeOptions): LayersModel;
export function pruneLowMagnitude(toPrune: Layer, options?: PruneLowMagnitudeOptions): PruneLowMagnitude;
export function pruneLowMagnitude(toPrune: Layer[], options?: PruneLowMagnitudeOptions): Layer[];
export function pruneLowMagnitude(toPrune: Layer|Layer[]|LayersModel, options?: PruneLowMagnitudeOptions):
    PruneLowMagnitude|Layer[]|LayersModel {
  const {pruningPolicy, ...params} = checkOptions(options, OPTION_NAMES, 'pruneLowMagnitude');
  if (pruningPolicy != null && (typeof pruningPolicy.allowPruning !== 'function' ||
      typeof pruningPolicy.ensureModelSupportsPruning !== 'function')) {
    throw new Error('pruneLowMagnitude: pruningPolicy must be a PruningPolicy (allowPruning and ' +
        `ensureModelSupportsPruning), but got ${describeValue(pruningPolicy)}`);
  }
  const wrap = (layer: Layer) => new PruneLowMagnitude({layer, ...params});

  if (Array.isArray(toPrune)) {
    return toPrune.map((layer, i) => {
      if (!(layer instanceof layers.Layer)) {
        throw new Error(`pruneLowMagnitude: element ${i} of the list is not a tf.layers.Layer but ${describeValue(layer, 'type')}`);
      }
      return isPruneLowMagnitude(layer) || isInputLayer(layer) ? layer : wrap(layer);
    });
  }
  if (toPrune instanceof LayersModel) {
    if (pruningPolicy != null) pruningPolicy.ensureModelSupportsPruning(toPrune);
    const addWrapper = (layer: Layer): Layer => {
      if (layer instanceof LayersModel) return pruneLowMagnitude(layer, options);
      if (isPruneLowMagnitude(layer) || isInputLayer(layer)) return layer;
      if (pruningPolicy != null && !pruningPolicy.allowPruning(layer)) return layer;
      return wrap(layer);
    };
    const pruned = cloneModel(toPrune, addWrapper);
    if (params.globalPruning === true) linkGlobalPruning(pruned);
    if (params.structure === 'channels') linkChannelPruning(pruned);
    return pruned;
  }
  if (toPrune instanceof layers.Layer) {
    if (isPruneLowMagnitude(toPrune)) {
      throw new Error(`pruneLowMagnitude: layer '${toPrune.name}' is already a PruneLowMagnitude wrapper`);
    }
    return wrap(toPrune);
  }
  throw unsupportedTypeError(toPrune);
}

/**
 * A plain model for deployment: every `PruneLowMagnitude` replaced by its inner layer, whose
 * weights are masked first (so the result is exactly sparse and predicts as the pruned model does),
 * nested models included: tfmot's `strip_pruning`. The inner layers are shared with `model`.
 * @throws Error `Expected model to be a \`tf.LayersModel\` instance but got: <type>`.
 */
export function stripPruning(model: Sequential): Sequential;
export function stripPruning(model: LayersModel): LayersModel;
export function stripPruning(model: LayersModel): LayersModel {
  if (!(model instanceof LayersModel)) {
    throw new Error(`Expected model to be a \`tf.LayersModel\` instance but got: ${describeValue(model, 'type')}`);
  }
  return cloneModel(model, layer => {
    if (isPruneLowMagnitude(layer)) {
      layer.pruningObj?.weightMaskOp();
      return layer.layer;
    }
    return layer instanceof LayersModel ? stripPruning(layer) : layer;
  });
}

/**
 * The fraction of zeros over all pruned weights of `model` (the prunable weights of every
 * `PruneLowMagnitude`, nested models included); a weight with n entries counts n times. 0 for a
 * model without pruned weights.
 * @throws Error if `model` is not a LayersModel.
 */
export function getModelSparsity(model: LayersModel): number {
  if (!(model instanceof LayersModel)) {
    throw new Error(`getModelSparsity expects a tf.LayersModel, but got ${describeValue(model, 'type')}`);
  }
  let zeros = 0, total = 0;
  for (const wrapper of collectPrunableLayers(model)) {
    for (const v of wrapper.pruningObj?.pruningVars ?? []) {
      const n = util.sizeFromShape(v.weight.shape as number[]);
      const nonzero = countNonzero(v.weight.read());
      zeros += n - nonzero.dataSync()[0];
      dispose(nonzero);
      total += n;
    }
  }
  return total === 0 ? 0 : zeros / total;
}

/**
 * Runs `fn` (e.g. a `tf.loadLayersModel` or `tf.models.modelFromJSON`) with this library's classes
 * registered for deserialization: tfmot's `prune_scope`. They are also registered when the package
 * is imported, so this is needed only if that registration was removed; it keeps tfmot's recipe
 * working. (tfjs's `Sequential.fromConfig` ignores `customObjects`, so registration is global.)
 * @returns what `fn` returns, awaited.
 */
export async function pruneScope<T>(fn: () => T|Promise<T>): Promise<T> {
  if (typeof fn !== 'function') throw new Error(`pruneScope expects a function, but got ${describeValue(fn, 'type')}`);
  const map = serialization.SerializationMap.getMap().classNameMap;
  const classes = [PruneLowMagnitude, ConstantSparsity, PolynomialDecay] as const;
  const saved = classes.map(cls => map[cls.className]);
  for (const cls of classes) {
    map[cls.className] = [cls as unknown as serialization.SerializableConstructor<serialization.Serializable>,
      cls.fromConfig as serialization.FromConfigMethod<serialization.Serializable>];
  }
  try {
    return await fn();
  } finally {
    classes.forEach((cls, i) => {
      if (saved[i] == null) delete map[cls.className];
      else map[cls.className] = saved[i];
    });
  }
}
