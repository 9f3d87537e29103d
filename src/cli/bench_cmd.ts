/**
 * `tfjs-sparsity bench`: the block-size trade-off harness. For each block shape and sparsity it
 * prunes the Dense layers with that block and fine-tunes, then measures the block-sparse matmul's
 * speedup over `tf.matMul` on the pruned hidden layer's kernel (wasm backend, same process), the
 * converted model's bytes, and MNIST test accuracy; then writes JSON and an HTML report with the
 * speedup and accuracy curves and the Pareto front of accuracy against latency.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {
  blockSparseMatMul, cloneModel, packBlockSparse, PolynomialDecay, planBlockSparseMatMul, pruneLowMagnitude,
  stripPruning, toSparse, UpdatePruningStep,
} from '../index';
import {loadMnist} from './mnist';
import {loadModel, modelBytes, saveModel} from './model_files';
import {ChartSpec, writeReport} from './report';
import {initCliBackend} from './backend';
import {listFlag, parseBlock, parseSparsity} from './flags';
import {accuracy, buildCnn, compileForMnist, progressBar, splitTensors} from './mnist_cnn';
import {latencyMs, medianMs} from './timing';
import {outputDir, UsageError} from './usage';

export const BENCH_BLOCKS: Array<[number, number]> = [[1, 1], [1, 4], [1, 8], [1, 16], [2, 2], [4, 4]];
const BENCH_SPARSITIES = [0.5, 0.7, 0.8, 0.9, 0.95];
const QUICK_BLOCKS: Array<[number, number]> = [[1, 1], [1, 4], [1, 16]];
const QUICK_SPARSITIES = [0.5, 0.9];

export interface BenchOptions {
  out: string;
  quick?: boolean;
  blocks?: string;
  sparsities?: string;
  quiet?: boolean;
}

/** One (block, sparsity) point of the trade-off. */
export interface BenchPoint {
  block: string;
  sparsity: number;
  /** The kernel the dispatcher runs for the pruned hidden layer at batch 1 (`planBlockSparseMatMul`). */
  kernel: string;
  speedupBatch1: number;
  speedupBatch32: number;
  modelBytes: number;
  accuracy: number;
  latencyMs: number;
}

export interface BenchResult {
  denseAccuracy: number;
  denseBytes: number;
  denseLatencyMs: number;
  layerShape: [number, number];
  points: BenchPoint[];
}

/**
 * Speedup of the block-sparse matmul over tf.matMul on `weight`, a pruned [K, N] kernel packed in
 * `block`s, for `rows` rows of input; and the kernel the dispatcher runs for it.
 */
function kernelSpeedup(weight: tf.Tensor2D, block: [number, number], rows: number) {
  const packed = packBlockSparse(weight, {blockSize: block});
  const x = tf.randomNormal([rows, weight.shape[0]], 0, 1, 'float32', 12);
  const plan = planBlockSparseMatMul(x.shape, packed);
  const runs = rows === 1 ? 200 : 40;
  const dense = medianMs(() => tf.matMul(x, weight).dispose(), runs);
  const sparse = medianMs(() => blockSparseMatMul(x, packed).dispose(), runs);
  x.dispose();
  packed.dispose();
  return {speedup: dense / sparse, kernel: plan.kernel};
}

/** The upper-left Pareto front (max accuracy, min latency) of the points. */
export function paretoFront(points: Array<{x: number; y: number}>): Array<{x: number; y: number}> {
  const sorted = [...points].sort((a, b) => a.x - b.x || b.y - a.y);
  const front: Array<{x: number; y: number}> = [];
  for (const p of sorted) if (front.length === 0 || p.y > front[front.length - 1].y) front.push(p);
  return front;
}

export async function runBench(opts: BenchOptions): Promise<BenchResult> {
  const blocks = listFlag(opts.blocks, parseBlock, '--blocks') ?? (opts.quick ? QUICK_BLOCKS : BENCH_BLOCKS);
  const sparsities = listFlag(opts.sparsities, parseSparsity, '--sparsities') ??
      (opts.quick ? QUICK_SPARSITIES : BENCH_SPARSITIES);
  const out = outputDir(opts.out);
  const denseEpochs = opts.quick ? 2 : 4;
  const finetuneEpochs = opts.quick ? 1 : 2;
  await initCliBackend();
  const dense = buildCnn();
  const hidden = dense.getLayer('hidden').getWeights()[0].shape as [number, number];
  // Every block must fit the weight it is measured on (packBlockSparse's rule): fail before training.
  for (const block of blocks) {
    if (block[0] > hidden[0] || block[1] > hidden[1]) {
      dense.dispose();
      throw new UsageError(`--blocks: ${block.join('x')} does not fit the benchmarked weight [${hidden}]`);
    }
  }
  mkdirSync(out, {recursive: true});

  const data = loadMnist();
  const {xs, ys} = splitTensors(data.train);
  compileForMnist(dense);
  const stepsPerEpoch = Math.ceil(data.train.count / 64);
  await dense.fit(xs, ys, {epochs: denseEpochs, batchSize: 64, verbose: 0,
                          callbacks: [progressBar('dense', stepsPerEpoch, !opts.quiet)]});
  await saveModel(dense, join(out, 'dense'));
  const result: BenchResult = {
    denseAccuracy: accuracy(dense, data.test), denseBytes: modelBytes(join(out, 'dense')).bytes,
    denseLatencyMs: latencyMs(dense, 1), layerShape: hidden, points: [],
  };
  console.log(`dense: accuracy ${(100 * result.denseAccuracy).toFixed(2)}%, ${result.denseBytes} bytes`);

  for (const block of blocks) {
    for (const sparsity of sparsities) {
      const name = `${block.join('x')}@${sparsity}`;
      // Ramp up over the first half of fine-tuning, then recover at the target (as the demo does).
      const endStep = Math.max(1, Math.floor(stepsPerEpoch * finetuneEpochs / 2));
      const pruningSchedule = new PolynomialDecay({initialSparsity: 0, finalSparsity: sparsity, beginStep: 0, endStep,
                                                   frequency: Math.max(1, Math.floor(stepsPerEpoch / 8))});
      // tfmot's wrappers wrap (and train) the original layers: prune a fresh copy each time.
      const base = await loadModel(join(out, 'dense', 'model.json'));
      const pruned = cloneModel(base, (layer: tfl.layers.Layer) => layer.getClassName() === 'Dense' ?
          pruneLowMagnitude(layer, {pruningSchedule, blockSize: block, blockPoolingType: 'MAX'}) : layer);
      compileForMnist(pruned, 5e-4);
      await pruned.fit(xs, ys, {epochs: finetuneEpochs, batchSize: 64, verbose: 0,
                               callbacks: [new UpdatePruningStep(), progressBar(name, stepsPerEpoch, !opts.quiet)]});
      const stripped = stripPruning(pruned);  // shares its layers with `pruned` and `base`
      const {model: sparse} = await toSparse(stripped, {dtype: 'float32', blockSize: block});
      const dir = join(out, 'models', name.replace('@', '-'));
      await saveModel(sparse, dir);
      // The kernel is timed on the hidden layer's own pruned weight, as the model runs it.
      const prunedKernel = stripped.getLayer('hidden').getWeights()[0] as tf.Tensor2D;
      const one = kernelSpeedup(prunedKernel, block, 1), many = kernelSpeedup(prunedKernel, block, 32);
      const point: BenchPoint = {
        block: block.join('x'), sparsity, kernel: one.kernel, speedupBatch1: one.speedup, speedupBatch32: many.speedup,
        modelBytes: modelBytes(dir).bytes, accuracy: accuracy(sparse, data.test), latencyMs: latencyMs(sparse, 1),
      };
      result.points.push(point);
      console.log(`${name}: kernel ${point.speedupBatch1.toFixed(2)}x (batch 1), ${point.speedupBatch32.toFixed(2)}x ` +
          `(batch 32); ${point.modelBytes} bytes; accuracy ${(100 * point.accuracy).toFixed(2)}%`);
      stripped.dispose();
      sparse.dispose();
    }
  }
  tf.dispose([xs, ys]);
  dense.dispose();

  writeFileSync(join(out, 'bench.json'), JSON.stringify(result, null, 2));
  writeReport(join(out, 'report.html'), 'tfjs-sparsity block-size trade-offs', benchSections(result, blocks));
  console.log(`\nresults: ${join(out, 'bench.json')}\nreport:  ${join(out, 'report.html')}`);
  return result;
}

function benchSections(r: BenchResult, blocks: Array<[number, number]>) {
  const perBlock = (y: (p: BenchPoint) => number) => blocks.map(b => {
    const label = b.join('x');
    return {label, showLine: true,
            data: r.points.filter(p => p.block === label).map(p => ({x: p.sparsity, y: y(p)}))};
  });
  const all = r.points.map(p => ({x: p.latencyMs, y: p.accuracy}));
  const charts: ChartSpec[] = [
    {title: `Kernel speedup over tf.matMul, batch 1 (weight [${r.layerShape}])`, type: 'scatter', xLabel: 'sparsity',
     yLabel: 'speedup (x)', datasets: perBlock(p => p.speedupBatch1)},
    {title: `Kernel speedup over tf.matMul, batch 32 (weight [${r.layerShape}])`, type: 'scatter', xLabel: 'sparsity',
     yLabel: 'speedup (x)', datasets: perBlock(p => p.speedupBatch32)},
    {title: `MNIST test accuracy after pruning and fine-tuning (dense: ${(100 * r.denseAccuracy).toFixed(2)}%)`,
     type: 'scatter', xLabel: 'sparsity', yLabel: 'accuracy', datasets: perBlock(p => p.accuracy)},
    {title: 'Accuracy against batch-1 latency: every point and the Pareto front', type: 'scatter',
     xLabel: 'batch-1 latency (ms)', yLabel: 'accuracy',
     datasets: [...blocks.map(b => ({label: b.join('x'), data: r.points.filter(p => p.block === b.join('x'))
                                          .map(p => ({x: p.latencyMs, y: p.accuracy}))})),
                {label: 'Pareto front', showLine: true, data: paretoFront(all)}]},
  ];
  return [
    {heading: 'Trade-offs', note: `Dense model: ${r.denseBytes} bytes, batch-1 latency ${r.denseLatencyMs.toFixed(3)} ms.`,
     table: {columns: ['block', 'sparsity', 'kernel', 'speedup b1', 'speedup b32', 'bytes', 'accuracy', 'latency ms'],
             rows: r.points.map(p => [p.block, p.sparsity, p.kernel, p.speedupBatch1.toFixed(2), p.speedupBatch32.toFixed(2),
                                      p.modelBytes, `${(100 * p.accuracy).toFixed(2)}%`, p.latencyMs.toFixed(3)])},
     charts},
  ];
}
