import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {collectPrunableLayers, ConstantSparsity, getModelSparsity, PolynomialDecay, PRUNE_CALLBACK_ERROR_MSG,
  pruneLowMagnitude, PruneLowMagnitude, PruningSummaries, readEventFile, UpdatePruningStep} from '../src/index';
import {normal, useBackend} from './helpers';

const L = tfl.layers;

/** The issue's model: Dense(32, relu) -> Dense(10) on 20 features, pruned with `schedule`. */
function issueModel(schedule: ConstantSparsity|PolynomialDecay): tfl.Sequential {
  const model = tfl.sequential({layers: [
    L.dense({units: 32, activation: 'relu', inputShape: [20], name: 'dense',
      kernelInitializer: tfl.initializers.glorotUniform({seed: 1})}),
    L.dense({units: 10, name: 'dense_1', kernelInitializer: tfl.initializers.glorotUniform({seed: 2})}),
  ]});
  const pruned = pruneLowMagnitude(model, {pruningSchedule: schedule});
  pruned.compile({optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError'});
  return pruned;
}

const ISSUE_SCHEDULE = () => new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 0, endStep: 8, frequency: 2});

function data(n: number, seed: number): [tf.Tensor2D, tf.Tensor2D] {
  return [tf.tensor2d(normal(n * 20, seed), [n, 20]), tf.tensor2d(normal(n * 10, seed + 1), [n, 10])];
}

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

// ---

const summarySuite = suite('PruningSummaries');

summarySuite.before(() => useBackend('wasm'));

summarySuite('PruningSummaries rejects an empty or non-string logDir with tfmot\'s message', () => {
  for (const bad of ['', null, {}, undefined]) {
    assert.throws(() => new PruningSummaries({logDir: bad as string}), /`logDir` must be a non-empty string. You passed `logDir`=/);
  }
  assert.throws(() => new PruningSummaries({logDir: 'x', updateFreq: 0}), /updateFreq must be 'epoch', 'batch' or a positive integer, but got 0/);
});

/** The values of one run's event file, by tag: [step, value] with scalars as numbers, strings as strings. */
async function eventsIn(logDir: string, run = 'metrics'): Promise<Map<string, Array<[number, number|string]>>> {
  const dir = join(logDir, run);
  const files = (await readdir(dir)).filter(f => f.startsWith('events.out.tfevents.'));
  assert.is(files.length, 1);
  const byTag = new Map<string, Array<[number, number|string]>>();
  for (const event of await readEventFile(join(dir, files[0]))) {
    for (const v of event.values) {
      if (!byTag.has(v.tag)) byTag.set(v.tag, []);
      byTag.get(v.tag)!.push([event.step, v.simpleValue ?? v.stringTensor as string]);
    }
  }
  return byTag;
}

summarySuite('writes tfmot\'s tags at each epoch begin (golden: 2 epochs x 4 batches), frames CRC-checked', async () => {
  const golden = JSON.parse(await readFile(new URL('./fixtures/pruning_summaries.json', import.meta.url), 'utf8'));
  const goldenTags: Record<string, {events: Array<{step: number, value: number}>}> = golden.runs.metrics[0].tensors;
  const logDir = await mkdtemp(join(tmpdir(), 'pruning-summaries-'));
  try {
    const pruned = issueModel(ISSUE_SCHEDULE());
    const [x, y] = data(64, 11);
    await pruned.fit(x, y, {batchSize: 16, epochs: 2, verbose: 0,
      callbacks: [new UpdatePruningStep(), new PruningSummaries({logDir})]});
    const events = await eventsIn(logDir);
    for (const [tag, {events: expected}] of Object.entries(goldenTags)) {
      const got = events.get(tag);
      assert.ok(got != null, `missing tag ${tag}; got ${[...events.keys()]}`);
      assert.equal(got.map(e => e[0]), expected.map(e => e.step), tag);
      if (tag.endsWith('/sparsity')) assert.equal(got.map(e => e[1]), expected.map(e => e.value), tag);
      else assert.ok(got[0][1] === 0 && (got[1][1] as number) > 0, `${tag}: ${got}`);
    }
    assert.equal(events.get('prune_low_magnitude_dense/sparsity'), [[0, ISSUE_SCHEDULE().call(0)[1]], [4, Math.fround(0.725)]],
        'the schedule\'s sparsity at the wrapper\'s step');
    tf.dispose([x, y]);
  } finally {
    await rm(logDir, {recursive: true, force: true});
  }
});

summarySuite('updateFreq 2 writes every second batch at the optimizer step', async () => {
  const logDir = await mkdtemp(join(tmpdir(), 'pruning-summaries-'));
  try {
    const pruned = issueModel(ISSUE_SCHEDULE());
    const [x, y] = data(64, 13);
    const before = tf.memory().numTensors;
    await pruned.fit(x, y, {batchSize: 16, epochs: 1, verbose: 0,
      callbacks: [new UpdatePruningStep(), new PruningSummaries({logDir, updateFreq: 2})]});
    assert.is(tf.memory().numTensors, before, 'fit with both callbacks leaves no tensors behind');
    const events = await eventsIn(logDir);
    assert.equal(events.get('prune_low_magnitude_dense_1/mask:0/sparsity'), [[2, Math.fround(0.546875)], [4, Math.fround(0.725)]]);
    // Keras's batch-level summaries: batch_<log> every updateFreq batches at the optimizer's step.
    const train = await eventsIn(logDir, 'train');
    assert.equal(train.get('batch_loss')?.map(e => e[0]), [2, 4]);
    assert.ok(train.get('batch_loss')!.every(e => typeof e[1] === 'number' && e[1] > 0), `${train.get('batch_loss')}`);
    assert.equal(train.get('epoch_loss')?.map(e => e[0]), [0]);
    tf.dispose([x, y]);
  } finally {
    await rm(logDir, {recursive: true, force: true});
  }
});

summarySuite('writes Keras\'s train run as tfmot\'s callback does (golden: epoch_loss per epoch, the model config at step 0)', async () => {
  const golden = JSON.parse(await readFile(new URL('./fixtures/pruning_summaries.json', import.meta.url), 'utf8'));
  const goldenTrain: {tags: {tensors: string[]}, tensors: Record<string, {plugin: string, events: Array<{step: number, value: unknown}>}>} =
      golden.runs.train[0];
  const logDir = await mkdtemp(join(tmpdir(), 'pruning-summaries-'));
  try {
    const pruned = issueModel(ISSUE_SCHEDULE());
    const [x, y] = data(64, 11);
    const history = await pruned.fit(x, y, {batchSize: 16, epochs: 2, verbose: 0,
      callbacks: [new UpdatePruningStep(), new PruningSummaries({logDir})]});
    const train = await eventsIn(logDir, 'train');
    assert.equal([...train.keys()].sort(), [...goldenTrain.tags.tensors].sort());
    assert.equal(train.get('epoch_loss')!.map(e => e[0]), goldenTrain.tensors.epoch_loss.events.map(e => e.step));
    assert.equal(train.get('epoch_loss')!.map(e => e[1]), (history.history.loss as number[]).map(v => Math.fround(v)));
    // The model config, as Keras's keras_model_summary writes it: its JSON, at step 0.
    const [[step, json]] = train.get('keras')!;
    assert.is(step, goldenTrain.tensors.keras.events[0].step);
    const ours = JSON.parse(json as string), theirs = (goldenTrain.tensors.keras.events[0].value as {json: typeof ours}).json;
    // tfjs fits a Sequential through an inner functional model: the callback sees (and writes) that one.
    assert.equal([theirs.class_name, ours.class_name], ['Sequential', 'Model']);
    const layerIds = (m: {config: {layers: Array<{class_name: string, config: {name: string}}>}}) =>
      m.config.layers.filter(l => l.class_name !== 'InputLayer').map(l => [l.class_name, l.config.name]);
    assert.equal(layerIds(ours), layerIds(theirs));
    const wrapper = ours.config.layers.find((l: {class_name: string}) => l.class_name === 'PruneLowMagnitude');
    assert.is(wrapper.config.block_pooling_type, 'AVG', 'tfmot\'s spelling, as saved models have it');
    const file = (await readdir(join(logDir, 'train')))[0];
    const kerasValue = (await readEventFile(join(logDir, 'train', file))).flatMap(e => e.values).find(v => v.tag === 'keras')!;
    assert.equal(kerasValue.metadata, {pluginName: goldenTrain.tensors.keras.plugin, content: '1'});
    // Without validation data there is no validation run.
    assert.equal((await readdir(logDir)).sort(), ['metrics', 'train']);
    tf.dispose([x, y]);
  } finally {
    await rm(logDir, {recursive: true, force: true});
  }
});

summarySuite('with validation data and metrics: epoch metrics in train, Keras\'s validation run', async () => {
  const logDir = await mkdtemp(join(tmpdir(), 'pruning-summaries-'));
  try {
    const pruned = issueModel(ISSUE_SCHEDULE());
    pruned.compile({optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError', metrics: ['mae']});
    const [x, y] = data(64, 15), [vx, vy] = data(16, 17);
    const before = tf.memory().numTensors;
    const history = await pruned.fit(x, y, {batchSize: 16, epochs: 2, verbose: 0, validationData: [vx, vy],
      callbacks: [new UpdatePruningStep(), new PruningSummaries({logDir, updateFreq: 'batch'})]});
    assert.is(tf.memory().numTensors, before, 'no tensors left behind');
    const h = history.history as Record<string, number[]>;
    const train = await eventsIn(logDir, 'train'), validation = await eventsIn(logDir, 'validation');
    assert.equal([...train.keys()].sort(), ['batch_loss', 'batch_mae', 'epoch_loss', 'epoch_mae', 'keras']);
    assert.equal(train.get('epoch_mae'), h.mae.map((v, epoch) => [epoch, Math.fround(v)]));
    assert.equal(train.get('batch_loss')!.map(e => e[0]), [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal([...validation.keys()].sort(),
        ['epoch_loss', 'epoch_mae', 'evaluation_loss_vs_iterations', 'evaluation_mae_vs_iterations']);
    assert.equal(validation.get('epoch_loss'), h.val_loss.map((v, epoch) => [epoch, Math.fround(v)]));
    assert.equal(validation.get('evaluation_mae_vs_iterations'), h.val_mae.map((v, epoch) => [4 * (epoch + 1), Math.fround(v)]));
    tf.dispose([x, y, vx, vy]);
  } finally {
    await rm(logDir, {recursive: true, force: true});
  }
});

summarySuite('PruningSummaries refuses unknown options', () => {
  assert.throws(() => new PruningSummaries({logDir: 'x', update_freq: 'batch'} as never),
      /PruningSummaries got an unknown option 'update_freq'; valid options are logDir, updateFreq/);
});

summarySuite.run();
