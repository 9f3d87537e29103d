/**
 * Training callbacks: `UpdatePruningStep` (starts the pruning steps, re-masks the weights at epoch
 * and train end) and `PruningSummaries` (TensorBoard scalars): tfmot's `pruning_callbacks.py`. All
 * state lives in the wrappers' variables, found by walking the model, so a restored model resumes.
 */
import {dispose, mean, sub, scalar} from '@tensorflow/tfjs-core';
import {Callback, LayersModel} from '@tensorflow/tfjs-layers';
import {SummaryWriter} from './tensorboard';
import {collectPrunableLayers, linkGlobalPruning, PruneLowMagnitude} from './wrapper';

function builtWrappers(model: LayersModel|null|undefined): PruneLowMagnitude[] {
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

/** When `PruningSummaries` writes: at each epoch begin (tfmot), or every `n` batches. */
export type UpdateFreq = 'epoch'|'batch'|number;

/** Options of `PruningSummaries`. */
export interface PruningSummariesArgs {
  /** Directory of the TensorBoard logs; the summaries go to `<logDir>/metrics`, as in tfmot. */
  logDir: string;
  /** 'epoch' (default: at each epoch begin, as tfmot), 'batch', or every n batches. */
  updateFreq?: UpdateFreq;
}

/**
 * Writes pruning summaries for TensorBoard (tfmot's `PruningSummaries`): per wrapper and pruned
 * weight, `<wrapper>/mask:0/sparsity` (1 - mean of the mask) and `<wrapper>/threshold:0/threshold`
 * (later weights of the same wrapper: `mask_1:0`, `threshold_1:0`), plus `<wrapper>/sparsity`, the
 * schedule's target at the wrapper's current step. The step is the optimizer's iteration count (the
 * wrapper's pruning step when the model has no optimizer). Event files are flushed at each epoch end
 * and closed at train end.
 * @throws Error `` `logDir` must be a non-empty string. You passed `logDir`=<value> `` (tfmot's
 *     message), or one naming a bad `updateFreq`.
 */
export class PruningSummaries extends Callback {
  readonly logDir: string;
  readonly updateFreq: UpdateFreq;
  private writer: SummaryWriter|null = null;
  private batchesSeen = 0;

  constructor(args: PruningSummariesArgs) {
    super();
    const logDir = (args as Partial<PruningSummariesArgs>|null)?.logDir;
    if (typeof logDir !== 'string' || logDir.length === 0) {
      throw new Error(`\`logDir\` must be a non-empty string. You passed \`logDir\`=${String(logDir)}`);
    }
    const updateFreq = args.updateFreq ?? 'epoch';
    if (!(updateFreq === 'epoch' || updateFreq === 'batch' ||
        (typeof updateFreq === 'number' && Number.isInteger(updateFreq) && updateFreq >= 1))) {
      throw new Error(`updateFreq must be 'epoch', 'batch' or a positive integer, but got ${String(updateFreq)}`);
    }
    this.logDir = logDir;
    this.updateFreq = updateFreq;
  }

  override async onTrainBegin(): Promise<void> {
    this.writer ??= new SummaryWriter(`${this.logDir.replace(/\/+$/, '')}/metrics`);
    this.batchesSeen = 0;
  }

  override async onEpochBegin(): Promise<void> {
    if (this.updateFreq === 'epoch') this.logPruningMetrics();
  }

  override async onBatchEnd(): Promise<void> {
    if (this.updateFreq === 'epoch') return;
    this.batchesSeen++;
    const every = this.updateFreq === 'batch' ? 1 : this.updateFreq;
    if (this.batchesSeen % every === 0) this.logPruningMetrics();
  }

  override async onEpochEnd(): Promise<void> {
    await this.writer?.flush();
  }

  override async onTrainEnd(): Promise<void> {
    await this.writer?.close();
    this.writer = null;
  }

  private logPruningMetrics(): void {
    const writer = this.writer;
    if (writer == null) throw new Error('PruningSummaries: onTrainBegin must run before logging');
    const wrappers = builtWrappers(this.model);
    const optimizer = (this.model as LayersModel).optimizer as {iterations?: number}|undefined;
    for (const w of wrappers) {
      const step = optimizer?.iterations ?? Math.max(w.pruningStep, 0);
      w.maskWeights.forEach((mask, i) => {
        const suffix = i === 0 ? '' : `_${i}`;
        const one = scalar(1);
        const m = mean(mask.read());
        const sparsity = sub(one, m);
        writer.scalar(`${w.name}/mask${suffix}:0/sparsity`, sparsity.dataSync()[0], step);
        dispose([one, m, sparsity]);
        writer.scalar(`${w.name}/threshold${suffix}:0/threshold`,
            w.thresholdWeights[i].read().dataSync()[0], step);
      });
      writer.scalar(`${w.name}/sparsity`, w.pruningSchedule.call(Math.max(w.pruningStep, 0))[1], step);
    }
  }
}
