// One-shot pruning for benchmarks (src/tools.ts, tfmot's tools/sparsity_tooling.prune_for_benchmark).
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {ConstantSparsity, pruneForBenchmark, pruneLowMagnitude} from '../src/index';
import {normal, useBackend} from './helpers';

const L = tfl.layers;

/** Conv2D 3x3 -> BatchNormalization -> Flatten -> Dense(32) -> Dense(5), weights N(0, 1) from fixed seeds. */
function model(): tfl.Sequential {
  const m = tfl.sequential({layers: [
    L.conv2d({inputShape: [6, 6, 2], filters: 4, kernelSize: 3, name: 'conv'}),
    L.batchNormalization({name: 'bn'}),
    L.flatten(),
    L.dense({units: 32, name: 'hidden'}),
    L.dense({units: 5, name: 'logits'}),
  ]});
  const initial = m.getWeights().map((w, i) => tf.tensor(normal(w.size, 40 + i), w.shape));
  m.setWeights(initial);
  tf.dispose(initial);
  return m;
}

const values = (m: tfl.LayersModel, layer: string, i = 0) => Array.from(m.getLayer(layer).getWeights()[i].dataSync());
const zeros = (v: number[]) => v.filter(x => x === 0).length;

const tools = suite('pruneForBenchmark');

tools.before(() => useBackend('wasm'));

tools('prunes every prunable kernel in place to the target (k = round(n (1 - s)) largest kept) and reports each', () => {
  const m = model();
  const before = Object.fromEntries(['conv', 'hidden', 'logits'].map(l => [l, values(m, l)]));
  const bnBefore = m.getLayer('bn').getWeights().map(w => Array.from(w.dataSync()));
  const biasBefore = values(m, 'hidden', 1);
  const tensors = tf.memory().numTensors;
  const report = pruneForBenchmark(m, 0.7);
  assert.is(tf.memory().numTensors, tensors, 'no tensors left behind');
  assert.equal(report.map(r => [r.layer, r.weight, r.shape]), [
    ['conv', 'conv/kernel', [3, 3, 2, 4]], ['hidden', 'hidden/kernel', [64, 32]], ['logits', 'logits/kernel', [32, 5]]]);
  for (const r of report) {
    const n = before[r.layer].length, kept = Math.round(n * 0.3);
    const after = values(m, r.layer);
    assert.is(zeros(after), n - kept, r.layer);
    assert.is(r.sparsity, (n - kept) / n, r.layer);
    // The kept entries are the largest magnitudes, unchanged.
    const threshold = [...before[r.layer]].map(Math.abs).sort((a, b) => b - a)[kept - 1];
    after.forEach((v, i) => assert.is(v, Math.abs(before[r.layer][i]) >= threshold ? before[r.layer][i] : 0, `${r.layer}[${i}]`));
  }
  assert.equal(values(m, 'hidden', 1), biasBefore, 'biases are not pruned');
  assert.equal(m.getLayer('bn').getWeights().map(w => Array.from(w.dataSync())), bnBefore, 'unsupported layers are left alone');
  m.dispose();
});

tools('blockSize prunes rank-2 kernels in whole blocks; convolution kernels stay element-wise', () => {
  const m = model();
  const report = pruneForBenchmark(m, 0.75, {blockSize: [1, 4], blockPoolingType: 'MAX'});
  const hidden = values(m, 'hidden');
  for (let row = 0; row < 64; row++) {
    for (let block = 0; block < 8; block++) {
      const entries = hidden.slice(row * 32 + block * 4, row * 32 + block * 4 + 4);
      assert.ok(zeros(entries) === 0 || zeros(entries) === 4, `hidden row ${row} block ${block}: ${entries}`);
    }
  }
  assert.is(report.find(r => r.layer === 'hidden')!.sparsity, 0.75);
  // 72 conv weights, 18 kept: element-wise, so no block alignment is needed.
  assert.is(zeros(values(m, 'conv')), 72 - 18);
  m.dispose();
});

tools('nested models are pruned recursively; sparsity 0 keeps every weight', () => {
  const inner = tfl.sequential({name: 'inner', layers: [L.dense({inputShape: [8], units: 6, name: 'inner_dense'})]});
  const outer = tfl.sequential({layers: [inner, L.dense({units: 2, name: 'outer_dense'})]});
  assert.equal(pruneForBenchmark(outer, 0.5).map(r => [r.layer, r.sparsity]), [['inner_dense', 0.5], ['outer_dense', 0.5]]);
  assert.equal(pruneForBenchmark(outer, 0).map(r => r.sparsity), [0.5, 0.5], 'pruned weights stay pruned; nothing more');
  outer.dispose();
});

tools('bad arguments are named; a model with pruning wrappers is refused', () => {
  const m = model();
  const tensors = tf.memory().numTensors;
  assert.throws(() => pruneForBenchmark(m, 1), /Argument 'targetSparsity' passed to 'pruneForBenchmark' must be a number in \[0, 1\), but got 1/);
  assert.throws(() => pruneForBenchmark(m, -0.1), /must be a number in \[0, 1\), but got -0\.1/);
  assert.throws(() => pruneForBenchmark({} as tfl.LayersModel, 0.5),
      /Argument 'model' passed to 'pruneForBenchmark' must be a tf\.LayersModel, but got \[object Object\]/);
  assert.throws(() => pruneForBenchmark(m, 0.5, {blockSize: [0, 4]}),
      /Argument 'blockSize' passed to 'pruneForBenchmark' must be a pair of positive integers \[height, width\], but got \[0,4\]/);
  assert.throws(() => pruneForBenchmark(m, 0.5, {block: [1, 4]} as never),
      /pruneForBenchmark got an unknown option 'block'; valid options are blockSize, blockPoolingType/);
  assert.throws(() => pruneForBenchmark(m, 0.5, {blockPoolingType: 'MIN' as 'MAX'}), /blockPoolingType/);
  assert.is(tf.memory().numTensors, tensors, 'no tensors left behind by refused calls');
  const wrapped = pruneLowMagnitude(tfl.sequential({layers: [L.dense({inputShape: [3], units: 2, name: 'd'})]}),
                                    {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0})}) as tfl.LayersModel;
  assert.throws(() => pruneForBenchmark(wrapped, 0.5),
      /'pruneForBenchmark' expects a plain model, but layer prune_low_magnitude_d is a PruneLowMagnitude wrapper: call stripPruning\(model\) first/);
  m.dispose();
  wrapped.dispose();
});

tools.run();
