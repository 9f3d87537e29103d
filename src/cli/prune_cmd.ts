/** `tfjs-sparsity prune`: one-shot magnitude pruning of a saved model. */
import {POOLING_TYPES, pruneForBenchmark} from '../index';
import {initCliBackend} from './backend';
import {flagChoice} from './flags';
import {loadModel, saveModel} from './model_files';
import {existingModelPath, outputDir, UsageError} from './usage';

export interface PruneOptions {
  sparsity: number;
  block?: [number, number];
  pooling: string;
  out: string;
}

export async function runPrune(path: string, opts: PruneOptions): Promise<void> {
  const pooling = flagChoice(opts.pooling, POOLING_TYPES, '--pooling');
  const modelPath = existingModelPath(path);
  const out = outputDir(opts.out);
  await initCliBackend();
  const model = await loadModel(modelPath);
  const report = pruneForBenchmark(model, opts.sparsity, {blockSize: opts.block ?? [1, 1], blockPoolingType: pooling});
  if (report.length === 0) {
    model.dispose();
    throw new UsageError(`the model at ${path} has no prunable layers (Dense, Conv, Embedding, RNN, ...)`);
  }
  await saveModel(model, out);
  model.dispose();
  for (const r of report) {
    console.log(`${r.weight} [${r.shape}]: ${(100 * r.sparsity).toFixed(2)}% sparse`);
  }
  console.log(`pruned model written to ${opts.out}`);
}
