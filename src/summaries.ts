/**
 * `PruningSummaries`, tfmot's TensorBoard callback: per-layer mask sparsity and threshold, and the
 * schedule's sparsity, written as TensorBoard event files (Node only).
 */
import {dispose, mean, scalar, sub} from '@tensorflow/tfjs-core';
import {Callback, LayersModel} from '@tensorflow/tfjs-layers';
import {builtWrappers} from './callbacks';
import {SummaryWriter} from './tensorboard';

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
