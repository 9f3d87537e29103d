import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import '../src/index';
import {analyseChannels} from '../src/model/channel_graph';
import type {ChannelGraph} from '../src/model/channel_graph';
import {channelMaskValues, perChannelSums} from '../src/model/channel_specs';
import type {ChannelAxis} from '../src/model/channel_specs';
import {channelUnits, channelZeros, maskedZeroReader, unitPopulations, valueZeroReader} from '../src/model/channel_units';
import {normal, rng, useBackend} from './helpers';

const L = tfl.layers;
type ST = tfl.SymbolicTensor;

/** The plain-loop channel of flat index i: its coordinate along `axis`, divided by `per`. */
function channelOf(i: number, shape: number[], axis: number, per: number): number {
  const coords: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    coords[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return Math.floor(coords[axis] / per);
}

const CASES: Array<[string, number[], ChannelAxis, number]> = [
  ['rank1', [7], {axis: 0, side: 'in'}, 1],
  ['rank2_out', [3, 5], {axis: -1, side: 'out'}, 1],
  ['rank2_in', [3, 5], {axis: -2, side: 'in'}, 1],
  ['rank4_out', [3, 3, 4, 6], {axis: -1, side: 'out'}, 1],
  ['rank4_in', [3, 3, 4, 6], {axis: -2, side: 'in'}, 1],
  ['rank4_expand', [1, 1, 12, 5], {axis: -2, side: 'in', expand: true}, 3],
  ['bias_expand', [12], {axis: 0, side: 'in', expand: true}, 4],
];

// ---

const helpers = suite('perChannelSums / channelMaskValues');

for (const [name, shape, axis, m] of CASES) {
  helpers(`${name}: match a plain loop over coordinates`, () => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = normal(n, n);
    const a = axis.axis < 0 ? shape.length + axis.axis : axis.axis;
    const per = axis.expand ? m : 1;
    const channels = shape[a] / per;
    const l1 = new Float64Array(channels), l2 = new Float64Array(channels);
    for (let i = 0; i < n; i++) {
      const c = channelOf(i, shape, a, per);
      l1[c] += Math.abs(values[i]);
      l2[c] += values[i] * values[i];
    }
    assert.equal([...perChannelSums(values, shape, axis, m, 'l1')], [...l1]);
    assert.equal([...perChannelSums(values, shape, axis, m, 'l2')], [...l2]);
    const r = rng(7);
    const keep = Uint8Array.from({length: channels}, () => (r() < 0.5 ? 1 : 0));
    const mask = channelMaskValues(keep, shape, axis, m);
    for (let i = 0; i < n; i++) {
      if (mask[i] !== keep[channelOf(i, shape, a, per)]) assert.unreachable(`${name}: mask index ${i}`);
    }
  });
}

// ---

/** stem -> BN -> relu6; expand -> BN -> relu6 -> depthwise x2 -> project -> BN; Add; concat of two convs; pool; flatten; Dense. */
function net(): tfl.LayersModel {
  const input = tfl.input({shape: [8, 8, 3], name: 'image'});
  const s1 = L.reLU({maxValue: 6}).apply(L.batchNormalization({name: 'stem_bn'}).apply(
      L.conv2d({filters: 4, kernelSize: 3, padding: 'same', name: 'stem'}).apply(input))) as ST;
  const e = L.conv2d({filters: 6, kernelSize: 1, name: 'expand'}).apply(s1) as ST;
  const d = L.depthwiseConv2d({kernelSize: 3, padding: 'same', depthMultiplier: 2, name: 'dw'}).apply(e) as ST;
  const p = L.batchNormalization({name: 'project_bn'}).apply(
      L.conv2d({filters: 4, kernelSize: 1, name: 'project'}).apply(d)) as ST;
  const sum = L.add({name: 'sum'}).apply([s1, p]) as ST;
  const cat = L.concatenate({name: 'cat'}).apply([
    L.conv2d({filters: 5, kernelSize: 3, name: 'left'}).apply(sum) as ST,
    L.conv2d({filters: 3, kernelSize: 3, name: 'right'}).apply(sum) as ST]) as ST;
  const flat = L.flatten({name: 'flat'}).apply(L.maxPooling2d({poolSize: 2, name: 'pool'}).apply(cat)) as ST;
  return tfl.model({inputs: input, outputs: L.dense({units: 2, name: 'logits'}).apply(flat) as ST});
}

function tensorOf(graph: ChannelGraph, layerName: string): number {
  const node = graph.nodes.find(n => n.layer.name === layerName);
  assert.ok(node, `no node for ${layerName}`);
  return node!.outputs[0];
}

const ties = suite('analyseChannels(model)');

ties.before(() => useBackend('cpu'));

ties('ties residual branches, depthwise outputs, concat offsets and flattened features', () => {
  const model = net();
  const g = analyseChannels(model);
  const layer = (name: string) => model.getLayer(name);
  for (let c = 0; c < 4; c++) {
    assert.is(g.unitOfSlot(layer('stem'), 'out', c), g.unitOfSlot(layer('project'), 'out', c), `residual channel ${c}`);
    assert.is(g.unitOfSlot(layer('stem_bn'), 'in', c), g.unitOfSlot(layer('stem'), 'out', c));
  }
  for (let c = 0; c < 6; c++) {
    for (let j = 0; j < 2; j++) {
      assert.is(g.unitOfTensor(tensorOf(g, 'dw'), c * 2 + j), g.unitOfSlot(layer('expand'), 'out', c));
    }
    assert.is(g.unitOfSlot(layer('project'), 'in', 2 * c), g.unitOfSlot(layer('dw'), 'in', c));
  }
  for (let c = 0; c < 3; c++) assert.is(g.unitOfTensor(tensorOf(g, 'cat'), 5 + c), g.unitOfSlot(layer('right'), 'out', c));
  const flat = tensorOf(g, 'flat');
  for (let f = 0; f < g.tensors[flat].channels; f += 7) {
    assert.is(g.unitOfTensor(flat, f), g.unitOfTensor(tensorOf(g, 'cat'), f % 8));
  }
  assert.is.not(g.unitOfSlot(layer('left'), 'out', 0), g.unitOfSlot(layer('right'), 'out', 0));
  model.dispose();
});

ties('freezes model inputs and outputs, and names layers it cannot follow', () => {
  const model = net();
  const g = analyseChannels(model);
  assert.match(g.frozenReason(g.unitOfSlot(model.getLayer('logits'), 'out', 0))?.reason ?? '', /output of the model/);
  assert.match(g.frozenReason(g.unitOfSlot(model.getLayer('stem'), 'in', 0))?.reason ?? '', /input of the model/);
  assert.is(g.frozenReason(g.unitOfSlot(model.getLayer('expand'), 'out', 0)), null);
  model.dispose();
  const input = tfl.input({shape: [4]});
  const h = L.dense({units: 3, name: 'h'}).apply(input) as ST;
  const odd = L.reshape({targetShape: [3, 1]}).apply(h) as ST;
  const m2 = tfl.model({inputs: input, outputs: L.dense({units: 1}).apply(L.flatten().apply(odd)) as ST});
  const g2 = analyseChannels(m2);
  assert.match(g2.frozenReason(g2.unitOfSlot(m2.getLayer('h'), 'out', 0))?.reason ?? '',
               /Reshape.*last axis \(1\) is not a multiple of the channels \(3\)/);
  m2.dispose();
});

ties('populations join the units of one layer and of tied layers', () => {
  const model = net();
  const g = analyseChannels(model);
  const units = [...channelUnits(g).keys()];
  const population = unitPopulations(g, units);
  const pop = (name: string, c: number) => population.get(g.unitOfSlot(model.getLayer(name), 'out', c));
  assert.is(pop('stem', 0), pop('project', 3));
  assert.is(pop('expand', 0), pop('expand', 5));
  assert.is.not(pop('expand', 0), pop('stem', 0));
  assert.is.not(pop('left', 0), pop('right', 0));
  model.dispose();
});

// ---

const zeros = suite('channelZeros(ChannelGraph, reader)');

zeros.before(() => useBackend('cpu'));

zeros('with every masked weight zero, channels are zero through BatchNorm, ReLU6, depthwise and the Add', () => {
  const model = net();
  const g = analyseChannels(model);
  const z = channelZeros(g, maskedZeroReader(() => true));
  for (const name of ['stem', 'expand', 'dw', 'project', 'sum', 'cat', 'flat']) {
    assert.ok(z[tensorOf(g, name)].every(v => v === 1), `${name} is all zero`);
  }
  assert.ok(z[tensorOf(g, 'logits')].every(v => v === 1));
  const none = channelZeros(g, maskedZeroReader(() => false));
  assert.ok(none.every(t => t.every(v => v === 0)));
  model.dispose();
});

zeros('from values: a BatchNormalization keeps a zero input channel zero only with beta = 0 and mean (or gamma) = 0', async () => {
  await useBackend('cpu');
  const model = tfl.sequential({layers: [L.dense({inputShape: [2], units: 4, name: 'd'}), L.batchNormalization({name: 'bn'}),
    L.dense({units: 1, name: 'o'})]});
  model.getLayer('d').setWeights([tf.tensor2d([[0, 1, 0, 0], [0, 1, 0, 0]]), tf.zeros([4])]);
  // channel 0: beta 0, mean 0 -> zero; 1: input nonzero; 2: beta 0.5 -> nonzero; 3: mean 1, gamma 0, beta 0 -> zero.
  model.getLayer('bn').setWeights([tf.tensor1d([1, 1, 1, 0]), tf.tensor1d([0, 0, 0.5, 0]), tf.tensor1d([0, 0, 0, 1]),
    tf.ones([4])]);
  const g = analyseChannels(model);
  const values = new Map(model.layers.flatMap(l => l.weights.map(w => [w, w.read().dataSync()] as const)));
  const z = channelZeros(g, valueZeroReader(values));
  assert.equal([...z[tensorOf(g, 'd')]], [1, 0, 1, 1]);
  assert.equal([...z[tensorOf(g, 'bn')]], [1, 0, 0, 1]);
  model.dispose();
});

helpers.run();
ties.run();
zeros.run();
