import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {collectPrunableLayers, ConstantSparsity, getModelSparsity, PRUNE_CALLBACK_ERROR_MSG, pruneLowMagnitude,
  PruneLowMagnitude, UpdatePruningStep} from '../src/index';
import {useBackend} from './helpers';
import {data, ISSUE_SCHEDULE, issueModel} from './issue_model';

const kernelOf = (w: PruneLowMagnitude) => (w.layer as unknown as {kernel: tfl.LayerVariable}).kernel.read();
const zeroFraction = (t: tf.Tensor) => Array.from(t.dataSync()).filter(v => v === 0).length / t.size;

/** True when every weight is exactly `weight * mask` (masked entries are zero). */
function exactlyMasked(w: PruneLowMagnitude): boolean {
  const k = kernelOf(w).dataSync(), m = w.maskWeights[0].read().dataSync();
  return k.every((v, i) => (m[i] === 0 ? v === 0 : true));
}

// ---

const stepSuite = suite('UpdatePruningStep');

stepSuite.before(() => useBackend('wasm'));

stepSuite('fit: masks update at steps 2, 4, 6, 8 to 0.546875, 0.725, 0.790625, 0.8; exactly sparse each epoch; no leaks', async () => {
  const pruned = issueModel(ISSUE_SCHEDULE());
  const [x, y] = data(64, 1);
  const updates: Array<[number, number]> = [];
  const tensorCounts: number[] = [];
  const epochChecks: boolean[] = [];
  let lastMask = collectPrunableLayers(pruned).map(w => w.maskWeights[0].read().dataId);
  const probe = new tfl.CustomCallback({
    onBatchEnd: async () => {
      const wrappers = collectPrunableLayers(pruned);
      const masks = wrappers.map(w => w.maskWeights[0].read());
      if (masks[0].dataId !== lastMask[0]) {
        const mean = tf.mean(masks[0]);
        const sparsity = 1 - mean.dataSync()[0];
        mean.dispose();
        assert.is(masks[1].dataId !== lastMask[1], true, 'both layers update in the same step');
        updates.push([wrappers[0].pruningStep, sparsity]);
      }
      lastMask = masks.map(m => m.dataId);
      tensorCounts.push(tf.memory().numTensors);
    },
    onEpochEnd: async () => {
      epochChecks.push(collectPrunableLayers(pruned).every(exactlyMasked));
    },
  });
  await pruned.fit(x, y, {batchSize: 16, epochs: 3, shuffle: false, verbose: 0, callbacks: [new UpdatePruningStep(), probe]});
  assert.equal(updates.map(u => u[0]), [2, 4, 6, 8]);
  const expected = [0.546875, 0.725, 0.790625, 0.8];
  updates.forEach(([, s], i) => assert.ok(Math.abs(s - expected[i]) < 1e-6, `step ${updates[i][0]}: ${s}`));
  for (const w of collectPrunableLayers(pruned)) {
    assert.is(w.pruningStep, 12);
    assert.is(zeroFraction(kernelOf(w)), 0.8);
  }
  assert.equal(epochChecks, [true, true, true], 'weights are exactly sparse after each epoch');
  assert.equal(new Set(tensorCounts.slice(1)).size, 1, `tensor count changed across steps: ${tensorCounts}`);
  tf.dispose([x, y]);
});

stepSuite('fitDataset: 3 epochs of one batch give step 3 in every wrapper', async () => {
  const pruned = issueModel(new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1}));
  const [x, y] = data(8, 3);
  const dataset = {
    size: 1,
    async iterator() {
      let done = false;
      return {async next() {
        if (done) return {done: true, value: null};
        done = true;
        return {done: false, value: {xs: x.clone(), ys: y.clone()}};  // fitDataset disposes each batch
      }};
    },
  };
  await pruned.fitDataset(dataset as unknown as Parameters<tfl.LayersModel['fitDataset']>[0],
      {epochs: 3, verbose: 0, callbacks: [new UpdatePruningStep()]});
  assert.equal(collectPrunableLayers(pruned).map(w => w.pruningStep), [3, 3]);
  assert.is(getModelSparsity(pruned), 0.5);
  tf.dispose([x, y]);
});

stepSuite('a custom training loop (as documented) steps, prunes and re-masks', async () => {
  const pruned = issueModel(new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1}));
  const [x, y] = data(16, 5);
  const optimizer = tf.train.sgd(0.1);
  const step = new UpdatePruningStep();
  step.setModel(pruned);
  await step.onTrainBegin();
  for (let epoch = 0; epoch < 3; epoch++) {
    optimizer.minimize(() => tf.losses.meanSquaredError(y, pruned.apply(x, {training: true}) as tf.Tensor));
    await step.onEpochEnd(epoch);
    assert.ok(collectPrunableLayers(pruned).every(exactlyMasked), `epoch ${epoch}`);
  }
  await step.onTrainEnd();
  assert.equal(collectPrunableLayers(pruned).map(w => w.pruningStep), [3, 3]);
  assert.is(getModelSparsity(pruned), 0.5);
  tf.dispose([x, y]);
  optimizer.dispose();
});

stepSuite('a restored model keeps its step at train begin', async () => {
  const pruned = issueModel(ISSUE_SCHEDULE());
  const [x, y] = data(16, 7);
  pruned.predict(x);
  for (const w of collectPrunableLayers(pruned)) w.pruningStep = 5;
  await pruned.fit(x, y, {batchSize: 16, epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});
  assert.equal(collectPrunableLayers(pruned).map(w => w.pruningStep), [6, 6]);
  tf.dispose([x, y]);
});

stepSuite('fit without the callback fails with tfmot\'s message; inference leaves the step at -1', async () => {
  const pruned = issueModel(ISSUE_SCHEDULE());
  const [x, y] = data(16, 9);
  const out = pruned.predict(x) as tf.Tensor;
  assert.equal(collectPrunableLayers(pruned).map(w => w.pruningStep), [-1, -1]);
  try {
    await pruned.fit(x, y, {epochs: 1, verbose: 0});
    assert.unreachable('fit without UpdatePruningStep must throw');
  } catch (e) {
    assert.is((e as Error).message, PRUNE_CALLBACK_ERROR_MSG);
  }
  tf.dispose([x, y, out]);
});

stepSuite('a callback without a model says to call setModel', async () => {
  try {
    await new UpdatePruningStep().onTrainBegin();
    assert.unreachable('expected an error');
  } catch (e) {
    assert.match((e as Error).message, /callback.setModel\(model\)/);
  }
});

stepSuite.run();
