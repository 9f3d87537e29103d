/**
 * From one-shot pruning (or any per-layer sparsities) to `pruneLowMagnitude` training: per-layer
 * schedules for gradual pruning, or wrappers that keep the one-shot masks while fine-tuning.
 */
import {LayersModel, layers} from '@tensorflow/tfjs-layers';
import {tensor} from '@tensorflow/tfjs-core';
import {cloneModel} from '../model/clone';
import {describeValue} from '../util/validate';
import {pruneLowMagnitude, PruneLowMagnitudeOptions} from './prune';
import {ConstantSparsity, PruningSchedule} from './schedules';
import {PruneLowMagnitude} from './wrapper';
import type {OneShotResult} from './one_shot';

/** `pruneLowMagnitude`'s layer options other than the schedule. */
export type LayerPruningOptions = Omit<PruneLowMagnitudeOptions, 'pruningSchedule'|'pruningPolicy'|'globalPruning'>;

/**
 * Wraps the layers named in `schedules` with `PruneLowMagnitude`, each with its own schedule (for
 * example `PolynomialDecay`s to per-layer sparsities from `erkSparsities` or
 * `sensitivitySparsities`); other layers stay as they are. Like `pruneLowMagnitude`, the result
 * shares the original layers and weights; compile it and train with `UpdatePruningStep`.
 * ```js
 * const targets = sensitivitySparsities(curves, 0.9);
 * const pruned = pruneLowMagnitudeByLayer(model, Object.fromEntries(Object.entries(targets).map(([name, s]) =>
 *   [name, new PolynomialDecay({initialSparsity: 0, finalSparsity: s, beginStep: 0, endStep: 1000})])));
 * ```
 * @throws Error naming a layer in `schedules` that the model does not have, or a value that is not a schedule.
 */
export function pruneLowMagnitudeByLayer(model: LayersModel, schedules: Record<string, PruningSchedule>,
                                         options: LayerPruningOptions = {}): LayersModel {
  const op = 'pruneLowMagnitudeByLayer';
  if (!(model instanceof LayersModel)) {
    throw new Error(`Argument 'model' passed to '${op}' must be a tf.LayersModel, but got ${describeValue(model, 'type')}`);
  }
  const names = new Set(model.layers.map(l => l.name));
  for (const [name, schedule] of Object.entries(schedules ?? {})) {
    if (!names.has(name)) {
      throw new Error(`Argument 'schedules' passed to '${op}' names layer '${name}', which the model does not have; ` +
          `layers: ${[...names].join(', ')}`);
    }
    if (!(schedule instanceof PruningSchedule)) {
      throw new Error(`Argument 'schedules' passed to '${op}': the schedule of '${name}' must be a PruningSchedule`);
    }
  }
  return cloneModel(model, (layer: layers.Layer) => schedules[layer.name] != null ?
      pruneLowMagnitude(layer, {...options, pruningSchedule: schedules[layer.name]}) : layer);
}

/**
 * Wraps every layer `pruneOneShot` pruned so that fine-tuning keeps its masks: each mask starts
 * as the one-shot zeros, and the schedule (`ConstantSparsity` at the layer's reached sparsity,
 * active only at step 0, which training never reaches) never recomputes it. Train with
 * `UpdatePruningStep`, then `stripPruning`. The wrappers wrap `result.model`'s layers.
 * ```js
 * const oneShot = await pruneOneShot(model, {sparsity: 0.8, calibration});
 * const wrapped = pruneLowMagnitudeFromOneShot(oneShot);
 * wrapped.compile({...});
 * await wrapped.fit(xs, ys, {epochs: 1, callbacks: [new UpdatePruningStep()]});
 * ```
 * @throws Error if `result` is not what `pruneOneShot` returned.
 */
export function pruneLowMagnitudeFromOneShot(result: OneShotResult): LayersModel {
  if (result == null || !(result.model instanceof LayersModel) || !Array.isArray(result.layers)) {
    throw new Error("Argument 'result' passed to 'pruneLowMagnitudeFromOneShot' must be what pruneOneShot returned");
  }
  const schedules: Record<string, PruningSchedule> = {};
  for (const r of result.layers) {
    schedules[r.layer] = new ConstantSparsity({targetSparsity: Math.min(r.sparsity, 0.999), beginStep: 0, endStep: 0});
  }
  const wrapped = pruneLowMagnitudeByLayer(result.model, schedules);
  for (const layer of wrapped.layers) {
    if (!(layer instanceof PruneLowMagnitude) || layer.pruningObj == null) continue;
    for (const v of layer.pruningObj.pruningVars) {
      const values = v.weight.read().dataSync();
      const mask = tensor(Float32Array.from(values, x => (x !== 0 ? 1 : 0)), v.mask.shape as number[]);
      v.mask.write(mask);
      mask.dispose();
    }
  }
  return wrapped;
}
