import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {recalibrateBatchNorm} from '../src/index';
import {useBackend} from './helpers';
import {convNet, samples, snapshot} from './one_shot_helpers';

const bn = suite('recalibrateBatchNorm');
bn.before(() => useBackend('wasm'));

bn('the first layer gets the plain mean and unbiased variance of its input; nothing leaks', async () => {
  const model = convNet();
  const x = samples(40, [7, 7, 2], 15);
  const tensors = tf.memory().numTensors;
  const progress: string[] = [];
  const names = await recalibrateBatchNorm(model, x, {batchSize: 7, onProgress: e => progress.push(`${e.layer}:${e.done}/${e.total}`)});
  assert.equal(names, ['bn1', 'bn2']);
  assert.equal(progress, ['bn1:1/2', 'bn2:2/2']);
  assert.is(tf.memory().numTensors, tensors, 'no leaks');
  // conv1's outputs, computed by hand from the layer itself.
  const y = tf.tidy(() => model.getLayer('conv1').apply(x) as tf.Tensor);
  const values = y.dataSync(), c = 8, rows = values.length / c;
  const mean = new Float64Array(c), sq = new Float64Array(c);
  for (let r = 0; r < rows; r++) for (let j = 0; j < c; j++) { mean[j] += values[r * c + j] / rows; sq[j] += values[r * c + j] ** 2; }
  const weights = model.getLayer('bn1').getWeights();
  const m = weights[2].dataSync(), v = weights[3].dataSync();
  for (let j = 0; j < c; j++) {
    const variance = (sq[j] / rows - mean[j] ** 2) * rows / (rows - 1);
    assert.ok(Math.abs(m[j] - mean[j]) < 1e-4 * (1 + Math.abs(mean[j])), `mean ${j}: ${m[j]} vs ${mean[j]}`);
    assert.ok(Math.abs(v[j] - variance) < 1e-3 * (1 + variance), `variance ${j}: ${v[j]} vs ${variance}`);
  }
  tf.dispose([x, y]);
  model.dispose();
});

bn('bad data: an error naming the argument, and the model restored', async () => {
  const model = convNet();
  const before = snapshot(model);
  const tensors = tf.memory().numTensors;
  const nan = tf.tidy(() => tf.concat([samples(20, [7, 7, 2], 16), tf.fill([1, 7, 7, 2], NaN)]));
  for (const [data, pattern] of [
    [nan, /activations feeding layer 'bn1' are not finite.*'data'/],
    [tf.zeros([20, 7, 7, 3]), /'data' passed to 'recalibrateBatchNorm'.*\[20,7,7,3\]/],
    [tf.zeros([5, 7, 7, 2]), /'data'.*5 samples.*at least 16/],
  ] as Array<[tf.Tensor, RegExp]>) {
    await recalibrateBatchNorm(model, data).then(() => assert.unreachable(`expected ${pattern}`),
                                                 e => assert.match(e.message, pattern));
    data.dispose();
  }
  snapshot(model).forEach((w, i) => assert.equal(w, before[i], `weight ${i} restored`));
  assert.is(tf.memory().numTensors, tensors, 'no leaks');
  await recalibrateBatchNorm({} as never, nan).then(() => assert.unreachable('not a model'),
                                                    e => assert.match(e.message, /'model'.*tf.LayersModel/));
  await recalibrateBatchNorm(model, nan, {batchSize: 0}).then(() => assert.unreachable('bad batch'),
                                                              e => assert.match(e.message, /'batchSize'/));
  model.dispose();
});

bn.run();
