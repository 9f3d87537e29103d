import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src/index';  // registers the kernels (im2col)
import {LayersActivationSource, layerTargets, StatisticsAccumulator} from '../src/pruning/layers_source';
import {normal, useBackend} from './helpers';
import {convNet, samples} from './one_shot_helpers';

const label = {op: 'op', arg: 'calibration'};

const acc = suite('StatisticsAccumulator');
acc.before(() => useBackend('wasm'));

acc('sums squares, XᵀX and XᵀX_dense over batches and chunks, as plain loops do', () => {
  const [k, rows] = [5, 1000];
  const a = new StatisticsAccumulator(k, {gram: true, dense: {}}, "layer 'x'", label);
  const x = normal(rows * k, 1), d = normal(rows * k, 2);
  for (let start = 0; start < rows; start += 300) {
    const n = Math.min(300, rows - start);
    const [xt, dt] = [tf.tensor2d(x.subarray(start * k, (start + n) * k), [n, k]), tf.tensor2d(d.subarray(start * k, (start + n) * k), [n, k])];
    a.add(xt, dt);
    tf.dispose([xt, dt]);
  }
  assert.is(a.count, rows);
  for (let i = 0; i < k; i++) {
    let sq = 0;
    for (let r = 0; r < rows; r++) sq += x[r * k + i] ** 2;
    assert.ok(Math.abs(a.sumSquares[i] - sq) < 1e-3 * sq, `sumSquares ${i}`);
    for (let j = 0; j < k; j++) {
      let g = 0, c = 0, dd = 0;
      for (let r = 0; r < rows; r++) {
        g += x[r * k + i] * x[r * k + j];
        c += x[r * k + i] * d[r * k + j];
        dd += d[r * k + i] * d[r * k + j];
      }
      assert.ok(Math.abs(a.gram![i * k + j] - g) < 1e-2, `gram ${i},${j}`);
      assert.ok(Math.abs(a.cross![i * k + j] - c) < 1e-2, `cross ${i},${j}`);
      assert.ok(Math.abs(a.denseGram![i * k + j] - dd) < 1e-2, `denseGram ${i},${j}`);
    }
  }
  const nan = tf.tensor2d([[1, NaN, 0, 0, 0]]);
  assert.throws(() => a.add(nan), /'op': the activations feeding layer 'x' are not finite.*'calibration'/);
  nan.dispose();
});

acc.run();

// ---

const targets = suite('layerTargets and LayersActivationSource');
targets.before(() => useBackend('wasm'));

targets('a convolution\'s rows times its kernel are its output (patch order = kernel order), for same and strided valid', () => {
  const model = convNet();
  const x = samples(3, [7, 7, 2], 3);
  const all = layerTargets(model, 'op');
  assert.equal(all.map(t => [t.name, t.kind, t.unscorable]), [['conv1', 'Conv2D', null], ['conv2', 'Conv2D', null], ['out', 'Dense', null]]);
  for (const name of ['conv1', 'conv2']) {
    const target = all.find(t => t.name === name)!;
    const layer = model.getLayer(name);
    const before = tf.memory().numTensors;
    const [viaRows, direct] = tf.tidy(() => {
      const input = tfl.model({inputs: model.inputs, outputs: target.input!}).predict(x) as tf.Tensor;
      const kernel = layer.getWeights()[0], bias = layer.getWeights()[1];
      const k = kernel.shape.slice(0, 3).reduce((a, b) => a * b, 1);
      const rows = target.toRows(input);
      const y = tf.add(tf.matMul(rows, tf.reshape(kernel, [k, -1])), bias);
      return [y.dataSync(), (layer.apply(input) as tf.Tensor).dataSync()];
    });
    assert.is(tf.memory().numTensors, before);
    assert.is(viaRows.length, direct.length);
    viaRows.forEach((v, i) => assert.ok(Math.abs(v - direct[i]) < 1e-4, `${name} at ${i}: ${v} vs ${direct[i]}`));
  }
  model.dispose();
  x.dispose();
});

targets('collect: one pass gives each target K-feature statistics over samples x positions, with no leaks', async () => {
  const model = convNet();
  const x = samples(10, [7, 7, 2], 4);
  const all = layerTargets(model, 'op');
  const source = new LayersActivationSource(model, x, {shape: [null, 7, 7, 2], dtype: 'float32'}, 4, label);
  const before = tf.memory().numTensors;
  const seen: number[] = [];
  const {stats, samples: n} = await source.collect(all, {gram: true}, s => seen.push(s));
  assert.is(tf.memory().numTensors, before, 'no leaks');
  assert.is(n, 10);
  assert.equal(seen, [4, 8, 10]);
  assert.equal(stats.map(s => [s.count, s.sumSquares.length, s.gram!.length]),
               [[10 * 49, 18, 18 * 18], [10 * 9, 72, 72 * 72], [10, 36, 36 * 36]]);
  const denseWeights = layerTargets(tfl.sequential({layers: [tfl.layers.lstm({inputShape: [3, 2], units: 2, recurrentInitializer: 'glorotUniform'})]}), 'op');
  assert.match(denseWeights[0].unscorable ?? '', /LSTM has 2 pruned weights/);
  model.dispose();
  x.dispose();
});

targets.run();
