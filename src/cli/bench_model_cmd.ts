/**
 * `tfjs-sparsity bench --model <model.json>`: the block-size trade-off harness on the user's own model
 * (a layers or a graph model). For each block shape and sparsity the model is pruned one-shot by
 * magnitude (`pruneForBenchmark` / `pruneGraphWeights`), converted (`toSparse` /
 * `sparsifyGraphModel`) and saved; the harness records end-to-end batch-1 latency against the pruned
 * model run dense by tfjs in the same process, the saved bytes, the outputs' distance from the dense
 * ones, and per layer its sparsity, what it runs on and its bytes. Writes bench-model.json and an
 * HTML report.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import * as tfl from '@tensorflow/tfjs-layers';
import {mkdirSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {fileSystem, pruneForBenchmark, pruneGraphWeights, sparsifyGraphModel, toSparse} from '../index';
import {initCliBackend} from './backend';
import {BENCH_BLOCKS} from './bench_cmd';
import {isGraphModelFile, loadGraphFile} from './graph_cmd';
import {loadModel, modelBytes, saveModel} from './model_files';
import {ChartSpec, writeReport} from './report';
import {medianMs} from './timing';
import {existingModelPath, outputDir, UsageError} from './usage';

const MODEL_SPARSITIES = [0.5, 0.7, 0.8, 0.9];
const QUICK_BLOCKS: Array<[number, number]> = [[1, 1], [1, 16]];
const QUICK_SPARSITIES = [0.8, 0.9];

/** Options of `bench --model`. */
export interface ModelBenchOptions {
  model: string;
  out: string;
  blocks: Array<[number, number]>|undefined;
  sparsities: number[]|undefined;
  quick?: boolean;
  /** Timed calls per model and configuration (the median is kept). */
  runs: number;
}

/** One layer (graph node) of one configuration. */
export interface ModelBenchLayer {
  name: string;
  className: string;
  /** What it runs on: the graph report's kind, or the layer's new class. */
  kind: string;
  sparsity: number|null;
  bytesBefore: number;
  bytesAfter: number;
}

/** One (block, sparsity) configuration. */
export interface ModelBenchPoint {
  block: string;
  sparsity: number;
  /** Batch-1 latency of the pruned model run dense by tfjs, and of the converted model. */
  denseLatencyMs: number;
  latencyMs: number;
  speedup: number;
  /** Bytes of the saved converted model. */
  bytes: number;
  /** max |converted - dense| / max |dense| over the outputs, for one random input. */
  maxRelativeError: number;
  layers: ModelBenchLayer[];
}

export interface ModelBenchResult {
  model: string;
  kind: 'layers'|'graph';
  inputShape: number[];
  blocks: string[];
  sparsities: number[];
  /** Bytes and batch-1 latency of the model as given. */
  denseBytes: number;
  denseLatencyMs: number;
  points: ModelBenchPoint[];
}

/** What the harness needs of a model of either kind. */
interface Runner {
  run(x: tf.Tensor): tf.Tensor[];
  save(dir: string): Promise<void>;
  dispose(): void;
}

function graphRunner(m: GraphModel): Runner {
  return {run: x => [m.execute(x)].flat(), save: async dir => { await m.save(fileSystem(dir)); }, dispose: () => m.dispose()};
}

function layersRunner(m: tfl.LayersModel): Runner {
  return {run: x => [m.predict(x)].flat(), save: dir => saveModel(m, dir), dispose: () => m.dispose()};
}

/** max |got - want| / max |want| over every output (the absolute error when `want` is all zero). */
export function relativeError(want: tf.Tensor[], got: tf.Tensor[]): number {
  let err = 0, top = 0;
  want.forEach((w, i) => {
    const a = w.dataSync(), b = got[i].dataSync();
    for (let j = 0; j < a.length; j++) {
      err = Math.max(err, Math.abs(a[j] - b[j]));
      top = Math.max(top, Math.abs(a[j]));
    }
  });
  return top === 0 ? err : err / top;
}

function latency(r: Runner, x: tf.Tensor, runs: number): number {
  return medianMs(() => {
    const ys = r.run(x);
    ys.forEach(y => y.dataSync());
    tf.dispose(ys);
  }, runs);
}

/** A batch-1 input for the model's first input shape. */
function inputFor(shape: Array<number|null>|undefined, dtype: string, path: string): tf.Tensor {
  if (!shape || shape.slice(1).some(d => d == null || d < 0)) {
    throw new UsageError(`bench --model needs a model with a fixed input shape (besides the batch), but ${path} has [${shape ?? '?'}]`);
  }
  const s = shape.map(d => (d == null || d < 0 ? 1 : d));
  return dtype === 'int32' ? tf.randomUniform(s, 0, 255, 'int32', 5) : tf.randomUniform(s, 0, 1, 'float32', 5);
}

/** One configuration of a graph model: pruned, sparsified, both timed. */
async function graphPoint(base: GraphModel, block: [number, number], sparsity: number, x: tf.Tensor, dir: string,
                          runs: number): Promise<Omit<ModelBenchPoint, 'block'|'sparsity'|'bytes'>> {
  const {model: pruned} = await pruneGraphWeights(base, {targetSparsity: sparsity, blockSize: block, blockPoolingType: 'MAX'});
  const {model: sparse, report} = await sparsifyGraphModel(pruned);
  try {
    return await measure(graphRunner(pruned), graphRunner(sparse), x, dir, runs, report.map(r => ({name: r.name, className: r.op,
      kind: r.kind, sparsity: r.sparsity, bytesBefore: r.bytesBefore, bytesAfter: r.bytesAfter})));
  } finally {
    pruned.dispose();
    sparse.dispose();
  }
}

/** One configuration of a layers model. */
async function layersPoint(path: string, block: [number, number], sparsity: number, x: tf.Tensor, dir: string,
                           runs: number): Promise<Omit<ModelBenchPoint, 'block'|'sparsity'|'bytes'>> {
  const pruned = await loadModel(path);
  pruneForBenchmark(pruned, sparsity, {blockSize: block, blockPoolingType: 'MAX'});
  const {model: sparse, report} = await toSparse(pruned, {blockSize: block[0] * block[1] > 1 ? block : undefined});
  try {
    return await measure(layersRunner(pruned), layersRunner(sparse), x, dir, runs, report.map(r => ({name: r.name,
      className: r.className, kind: r.newClassName, sparsity: r.sparsity, bytesBefore: r.bytesBefore, bytesAfter: r.bytesAfter})));
  } finally {
    pruned.dispose();
    sparse.dispose();
  }
}

async function measure(dense: Runner, sparse: Runner, x: tf.Tensor, dir: string, runs: number, layers: ModelBenchLayer[]):
    Promise<Omit<ModelBenchPoint, 'block'|'sparsity'|'bytes'>> {
  const want = dense.run(x), got = sparse.run(x);
  const maxRelativeError = relativeError(want, got);
  tf.dispose([...want, ...got]);
  const denseLatencyMs = latency(dense, x, runs), latencyMs = latency(sparse, x, runs);
  await sparse.save(dir);
  return {denseLatencyMs, latencyMs, speedup: denseLatencyMs / latencyMs, maxRelativeError, layers};
}

/** Runs the harness on `opts.model` and writes bench-model.json and report.html into `opts.out`. */
export async function runModelBench(opts: ModelBenchOptions): Promise<ModelBenchResult> {
  const path = existingModelPath(opts.model);
  const blocks = opts.blocks ?? (opts.quick ? QUICK_BLOCKS : BENCH_BLOCKS);
  const sparsities = opts.sparsities ?? (opts.quick ? QUICK_SPARSITIES : MODEL_SPARSITIES);
  const out = outputDir(opts.out);
  await initCliBackend();
  mkdirSync(out, {recursive: true});
  const graph = isGraphModelFile(path);
  let base: Runner, x: tf.Tensor, graphBase: GraphModel|null = null;
  if (graph) {
    graphBase = await loadGraphFile(path);
    base = graphRunner(graphBase);
    x = inputFor(graphBase.inputs[0].shape, graphBase.inputs[0].dtype, opts.model);
  } else {
    const m = await loadModel(path);
    base = layersRunner(m);
    x = inputFor(m.inputs[0].shape, m.inputs[0].dtype, opts.model);
  }
  const result: ModelBenchResult = {model: opts.model, kind: graph ? 'graph' : 'layers', inputShape: x.shape,
    blocks: blocks.map(b => b.join('x')), sparsities, denseBytes: 0, denseLatencyMs: 0, points: []};
  try {
    await base.save(join(out, 'dense'));
    result.denseBytes = modelBytes(join(out, 'dense')).bytes;
    result.denseLatencyMs = latency(base, x, opts.runs);
    for (const block of blocks) {
      for (const sparsity of sparsities) {
        const name = `${block.join('x')}-${sparsity}`;
        const dir = join(out, 'models', name);
        const point = graphBase ? await graphPoint(graphBase, block, sparsity, x, dir, opts.runs) :
            await layersPoint(path, block, sparsity, x, dir, opts.runs);
        const full: ModelBenchPoint = {block: block.join('x'), sparsity, ...point, bytes: modelBytes(dir).bytes};
        result.points.push(full);
        console.log(`${name}: ${full.speedup.toFixed(2)}x end to end (${full.denseLatencyMs.toFixed(2)} -> ` +
            `${full.latencyMs.toFixed(2)} ms), ${full.bytes} bytes, max relative error ${full.maxRelativeError.toExponential(1)}`);
      }
    }
  } finally {
    base.dispose();
    x.dispose();
  }
  writeFileSync(join(out, 'bench-model.json'), JSON.stringify(result, null, 2));
  writeReport(join(out, 'report.html'), `tfjs-sparsity trade-offs: ${opts.model}`, modelBenchSections(result));
  console.log(`\nresults: ${join(out, 'bench-model.json')}\nreport:  ${join(out, 'report.html')}`);
  return result;
}

/** The report's sections: end to end (table, speedup and bytes by sparsity per block) and per layer. */
function modelBenchSections(r: ModelBenchResult) {
  const perBlock = (y: (p: ModelBenchPoint) => number) => r.blocks.map(label => ({label, showLine: true,
    data: r.points.filter(p => p.block === label).map(p => ({x: p.sparsity, y: y(p)}))}));
  const endToEnd: ChartSpec[] = [
    {title: 'End-to-end speedup at batch 1 over the pruned model run dense by tfjs', type: 'scatter', xLabel: 'sparsity',
     yLabel: 'speedup (x)', datasets: perBlock(p => p.speedup)},
    {title: `Saved model bytes (dense: ${r.denseBytes})`, type: 'scatter', xLabel: 'sparsity', yLabel: 'bytes',
     datasets: perBlock(p => p.bytes)},
  ];
  const first = r.points.filter(p => p.block === r.blocks[0]);
  const names = first[0]?.layers.filter(l => l.bytesBefore > 0).map(l => l.name) ?? [];
  const perLayer: ChartSpec = {title: `Bytes per layer, blocks ${r.blocks[0]}`, type: 'bar', xLabel: 'layer', yLabel: 'bytes',
    labels: names, datasets: [{label: 'dense', data: names.map(n => first[0].layers.find(l => l.name === n)!.bytesBefore)},
      ...first.map(p => ({label: `${p.sparsity}`, data: names.map(n => p.layers.find(l => l.name === n)?.bytesAfter ?? 0)}))]};
  return [
    {heading: 'End to end',
     note: `${r.kind} model ${r.model}, input [${r.inputShape}]: ${r.denseBytes} bytes, batch-1 latency ${r.denseLatencyMs.toFixed(2)} ms ` +
         '(wasm backend). Each point prunes the model one-shot by magnitude with that block shape (1x1: unstructured) and converts it.',
     table: {columns: ['block', 'sparsity', 'dense ms', 'ours ms', 'speedup', 'bytes', 'max rel. error'],
             rows: r.points.map(p => [p.block, p.sparsity, p.denseLatencyMs.toFixed(2), p.latencyMs.toFixed(2), p.speedup.toFixed(2),
               p.bytes, p.maxRelativeError.toExponential(1)])},
     charts: endToEnd},
    {heading: 'Per layer',
     note: 'Each layer (graph node) with a weight: its sparsity after pruning, what it runs on, and its weight bytes.',
     table: {columns: ['block', 'sparsity', 'layer', 'class', 'runs as', 'layer sparsity', 'bytes before', 'bytes after'],
             rows: r.points.flatMap(p => p.layers.map(l => [p.block, p.sparsity, l.name, l.className, l.kind,
               l.sparsity === null ? '' : l.sparsity.toFixed(3), l.bytesBefore, l.bytesAfter]))},
     charts: [perLayer]},
  ];
}
