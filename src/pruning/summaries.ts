/**
 * `PruningSummaries`, tfmot's TensorBoard callback: per-layer mask sparsity and threshold, and the
 * schedule's sparsity, written as TensorBoard event files (Node only). tfmot's callback is a Keras
 * `TensorBoard` callback, so it also writes Keras's `train` and `validation` runs (losses, metrics,
 * the model config); so does this one.
 */
import {dispose, mean, scalar, sub, Tensor} from '@tensorflow/tfjs-core';
import {Callback, LayersModel} from '@tensorflow/tfjs-layers';
import {builtWrappers} from './callbacks';
import {SummaryWriter} from '../tensorboard/summary_writer';
import {checkOptions} from '../util/validate';
import {kerasCompatibleTopology} from './model_wrappers';

/** When `PruningSummaries` writes: at each epoch begin (tfmot), or every `n` batches. */
export type UpdateFreq = 'epoch'|'batch'|number;

/** Options of `PruningSummaries`. */
export interface PruningSummariesArgs {
  /**
   * Directory of the TensorBoard logs: the pruning summaries go to `<logDir>/metrics`, as in tfmot;
   * Keras's runs to `<logDir>/train` and `<logDir>/validation`.
   */
  logDir: string;
  /** 'epoch' (default: at each epoch begin, as tfmot), 'batch', or every n batches. */
  updateFreq?: UpdateFreq;
}

const OPTION_NAMES = ['logDir', 'updateFreq'];

/** The runs (subfolders of `logDir`) the callback writes. */
type Run = 'metrics'|'train'|'validation';

/** Logs as tfjs passes them to callbacks: numbers, or scalar tensors in batch logs. */
type Logs = Record<string, number|Tensor>|undefined;

/** The numbers of `logs`; scalar tensors are read (tfjs disposes them after the callbacks). */
async function numbers(logs: Logs): Promise<Array<[string, number]>> {
  const out: Array<[string, number]> = [];
  for (const [name, value] of Object.entries(logs ?? {})) {
    if (typeof value === 'number') out.push([name, value]);
    else if (value instanceof Tensor && value.size === 1) out.push([name, (await value.data())[0]]);
  }
  return out;
}

/**
 * Writes pruning summaries for TensorBoard (tfmot's `PruningSummaries`), in three runs under
 * `logDir`:
 * - `metrics`: per wrapper and pruned weight, `<wrapper>/mask:0/sparsity` (1 - mean of the mask)
 *   and `<wrapper>/threshold:0/threshold` (later weights of the same wrapper: `mask_1:0`,
 *   `threshold_1:0`), as tfmot; and `<wrapper>/sparsity`, the schedule's target at the wrapper's
 *   current step, which tfmot does not write. The step is the optimizer's iteration count (the
 *   wrapper's pruning step when the model has no optimizer).
 * - `train`, as Keras's TensorBoard callback writes it: `keras` (the model's Keras JSON, drawn by
 *   TensorBoard's Graphs dashboard) at step 0 (for a `Sequential`, the functional model tfjs trains
 *   it through); `epoch_<name>` for each epoch log (`epoch_loss`,
 *   `epoch_acc`, ..., with tfjs's metric names) at step = epoch; with `updateFreq` 'batch' or n,
 *   `batch_<name>` every n batches at the optimizer's step.
 * - `validation`, when `fit` validates: `epoch_<name>` (the `val_` logs without the prefix) at
 *   step = epoch, and `evaluation_<name>_vs_iterations` at the optimizer's step.
 * Event files are flushed at each epoch end and closed at train end.
 * @throws Error `` `logDir` must be a non-empty string. You passed `logDir`=<value> `` (tfmot's
 *     message), or one naming a bad `updateFreq` or an unknown option.
 */
export class PruningSummaries extends Callback {
  readonly logDir: string;
  readonly updateFreq: UpdateFreq;
  /** One writer per run, made when the run first gets a record (as Keras's), until train end. */
  private writers = new Map<Run, SummaryWriter>();
  private training = false;
  private batchesSeen = 0;

  constructor(args: PruningSummariesArgs) {
    super();
    const logDir = (args as Partial<PruningSummariesArgs>|null)?.logDir;
    if (typeof logDir !== 'string' || logDir.length === 0) {
      throw new Error(`\`logDir\` must be a non-empty string. You passed \`logDir\`=${String(logDir)}`);
    }
    checkOptions(args, OPTION_NAMES, 'PruningSummaries');
    const updateFreq = args.updateFreq ?? 'epoch';
    if (!(updateFreq === 'epoch' || updateFreq === 'batch' ||
        (typeof updateFreq === 'number' && Number.isInteger(updateFreq) && updateFreq >= 1))) {
      throw new Error(`updateFreq must be 'epoch', 'batch' or a positive integer, but got ${String(updateFreq)}`);
    }
    this.logDir = logDir;
    this.updateFreq = updateFreq;
  }

  override async onTrainBegin(): Promise<void> {
    this.training = true;
    this.batchesSeen = 0;
    let json: string;
    try {
      json = JSON.stringify(kerasCompatibleTopology((this.model as LayersModel).toJSON(null, false)));
    } catch (e) {
      // As Keras: a model that does not serialize is no reason to stop training.
      console.warn(`PruningSummaries: the model failed to serialize as JSON; no 'keras' summary (${(e as Error).message})`);
      return;
    }
    this.writer('train').kerasModel(json, 0);
  }

  override async onEpochBegin(): Promise<void> {
    if (this.updateFreq === 'epoch') this.logPruningMetrics();
  }

  override async onBatchEnd(_batch: number, logs?: Logs): Promise<void> {
    if (this.updateFreq === 'epoch') return;
    this.batchesSeen++;
    const every = this.updateFreq === 'batch' ? 1 : this.updateFreq;
    if (this.batchesSeen % every !== 0) return;
    this.logPruningMetrics();
    const train = this.writer('train');
    const step = this.optimizerStep() ?? this.batchesSeen;
    for (const [name, value] of await numbers(logs)) {
      // tfjs adds the batch's index and size to batch logs; Keras's hold only losses and metrics.
      if (name !== 'batch' && name !== 'size') train.scalar(`batch_${name}`, value, step);
    }
  }

  override async onEpochEnd(epoch: number, logs?: Logs): Promise<void> {
    for (const [name, value] of await numbers(logs)) {
      if (name.startsWith('val_')) {
        const bare = name.slice('val_'.length);
        this.writer('validation').scalar(`epoch_${bare}`, value, epoch);
        // Keras writes these at the end of each validation, when the model has an optimizer.
        const step = this.optimizerStep();
        if (step !== undefined) this.writer('validation').scalar(`evaluation_${bare}_vs_iterations`, value, step);
      } else {
        this.writer('train').scalar(`epoch_${name}`, value, epoch);
      }
    }
    await Promise.all([...this.writers.values()].map(w => w.flush()));
  }

  override async onTrainEnd(): Promise<void> {
    const writers = [...this.writers.values()];
    this.writers.clear();
    this.training = false;
    await Promise.all(writers.map(w => w.close()));
  }

  /** The writer of `run`, made on first use. */
  private writer(run: Run): SummaryWriter {
    if (!this.training) throw new Error('PruningSummaries: onTrainBegin must run before logging');
    let writer = this.writers.get(run);
    if (writer == null) {
      writer = new SummaryWriter(`${this.logDir.replace(/\/+$/, '')}/${run}`);
      this.writers.set(run, writer);
    }
    return writer;
  }

  /** The optimizer's iteration count (undefined without an optimizer). */
  private optimizerStep(): number|undefined {
    return ((this.model as LayersModel).optimizer as {iterations?: number}|undefined)?.iterations;
  }

  private logPruningMetrics(): void {
    const metrics = this.writer('metrics');
    const wrappers = builtWrappers(this.model);
    const optimizerStep = this.optimizerStep();
    for (const w of wrappers) {
      const step = optimizerStep ?? Math.max(w.pruningStep, 0);
      w.maskWeights.forEach((mask, i) => {
        const suffix = i === 0 ? '' : `_${i}`;
        const one = scalar(1);
        const m = mean(mask.read());
        const sparsity = sub(one, m);
        metrics.scalar(`${w.name}/mask${suffix}:0/sparsity`, sparsity.dataSync()[0], step);
        dispose([one, m, sparsity]);
        metrics.scalar(`${w.name}/threshold${suffix}:0/threshold`, w.thresholdWeights[i].read().dataSync()[0], step);
      });
      metrics.scalar(`${w.name}/sparsity`, w.pruningSchedule.call(Math.max(w.pruningStep, 0))[1], step);
    }
  }
}
