// PruningSummaries (src/summaries.ts): tfmot's TensorBoard callback, its metrics run and Keras's
// train and validation runs, read back from the event files it writes.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {ConstantSparsity, pruneLowMagnitude, PruningSummaries, readEventFile, UpdatePruningStep} from '../src/index';
import {normal, rejects, useBackend} from './helpers';
import {data, ISSUE_SCHEDULE, issueModel} from './issue_model';

const summarySuite = suite('PruningSummaries');

summarySuite.before(() => useBackend('wasm'));

summarySuite('PruningSummaries rejects an empty or non-string logDir with tfmot\'s message', () => {
  for (const bad of ['', null, {}, undefined]) {
    assert.throws(() => new PruningSummaries({logDir: bad as string}), /`logDir` must be a non-empty string. You passed `logDir`=/);
  }
  assert.throws(() => new PruningSummaries({logDir: 'x', updateFreq: 0}), /updateFreq must be 'epoch', 'batch' or a positive integer, but got 0/);
});

/** Runs `fn` with a fresh log folder, removed afterwards. */
async function withLogDir(fn: (logDir: string) => Promise<void>): Promise<void> {
  const logDir = await mkdtemp(join(tmpdir(), 'pruning-summaries-'));
  try {
    await fn(logDir);
  } finally {
    await rm(logDir, {recursive: true, force: true});
  }
}

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
  await withLogDir(async logDir => {
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
  });
});

summarySuite('updateFreq 2 writes every second batch at the optimizer step', async () => {
  await withLogDir(async logDir => {
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
  });
});

summarySuite('writes Keras\'s train run as tfmot\'s callback does (golden: epoch_loss per epoch, the model config at step 0)', async () => {
  const golden = JSON.parse(await readFile(new URL('./fixtures/pruning_summaries.json', import.meta.url), 'utf8'));
  const goldenTrain: {tags: {tensors: string[]}, tensors: Record<string, {plugin: string, events: Array<{step: number, value: unknown}>}>} =
      golden.runs.train[0];
  await withLogDir(async logDir => {
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
  });
});

summarySuite('with validation data and metrics: epoch metrics in train, Keras\'s validation run', async () => {
  await withLogDir(async logDir => {
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
  });
});

summarySuite('PruningSummaries refuses unknown options', () => {
  assert.throws(() => new PruningSummaries({logDir: 'x', update_freq: 'batch'} as never),
      /PruningSummaries got an unknown option 'update_freq'; valid options are logDir, updateFreq/);
});

summarySuite('a wrapper with two pruned weights (SimpleRNN: kernel and recurrent kernel) gets mask_1 and threshold_1 tags', async () => {
  await withLogDir(async logDir => {
    const model = tfl.sequential({layers: [
      tfl.layers.simpleRNN({units: 4, inputShape: [3, 2], recurrentInitializer: 'glorotUniform', name: 'rnn'})]});
    const pruned = pruneLowMagnitude(model, {pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1})});
    pruned.compile({optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError'});
    const [x, y] = [tf.tensor3d(normal(8 * 6, 3), [8, 3, 2]), tf.tensor2d(normal(8 * 4, 4), [8, 4])];
    await pruned.fit(x, y, {batchSize: 4, epochs: 2, verbose: 0, callbacks: [new UpdatePruningStep(), new PruningSummaries({logDir})]});
    const events = await eventsIn(logDir);
    assert.equal([...events.keys()].sort(), ['prune_low_magnitude_rnn/mask:0/sparsity', 'prune_low_magnitude_rnn/mask_1:0/sparsity',
      'prune_low_magnitude_rnn/sparsity', 'prune_low_magnitude_rnn/threshold:0/threshold', 'prune_low_magnitude_rnn/threshold_1:0/threshold']);
    // Epoch 2 begins after 2 steps of pruning to 0.5: both weights' masks are half zeros.
    for (const tag of ['prune_low_magnitude_rnn/mask:0/sparsity', 'prune_low_magnitude_rnn/mask_1:0/sparsity']) {
      assert.equal(events.get(tag), [[0, 0], [2, 0.5]], tag);
    }
    tf.dispose([x, y]);
    pruned.dispose();
  });
});

summarySuite('without an optimizer (a custom loop driving the callback) the step is the wrapper\'s pruning step', async () => {
  await withLogDir(async logDir => {
    const pruned = pruneLowMagnitude(tfl.sequential({layers: [tfl.layers.dense({units: 3, inputShape: [4], name: 'd'})]}),
                                     {pruningSchedule: ISSUE_SCHEDULE()}) as tfl.LayersModel;
    const summaries = new PruningSummaries({logDir});
    summaries.setModel(pruned);
    await summaries.onTrainBegin();
    await summaries.onEpochBegin();
    await summaries.onTrainEnd();
    const events = await eventsIn(logDir);
    // The wrapper has not stepped (pruning_step -1): logged at step 0, with the schedule's value there.
    assert.equal(events.get('prune_low_magnitude_d/sparsity'), [[0, ISSUE_SCHEDULE().call(0)[1]]]);
    assert.equal(events.get('prune_low_magnitude_d/mask:0/sparsity'), [[0, 0]]);
    pruned.dispose();
  });
});

summarySuite('logging before train begin is an error; a model that does not serialize only loses its keras summary', async () => {
  const summaries = new PruningSummaries({logDir: join(tmpdir(), 'never-written')});
  const unused = issueModel(ISSUE_SCHEDULE());
  summaries.setModel(unused);
  await rejects(() => summaries.onEpochBegin(), /PruningSummaries: onTrainBegin must run before logging/);
  unused.dispose();
  const warn = console.warn, warnings: string[] = [];
  console.warn = (...a: unknown[]) => { warnings.push(a.join(' ')); };
  try {
    await withLogDir(async logDir => {
      const model = issueModel(ISSUE_SCHEDULE());
      model.toJSON = () => { throw new Error('no JSON here'); };
      const callback = new PruningSummaries({logDir});
      callback.setModel(model);
      await callback.onTrainBegin();
      await callback.onEpochBegin();
      await callback.onTrainEnd();
      assert.equal(warnings, ['PruningSummaries: the model failed to serialize as JSON; no \'keras\' summary (no JSON here)']);
      assert.equal((await readdir(logDir)).sort(), ['metrics']);
      model.dispose();
    });
  } finally {
    console.warn = warn;
  }
});

summarySuite.run();
