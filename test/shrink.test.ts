import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import fc from 'fast-check';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {ChannelPruning, cloneModel, collectPrunableLayers, ConstantSparsity, linkChannelPruning, pruneLowMagnitude,
  shrinkModel, stripPruning, supportsPruning} from '../src/index';
import type {ChannelScore, ShrinkResult} from '../src/index';
import {BACKENDS, noLeakAsync, normal, useBackend} from './helpers';

const L = tfl.layers;
type ST = tfl.SymbolicTensor;

const EVERY_STEP = () => new ConstantSparsity({targetSparsity: 0.5, beginStep: 0, frequency: 1});

/**
 * Masks `sparsity` of the channels of `model` in place, as channel pruning does in a pruning step
 * (every layer the registry supports wrapped, linked, every group's masks updated, weights masked),
 * and returns the stripped (masked) model, which shares its layers with `model`.
 */
function maskChannels(model: tfl.LayersModel, sparsity: number, channelScore: ChannelScore = 'l1'): tfl.LayersModel {
  const pruned = cloneModel(model, l => supportsPruning(l) && !(l instanceof tfl.LayersModel) ?
      pruneLowMagnitude(l, {structure: 'channels', channelScore, pruningSchedule: EVERY_STEP()}) : l);
  linkChannelPruning(pruned);
  const wrappers = collectPrunableLayers(pruned);
  for (const group of new Set(wrappers.map(w => (w.pruningObj as ChannelPruning).group))) group?.updateMasks(sparsity);
  for (const w of wrappers) w.pruningObj?.weightMaskOp();
  return stripPruning(pruned);
}

/** Random, nonzero BatchNormalization statistics (fresh layers have mean 0, variance 1). */
function randomizeBatchNorm(model: tfl.LayersModel, seed: number): void {
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'BatchNormalization') continue;
    layer.setWeights(layer.getWeights().map((w, i) =>
      tf.tensor(normal(w.size, seed + i).map(v => (i === 3 ? 1 + Math.abs(v) : v)), w.shape)));
  }
}

/** Seeded weights, so tests that count removed channels do not depend on tfjs's unseeded initializers. */
function seedWeights(model: tfl.LayersModel, seed: number): void {
  tf.tidy(() => model.setWeights(model.getWeights().map((w, i) => tf.tensor(normal(w.size, seed + i), w.shape))));
}

function predict(model: tfl.LayersModel, x: tf.Tensor|tf.Tensor[]): Float32Array {
  const y = model.predict(x) as tf.Tensor;
  const values = y.dataSync() as Float32Array;
  y.dispose();
  return values;
}

/** Asserts that `actual` equals `expected` up to float summation order. */
function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  let scale = 1;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < actual.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= 2e-5 * scale)) {
      assert.unreachable(`${what}: index ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

function layerReport(result: ShrinkResult, name: string) {
  const entry = result.report.layers.find(l => l.name === name);
  assert.ok(entry, `no report entry for ${name}`);
  return entry!;
}

/** Conv2D -> BatchNormalization -> ReLU -> MaxPooling -> Conv2D -> Flatten -> Dense -> Dense. */
function sequentialCnn(): tfl.Sequential {
  return tfl.sequential({layers: [
    L.conv2d({inputShape: [10, 10, 3], filters: 8, kernelSize: 3, name: 'c1'}),
    L.batchNormalization({name: 'bn'}),
    L.reLU({name: 'relu'}),
    L.maxPooling2d({poolSize: 2, name: 'pool'}),
    L.conv2d({filters: 6, kernelSize: 3, padding: 'same', activation: 'relu', name: 'c2'}),
    L.flatten({name: 'flat'}),
    L.dense({units: 12, activation: 'relu', name: 'hidden'}),
    L.dense({units: 4, name: 'logits'}),
  ]});
}

/**
 * An inverted residual block (Conv2D, BatchNormalization, ReLU6, DepthwiseConv2D x2, projection,
 * residual Add), a SeparableConv2D and a Conv2D concatenated, Flatten, Dense.
 */
function functionalNet(): tfl.LayersModel {
  const input = tfl.input({shape: [8, 8, 3], name: 'image'});
  const stem = L.conv2d({filters: 8, kernelSize: 3, padding: 'same', useBias: false, name: 'stem'}).apply(input) as ST;
  const s1 = L.reLU({maxValue: 6, name: 'stem_relu'}).apply(L.batchNormalization({name: 'stem_bn'}).apply(stem)) as ST;
  const e = L.conv2d({filters: 12, kernelSize: 1, useBias: false, name: 'expand'}).apply(s1) as ST;
  const e1 = L.reLU({maxValue: 6, name: 'expand_relu'}).apply(L.batchNormalization({name: 'expand_bn'}).apply(e)) as ST;
  const d = L.depthwiseConv2d({kernelSize: 3, padding: 'same', depthMultiplier: 2, name: 'dw'}).apply(e1) as ST;
  const d1 = L.reLU({maxValue: 6, name: 'dw_relu'}).apply(L.batchNormalization({name: 'dw_bn'}).apply(d)) as ST;
  const p = L.batchNormalization({name: 'project_bn'}).apply(
      L.conv2d({filters: 8, kernelSize: 1, useBias: false, name: 'project'}).apply(d1)) as ST;
  const sum = L.add({name: 'residual'}).apply([s1, p]) as ST;
  const sep = L.separableConv2d({filters: 5, kernelSize: 3, activation: 'relu', name: 'sep'}).apply(sum) as ST;
  const side = L.conv2d({filters: 4, kernelSize: 3, activation: 'relu', name: 'side'}).apply(sum) as ST;
  const cat = L.concatenate({name: 'cat'}).apply([sep, side]) as ST;
  const flat = L.flatten({name: 'flat'}).apply(L.maxPooling2d({poolSize: 2, name: 'pool'}).apply(cat)) as ST;
  const out = L.dense({units: 3, name: 'logits'}).apply(flat) as ST;
  return tfl.model({inputs: input, outputs: out, name: 'net'});
}

function images(n: number, [h, w, c]: number[], seed: number): tf.Tensor4D {
  return tf.tensor4d(normal(n * h * w * c, seed), [n, h, w, c]);
}

/**
 * Shrinks `model` with half of its channels masked (BatchNormalization statistics randomized with
 * `seed`) and checks that the result computes on `x` what the masked model computes, leaking nothing;
 * disposes `x`.
 */
async function shrinkHalfMasked(model: tfl.LayersModel, seed: number, x: tf.Tensor4D): Promise<ShrinkResult> {
  randomizeBatchNorm(model, seed);
  const masked = maskChannels(model, 0.5);
  const expected = predict(masked, x);
  const result = await noLeakAsync(async () => {
    const r = await shrinkModel(masked);
    assertClose(predict(r.model, x), expected, 'shrunk vs masked');
    r.model.dispose();
    return r;
  }, 'shrinkModel');
  x.dispose();
  return result;
}

// ---

const equivalence = suite('shrinkModel(channel-masked model)');

for (const backend of BACKENDS) {
  equivalence(`${backend}: a Sequential CNN computes what its channel-masked model computes, with half the channels`, async () => {
    await useBackend(backend);
    const model = sequentialCnn();
    const result = await shrinkHalfMasked(model, 3, images(3, [10, 10, 3], 5));
    assert.equal(layerReport(result, 'c1').outputChannels, [8, 4]);
    assert.equal(layerReport(result, 'bn').outputChannels, [8, 4]);
    assert.equal(layerReport(result, 'c2').inputChannels, [8, 4]);
    assert.equal(layerReport(result, 'c2').outputChannels, [6, 3]);
    assert.equal(layerReport(result, 'hidden').inputChannels, [4 * 4 * 6, 4 * 4 * 3]);
    assert.equal(layerReport(result, 'hidden').outputChannels, [12, 6]);
    assert.equal(layerReport(result, 'logits').outputChannels, [4, 4], 'model outputs keep their channels');
    assert.is(result.report.removedChannels, 4 + 3 + 6);
    assert.ok(result.report.paramsAfter < result.report.paramsBefore / 2.5, 'params shrink with the channels');
    model.dispose();
  });

  equivalence(`${backend}: residual Add, DepthwiseConv2D, SeparableConv2D, Concatenate and Flatten in a functional model`, async () => {
    await useBackend(backend);
    const model = functionalNet();
    const result = await shrinkHalfMasked(model, 11, images(2, [8, 8, 3], 13));
    // stem and project feed the residual Add: they lose the same channels, as one group.
    assert.equal(layerReport(result, 'stem').outputChannels, [8, 4]);
    assert.equal(layerReport(result, 'project').outputChannels, [8, 4]);
    assert.equal(layerReport(result, 'expand').outputChannels, [12, 6]);
    assert.equal(layerReport(result, 'dw').inputChannels, [12, 6]);
    assert.equal(layerReport(result, 'dw').outputChannels, [24, 12], 'the depth multiplier goes with each channel');
    assert.equal(layerReport(result, 'project').inputChannels, [24, 12]);
    assert.equal(layerReport(result, 'sep').inputChannels, [8, 4]);
    // keepCount(5, 0.5) keeps roundHalfEven(2.5) = 2.
    assert.equal(layerReport(result, 'sep').outputChannels, [5, 2]);
    assert.equal(layerReport(result, 'side').outputChannels, [4, 2]);
    assert.equal(layerReport(result, 'logits').inputChannels, [3 * 3 * 9, 3 * 3 * 4], 'Concatenate offsets the channels');
    model.dispose();
  });
}

equivalence('a one-shot shrink equals shrinking the channel-masked model (same channels chosen)', async () => {
  await useBackend('cpu');
  const x = images(2, [8, 8, 3], 17);
  for (const score of ['l1', 'l2', 'batchNormScale'] as const) {
    const model = functionalNet();
    randomizeBatchNorm(model, 19);
    const oneShot = await shrinkModel(model, {sparsity: 0.5, channelScore: score});
    const masked = maskChannels(model, 0.5, score);
    const expected = predict(masked, x);
    assertClose(predict(oneShot.model, x), expected, `${score}: one-shot vs masked`);
    oneShot.model.dispose();
    model.dispose();
  }
  x.dispose();
});

equivalence('Multiply ties its branches; a branch zero alone makes the product zero', async () => {
  await useBackend('cpu');
  const input = tfl.input({shape: [6]});
  const a = L.dense({units: 8, name: 'a'}).apply(input) as ST;
  const gate = L.dense({units: 8, activation: 'sigmoid', name: 'gate'}).apply(input) as ST;
  const product = L.multiply({name: 'mul'}).apply([a, gate]) as ST;
  const model = tfl.model({inputs: input, outputs: L.dense({units: 2, name: 'out'}).apply(product) as ST});
  // Zero three units of `a` only: the sigmoid gate is 0.5 there, the product is still zero.
  const [k, b] = model.getLayer('a').getWeights();
  const keep = tf.tensor1d([1, 0, 1, 0, 1, 1, 0, 1]);
  model.getLayer('a').setWeights([tf.mul(k, keep), tf.mul(b, keep)]);
  const x = tf.tensor2d(normal(18, 3), [3, 6]);
  const {model: small, report} = await shrinkModel(model);
  assertClose(predict(small, x), predict(model, x), 'shrunk vs zeroed');
  assert.equal(layerReport({model: small, report}, 'gate').outputChannels, [8, 5], 'the gate loses the same channels');
  small.dispose();
  model.dispose();
  x.dispose();
});

equivalence('an Add keeps a channel that is zero in one branch only', async () => {
  await useBackend('cpu');
  const input = tfl.input({shape: [5]});
  const a = L.dense({units: 4, name: 'a'}).apply(input) as ST;
  const b = L.dense({units: 4, name: 'b'}).apply(input) as ST;
  const model = tfl.model({inputs: input, outputs: L.dense({units: 2, name: 'out'}).apply(L.add().apply([a, b])) as ST});
  const [k, bias] = model.getLayer('a').getWeights();
  const keep = tf.tensor1d([0, 1, 1, 1]);
  model.getLayer('a').setWeights([tf.mul(k, keep), tf.mul(bias, keep)]);
  const x = tf.tensor2d(normal(10, 4), [2, 5]);
  const result = await shrinkModel(model);
  assert.equal(layerReport(result, 'a').outputChannels, [4, 4]);
  assert.is(result.report.removedChannels, 0);
  assertClose(predict(result.model, x), predict(model, x), 'unchanged');
  result.model.dispose();
  model.dispose();
  x.dispose();
});

// ---

const stops = suite('shrinkModel(models it cannot follow)');

/** A custom layer that reverses the channel order: removing a channel before it would be wrong. */
class ReverseChannels extends tfl.layers.Layer {
  static className = 'ReverseChannelsForShrinkTest';
  override call(inputs: tf.Tensor|tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    return tf.reverse(x, -1);
  }
}
tf.serialization.registerClass(ReverseChannels);

stops('a custom layer stops the removal before and after it, and the report names it', async () => {
  await useBackend('cpu');
  const input = tfl.input({shape: [6, 6, 2]});
  const c1 = L.conv2d({filters: 6, kernelSize: 3, name: 'c1'}).apply(input) as ST;
  const r = new ReverseChannels({name: 'rev'}).apply(c1) as ST;
  const c2 = L.conv2d({filters: 6, kernelSize: 3, name: 'c2'}).apply(r) as ST;
  const out = L.dense({units: 2, name: 'out'}).apply(L.flatten().apply(c2)) as ST;
  const model = tfl.model({inputs: input, outputs: out});
  const [k, b] = model.getLayer('c1').getWeights();
  const keep = tf.tensor1d([1, 0, 1, 0, 1, 0]);
  model.getLayer('c1').setWeights([tf.mul(k, keep), tf.mul(b, keep)]);
  const x = images(2, [6, 6, 2], 7);
  const result = await shrinkModel(model);
  assertClose(predict(result.model, x), predict(model, x), 'never shrunk wrongly');
  assert.equal(layerReport(result, 'c1').outputChannels, [6, 6], 'c1 keeps its zero channels: they go through rev');
  assert.equal(layerReport(result, 'c2').inputChannels, [6, 6]);
  const stop = result.report.stops.find(s => s.layer === 'rev');
  assert.ok(stop, JSON.stringify(result.report.stops));
  assert.match(stop!.reason, /ReverseChannelsForShrinkTest is not one whose channels can be followed/);
  assert.is(stop!.channels, 6);
  result.model.dispose();
  // One-shot: c1 stays whole, c2 (after the stop) is pruned, as its masked model computes.
  const oneShot = await shrinkModel(model, {sparsity: 0.5});
  assert.equal(layerReport(oneShot, 'c1').outputChannels, [6, 6]);
  assert.equal(layerReport(oneShot, 'c2').outputChannels, [6, 3]);
  assertClose(predict(oneShot.model, x), predict(maskChannels(model, 0.5), x), 'one-shot vs masked');
  oneShot.model.dispose();
  model.dispose();
  x.dispose();
});

stops('an activation that does not keep zeros (sigmoid) stops the removal, and the report says why', async () => {
  await useBackend('cpu');
  const model = tfl.sequential({layers: [
    L.dense({inputShape: [4], units: 6, activation: 'sigmoid', name: 'sig'}),
    L.dense({units: 6, activation: 'relu', name: 'h'}),
    L.dense({units: 2, name: 'out'}),
  ]});
  const [k, b] = model.getLayer('sig').getWeights();
  const keep = tf.tensor1d([1, 0, 1, 0, 1, 0]);
  model.getLayer('sig').setWeights([tf.mul(k, keep), tf.mul(b, keep)]);
  const x = tf.tensor2d(normal(8, 2), [2, 4]);
  const result = await shrinkModel(model);
  assertClose(predict(result.model, x), predict(model, x), 'never shrunk wrongly');
  assert.equal(layerReport(result, 'sig').outputChannels, [6, 6]);
  const oneShot = await shrinkModel(model, {sparsity: 0.5});
  assert.equal(layerReport(oneShot, 'sig').outputChannels, [6, 6]);
  assert.equal(layerReport(oneShot, 'h').outputChannels, [6, 3]);
  assertClose(predict(oneShot.model, x), predict(maskChannels(model, 0.5), x), 'one-shot vs masked');
  oneShot.model.dispose();
  const stop = result.report.stops.find(s => s.layer === 'sig');
  assert.match(stop?.reason ?? '', /activation 'sigmoid'/);
  result.model.dispose();
  model.dispose();
  x.dispose();
});

stops('softmax outputs, LayerNormalization and channelsFirst convolutions keep their channels', async () => {
  await useBackend('cpu');
  const input = tfl.input({shape: [6]});
  const h = L.dense({units: 8, activation: 'relu', name: 'h'}).apply(input) as ST;
  const n = L.layerNormalization({name: 'ln'}).apply(h) as ST;
  const model = tfl.model({inputs: input, outputs: L.dense({units: 3, activation: 'softmax', name: 'p'}).apply(n) as ST});
  const result = await shrinkModel(model, {sparsity: 0.5});
  assert.equal(layerReport(result, 'h').outputChannels, [8, 8]);
  assert.match(result.report.stops.find(s => s.layer === 'ln')?.reason ?? '', /LayerNormalization/);
  assert.is(result.report.removedChannels, 0);
  result.model.dispose();
  const cf = tfl.sequential({layers: [
    L.conv2d({inputShape: [2, 6, 6], filters: 4, kernelSize: 3, dataFormat: 'channelsFirst', name: 'cf'}),
    L.flatten(), L.dense({units: 2}),
  ]});
  const r2 = await shrinkModel(cf, {sparsity: 0.5});
  assert.match(r2.report.stops.find(s => s.layer === 'cf')?.reason ?? '', /channelsFirst/);
  assert.equal(layerReport(r2, 'cf').outputChannels, [4, 4]);
  r2.model.dispose();
  model.dispose();
  cf.dispose();
});

stops('a layer whose every channel is zero keeps one, so the model still builds', async () => {
  await useBackend('cpu');
  const model = tfl.sequential({layers: [L.dense({inputShape: [3], units: 4, name: 'dead', kernelInitializer: 'zeros'}),
    L.dense({units: 2, name: 'out'})]});
  const x = tf.tensor2d(normal(6, 1), [2, 3]);
  const result = await shrinkModel(model);
  assert.equal(layerReport(result, 'dead').outputChannels, [4, 1]);
  assert.match(result.report.stops.map(s => s.reason).join('\n'), /one is kept/);
  assertClose(predict(result.model, x), predict(model, x), 'same outputs');
  result.model.dispose();
  model.dispose();
  x.dispose();
});

// ---

const structure = suite('shrinkModel(graph structures)');

structure('Conv1D, Conv2DTranspose, PReLU, padding, cropping, upsampling, pooling and dropout layers are followed', async () => {
  await useBackend('cpu');
  const image = tfl.input({shape: [6, 6, 2]});
  let x = L.conv2dTranspose({filters: 6, kernelSize: 3, name: 'up_conv'}).apply(image) as ST;
  x = L.prelu({name: 'prelu'}).apply(x) as ST;
  x = L.zeroPadding2d({padding: 1}).apply(x) as ST;
  x = L.cropping2D({cropping: [[1, 0], [0, 1]]}).apply(x) as ST;
  x = L.upSampling2d({size: [2, 2]}).apply(x) as ST;
  x = L.averagePooling2d({poolSize: 2}).apply(x) as ST;
  x = L.dropout({rate: 0.3}).apply(x) as ST;
  const a = L.conv2d({filters: 5, kernelSize: 3, activation: 'elu', name: 'c'}).apply(x) as ST;
  const pooled = L.globalAveragePooling2d({}).apply(a) as ST;
  const seq = tfl.input({shape: [7, 3]});
  const c1 = L.conv1d({filters: 4, kernelSize: 2, activation: 'tanh', name: 'c1d'}).apply(seq) as ST;
  const m1 = L.globalMaxPooling1d({}).apply(c1) as ST;
  const joined = L.concatenate().apply([pooled, m1]) as ST;
  const out = L.dense({units: 2, name: 'out'}).apply(L.dense({units: 6, activation: 'relu', name: 'h'}).apply(joined)) as ST;
  const model = tfl.model({inputs: [image, seq], outputs: out});
  model.getLayer('prelu').setWeights([tf.tensor(normal(8 * 8 * 6, 4), [8, 8, 6])]);
  const masked = maskChannels(model, 0.5);
  const xs = [images(2, [6, 6, 2], 3), tf.tensor3d(normal(2 * 7 * 3, 5), [2, 7, 3])];
  const r = await shrinkModel(masked);
  assertClose(predict(r.model, xs), predict(masked, xs), 'layer zoo');
  assert.equal(layerReport(r, 'up_conv').outputChannels, [6, 3]);
  assert.equal(layerReport(r, 'prelu').outputChannels, [6, 3]);
  assert.equal(layerReport(r, 'c').inputChannels, [6, 3]);
  assert.equal(layerReport(r, 'c1d').outputChannels, [4, 2]);
  assert.equal(layerReport(r, 'h').inputChannels, [9, 4]);
  r.model.dispose();
  model.dispose();
  tf.dispose(xs);
});

structure('a shared layer loses the same channels at each call', async () => {
  await useBackend('cpu');
  const a = tfl.input({shape: [4]}), b = tfl.input({shape: [4]});
  const shared = L.dense({units: 6, name: 'shared'});
  const out = L.dense({units: 2, name: 'out'}).apply(
      L.concatenate().apply([shared.apply(a) as ST, shared.apply(b) as ST])) as ST;
  const model = tfl.model({inputs: [a, b], outputs: out});
  const xs = [tf.tensor2d(normal(8, 1), [2, 4]), tf.tensor2d(normal(8, 2), [2, 4])];
  const oneShot = await shrinkModel(model, {sparsity: 0.5});
  assert.equal(layerReport(oneShot, 'shared').outputChannels, [6, 3]);
  assert.equal(layerReport(oneShot, 'out').inputChannels, [12, 6]);
  oneShot.model.dispose();
  const masked = maskChannels(model, 0.5);
  const r = await shrinkModel(masked);
  assertClose(predict(r.model, xs), predict(masked, xs), 'shared layer');
  r.model.dispose();
  model.dispose();
  tf.dispose(xs);
});

structure('Reshape merging trailing axes expands channels into features; Reshape keeping them passes them on', async () => {
  await useBackend('cpu');
  const model = tfl.sequential({layers: [
    L.conv2d({inputShape: [5, 5, 1], filters: 6, kernelSize: 3, activation: 'relu', name: 'c'}),
    L.reshape({targetShape: [9, 6], name: 'rows'}),
    L.dense({units: 4, activation: 'relu', name: 'per_row'}),
    L.reshape({targetShape: [36], name: 'flat'}),
    L.dense({units: 2, name: 'out'}),
  ]});
  const masked = maskChannels(model, 0.5);
  const x = images(2, [5, 5, 1], 9);
  const r = await shrinkModel(masked);
  assertClose(predict(r.model, x), predict(masked, x), 'reshape');
  assert.equal(layerReport(r, 'per_row').inputChannels, [6, 3]);
  assert.equal(layerReport(r, 'out').inputChannels, [36, 18]);
  r.model.dispose();
  model.dispose();
  // A -1 in a leading axis of the target shape stays -1.
  const inferred = tfl.sequential({layers: [
    L.conv2d({inputShape: [5, 5, 1], filters: 6, kernelSize: 3, activation: 'relu', name: 'c'}),
    L.reshape({targetShape: [-1, 6], name: 'rows'}),
    L.globalAveragePooling1d({}),
    L.dense({units: 2, name: 'out'}),
  ]});
  const masked2 = maskChannels(inferred, 0.5);
  const r2 = await shrinkModel(masked2);
  assertClose(predict(r2.model, x), predict(masked2, x), 'reshape with -1');
  // tfjs keeps a -1 of targetShape as null in its config.
  assert.equal(r2.model.getLayer('rows').getConfig().targetShape, [null, 3]);
  r2.model.dispose();
  inferred.dispose();
  x.dispose();
});

structure('a nested model is shrunk inside, its inputs and outputs kept', async () => {
  await useBackend('cpu');
  const inner = tfl.sequential({name: 'inner', layers: [
    L.dense({inputShape: [4], units: 8, activation: 'relu', name: 'in1'}), L.dense({units: 5, name: 'in2'})]});
  const input = tfl.input({shape: [4]});
  const model = tfl.model({inputs: input, outputs: L.dense({units: 2, name: 'head'}).apply(inner.apply(input)) as ST});
  const [k, b] = inner.getLayer('in1').getWeights();
  const keep = tf.tensor1d([1, 0, 0, 1, 1, 0, 1, 1]);
  inner.getLayer('in1').setWeights([tf.mul(k, keep), tf.mul(b, keep)]);
  const x = tf.tensor2d(normal(8, 3), [2, 4]);
  const r = await shrinkModel(model);
  assert.equal(layerReport(r, 'in1').outputChannels, [8, 5]);
  assert.equal(layerReport(r, 'in2').outputChannels, [5, 5]);
  assertClose(predict(r.model, x), predict(model, x), 'nested');
  r.model.dispose();
  model.dispose();
  x.dispose();
});

structure("'global' allocation spreads the fraction over the model, each group keeping a channel", async () => {
  await useBackend('cpu');
  const model = sequentialCnn();
  seedWeights(model, 11);
  const uniform = await shrinkModel(model, {sparsity: 0.75});
  const global = await shrinkModel(model, {sparsity: 0.75, allocation: 'global'});
  assert.is(global.report.removableChannels, 8 + 6 + 12);
  // keepCount(26, 0.75) keeps roundHalfEven(6.5) = 6 of the 26 channels.
  assert.is(global.report.removedChannels, 20);
  for (const name of ['c1', 'c2', 'hidden']) assert.ok(layerReport(global, name).outputChannels[1] >= 1);
  assert.equal(layerReport(uniform, 'c1').outputChannels, [8, 2]);
  uniform.model.dispose();
  global.model.dispose();
  model.dispose();
});

structure('a pruned model (PruneLowMagnitude wrappers) is stripped and shrunk', async () => {
  await useBackend('cpu');
  const model = sequentialCnn();
  const pruned = pruneLowMagnitude(model, {structure: 'channels', pruningSchedule: EVERY_STEP()});
  for (const group of new Set(collectPrunableLayers(pruned).map(w => (w.pruningObj as ChannelPruning).group))) {
    group?.updateMasks(0.5);
  }
  const x = images(2, [10, 10, 3], 1);
  const expected = predict(pruned, x);
  const r = await shrinkModel(pruned);
  assertClose(predict(r.model, x), expected, 'shrunk vs pruned');
  assert.equal(layerReport(r, 'hidden').outputChannels, [12, 6]);
  assert.not.ok(JSON.stringify(r.model.toJSON(null, false)).includes('PruneLowMagnitude'));
  r.model.dispose();
  model.dispose();
  x.dispose();
});

// ---

const generated = suite('shrinkModel(generated models with zeroed weights)');

/** A generated CNN: conv, optional BatchNormalization, an activation, optional depthwise, optional residual Add. */
interface NetCase {
  filters: number;
  batchNorm: boolean;
  activation: 'relu'|'tanh'|'sigmoid'|'linear';
  depthMultiplier: number;  // 0: no depthwise layer
  residual: boolean;
  units: number;
  seed: number;
  /** Per channel of the first conv, of the second conv and of the hidden Dense: zero its kernel slice, and its bias. */
  zeroConv: boolean[];
  zeroBias: boolean[];
  zeroGammaBeta: boolean[];
  zeroHidden: boolean[];
}

function generatedNet(c: NetCase): tfl.LayersModel {
  const input = tfl.input({shape: [5, 5, 2]});
  let x = L.conv2d({filters: c.filters, kernelSize: 3, padding: 'same', name: 'g1'}).apply(input) as ST;
  if (c.batchNorm) x = L.batchNormalization({name: 'gbn'}).apply(x) as ST;
  x = L.activation({activation: c.activation}).apply(x) as ST;
  let y = x;
  if (c.depthMultiplier > 0) {
    y = L.depthwiseConv2d({kernelSize: 3, padding: 'same', depthMultiplier: c.depthMultiplier, name: 'gdw'}).apply(y) as ST;
  }
  y = L.conv2d({filters: c.filters, kernelSize: 1, activation: 'relu', name: 'g2'}).apply(y) as ST;
  if (c.residual) y = L.add().apply([x, y]) as ST;
  const h = L.dense({units: c.units, activation: 'relu', name: 'gh'}).apply(L.flatten().apply(y)) as ST;
  const model = tfl.model({inputs: input, outputs: L.dense({units: 2, name: 'gout'}).apply(h) as ST});
  let seed = c.seed;
  for (const layer of model.layers) {
    layer.setWeights(layer.getWeights().map(w => tf.tensor(normal(w.size, seed++).map((v, i) =>
      layer.name === 'gbn' && w === layer.getWeights()[3] ? 1 + Math.abs(v) : v + (i % 3 === 0 ? 0.1 : 0)), w.shape)));
  }
  const zero = (name: string, flags: boolean[], which: number[]) => {
    const layer = model.getLayer(name);
    const weights = layer.getWeights();
    const keep = tf.tensor1d(flags.map(f => (f ? 0 : 1)));
    layer.setWeights(weights.map((w, i) => (which.includes(i) ? tf.mul(w, keep) : w)));
  };
  zero('g1', c.zeroConv, [0]);
  zero('g1', c.zeroBias, [1]);
  if (c.batchNorm) zero('gbn', c.zeroGammaBeta, [0, 1]);
  zero('g2', c.zeroConv, [0, 1]);
  zero('gh', c.zeroHidden, [0, 1]);
  return model;
}

const netCase: fc.Arbitrary<NetCase> = fc.record({
  filters: fc.integer({min: 1, max: 5}),
  units: fc.integer({min: 1, max: 5}),
}).chain(({filters, units}) => fc.record({
  filters: fc.constant(filters),
  units: fc.constant(units),
  batchNorm: fc.boolean(),
  activation: fc.constantFrom('relu' as const, 'tanh' as const, 'sigmoid' as const, 'linear' as const),
  depthMultiplier: fc.integer({min: 0, max: 2}),
  residual: fc.boolean(),
  seed: fc.integer({min: 1, max: 1000}),
  zeroConv: fc.array(fc.boolean(), {minLength: filters, maxLength: filters}),
  zeroBias: fc.array(fc.boolean(), {minLength: filters, maxLength: filters}),
  zeroGammaBeta: fc.array(fc.boolean(), {minLength: filters, maxLength: filters}),
  zeroHidden: fc.array(fc.boolean(), {minLength: units, maxLength: units}),
}));

generated('the shrunk model computes what the model computes, whatever is zero (60 generated models)', async () => {
  await useBackend('cpu');
  const x = images(2, [5, 5, 2], 41);
  let cases = 0, removedSome = 0;
  await fc.assert(fc.asyncProperty(netCase, async c => {
    cases++;
    const model = generatedNet(c);
    const before = tf.memory().numTensors;
    const {model: small, report} = await shrinkModel(model);
    if (report.removedChannels > 0) removedSome++;
    try {
      assertClose(predict(small, x), predict(model, x), JSON.stringify(c));
    } finally {
      small.dispose();
      model.dispose();
    }
    assert.ok(tf.memory().numTensors <= before, 'no tensor left behind');
  }), {seed: 20261206, numRuns: 60});
  assert.is(cases, 60);
  assert.ok(removedSome >= 20, `only ${removedSome} of 60 generated models had channels to remove`);
  x.dispose();
});

// ---

const plain = suite('shrinkModel(...) saves a plain layers model');

plain('the shrunk model loads and predicts in a process that imports only tfjs packages', async () => {
  await useBackend('cpu');
  const model = functionalNet();
  randomizeBatchNorm(model, 23);
  const {model: small} = await shrinkModel(model, {sparsity: 0.5});
  const dir = mkdtempSync(join(tmpdir(), 'tfjs-sparsity-shrink-'));
  try {
    await small.save(`file://${dir}`);
    const topology = readFileSync(join(dir, 'model.json'), 'utf8');
    const classes = [...topology.matchAll(/"class_name":\s*"(\w+)"/g)].map(m => m[1]);
    const builtIn = Object.keys(tf.serialization.SerializationMap.getMap().classNameMap);
    for (const c of classes) assert.ok(builtIn.includes(c) && !/Sparse|Prune/.test(c), `class ${c} in model.json`);
    const x = normal(2 * 8 * 8 * 3, 29);
    const expected = predict(small, tf.tensor4d(x, [2, 8, 8, 3]));
    const child = `
      import * as tf from '@tensorflow/tfjs-core';
      import '@tensorflow/tfjs-backend-cpu';
      import * as tfl from '@tensorflow/tfjs-layers';
      import {readFileSync} from 'node:fs';
      const dir = ${JSON.stringify(dir)};
      const json = JSON.parse(readFileSync(dir + '/model.json', 'utf8'));
      const weightSpecs = json.weightsManifest.flatMap(g => g.weights);
      const buffers = json.weightsManifest.flatMap(g => g.paths).map(p => readFileSync(dir + '/' + p));
      const bytes = Buffer.concat(buffers);
      const weightData = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length);
      await tf.setBackend('cpu');
      const model = await tfl.loadLayersModel(tf.io.fromMemory({modelTopology: json.modelTopology, weightSpecs, weightData}));
      const y = model.predict(tf.tensor4d(${JSON.stringify(Array.from(x))}, [2, 8, 8, 3]));
      process.stdout.write(JSON.stringify(Array.from(y.dataSync())));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', child], {encoding: 'utf8'});
    const loaded = Float32Array.from(JSON.parse(out.slice(out.indexOf('['))) as number[]);
    assertClose(loaded, expected, 'loaded in a plain tfjs process');
  } finally {
    rmSync(dir, {recursive: true, force: true});
    small.dispose();
    model.dispose();
  }
});

// ---

const bad = suite('shrinkModel(bad input)');

bad('non-models and bad options are refused with the argument named', async () => {
  const model = sequentialCnn();
  const rejects = async (fn: () => Promise<unknown>, pattern: RegExp) => {
    try {
      await fn();
    } catch (e) {
      assert.match((e as Error).message, pattern);
      return;
    }
    assert.unreachable(`expected an error matching ${pattern}`);
  };
  await rejects(() => shrinkModel({} as tfl.LayersModel), /Argument 'model' passed to 'shrinkModel' must be a tf.LayersModel, but got Object/);
  await rejects(() => shrinkModel(model, {sparsity: 1}), /Argument 'sparsity' passed to 'shrinkModel' must be a number in \[0, 1\), but got 1/);
  await rejects(() => shrinkModel(model, {channelScore: 'l3' as ChannelScore}),
                /'channelScore' passed to 'shrinkModel' must be one of 'l1', 'l2', 'batchNormScale', but got 'l3'/);
  await rejects(() => shrinkModel(model, {allocation: 'even' as 'global'}), /'allocation' .* 'uniform', 'global', but got 'even'/);
  await rejects(() => shrinkModel(model, {sparse: 0.5} as object), /unknown option 'sparse'; valid options are sparsity, channelScore, allocation/);
  model.dispose();
});

equivalence.run();
stops.run();
structure.run();
generated.run();
plain.run();
bad.run();
