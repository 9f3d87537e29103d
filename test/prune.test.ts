import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {cloneModel, collectPrunableLayers, ConstantSparsity, getModelSparsity, pruneLowMagnitude,
  PruneLowMagnitude, PruneLowMagnitudeOptions, pruneScope, stripPruning, UpdatePruningStep} from '../src/index';
import {noLeak, normal, useBackend} from './helpers';

const L = tfl.layers;

function denseModel(): tfl.Sequential {
  return tfl.sequential({layers: [L.dense({units: 8, activation: 'relu', inputShape: [6]}), L.dense({units: 3})]});
}

/** Two inputs, a shared Dense used twice, an Add, two outputs. */
function functionalModel(): tfl.LayersModel {
  const a = tfl.input({shape: [4], name: 'in_a'});
  const b = tfl.input({shape: [4], name: 'in_b'});
  const shared = L.dense({units: 4, name: 'shared'});
  const ha = shared.apply(a) as tfl.SymbolicTensor;
  const hb = shared.apply(b) as tfl.SymbolicTensor;
  const sum = L.add({name: 'sum'}).apply([ha, hb]) as tfl.SymbolicTensor;
  const out1 = L.dense({units: 2, name: 'head1'}).apply(sum) as tfl.SymbolicTensor;
  const out2 = L.dense({units: 1, name: 'head2'}).apply(ha) as tfl.SymbolicTensor;
  return tfl.model({inputs: [a, b], outputs: [out1, out2], name: 'two_heads'});
}

function x(rows: number, cols: number, seed: number): tf.Tensor2D {
  return tf.tensor2d(normal(rows * cols, seed), [rows, cols]);
}

function predictions(model: tfl.LayersModel, inputs: tf.Tensor|tf.Tensor[]): Float32Array[] {
  const out = model.predict(inputs);
  const list = Array.isArray(out) ? out : [out];
  const values = list.map(t => t.dataSync() as Float32Array);
  tf.dispose(list);
  return values;
}

async function trainPruned(model: tfl.LayersModel, inputs: tf.Tensor|tf.Tensor[], targets: tf.Tensor|tf.Tensor[],
    epochs = 2): Promise<void> {
  model.compile({optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError'});
  await model.fit(inputs, targets, {batchSize: 8, epochs, callbacks: [new UpdatePruningStep()], verbose: 0});
}

const EVERY_STEP = () => new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1});

// ---

const layerSuite = suite('pruneLowMagnitude(layer | layers)');

layerSuite('a layer is wrapped around the same object, with the given settings', () => {
  const dense = L.dense({units: 2});
  const schedule = EVERY_STEP();
  const w = pruneLowMagnitude(dense, {pruningSchedule: schedule, blockSize: [1, 2], blockPoolingType: 'MAX'});
  assert.ok(w instanceof PruneLowMagnitude);
  assert.is(w.layer, dense);
  assert.is(w.pruningSchedule, schedule);
  assert.equal([w.blockSize, w.blockPoolingType], [[1, 2], 'MAX']);
});

layerSuite('a Dropout is wrapped with no pruned weights; ConvLSTM2D and custom layers fail', async () => {
  await useBackend('wasm');
  const drop = pruneLowMagnitude(L.dropout({rate: 0.5}));
  drop.apply(tfl.input({shape: [3]}));
  assert.is(drop.maskWeights.length, 0);
  assert.throws(() => pruneLowMagnitude(L.convLstm2d({filters: 1, kernelSize: 2})), /ConvLSTM2D\) is not supported/);
  class Custom extends tfl.layers.Layer {
    static className = 'Custom';
  }
  assert.throws(() => pruneLowMagnitude(new Custom({name: 'c'})), /'c' \(class Custom\).*PrunableLayer/);
  assert.throws(() => pruneLowMagnitude(drop), /already a PruneLowMagnitude/);
});

layerSuite('a list: every layer wrapped, wrappers and input layers kept as they are', () => {
  const wrapped = pruneLowMagnitude(L.dense({units: 1}));
  const input = L.inputLayer({inputShape: [3]});
  const list = pruneLowMagnitude([input, L.dense({units: 2}), wrapped, L.flatten()]);
  assert.is(list.length, 4);
  assert.is(list[0], input);
  assert.is(list[2], wrapped);
  assert.ok(list[1] instanceof PruneLowMagnitude && list[3] instanceof PruneLowMagnitude);
  assert.throws(() => pruneLowMagnitude([L.dense({units: 1}), 3 as unknown as tfl.layers.Layer]),
      /element 1 of the list is not a tf.layers.Layer but number/);
});

layerSuite('anything else gets tfmot\'s error naming the type passed', () => {
  const message = (type: string) => new RegExp('`pruneLowMagnitude` can only prune an object of the following types: ' +
      'tf.Sequential, a functional tf.LayersModel, tf.layers.Layer, list of tf.layers.Layer. You passed an object ' +
      `of type: ${type}\\.`);
  assert.throws(() => pruneLowMagnitude({} as tfl.layers.Layer), message('Object'));
  assert.throws(() => pruneLowMagnitude(42 as unknown as tfl.layers.Layer), message('number'));
  assert.throws(() => pruneLowMagnitude(null as unknown as tfl.layers.Layer), message('null'));
  assert.throws(() => pruneLowMagnitude(new Map() as unknown as tfl.layers.Layer), message('Map'));
});

layerSuite('bad options are named', () => {
  assert.throws(() => pruneLowMagnitude(L.dense({units: 1}), {block_size: [1, 2]} as object as PruneLowMagnitudeOptions),
      /unknown option 'block_size'; valid options are pruningSchedule, blockSize/);
  assert.throws(() => pruneLowMagnitude(L.dense({units: 1}), 'x' as unknown as PruneLowMagnitudeOptions), /options must be an object/);
  assert.throws(() => pruneLowMagnitude(L.dense({units: 1}), null as unknown as PruneLowMagnitudeOptions),
      /pruneLowMagnitude options must be an object \{pruningSchedule, .*\}, but got null/);
});

layerSuite('option types are checked: globalPruning and pruningPolicy', () => {
  const model = tfl.sequential({layers: [L.dense({units: 2, inputShape: [3]})]});
  assert.throws(() => pruneLowMagnitude(model, {globalPruning: 'yes' as unknown as boolean}),
      /'globalPruning' passed to 'PruneLowMagnitude' must be true or false, but got 'yes'/);
  assert.throws(() => pruneLowMagnitude(model, {pruningPolicy: 'yes' as unknown as PruneLowMagnitudeOptions['pruningPolicy']}),
      /pruneLowMagnitude: pruningPolicy must be a PruningPolicy \(allowPruning and ensureModelSupportsPruning\), but got 'yes'/);
  model.dispose();
});

layerSuite.run();

// ---

const modelSuite = suite('pruneLowMagnitude(model)');

modelSuite.before(() => useBackend('wasm'));

modelSuite('a Sequential: every layer wrapped around the original objects, same predictions, no optimizer', () => {
  const model = denseModel();
  model.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
  const pruned = pruneLowMagnitude(model);
  assert.ok(pruned instanceof tfl.Sequential);
  assert.is(pruned.layers.length, 2);
  pruned.layers.forEach((l, i) => assert.is((l as PruneLowMagnitude).layer, model.layers[i]));
  assert.is(pruned.optimizer, undefined);
  const input = x(5, 6, 1);
  assert.equal(predictions(pruned, input), predictions(model, input), 'bitwise equal before training');
  input.dispose();
});

modelSuite('a Sequential with an explicit InputLayer gives 2 wrappers', () => {
  const model = tfl.sequential({layers: [L.inputLayer({inputShape: [6]}), L.dense({units: 2}), L.dense({units: 1})]});
  assert.is(collectPrunableLayers(pruneLowMagnitude(model)).length, 2);
});

modelSuite('a functional model: shared layer wrapped once and still shared, several inputs and outputs', () => {
  const model = functionalModel();
  const pruned = pruneLowMagnitude(model);
  const wrappers = collectPrunableLayers(pruned);
  assert.is(wrappers.length, 4, 'shared, sum, head1, head2');
  const shared = wrappers.find(w => w.layer.name === 'shared') as PruneLowMagnitude;
  assert.is(shared.inboundNodes.length, 2);
  assert.equal(pruned.inputNames, ['in_a', 'in_b']);
  assert.is(pruned.outputs.length, 2);
  const inputs = [x(3, 4, 2), x(3, 4, 3)];
  assert.equal(predictions(pruned, inputs), predictions(model, inputs));
  tf.dispose(inputs);
});

modelSuite('nested models are pruned recursively', () => {
  const inner = tfl.sequential({layers: [L.dense({units: 4, inputShape: [6]}), L.dense({units: 4})], name: 'inner'});
  const outer = tfl.sequential({layers: [inner, L.dense({units: 2})]});
  const pruned = pruneLowMagnitude(outer);
  assert.is(collectPrunableLayers(pruned).length, 3);
  assert.ok(pruned.layers[0] instanceof tfl.LayersModel);
  const input = x(2, 6, 4);
  assert.equal(predictions(pruned, input), predictions(outer, input));
  input.dispose();
});

modelSuite('already wrapped layers are reused; one unsupported layer fails the whole model', () => {
  const wrapped = pruneLowMagnitude(L.dense({units: 3, inputShape: [6]}));
  const model = tfl.sequential({layers: [wrapped, L.dense({units: 2})]});
  const pruned = pruneLowMagnitude(model);
  assert.is(pruned.layers[0], wrapped);
  class Plain extends tfl.layers.Layer {
    static className = 'Plain';
  }
  const bad = tfl.sequential({layers: [L.dense({units: 3, inputShape: [6]}), new Plain({name: 'plain'})]});
  assert.throws(() => pruneLowMagnitude(bad), /'plain' \(class Plain\) is not supported/);
});

modelSuite('predict and evaluate work without the callback', () => {
  const pruned = pruneLowMagnitude(denseModel());
  pruned.compile({optimizer: 'sgd', loss: 'meanSquaredError'});
  const input = x(4, 6, 5), target = tf.zeros([4, 3]);
  const loss = pruned.evaluate(input, target) as tf.Scalar;
  assert.ok(Number.isFinite(loss.dataSync()[0]));
  assert.is(collectPrunableLayers(pruned)[0].pruningStep, -1);
  tf.dispose([input, target, loss]);
});

modelSuite('zero sparsity trains exactly like the unpruned model (tfmot: PrunesZeroSparsity_IsNoOp)', async () => {
  const make = () => {
    const m = denseModel();
    m.setWeights([tf.ones([6, 8]), tf.zeros([8]), tf.ones([8, 3]), tf.zeros([3])].map((t, i) => tf.mul(t, 0.1 * (i + 1))));
    return m;
  };
  const input = x(16, 6, 6), target = x(16, 3, 7);
  const plain = make();
  plain.compile({optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError'});
  await plain.fit(input, target, {batchSize: 8, epochs: 2, verbose: 0, shuffle: false});
  const pruned = pruneLowMagnitude(make(), {pruningSchedule: new ConstantSparsity({targetSparsity: 0, beginStep: 0, frequency: 1})});
  pruned.compile({optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError'});
  await pruned.fit(input, target, {batchSize: 8, epochs: 2, verbose: 0, shuffle: false, callbacks: [new UpdatePruningStep()]});
  const a = plain.getWeights().map(t => Array.from(t.dataSync()));
  const b = pruned.layers.flatMap(l => (l as PruneLowMagnitude).layer.getWeights()).map(t => Array.from(t.dataSync()));
  // Pruned Dense layers train through our SIMD kernels, which sum in another order than tf.matMul:
  // equal to float32 rounding, not bit for bit.
  assert.is(b.length, a.length);
  for (const [i, w] of a.entries()) {
    for (const [j, v] of w.entries()) {
      if (!(Math.abs(b[i][j] - v) <= 1e-6 * Math.max(1, Math.abs(v)))) {
        assert.unreachable(`weight ${i} entry ${j}: pruned ${b[i][j]}, plain ${v}`);
      }
    }
  }
  tf.dispose([input, target]);
});

modelSuite('0.99 sparsity keeps exactly one weight per kernel (tfmot: PruneWithHighSparsity)', async () => {
  const pruned = pruneLowMagnitude(denseModel(), {pruningSchedule: new ConstantSparsity({targetSparsity: 0.99, beginStep: 0, frequency: 1})});
  const input = x(16, 6, 8), target = x(16, 3, 9);
  await trainPruned(pruned, input, target, 1);
  for (const w of collectPrunableLayers(pruned)) {
    const kernel = (w.layer as unknown as {kernel: tfl.LayerVariable}).kernel.read();
    assert.is(Array.from(kernel.dataSync()).filter(v => v !== 0).length, 1);
  }
  tf.dispose([input, target]);
});

modelSuite('each prunable layer type reaches 0.5 in training and strips to equal predictions (cpu)', async () => {
  await useBackend('cpu');  // tfjs-wasm has no DepthwiseConv2dNativeBackpropFilter (SeparableConv2D training)
  const rnn = {units: 4, recurrentInitializer: 'glorotUniform'} as const;
  const cases: Array<[string, tfl.layers.Layer, number[]]> = [
    ['Dense', L.dense({units: 4}), [6]],
    ['Conv1D', L.conv1d({filters: 4, kernelSize: 2}), [5, 3]],
    ['Conv2D', L.conv2d({filters: 4, kernelSize: 2}), [4, 4, 2]],
    ['Conv2DTranspose', L.conv2dTranspose({filters: 4, kernelSize: 2}), [3, 3, 2]],
    ['SeparableConv2D', L.separableConv2d({filters: 4, kernelSize: 2}), [4, 4, 2]],
    ['Embedding', L.embedding({inputDim: 10, outputDim: 4}), [3]],
    ['SimpleRNN', L.simpleRNN(rnn), [3, 4]],
    ['GRU', L.gru(rnn), [3, 4]],
    ['LSTM', L.lstm(rnn), [3, 4]],
    ['TimeDistributed', L.timeDistributed({layer: L.dense({units: 4})}), [3, 4]],
    ['Bidirectional', L.bidirectional({layer: L.simpleRNN(rnn) as tfl.RNN}), [3, 4]],
  ];
  for (const [name, layer, shape] of cases) {
    const input = tfl.input({shape});
    const hidden = layer.apply(input) as tfl.SymbolicTensor;
    const output = hidden.shape.length > 2 ? L.flatten().apply(hidden) as tfl.SymbolicTensor : hidden;
    const model = tfl.model({inputs: input, outputs: output});
    const pruned = pruneLowMagnitude(model, {pruningSchedule: EVERY_STEP()});
    const n = 8 * shape.reduce((a, b) => a * b, 1);
    const xs = name === 'Embedding' ? tf.tensor2d(Array.from({length: 24}, (_, i) => i % 10), [8, 3]) :
      tf.tensor(normal(n, 20), [8, ...shape]);
    const ys = tf.zeros([8, (pruned.outputs[0].shape[1] as number)]);
    assert.is(getModelSparsity(pruned), 0, `${name} before training`);
    await trainPruned(pruned, xs, ys, 1);
    assert.is(getModelSparsity(pruned), 0.5, name);
    const stripped = stripPruning(pruned);
    assert.equal(predictions(stripped, xs), predictions(pruned, xs), `${name} strip`);
    tf.dispose([xs, ys]);
  }
  await useBackend('wasm');
});

modelSuite('pruneLowMagnitude(model) adds exactly the masks, thresholds and steps (no other tensors)', () => {
  const model = denseModel();
  const before = tf.memory().numTensors;
  pruneLowMagnitude(model);
  assert.is(tf.memory().numTensors - before, 6, '2 x (mask, threshold, pruning_step)');
});

modelSuite('globalPruning: one threshold over all kernels; the model reaches the target overall', async () => {
  const model = tfl.sequential({layers: [L.dense({units: 16, inputShape: [8], kernelInitializer: tfl.initializers.randomNormal({stddev: 1, seed: 1})}),
    L.dense({units: 4, kernelInitializer: tfl.initializers.randomNormal({stddev: 0.1, seed: 2})})]});
  const pruned = pruneLowMagnitude(model, {pruningSchedule: new ConstantSparsity({targetSparsity: 0.75, beginStep: 0, frequency: 1}),
    globalPruning: true});
  const input = x(16, 8, 10), target = x(16, 4, 11);
  await trainPruned(pruned, input, target, 1);
  const [a, b] = collectPrunableLayers(pruned);
  assert.is(a.thresholdWeights[0].read().dataSync()[0], b.thresholdWeights[0].read().dataSync()[0]);
  assert.ok(Math.abs(getModelSparsity(pruned) - 0.75) < 1e-9, `overall ${getModelSparsity(pruned)}`);
  const zeros = (w: PruneLowMagnitude) => 1 - tf.mean(w.maskWeights[0].read()).dataSync()[0];
  assert.ok(zeros(b) > 0.95 && zeros(a) < 0.75, 'the small-magnitude layer is pruned harder');
  tf.dispose([input, target]);
});

modelSuite.run();

// ---

const cloneSuite = suite('cloneModel');

cloneSuite.before(() => useBackend('wasm'));

cloneSuite('cloneModel(model, fn) prunes a subset and keeps shared layers shared', () => {
  const model = functionalModel();
  const seen: string[] = [];
  const clone = cloneModel(model, layer => {
    seen.push(layer.name);
    return layer.name === 'shared' ? pruneLowMagnitude(layer) : layer;
  });
  assert.equal(seen.sort(), ['head1', 'head2', 'shared', 'sum'], 'each layer once, input layers excluded');
  assert.equal(collectPrunableLayers(clone).map(w => w.name), ['prune_low_magnitude_shared']);
  assert.is(clone.getLayer('head1'), model.getLayer('head1'), 'unchanged layers are shared with the original');
});

cloneSuite('cloneModel rejects bad arguments and bad replacements by name', () => {
  assert.throws(() => cloneModel({} as tfl.LayersModel, l => l), /expects a tf.Sequential or functional tf.LayersModel, but got Object/);
  assert.throws(() => cloneModel(denseModel(), 3 as unknown as (l: tfl.layers.Layer) => tfl.layers.Layer), /cloneFunction to be a function/);
  assert.throws(() => cloneModel(denseModel(), () => 'x' as unknown as tfl.layers.Layer),
      /must return a tf.layers.Layer or a LayersModel, but for layer '.*' it returned string/);
});

cloneSuite.run();

// ---

const stripSuite = suite('stripPruning');

stripSuite.before(() => useBackend('wasm'));

stripSuite('stripPruning of a trained Sequential: plain layers, exactly sparse, same predictions, same config', async () => {
  const model = denseModel();
  const pruned = pruneLowMagnitude(model, {pruningSchedule: EVERY_STEP()});
  const input = x(16, 6, 12), target = x(16, 3, 13);
  await trainPruned(pruned, input, target);
  const stripped = noLeak(() => stripPruning(pruned), 'stripPruning');
  assert.is(collectPrunableLayers(stripped).length, 0);
  assert.equal(stripped.layers.map(l => l.getClassName()), ['Dense', 'Dense']);
  assert.equal(stripped.toJSON(null, false), model.toJSON(null, false));
  for (const layer of stripped.layers) {
    const kernel = layer.getWeights()[0].dataSync();
    assert.is(Array.from(kernel).filter(v => v === 0).length, kernel.length / 2);
  }
  assert.equal(predictions(stripped, input), predictions(pruned, input));
  tf.dispose([input, target]);
});

stripSuite('stripPruning of a functional model with nested models', () => {
  const inner = tfl.sequential({layers: [L.dense({units: 4, inputShape: [4]})], name: 'inner_seq'});
  const a = tfl.input({shape: [4]});
  const out = L.dense({units: 2}).apply(inner.apply(a) as tfl.SymbolicTensor) as tfl.SymbolicTensor;
  const model = tfl.model({inputs: a, outputs: out});
  const pruned = pruneLowMagnitude(model);
  assert.is(collectPrunableLayers(pruned).length, 2);
  const stripped = stripPruning(pruned);
  assert.is(collectPrunableLayers(stripped).length, 0);
  assert.equal(stripped.toJSON(null, false), model.toJSON(null, false));
});

stripSuite('stripPruning of a non-model gives tfmot\'s error', () => {
  assert.throws(() => stripPruning(L.dense({units: 1}) as unknown as tfl.LayersModel),
      /Expected model to be a `tf.LayersModel` instance but got: Dense/);
});

stripSuite.run();

// ---

const sparsitySuite = suite('getModelSparsity');

sparsitySuite.before(() => useBackend('cpu'));

sparsitySuite('getModelSparsity counts zeros of pruned weights, nested models included, on the cpu backend', async () => {
  const inner = tfl.sequential({layers: [L.dense({units: 4, inputShape: [6]})], name: 'inner_s'});
  const outer = tfl.sequential({layers: [inner, L.dense({units: 2})]});
  const pruned = pruneLowMagnitude(outer, {pruningSchedule: EVERY_STEP()});
  assert.is(getModelSparsity(pruned), 0);
  const input = x(8, 6, 14), target = x(8, 2, 15);
  await trainPruned(pruned, input, target, 1);
  assert.is(noLeak(() => getModelSparsity(pruned), 'getModelSparsity'), 0.5);
  assert.is(getModelSparsity(denseModel()), 0, 'no pruned weights');
  assert.throws(() => getModelSparsity(null as unknown as tfl.LayersModel), /expects a tf.LayersModel, but got null/);
  tf.dispose([input, target]);
});

sparsitySuite.run();

// ---

const scopeSuite = suite('pruneScope');

scopeSuite.before(() => useBackend('wasm'));

scopeSuite('pruneScope registers the classes for a load, even if the registration was removed', async () => {
  const pruned = pruneLowMagnitude(denseModel(), {blockSize: [1, 2]});
  const json = pruned.toJSON(null, false);
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  const saved = map.PruneLowMagnitude;
  delete map.PruneLowMagnitude;
  try {
    await assertRejects(() => tfl.models.modelFromJSON({modelTopology: json}), /PruneLowMagnitude/);
    const loaded = await pruneScope(() => tfl.models.modelFromJSON({modelTopology: json}));
    assert.equal(collectPrunableLayers(loaded).map(w => w.blockSize), [[1, 2], [1, 2]]);
    assert.is(map.PruneLowMagnitude, undefined, 'the scope restores the previous registration');
  } finally {
    map.PruneLowMagnitude = saved;
  }
  assert.is(await pruneScope(() => 7), 7);
  await assertRejects(() => pruneScope(3 as unknown as () => number), /pruneScope expects a function/);
});

async function assertRejects(fn: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable('expected a rejection');
}

scopeSuite.run();
