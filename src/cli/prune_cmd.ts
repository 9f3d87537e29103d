/**
 * `tfjs-sparsity prune`: one-shot pruning of a saved model: by magnitude at one uniform sparsity
 * (tfmot's prune_for_benchmark), or with calibration data (Wanda, OBC), per-layer allocation and
 * BatchNorm recalibration through `pruneOneShot`, with an HTML report.
 */
import * as tf from '@tensorflow/tfjs-core';
import {join} from 'node:path';
import {analyzeSensitivity, OneShotReport, POOLING_TYPES, pruneForBenchmark, pruneOneShot, SensitivityResult,
  VALID_ALLOCATIONS, VALID_ONE_SHOT_METHODS} from '../index';
import {initCliBackend} from './backend';
import {flagChoice} from './flags';
import {loadModel, saveModel} from './model_files';
import {oneShotProgressBar} from './progress';
import {ReportSection, writeReport} from './report';
import {loadSamples} from './samples';
import {sensitivitySection} from './sensitivity_cmd';
import {existingModelPath, outputDir, UsageError} from './usage';

/** Flags of `tfjs-sparsity prune`. */
export interface PruneOptions {
  sparsity: number;
  block?: [number, number];
  pooling: string;
  out: string;
  method?: string;
  calibration?: string;
  samples: number;
  allocation: string;
  recalibrateBn?: boolean;
  quiet?: boolean;
}

/** The pooling, allocation and method `prune` asks for (the method defaults to 'obc' with calibration data). */
export function pruneChoices(opts: PruneOptions) {
  return {
    pooling: flagChoice(opts.pooling, POOLING_TYPES, '--pooling'),
    allocation: flagChoice(opts.allocation, VALID_ALLOCATIONS, '--allocation'),
    method: flagChoice(opts.method ?? (opts.calibration != null ? 'obc' : 'magnitude'), VALID_ONE_SHOT_METHODS, '--method'),
  };
}

export async function runPrune(path: string, opts: PruneOptions): Promise<void> {
  const {pooling, allocation, method} = pruneChoices(opts);
  const modelPath = existingModelPath(path);
  const out = outputDir(opts.out);
  if (method === 'magnitude' && allocation === 'uniform' && !opts.recalibrateBn) {
    await pruneByMagnitude(modelPath, out, opts, pooling);
    return;
  }
  if (opts.calibration == null) {
    throw new UsageError(`--calibration is needed by --method ${method}, --allocation sensitivity and --recalibrate-bn ` +
        "(use 'mnist' or a .npy file)");
  }
  await initCliBackend();
  const model = await loadModel(modelPath);
  const bars = oneShotProgressBar(!opts.quiet);
  let calibration: tf.Tensor|null = null;
  try {
    calibration = loadSamples(opts.calibration, model.inputs[0].shape.slice(1), opts.samples, '--calibration');
    const blockSize = opts.block;
    let sensitivity: SensitivityResult|undefined;
    if (allocation === 'sensitivity') {
      sensitivity = await analyzeSensitivity(model, calibration, {method, blockSize, blockPoolingType: pooling,
                                                                  onProgress: bars.onProgress});
    }
    const result = await pruneOneShot(model, {
      sparsity: opts.sparsity, method, calibration, allocation, sensitivity, blockSize,
      blockPoolingType: pooling, recalibrateBatchNorm: opts.recalibrateBn === true, onProgress: bars.onProgress,
    });
    bars.stop();
    await saveModel(result.model, out);
    result.model.dispose();
    reportOneShot(result, path, out, 'layer', sensitivity);
    console.log(`pruned model and report.html written to ${opts.out}`);
  } finally {
    bars.stop();
    calibration?.dispose();
    model.dispose();
  }
}

async function pruneByMagnitude(modelPath: string, out: string, opts: PruneOptions, pooling: 'AVG'|'MAX'): Promise<void> {
  await initCliBackend();
  const model = await loadModel(modelPath);
  const report = pruneForBenchmark(model, opts.sparsity, {blockSize: opts.block ?? [1, 1], blockPoolingType: pooling});
  if (report.length === 0) {
    model.dispose();
    throw new UsageError(`the model at ${modelPath} has no prunable layers (Dense, Conv, Embedding, RNN, ...)`);
  }
  await saveModel(model, out);
  model.dispose();
  for (const r of report) {
    console.log(`${r.weight} [${r.shape}]: ${(100 * r.sparsity).toFixed(2)}% sparse`);
  }
  console.log(`pruned model written to ${opts.out}`);
}

/**
 * Prints one line per pruned weight of a `pruneOneShot` result and writes report.html into `out`
 * (`noun` heads the table: 'layer' or 'node').
 */
export function reportOneShot(result: OneShotReport & {batchNorm?: string[]}, path: string,
                              out: string, noun: string, sensitivity?: SensitivityResult): void {
  for (const r of result.layers) {
    const error = r.relativeError == null ? '' : `, relative output error ${r.relativeError.toExponential(2)}`;
    console.log(`${r.weight} [${r.shape}]: ${(100 * r.sparsity).toFixed(2)}% sparse (target ` +
        `${(100 * r.targetSparsity).toFixed(2)}%${error})`);
  }
  const sections: ReportSection[] = [{
    heading: `${result.method}, ${result.allocation} allocation: ${(100 * result.sparsity).toFixed(2)} % of the pruned weights are zero`,
    note: result.batchNorm?.length ? `BatchNorm recalibrated: ${result.batchNorm.join(', ')}` : undefined,
    table: {
      columns: [noun, 'weight', 'shape', 'target sparsity', 'sparsity', 'relative output error'],
      rows: result.layers.map(r => [r.layer, r.weight, `[${r.shape}]`, (100 * r.targetSparsity).toFixed(2),
                                    (100 * r.sparsity).toFixed(2), r.relativeError?.toExponential(2) ?? '-']),
    },
    charts: [{title: `Sparsity per ${noun}`, type: 'bar', xLabel: noun, yLabel: 'sparsity',
              labels: result.layers.map(r => r.layer), datasets: [{label: 'sparsity', data: result.layers.map(r => r.sparsity)}]}],
  }];
  if (sensitivity) sections.push(sensitivitySection(sensitivity));
  writeReport(join(out, 'report.html'), `tfjs-sparsity prune: ${path}`, sections);
}
