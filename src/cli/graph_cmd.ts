/**
 * The CLI's graph-model side: `inspect`, `convert` and `prune` (by magnitude, or with calibration
 * data) given a tfjs graph model's model.json (what tfjs-converter writes: `format: 'graph-model'`,
 * a GraphDef topology).
 */
import {readFileSync} from 'node:fs';
import {cast, round, Tensor, tidy} from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {analyzeGraphSensitivity, fileSystem, graphWeightSparsity, loadSparseGraphModel, POOLING_TYPES, pruneGraphWeights,
  pruneOneShot, sparsifyGraphModel, VALID_STORED_DTYPES} from '../index';
import {initCliBackend} from './backend';
import {flagChoice} from './flags';
import {modelBytes} from './model_files';
import {oneShotProgressBar} from './progress';
import {PruneOptions, pruneChoices, reportOneShot} from './prune_cmd';
import {loadSamples} from './samples';
import {measureAndWrite, SensitivityOptions} from './sensitivity_cmd';
import {existingModelPath, outputDir, UsageError} from './usage';

/** Whether the model.json at `path` holds a graph model rather than a layers model. */
export function isGraphModelFile(path: string): boolean {
  let json: {format?: unknown; modelTopology?: {node?: unknown}};
  try {
    json = JSON.parse(readFileSync(existingModelPath(path), 'utf8'));
  } catch (e) {
    if (e instanceof UsageError) throw e;
    return false;
  }
  return json?.format === 'graph-model' || Array.isArray(json?.modelTopology?.node);
}

/** Loads the graph model at `path` (a model.json), checking sparse nodes. */
export async function loadGraphFile(path: string): Promise<GraphModel> {
  // The weights are decoded into tensors of the current backend: it must be up.
  await initCliBackend();
  return loadSparseGraphModel(fileSystem(existingModelPath(path)));
}

/** `inspect` for a graph model. */
export async function runInspectGraph(path: string, opts: {json?: boolean}): Promise<void> {
  const model = await loadGraphFile(path);
  const rows = await graphWeightSparsity(model);
  model.dispose();
  if (opts.json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  console.log('| node | op | weight | shape | params | nonzeros | sparsity |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.node} | ${r.op} | ${r.weight} | [${r.shape}] | ${r.params} | ${r.nonzeros} | ${(100 * r.sparsity).toFixed(2)}% |`);
  }
  const params = rows.reduce((a, r) => a + r.params, 0);
  const nonzeros = rows.reduce((a, r) => a + r.nonzeros, 0);
  console.log(`\ntotal: ${params} parameters, ${nonzeros} nonzero, ${(100 * (1 - nonzeros / Math.max(params, 1))).toFixed(2)}% sparse (graph model)`);
}

/** `convert` for a graph model: `sparsifyGraphModel`, saved compactly. */
export async function runConvertGraph(path: string, opts: {dtype: string; minSparsity?: number; out: string}): Promise<void> {
  const dtype = flagChoice(opts.dtype, VALID_STORED_DTYPES, '--dtype');
  const model = await loadGraphFile(path);
  const {model: sparse, report, transposes, notes} = await sparsifyGraphModel(model, {dtype, minSparsity: opts.minSparsity});
  await sparse.save(fileSystem(opts.out));
  model.dispose();
  sparse.dispose();
  console.log(JSON.stringify({report, transposes, notes}, null, 2));
  const {bytes, gzipBytes} = modelBytes(opts.out);
  console.log(`sparse graph model written to ${opts.out}: ${bytes} bytes (${gzipBytes} gzipped)`);
}

/** `prune` for a graph model: `pruneGraphWeights` (1x1 convolutions and matmuls). */
export async function runPruneGraph(path: string, opts: {sparsity: number; block?: [number, number]; pooling: string; out: string}): Promise<void> {
  const pooling = flagChoice(opts.pooling, POOLING_TYPES, '--pooling');
  const model = await loadGraphFile(path);
  const {model: pruned, report} = await pruneGraphWeights(model, {targetSparsity: opts.sparsity, blockSize: opts.block,
    blockPoolingType: pooling});
  model.dispose();
  if (report.length === 0) {
    pruned.dispose();
    throw new UsageError(`the graph model at ${path} has no 1x1 Conv2D or MatMul node with a constant float32 weight`);
  }
  await pruned.save(fileSystem(opts.out));
  pruned.dispose();
  for (const r of report) console.log(`${r.weight} [${r.shape}] (${r.op} ${r.node}): ${(100 * r.sparsity).toFixed(2)}% sparse`);
  console.log(`pruned graph model written to ${opts.out}`);
}

/** `prune` for a graph model with --method, --calibration or --allocation: `pruneOneShot` on the 1x1 convolutions and matmuls. */
export async function runPruneGraphOneShot(path: string, opts: PruneOptions): Promise<void> {
  const {pooling, allocation, method} = pruneChoices(opts);
  if (opts.recalibrateBn) throw new UsageError('--recalibrate-bn applies to layers models (a graph model has its BatchNorm folded)');
  if ((method !== 'magnitude' || allocation === 'sensitivity') && opts.calibration == null) {
    throw new UsageError(`--calibration is needed by --method ${method} and --allocation sensitivity (use 'mnist' or a .npy file)`);
  }
  const out = outputDir(opts.out);
  const model = await loadGraphFile(path);
  const bars = oneShotProgressBar(!opts.quiet);
  let calibration: Tensor|null = null;
  try {
    if (opts.calibration != null) calibration = loadGraphSamples(model, opts.calibration, opts.samples, '--calibration');
    const blockSize = opts.block;
    const sensitivity = allocation !== 'sensitivity' ? undefined : await analyzeGraphSensitivity(model, calibration!, {
      method, blockSize, blockPoolingType: pooling, onProgress: bars.onProgress});
    const result = await pruneOneShot(model, {sparsity: opts.sparsity, method, allocation, sensitivity, blockSize,
      blockPoolingType: pooling, calibration: calibration ?? undefined, onProgress: bars.onProgress});
    bars.stop();
    await result.model.save(fileSystem(out));
    result.model.dispose();
    reportOneShot(result, path, out, 'node', sensitivity);
    console.log(`pruned graph model and report.html written to ${opts.out}`);
  } finally {
    bars.stop();
    calibration?.dispose();
    model.dispose();
  }
}

/**
 * Samples for a graph model, shaped to its input; an int32 graph (MoveNet's pixels) gets them
 * rounded to int32, since .npy values arrive as float32.
 */
function loadGraphSamples(model: GraphModel, source: string, count: number, flag: string): Tensor {
  const {shape, dtype} = model.inputs[0];
  const samples = loadSamples(source, (shape ?? []).slice(1).map(d => (d < 0 ? null : d)), count, flag);
  if (dtype !== 'int32') return samples;
  const rounded = tidy(() => cast(round(samples), 'int32'));
  samples.dispose();
  return rounded;
}

/** `sensitivity` for a graph model: `analyzeGraphSensitivity` over its 1x1 convolutions and matmuls. */
export async function runSensitivityGraph(path: string, opts: SensitivityOptions): Promise<void> {
  await measureAndWrite(path, opts, () => loadGraphFile(path), m => loadGraphSamples(m, opts.data, opts.samples, '--data'),
      analyzeGraphSensitivity);
}
