/** `tfjs-sparsity prune`: one-shot magnitude pruning of a saved model. */
import '../index';
import {pruneForBenchmark} from '../tools';
import {loadModel, saveModel} from './model_files';
import {existingModelPath, UsageError} from './usage';

export interface PruneOptions {
  sparsity: number;
  block?: [number, number];
  pooling: string;
  out: string;
}

export async function runPrune(path: string, opts: PruneOptions): Promise<void> {
  const pooling = opts.pooling.toUpperCase();
  if (pooling !== 'AVG' && pooling !== 'MAX') {
    throw new UsageError(`--pooling must be avg or max, but got '${opts.pooling}'`);
  }
  const model = await loadModel(existingModelPath(path));
  const report = pruneForBenchmark(model, opts.sparsity, {blockSize: opts.block ?? [1, 1], blockPoolingType: pooling});
  if (report.length === 0) {
    model.dispose();
    throw new UsageError(`the model at ${path} has no prunable layers (Dense, Conv, Embedding, RNN, ...)`);
  }
  await saveModel(model, opts.out);
  model.dispose();
  for (const r of report) {
    console.log(`${r.weight} [${r.shape}]: ${(100 * r.sparsity).toFixed(2)}% sparse`);
  }
  console.log(`pruned model written to ${opts.out}`);
}
