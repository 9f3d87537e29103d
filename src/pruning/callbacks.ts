/**
 * `UpdatePruningStep`, tfmot's `pruning_callbacks.py` step callback: starts the pruning steps and
 * re-masks the weights at epoch and train end. All state lives in the wrappers' variables, found by
 * walking the model, so a restored model resumes. (`PruningSummaries` is in `summaries.ts`: it
 * writes files, so it is Node-only, while this callback also trains in the browser.)
 */
import {Callback, LayersModel} from '@tensorflow/tfjs-layers';
import {linkChannelPruning} from './channels';
import {collectPrunableLayers, linkGlobalPruning} from './model_wrappers';
import {PruneLowMagnitude} from './wrapper';

/** The model's built pruning wrappers; throws when the callback was given no model. */
export function builtWrappers(model: LayersModel|null|undefined): PruneLowMagnitude[] {
  if (model == null) {
    throw new Error('The pruning callback has no model: fit() sets it; in a custom training loop call ' +
        'callback.setModel(model) first.');
  }
  return collectPrunableLayers(model).filter(w => w.built);
}

/**
 * Required when training a pruned model (tfmot's `UpdatePruningStep`). At train begin it sets
 * every wrapper's `pruning_step` from -1 to 0 (a restored model keeps its step) and links
 * `globalPruning` wrappers; each training call of a wrapper then advances its step by one before
 * the schedule is asked, so the first batch is step 1. At each epoch end and at train end it
 * applies the masks, so the weights are exactly sparse when a model is saved after `fit` (tfmot
 * re-masks at epoch end only).
 *
 * With `model.fit` or `model.fitDataset`, pass it in `callbacks`. In a custom training loop, call
 * its hooks yourself; the forward pass must run with `{training: true}`:
 * ```ts
 * const step = new UpdatePruningStep();
 * step.setModel(pruned);
 * await step.onTrainBegin();
 * for (let epoch = 0; epoch < epochs; epoch++) {
 *   for (const [x, y] of batches) {
 *     optimizer.minimize(() => tf.losses.meanSquaredError(y, pruned.apply(x, {training: true}) as tf.Tensor));
 *   }
 *   await step.onEpochEnd(epoch);
 * }
 * await step.onTrainEnd();
 * ```
 */
export class UpdatePruningStep extends Callback {
  override async onTrainBegin(): Promise<void> {
    const wrappers = builtWrappers(this.model);
    for (const w of wrappers) {
      if (w.pruningStep === -1) w.pruningStep = 0;
    }
    linkGlobalPruning(this.model);
    linkChannelPruning(this.model);
  }

  override async onEpochEnd(_epoch?: number): Promise<void> {
    this.applyMasks();
  }

  override async onTrainEnd(): Promise<void> {
    this.applyMasks();
  }

  private applyMasks(): void {
    for (const w of builtWrappers(this.model)) w.pruningObj?.weightMaskOp();
  }
}
