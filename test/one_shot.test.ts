import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {erkSparsities, keepCount, pruneForBenchmark, pruneLowMagnitude, pruneOneShot, recalibrateBatchNorm} from '../src/index';
import type {DatasetLike} from '../src/index';
import {useBackend} from './helpers';
import {convNet, layerSparsity, mlp, outputDistance, samples, snapshot} from './one_shot_helpers';

const basic = suite('pruneOneShot');
basic.before(() => useBackend('wasm'));

basic('leaves the model untouched, returns a pruned copy with a per-layer report, leaks nothing', async () => {
  const model = mlp();
  const x = samples(64, [8], 1);
  const before = snapshot(model);
  const tensors = tf.memory().numTensors;
  for (const method of ['magnitude', 'wanda', 'obc'] as const) {
    const result = await pruneOneShot(model, {sparsity: 0.6, method, calibration: x});
    assert.is(result.method, method);
    assert.equal(result.layers.map(r => r.layer), ['fc1', 'fc2', 'out']);
    for (const r of result.layers) {
      assert.is(r.targetSparsity, 0.6);
      const n = r.shape[0] * r.shape[1];
      assert.ok(r.sparsity >= 1 - keepCount(n, 0.6) / n - 1e-9, `${method} ${r.layer}: ${r.sparsity}`);
      assert.is(layerSparsity(result.model, r.layer), r.sparsity);
      assert.is(r.relativeError == null, method !== 'obc', `${method} reports the output error only with a Gram matrix`);
    }
    result.model.dispose();
  }
  assert.is(tf.memory().numTensors, tensors, 'no tensors leak');
  snapshot(model).forEach((w, i) => assert.equal(w, before[i], `weight ${i} unchanged`));
  model.dispose();
  x.dispose();
});

basic('obc keeps the outputs closer to the dense model than wanda and magnitude (conv net with BatchNorm)', async () => {
  const model = convNet();
  const x = samples(96, [7, 7, 2], 2);
  const distance: Record<string, number> = {};
  for (const method of ['magnitude', 'wanda', 'obc'] as const) {
    const result = await pruneOneShot(model, {sparsity: 0.7, method, calibration: x});
    distance[method] = outputDistance(model, result.model, x);
    result.model.dispose();
  }
  assert.ok(distance.obc < distance.magnitude && distance.obc < distance.wanda, JSON.stringify(distance));
  model.dispose();
  x.dispose();
});

basic('sequential: false collects every layer from the dense model in one pass; onProgress reports each stage', async () => {
  const model = mlp();
  const x = samples(64, [8], 10);
  const events: string[] = [];
  const parallel = await pruneOneShot(model, {sparsity: 0.7, method: 'obc', calibration: x, sequential: false,
                                              batchSize: 32, onProgress: e => events.push(`${e.stage}:${e.done}/${e.total}`)});
  assert.equal(events, ['statistics:32/0', 'statistics:64/0', 'solve:1/3', 'solve:2/3', 'solve:3/3']);
  const sequential = await pruneOneShot(model, {sparsity: 0.7, method: 'obc', calibration: x});
  const magnitude = await pruneOneShot(model, {sparsity: 0.7});
  const [p, s, m] = [parallel, sequential, magnitude].map(r => outputDistance(model, r.model, x));
  assert.ok(p < m && s < m, `parallel ${p}, sequential ${s}, magnitude ${m}`);
  assert.ok(s <= p * 1.05, `sequential (${s}) is no worse than parallel (${p})`);
  [parallel, sequential, magnitude].forEach(r => r.model.dispose());
  model.dispose();
  x.dispose();
});

basic('magnitude without calibration prunes as pruneForBenchmark does', async () => {
  const model = mlp();
  const result = await pruneOneShot(model, {sparsity: 0.75});
  pruneForBenchmark(model, 0.75);
  model.getWeights().forEach((w, i) => assert.equal(result.model.getWeights()[i].dataSync(), w.dataSync(), `weight ${i}`));
  result.model.dispose();
  model.dispose();
});

basic('a per-layer map prunes only the layers it names, at their sparsities', async () => {
  const model = mlp();
  const x = samples(32, [8], 3);
  const result = await pruneOneShot(model, {sparsity: {fc1: 0.5, out: 0.25}, method: 'wanda', calibration: x});
  assert.equal(result.layers.map(r => [r.layer, r.targetSparsity]), [['fc1', 0.5], ['out', 0.25]]);
  assert.is(layerSparsity(result.model, 'fc2'), 0);
  assert.is(layerSparsity(result.model, 'out'), 0.25);
  result.model.dispose();
  model.dispose();
  x.dispose();
});

basic("allocation 'erk' gives erkSparsities' per-layer targets; 'sensitivity' meets the global target", async () => {
  const model = mlp();
  const x = samples(64, [8], 4);
  const erk = await pruneOneShot(model, {sparsity: 0.8, allocation: 'erk'});
  const expected = erkSparsities([{name: 'fc1', shape: [8, 24]}, {name: 'fc2', shape: [24, 12]}, {name: 'out', shape: [12, 4]}], 0.8);
  erk.layers.forEach(r => assert.is(r.targetSparsity, expected[r.layer]));
  erk.model.dispose();
  const sens = await pruneOneShot(model, {sparsity: 0.8, allocation: 'sensitivity', method: 'obc', calibration: x});
  const total = sens.layers.reduce((a, r) => a + r.shape[0] * r.shape[1], 0);
  const asked = sens.layers.reduce((a, r) => a + r.targetSparsity * r.shape[0] * r.shape[1], 0);
  assert.ok(Math.abs(asked / total - 0.8) < 1e-9, `targets average ${asked / total}`);
  assert.ok(Math.abs(sens.sparsity - 0.8) < 0.02, `reached ${sens.sparsity}`);
  assert.ok(new Set(sens.layers.map(r => r.targetSparsity)).size > 1, 'layers get different sparsities');
  sens.model.dispose();
  model.dispose();
  x.dispose();
});

basic('block and M:N patterns, as pruneLowMagnitude means them', async () => {
  const model = mlp();
  const x = samples(48, [8], 5);
  const blocks = await pruneOneShot(model, {sparsity: 0.5, method: 'obc', calibration: x, blockSize: [1, 4]});
  const k = blocks.model.getLayer('fc1').getWeights()[0].arraySync() as number[][];
  for (const row of k) {
    for (let c = 0; c < 24; c += 4) {
      const b = row.slice(c, c + 4);
      assert.ok(b.every(v => v === 0) || b.every(v => v !== 0), `whole 1x4 blocks: ${b}`);
    }
  }
  blocks.model.dispose();
  const nm = await pruneOneShot(model, {method: 'wanda', calibration: x, sparsityMByN: [2, 4]});
  nm.layers.forEach(r => assert.is(r.sparsity, 0.5, r.layer));
  nm.model.dispose();
  model.dispose();
  x.dispose();
});

basic('recalibrateBatchNorm: moving statistics become those of the pruned model on the calibration data', async () => {
  const model = convNet();
  const x = samples(64, [7, 7, 2], 6);
  // Fresh BatchNorm layers hold mean 0 and variance 1: give the dense model its real statistics first.
  assert.equal(await recalibrateBatchNorm(model, x), ['bn1', 'bn2']);
  const result = await pruneOneShot(model, {sparsity: 0.8, method: 'magnitude', calibration: x, recalibrateBatchNorm: true});
  assert.equal(result.batchNorm, ['bn1', 'bn2']);
  const pruned = result.model;
  for (const [bn, before] of [['bn1', 'conv1'], ['bn2', 'conv2']]) {
    const probe = tfl.model({inputs: pruned.inputs, outputs: pruned.getLayer(before).output as tfl.SymbolicTensor});
    const [mean, variance] = tf.tidy(() => {
      const y = tf.reshape(probe.predict(x) as tf.Tensor, [-1, pruned.getLayer(before).getWeights()[0].shape[3] as number]);
      const m = tf.moments(y, 0);
      const n = y.shape[0];
      return [m.mean, tf.mul(m.variance, n / (n - 1))];
    });
    const weights = pruned.getLayer(bn).getWeights();
    const close = (a: tf.Tensor, b: tf.Tensor) => Array.from(a.dataSync()).every((v, i) =>
      Math.abs(v - b.dataSync()[i]) < 1e-4 * (1 + Math.abs(v)));
    assert.ok(close(weights[2], mean), `${bn} moving mean`);
    assert.ok(close(weights[3], variance), `${bn} moving variance`);
    tf.dispose([mean, variance]);
  }
  // At 30 % magnitude pruning the activations shrink more than they change shape: recalibration helps.
  const light = await pruneOneShot(model, {sparsity: 0.3, method: 'magnitude', calibration: x, recalibrateBatchNorm: true});
  const plain = await pruneOneShot(model, {sparsity: 0.3, method: 'magnitude'});
  assert.ok(outputDistance(model, light.model, x) < outputDistance(model, plain.model, x),
            'recalibration brings the outputs closer to the dense model');
  light.model.dispose();
  plain.model.dispose();
  pruned.dispose();
  model.dispose();
  x.dispose();
});

basic('a dataset of batches or {xs, ys} elements works like the tensor, and its elements are disposed', async () => {
  const model = mlp();
  const x = samples(64, [8], 7);
  const elements: tf.TensorContainer[] = [];
  const dataset: DatasetLike = {
    async iterator() {
      let i = 0;
      return {async next() {
        if (i >= 4) return {value: null, done: true};
        const xs = tf.slice(x, i * 16, 16);
        const element = i++ % 2 ? {xs, ys: tf.zeros([16, 4])} : xs;
        elements.push(element);
        return {value: element, done: false};
      }};
    },
  };
  const fromTensor = await pruneOneShot(model, {sparsity: 0.7, method: 'obc', calibration: x, batchSize: 16});
  const fromDataset = await pruneOneShot(model, {sparsity: 0.7, method: 'obc', calibration: dataset, batchSize: 16});
  fromTensor.model.getWeights().forEach((w, i) => {
    const a = w.dataSync(), b = fromDataset.model.getWeights()[i].dataSync();
    a.forEach((v, j) => assert.ok(Math.abs(v - b[j]) < 1e-5, `weight ${i}[${j}]`));
  });
  assert.ok(elements.length > 0);
  for (const e of elements) {
    const ts = e instanceof tf.Tensor ? [e] : Object.values(e as Record<string, tf.Tensor>);
    ts.forEach(t => assert.ok(t.isDisposed, 'dataset elements are disposed'));
  }
  fromTensor.model.dispose();
  fromDataset.model.dispose();
  model.dispose();
  x.dispose();
});

basic.run();

// ---

const bad = suite('pruneOneShot bad input');
bad.before(() => useBackend('wasm'));

bad('bad calibration data: shape, dtype, too few samples, NaN activations; the model untouched, nothing leaked', async () => {
  const model = mlp();
  const before = snapshot(model);
  const tensors = tf.memory().numTensors;
  const cases: Array<[tf.Tensor, RegExp]> = [
    [tf.zeros([32, 9]), /'calibration' passed to 'pruneOneShot'.*shape \[32,9\].*\[null,8\]/],
    [tf.zeros([32, 8], 'int32'), /'calibration'.*dtype int32.*float32/],
    [tf.ones([8, 8]), /'calibration' passed to 'pruneOneShot' has 8 samples, but 'obc' needs at least 16/],
    [tf.fill([32, 8], NaN), /activations feeding layer 'fc1' are not finite.*'calibration'/],
  ];
  for (const [x, pattern] of cases) {
    try {
      await pruneOneShot(model, {sparsity: 0.5, method: 'obc', calibration: x});
      assert.unreachable(`expected ${pattern}`);
    } catch (e) {
      assert.match((e as Error).message, pattern);
    }
    x.dispose();
  }
  assert.is(tf.memory().numTensors, tensors, 'failed runs leak nothing');
  snapshot(model).forEach((w, i) => assert.equal(w, before[i], `weight ${i} unchanged`));
  model.dispose();
});

bad('options: unknown names, bad values, missing calibration, unscorable and unknown layers, wrappers', async () => {
  const model = mlp();
  const x = samples(32, [8], 8);
  const cases: Array<[object, RegExp]> = [
    [{sparsity: 0.5, speed: 1}, /unknown option 'speed'/],
    [{sparsity: 1.5}, /'sparsity'.*\[0, 1\)/],
    [{sparsity: 'half'}, /'sparsity'.*number in \[0, 1\) or a map/],
    [{sparsity: 0.5, method: 'sparsegpt'}, /'method'.*'magnitude', 'wanda', 'obc', but got 'sparsegpt'/],
    [{sparsity: 0.5, allocation: 'greedy'}, /'allocation'.*'uniform', 'erk', 'sensitivity', but got 'greedy'/],
    [{sparsity: 0.5, method: 'wanda'}, /'calibration'.*required by method 'wanda'/],
    [{sparsity: 0.5, allocation: 'sensitivity'}, /'calibration'.*required by allocation 'sensitivity'/],
    [{sparsity: {fc9: 0.5}, calibration: x}, /'sparsity'.*names layer 'fc9'.*fc1, fc2, out/],
    [{sparsity: {fc1: 0.5}, allocation: 'erk'}, /'allocation'.*'uniform' with a per-layer 'sparsity' map/],
    [{sparsity: 0.5, sparsityMByN: [2, 4]}, /'sparsity'.*omitted with 'sparsityMByN'/],
    [{sparsity: 0.5, sparsityMByN: [4, 2]}, /'sparsityMByN'.*1 <= m < n/],
    [{sparsity: 0.5, blockSize: [0, 4]}, /blockSize/],
    [{sparsity: 0.5, batchSize: 0}, /'batchSize'.*positive integer/],
    [{sparsity: 0.5, dampening: -1, calibration: x}, /'dampening'.*positive/],
    [{sparsity: 0.5, refitSweeps: 1.5, calibration: x}, /'refitSweeps'.*integer >= 0/],
    [{sparsity: 0.5, sequential: 'yes'}, /'sequential'.*must be true or false/],
    [{sparsity: 0.5, recalibrateBatchNorm: 1}, /'recalibrateBatchNorm'.*must be true or false/],
    [{sparsity: 0.5, sensitivity: {layers: []}}, /'sensitivity'.*only with allocation 'sensitivity'/],
    [{sparsity: 0.5, allocation: 'sensitivity', calibration: x, sensitivity: {}}, /'sensitivity'.*analyzeSensitivity/],
  ];
  for (const [options, pattern] of cases) {
    try {
      await pruneOneShot(model, options as never);
      assert.unreachable(`expected ${pattern}`);
    } catch (e) {
      assert.match((e as Error).message, pattern);
    }
  }
  const conv1d = tfl.sequential({layers: [
    tfl.layers.conv1d({inputShape: [10, 3], filters: 4, kernelSize: 3, name: 'c1d'}),
    tfl.layers.flatten(), tfl.layers.dense({units: 2, name: 'd'}),
  ]});
  const seq = samples(32, [10, 3], 9);
  await pruneOneShot(conv1d, {sparsity: 0.5, method: 'wanda', calibration: seq}).then(
    () => assert.unreachable('Conv1D cannot be scored'),
    e => assert.match(e.message, /cannot score layer 'c1d' \(Conv1D\) with method 'wanda'.*Leave it out of 'sparsity'/));
  const onlyDense = await pruneOneShot(conv1d, {sparsity: {d: 0.5}, method: 'wanda', calibration: seq});
  assert.is(onlyDense.layers.length, 1);
  onlyDense.model.dispose();
  const magnitude = await pruneOneShot(conv1d, {sparsity: 0.5});
  assert.is(magnitude.layers[0].layer, 'c1d', "'magnitude' prunes every registry layer");
  magnitude.model.dispose();
  const inner = mlp();
  const outer = tfl.sequential({layers: [inner, tfl.layers.dense({units: 2, name: 'head'})]});
  await pruneOneShot(outer, {sparsity: 0.5, method: 'obc', calibration: x}).then(
    () => assert.unreachable('nested layers cannot be probed'),
    e => assert.match(e.message, /cannot score layer 'fc1' \(Dense\) with method 'obc': it sits inside the nested model/));
  const nestedMagnitude = await pruneOneShot(outer, {sparsity: 0.5});
  assert.equal(nestedMagnitude.layers.map(r => r.layer), ['fc1', 'fc2', 'out', 'head']);
  nestedMagnitude.model.dispose();
  outer.dispose();
  const wrapped = pruneLowMagnitude(mlp()) as tfl.LayersModel;
  await pruneOneShot(wrapped, {sparsity: 0.5}).then(
    () => assert.unreachable('wrappers are refused'), e => assert.match(e.message, /stripPruning/));
  await pruneOneShot({} as tfl.LayersModel, {sparsity: 0.5}).then(
    () => assert.unreachable('not a model'), e => assert.match(e.message, /'model'.*tf.LayersModel/));
  tf.dispose([x, seq]);
  conv1d.dispose();
  model.dispose();
});

bad.run();
