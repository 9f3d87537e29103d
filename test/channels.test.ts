import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {ChannelPruning, ChannelPruningGroup, channelPrunedWeights, collectPrunableLayers, ConstantSparsity,
  linkChannelPruning, PolynomialDecay, PruneLowMagnitude, pruneLowMagnitude, shrinkModel, UpdatePruningStep}
  from '../src/index';
import {keepBestUnits, layerChannelScores, normaliseChannelScore, unitScores, unitsToRemove} from '../src/pruning/channels';
import {noLeak, normal, useBackend} from './helpers';

const L = tfl.layers;
type ST = tfl.SymbolicTensor;

/** A residual CNN: conv -> BN -> relu, a second conv -> BN added to it, GAP, Dense, logits. */
function residualCnn(): tfl.LayersModel {
  const input = tfl.input({shape: [6, 6, 2]});
  const a = L.reLU({name: 'a_relu'}).apply(L.batchNormalization({name: 'a_bn'}).apply(
      L.conv2d({filters: 8, kernelSize: 3, padding: 'same', name: 'a'}).apply(input))) as ST;
  const b = L.batchNormalization({name: 'b_bn'}).apply(
      L.conv2d({filters: 8, kernelSize: 3, padding: 'same', name: 'b'}).apply(a)) as ST;
  const sum = L.add({name: 'sum'}).apply([a, b]) as ST;
  const pooled = L.globalAveragePooling2d({name: 'gap'}).apply(sum) as ST;
  const h = L.dense({units: 6, activation: 'relu', name: 'h'}).apply(pooled) as ST;
  return tfl.model({inputs: input, outputs: L.dense({units: 3, name: 'logits'}).apply(h) as ST});
}

function wrapper(model: tfl.LayersModel, name: string): PruneLowMagnitude {
  const w = collectPrunableLayers(model).find(x => x.layer.name === name);
  assert.ok(w, `no wrapper around ${name}`);
  return w!;
}

/** Indices of the channels whose mask is zero along the last axis (or axis 0 for rank 1). */
function zeroChannels(mask: tf.Tensor, axis = mask.rank - 1): number[] {
  const perChannel = tf.tidy(() => tf.sum(mask, [...Array(mask.rank).keys()].filter(a => a !== axis)));
  const values = perChannel.dataSync();
  perChannel.dispose();
  return [...values].flatMap((v, c) => (v === 0 ? [c] : []));
}

const data = (n: number, seed: number) => ({
  x: tf.tensor4d(normal(n * 72, seed), [n, 6, 6, 2]),
  y: tf.tensor2d(normal(n * 3, seed + 1), [n, 3]),
});

// ---

const training = suite("pruneLowMagnitude(model, {structure: 'channels'}) in training");

training('fit with UpdatePruningStep masks whole channels, tied across BatchNorm and the residual Add', async () => {
  await useBackend('wasm');
  const model = residualCnn();
  const pruned = pruneLowMagnitude(model, {structure: 'channels', pruningSchedule:
      new PolynomialDecay({initialSparsity: 0.25, finalSparsity: 0.5, beginStep: 0, endStep: 4, frequency: 1})});
  pruned.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
  const {x, y} = data(16, 3);
  await pruned.fit(x, y, {batchSize: 4, epochs: 2, verbose: 0, callbacks: [new UpdatePruningStep()]});
  const a = wrapper(pruned, 'a'), b = wrapper(pruned, 'b');
  const removed = zeroChannels(a.maskWeights[0].read());
  assert.is(removed.length, 4, 'half of the 8 channels');
  for (const [w, i] of [[a, 1], [b, 0], [b, 1], [wrapper(pruned, 'a_bn'), 0], [wrapper(pruned, 'a_bn'), 1],
    [wrapper(pruned, 'b_bn'), 0]] as Array<[PruneLowMagnitude, number]>) {
    assert.equal(zeroChannels(w.maskWeights[i].read(), w.maskWeights[i].shape.length - 1), removed,
                 `${w.layer.name} mask ${i} drops the same channels`);
  }
  assert.equal(zeroChannels(wrapper(pruned, 'logits').maskWeights[0].read()), [], 'model outputs are never pruned');
  assert.is(zeroChannels(wrapper(pruned, 'h').maskWeights[0].read()).length, 3);
  // The kernel is exactly zero on the removed channels after training.
  assert.equal(zeroChannels(tf.abs(a.layer.getWeights()[0])), removed);
  const expected = pruned.predict(x) as tf.Tensor;
  const {model: small, report} = await shrinkModel(pruned);
  assert.equal(report.layers.find(l => l.name === 'b')?.outputChannels, [8, 4]);
  const got = small.predict(x) as tf.Tensor;
  const diff = tf.max(tf.abs(tf.sub(got, expected))).dataSync()[0];
  assert.ok(diff < 1e-5, `shrunk vs pruned max diff ${diff}`);
  tf.dispose([x, y, expected, got]);
  small.dispose();
  pruned.dispose();
});

training("channelScore 'batchNormScale' drops the channels with the smallest |gamma| (Network Slimming)", async () => {
  await useBackend('cpu');
  const model = tfl.sequential({layers: [
    L.conv2d({inputShape: [5, 5, 1], filters: 6, kernelSize: 3, name: 'c'}),
    L.batchNormalization({name: 'bn'}), L.reLU(), L.flatten(), L.dense({units: 2, name: 'out'})]});
  const bn = model.getLayer('bn');
  const [, beta, mean, variance] = bn.getWeights();
  bn.setWeights([tf.tensor1d([0.9, -0.01, 0.5, 0.02, -0.7, 0.03]), beta, mean, variance]);
  const pruned = pruneLowMagnitude(model, {structure: 'channels', channelScore: 'batchNormScale',
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1})});
  const group = (wrapper(pruned, 'c').pruningObj as ChannelPruning).group as ChannelPruningGroup;
  assert.ok(group.members.length === 2, 'the conv and its BatchNormalization are one group');
  noLeak(() => group.updateMasks(0.5), 'updateMasks');
  assert.equal(zeroChannels(wrapper(pruned, 'bn').maskWeights[0].read(), 0), [1, 3, 5]);
  assert.equal(zeroChannels(wrapper(pruned, 'c').maskWeights[0].read()), [1, 3, 5]);
  pruned.dispose();
});

training('the channel pruning state saves and loads; training resumes from the saved step', async () => {
  await useBackend('cpu');
  const model = residualCnn();
  const pruned = pruneLowMagnitude(model, {structure: 'channels', channelScore: 'l2',
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 2})});
  pruned.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
  const {x, y} = data(8, 5);
  await pruned.fit(x, y, {batchSize: 4, epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});
  const saved: tf.io.ModelArtifacts[] = [];
  await pruned.save(tf.io.withSaveHandler(async a => {
    saved.push(a);
    return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
  }));
  const json = JSON.stringify(saved[0].modelTopology);
  assert.match(json, /"structure":\s*"channels"/);
  assert.match(json, /"channel_score":\s*"l2"/);
  const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved[0]));
  const a = wrapper(loaded, 'a');
  assert.is(a.structure, 'channels');
  assert.is(a.channelScore, 'l2');
  assert.is(a.pruningStep, 2);
  assert.equal(zeroChannels(a.maskWeights[0].read()), zeroChannels(wrapper(pruned, 'a').maskWeights[0].read()));
  assert.equal(a.maskWeights.map(m => m.originalName.split('/').pop()), ['mask', 'bias_mask']);
  loaded.compile({optimizer: tf.train.sgd(0.01), loss: 'meanSquaredError'});
  await loaded.fit(x, y, {batchSize: 4, epochs: 1, verbose: 0, callbacks: [new UpdatePruningStep()]});
  assert.is(a.pruningStep, 4);
  assert.is(zeroChannels(a.maskWeights[0].read()).length, 4);
  tf.dispose([x, y]);
  loaded.dispose();
  pruned.dispose();
});

training('a layer whose channels cannot be removed is never masked (frozen), and is linked as such', async () => {
  await useBackend('cpu');
  const model = tfl.sequential({layers: [
    L.dense({inputShape: [4], units: 6, activation: 'sigmoid', name: 'sig'}),
    L.dense({units: 6, name: 'h'}), L.dense({units: 2, activation: 'softmax', name: 'p'})]});
  const pruned = pruneLowMagnitude(model, {structure: 'channels',
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1})});
  noLeak(() => linkChannelPruning(pruned), 'linkChannelPruning');
  const sig = wrapper(pruned, 'sig').pruningObj as ChannelPruning;
  assert.is(sig.group, null, 'sigmoid(0) = 0.5: its channels cannot be removed');
  assert.equal([...(sig.units as Int32Array)], [-1, -1, -1, -1, -1, -1]);
  assert.is(sig.conditionalMaskUpdate(1), false);
  assert.ok((wrapper(pruned, 'h').pruningObj as ChannelPruning).group != null);
  pruned.dispose();
});

// ---

const errors = suite("PruneLowMagnitude({structure: 'channels'}) errors");

errors('bad structure, channel score or combinations are refused with the option named', () => {
  const dense = () => L.dense({units: 2});
  assert.throws(() => new PruneLowMagnitude({layer: dense(), structure: 'filters' as 'channels'}),
                /'structure' passed to 'PruneLowMagnitude' must be one of 'weights', 'channels', but got 'filters'/);
  assert.throws(() => new PruneLowMagnitude({layer: dense(), structure: 'channels', channelScore: 'l0' as 'l1'}),
                /'channelScore' .* 'l1', 'l2', 'batchNormScale', but got 'l0'/);
  assert.throws(() => new PruneLowMagnitude({layer: dense(), structure: 'channels', blockSize: [1, 4]}),
                /structure 'channels' prunes whole channels: it takes no blockSize, sparsityMByN or globalPruning/);
  assert.throws(() => pruneLowMagnitude(dense(), {structure: 'channels', globalPruning: true}), /no blockSize/);
});

errors('a channel-pruned layer trained without linking says what to do', () => {
  const w = pruneLowMagnitude(L.dense({units: 4}), {structure: 'channels'});
  w.build([null, 3]);
  w.pruningStep = 0;
  assert.throws(() => tf.tidy(() => w.apply(tf.ones([1, 3]), {training: true}) as tf.Tensor),
                /prunes channels but is not linked to its model: UpdatePruningStep links/);
});

errors('tied layers with different schedules are refused', () => {
  const input = tfl.input({shape: [3]});
  const a = pruneLowMagnitude(L.dense({units: 4, name: 'ta'}), {structure: 'channels',
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.5, beginStep: 0})});
  const b = pruneLowMagnitude(L.dense({units: 4, name: 'tb'}), {structure: 'channels',
    pruningSchedule: new ConstantSparsity({targetSparsity: 0.8, beginStep: 0})});
  const sum = L.add().apply([a.apply(input) as ST, b.apply(input) as ST]) as ST;
  const model = tfl.model({inputs: input, outputs: L.dense({units: 1}).apply(sum) as ST});
  assert.throws(() => linkChannelPruning(model), /Layers ta and tb have tied channels .* different pruning schedules/);
  model.dispose();
});

// ---

const parts = suite('channel scores and selection');

parts('channelPrunedWeights(layer) lists the masked weights with their channel axis', () => {
  const conv = L.conv2d({filters: 3, kernelSize: 2});
  conv.build([null, 4, 4, 2]);
  assert.equal(channelPrunedWeights(conv).map(w => [w.variable.originalName.split('/').pop(), w.axis.axis]),
               [['kernel', -1], ['bias', 0]]);
  const dw = L.depthwiseConv2d({kernelSize: 2, depthMultiplier: 3});
  dw.build([null, 4, 4, 2]);
  assert.equal(channelPrunedWeights(dw).map(w => [w.axis.axis, w.axis.expand ?? false, w.multiplier]),
               [[-2, false, 3], [0, true, 3]]);
  const bn = L.batchNormalization({});
  bn.build([null, 5]);
  assert.equal(channelPrunedWeights(bn).map(w => w.variable.originalName.split('/').pop()), ['gamma', 'beta']);
  assert.equal(channelPrunedWeights(L.flatten()), []);
});

parts('layerChannelScores(layer, score) gives the L1 and L2 norms of each output slice and |gamma|', () => {
  const dense = L.dense({units: 3, useBias: false});
  dense.build([null, 2]);
  dense.setWeights([tf.tensor2d([[3, -1, 0], [4, 2, 0]])]);
  const read = (v: tfl.LayerVariable) => v.read().dataSync();
  assert.equal([...layerChannelScores(dense, 'l1', read)!], [7, 3, 0]);
  assert.equal([...layerChannelScores(dense, 'l2', read)!], [5, Math.sqrt(5), 0]);
  assert.is(layerChannelScores(dense, 'batchNormScale', read), null);
  const bn = L.batchNormalization({});
  bn.build([null, 2]);
  bn.setWeights([tf.tensor1d([-2, 0.5]), tf.zeros([2]), tf.zeros([2]), tf.ones([2])]);
  assert.equal([...layerChannelScores(bn, 'batchNormScale', read)!], [2, 0.5]);
});

parts('unitScores normalizes each layer by its mean and averages over the layers of a unit', () => {
  const scores = unitScores([
    {norm: Float64Array.from([2, 4, 6]), scale: null, units: [10, 11, 12]},
    {norm: Float64Array.from([30, 10, 20]), scale: null, units: [10, 11, -1]},
  ], 'l1');
  assert.equal([...scores], [[10, (0.5 + 1.5) / 2], [11, (1 + 0.5) / 2], [12, 1.5]]);
  const nan = unitScores([{norm: Float64Array.from([NaN, 1, 3]), scale: null, units: [1, 2, 3]}], 'l1');
  assert.equal([...nan], [[1, Infinity], [2, 0.5], [3, 1.5]], 'a NaN channel is never pruned; the mean skips it');
  const bn = unitScores([{norm: Float64Array.from([1, 3]), scale: Float64Array.from([4, 0]), units: [1, 2]}],
                        'batchNormScale');
  assert.equal([...bn], [[1, 2], [2, 0]], 'BatchNorm scales replace the norms where a unit has them');
});

parts('keepBestUnits and unitsToRemove follow the keep-count rule, ties kept', () => {
  const scores = new Map([[1, 0.5], [2, 2], [3, 1], [4, 1]]);
  assert.equal([...keepBestUnits(scores, 0.5).kept].sort(), [2, 3, 4], 'k = 2, the tie at 1 is kept');
  const distinct = new Map([[1, 0.5], [2, 2], [3, 1], [4, 1.5]]);
  const population = new Map([[1, 1], [2, 1], [3, 1], [4, 4]]);
  assert.equal([...unitsToRemove(distinct, population, 0.5, 'uniform')].sort(), [1],
               'population {1, 2, 3} keeps 2 of 3; {4} keeps its one unit');
  assert.equal([...unitsToRemove(distinct, population, 0.75, 'global')].sort(), [1, 3],
               'global keeps the best one (2) and the best of each population (4)');
});

parts('normaliseChannelScore accepts what tfjs saving does to the values', () => {
  assert.is(normaliseChannelScore('L1'), 'l1');
  assert.is(normaliseChannelScore('batch_norm_scale'), 'batchNormScale');
  assert.is(normaliseChannelScore('l3'), 'l3');
});

training.run();
errors.run();
parts.run();
