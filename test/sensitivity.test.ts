import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {analyzeSensitivity, outputDivergence} from '../src/index';
import {useBackend} from './helpers';
import {mlp, samples, snapshot} from './one_shot_helpers';

const analyze = suite('analyzeSensitivity');
analyze.before(() => useBackend('wasm'));

analyze('one curve per layer, 0 at sparsity 0, rising with sparsity; the model untouched, nothing leaked', async () => {
  const model = mlp();
  const x = samples(48, [8], 11);
  const before = snapshot(model);
  const tensors = tf.memory().numTensors;
  for (const method of ['magnitude', 'wanda', 'obc'] as const) {
    const result = await analyzeSensitivity(model, x, {sparsities: [0, 0.5, 0.9], method, metric: 'kl', batchSize: 20});
    assert.is(result.samples, 48);
    assert.equal(result.layers.map(l => [l.layer, l.params]), [['fc1', 192], ['fc2', 288], ['out', 48]]);
    for (const l of result.layers) {
      assert.ok(Math.abs(l.values[0]) < 1e-6, `${method} ${l.layer} at 0: ${l.values[0]}`);
      assert.ok(l.values[2] > l.values[1] && l.values[1] > 0, `${method} ${l.layer}: ${l.values}`);
    }
  }
  assert.is(tf.memory().numTensors, tensors, 'no tensors leak');
  snapshot(model).forEach((w, i) => assert.equal(w, before[i], `weight ${i} unchanged`));
  model.dispose();
  x.dispose();
});

analyze('metrics: top1 counts changed predictions, mse is relative; a layer subset', async () => {
  const model = mlp();
  const x = samples(32, [8], 12);
  const top1 = await analyzeSensitivity(model, x, {sparsities: [0.95], metric: 'top1', layers: ['out']});
  assert.equal(top1.layers.map(l => l.layer), ['out']);
  const v = top1.layers[0].values[0];
  assert.ok(v >= 0 && v <= 1 && Number.isInteger(v * 32), `a fraction of 32 samples: ${v}`);
  const mse = await analyzeSensitivity(model, x, {sparsities: [0.5], metric: 'mse'});
  mse.layers.forEach(l => assert.ok(l.values[0] > 0 && l.values[0] < 10, `${l.layer}: ${l.values}`));
  model.dispose();
  x.dispose();
});

analyze('bad options and data are errors naming the argument', async () => {
  const model = mlp();
  const x = samples(32, [8], 13);
  const cases: Array<[unknown, object, RegExp]> = [
    [x, {metric: 'accuracy'}, /'metric'.*'kl', 'mse', 'top1'/],
    [x, {sparsities: []}, /'sparsities'.*non-empty/],
    [x, {sparsities: [1.2]}, /sparsities/],
    [x, {layers: ['nope']}, /'layers'.*'nope'/],
    [x, {method: 'obs'}, /'method'/],
    [tf.zeros([32, 3]), {}, /'data' passed to 'analyzeSensitivity'/],
    [tf.zeros([4, 8]), {}, /'data'.*4 samples.*at least 16/],
  ];
  for (const [data, options, pattern] of cases) {
    await analyzeSensitivity(model, data as tf.Tensor, options).then(
      () => assert.unreachable(`expected ${pattern}`), e => assert.match(e.message, pattern));
  }
  model.dispose();
  x.dispose();
});

analyze.run();

// ---

const divergence = suite('outputDivergence');

divergence('kl on logits (softmax) and on probabilities (as given), mse, top1, by hand', () => {
  const dense = Float32Array.of(0, Math.log(3), 0.25, 0.75);
  const pruned = Float32Array.of(Math.log(3), 0, 0.5, 0.5);
  // Row 0 logits: p = [1/4, 3/4], q = [3/4, 1/4]; row 1 probabilities: p = [.25, .75], q = [.5, .5].
  const kl0 = 0.25 * Math.log(1 / 3) + 0.75 * Math.log(3);
  const kl1 = 0.25 * Math.log(0.5) + 0.75 * Math.log(1.5);
  assert.ok(Math.abs(outputDivergence(dense, pruned, 2, 'kl') - (kl0 + kl1)) < 1e-6);
  assert.is(outputDivergence(dense, pruned, 2, 'top1'), 2);
  const mse0 = (2 * Math.log(3) ** 2) / Math.log(3) ** 2, mse1 = (0.0625 * 2) / (0.0625 + 0.5625);
  assert.ok(Math.abs(outputDivergence(dense, pruned, 2, 'mse') - (mse0 + mse1)) < 1e-6);
  assert.is(outputDivergence(dense, dense, 2, 'kl'), 0);
});

divergence.run();
