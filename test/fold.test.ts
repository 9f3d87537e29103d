import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {foldForInference} from '../src/index';
import {modelGraph} from '../src/model/graph';
import {normal, relativeError, rng, useBackend} from './helpers';

type Sym = tfl.SymbolicTensor;

/** Random weights everywhere, BatchNorm variances positive. */
function randomize(model: tfl.LayersModel, seed: number): void {
  const r = rng(seed);
  let s = seed;
  for (const layer of model.layers) {
    const values = layer.getWeights().map(w => {
      const v = normal(w.size, ++s, 0.5);
      if (layer.getClassName() === 'BatchNormalization') for (let i = 0; i < v.length; i++) v[i] = 0.25 + r();
      return tf.tensor(v, w.shape);
    });
    if (values.length) {
      layer.setWeights(values);
      tf.dispose(values);
    }
  }
}

const fold = suite('foldForInference');

fold('folds BatchNorm (center/scale on and off) and ReLU / ReLU6 / Activation into Conv2D and DepthwiseConv2D, drops Dropout, exactly', async () => {
  await useBackend('wasm');
  const input = tfl.input({shape: [7, 7, 3]});
  const ap = (l: tfl.layers.Layer, x: Sym) => l.apply(x) as Sym;
  let x = ap(tfl.layers.conv2d({filters: 6, kernelSize: 3, padding: 'same', useBias: true, name: 'c1'}), input);
  x = ap(tfl.layers.batchNormalization({name: 'bn1'}), x);
  x = ap(tfl.layers.reLU({maxValue: 6, name: 'r1'}), x);
  x = ap(tfl.layers.depthwiseConv2d({kernelSize: 3, depthMultiplier: 2, useBias: false, name: 'd1'}), x);
  x = ap(tfl.layers.batchNormalization({center: false, scale: false, name: 'bn2'}), x);
  x = ap(tfl.layers.activation({activation: 'relu', name: 'a2'}), x);
  x = ap(tfl.layers.dropout({rate: 0.5, name: 'drop'}), x);
  x = ap(tfl.layers.conv2d({filters: 4, kernelSize: 1, useBias: false, name: 'c2'}), x);
  x = ap(tfl.layers.reLU({name: 'r2'}), x);
  const model = tfl.model({inputs: input, outputs: x});
  randomize(model, 1);
  const before = tf.memory().numTensors;
  const {model: folded, folded: list} = foldForInference(model);
  // tfjs-layers runs a relu6 activation unfused (minimum(6, relu(x))): the ReLU6 comes back as a clip.
  assert.equal(list.map(f => [f.name, f.into]), [['bn1', 'c1'], ['bn2', 'd1'], ['a2', 'd1'], ['r2', 'c2'], ['drop', null]]);
  assert.equal(folded.layers.map(l => l.getClassName()), ['InputLayer', 'Conv2D', 'ReLU', 'DepthwiseConv2D', 'Conv2D']);
  assert.equal(folded.layers.map(l => l.name).slice(1, 3), ['c1', 'r1']);
  assert.equal(folded.layers[2].getConfig().maxValue, 6);
  assert.equal(folded.layers.slice(1).map(l => l.getConfig().activation), ['relu', undefined, 'relu', 'relu']);
  const xv = tf.tensor4d(normal(2 * 7 * 7 * 3, 2), [2, 7, 7, 3]);
  const want = model.predict(xv) as tf.Tensor, got = folded.predict(xv) as tf.Tensor;
  assert.ok(relativeError(got, want) < 1e-5, `relative error ${relativeError(got, want)}`);
  tf.dispose([xv, want, got]);
  folded.dispose();
  assert.is(tf.memory().numTensors, before, 'the folded model, once disposed, leaves no tensors');
  model.dispose();
});

fold('leaves what it cannot fold: a BatchNorm on another axis, one whose conv feeds two layers, a leaky ReLU, a model output', async () => {
  await useBackend('wasm');
  const input = tfl.input({shape: [5, 5, 2]});
  const ap = (l: tfl.layers.Layer, x: Sym|Sym[]) => l.apply(x) as Sym;
  const c1 = ap(tfl.layers.conv2d({filters: 3, kernelSize: 1, name: 'c1'}), input);
  const b1 = ap(tfl.layers.batchNormalization({axis: 1, name: 'bn_axis1'}), c1);
  const c2 = ap(tfl.layers.conv2d({filters: 3, kernelSize: 1, name: 'c2'}), b1);
  const b2 = ap(tfl.layers.batchNormalization({name: 'bn_shared'}), c2);
  const side = ap(tfl.layers.activation({activation: 'tanh', name: 'side'}), c2);
  const c3 = ap(tfl.layers.conv2d({filters: 3, kernelSize: 1, name: 'c3'}), ap(tfl.layers.add(), [b2, side]));
  const r3 = ap(tfl.layers.reLU({maxValue: 4, name: 'relu4'}), c3);
  const model = tfl.model({inputs: input, outputs: r3});
  randomize(model, 3);
  const {model: same, folded, reason} = foldForInference(model);
  assert.is(same, model, 'nothing to fold returns the model itself');
  assert.equal(folded, []);
  assert.is(reason, 'nothing to fold');
  model.dispose();
});

fold('a model whose graph cannot be rewritten comes back unchanged, with the reason', async () => {
  await useBackend('wasm');
  const shared = tfl.layers.dense({units: 3, name: 'shared'});
  const input = tfl.input({shape: [3]});
  const out = shared.apply(shared.apply(input)) as Sym;
  const model = tfl.model({inputs: input, outputs: out});
  const {model: same, reason} = foldForInference(model);
  assert.is(same, model);
  assert.match(reason ?? '', /layer 'shared' is called 2 times/);
  assert.match(modelGraph(model) as string, /called 2 times/);
  model.dispose();
});

fold('folds a ZeroPadding2D that pads as \'same\' would into the convolution after it, and only that one', async () => {
  await useBackend('wasm');
  const ap = (l: tfl.layers.Layer, x: Sym|Sym[]) => l.apply(x) as Sym;
  const pad = (p: [[number, number], [number, number]], name: string, x: Sym) => ap(tfl.layers.zeroPadding2d({padding: p, name}), x);
  const input = tfl.input({shape: [16, 15, 2]});
  // 16x15, 3x3 stride 2: 'same' pads (0, 1) along 16 and (1, 1) along 15.
  let x = ap(tfl.layers.conv2d({filters: 4, kernelSize: 3, strides: 2, name: 'c1'}), pad([[0, 1], [1, 1]], 'p1', input));
  // 8x8, stride 2: 'same' would pad (0, 1), not (1, 1).
  x = ap(tfl.layers.depthwiseConv2d({kernelSize: 3, strides: 2, name: 'd1'}), pad([[1, 1], [1, 1]], 'p2', x));
  // 4x4, stride 1, 3x3: 'same' pads (1, 1), but the padded tensor also feeds the Add.
  const p3 = pad([[1, 1], [1, 1]], 'p3', x);
  const c2 = ap(tfl.layers.conv2d({filters: 4, kernelSize: 3, name: 'c2', activation: 'relu'}), p3);
  const c3 = ap(tfl.layers.conv2d({filters: 4, kernelSize: 3, padding: 'same', name: 'c3'}), p3);
  x = ap(tfl.layers.add(), [ap(tfl.layers.zeroPadding2d({padding: 1}), c2), c3]);
  // 6x6, a 1x1 'valid' convolution after a pad of nothing: 'same' pads nothing either.
  x = ap(tfl.layers.conv2d({filters: 2, kernelSize: 1, name: 'c4'}), pad([[0, 0], [0, 0]], 'p4', x));
  const model = tfl.model({inputs: input, outputs: x});
  randomize(model, 5);
  const before = tf.memory().numTensors;
  const {model: folded, folded: list} = foldForInference(model);
  assert.equal(list.map(f => [f.name, f.className, f.into]), [['p1', 'ZeroPadding2D', 'c1'], ['p4', 'ZeroPadding2D', 'c4']]);
  assert.equal(['c1', 'd1', 'c2', 'c4'].map(n => folded.getLayer(n).getConfig().padding), ['same', 'valid', 'valid', 'same']);
  assert.is(folded.getLayer('c2').getConfig().activation, 'relu', 'a pad-only fold keeps the activation');
  const xv = tf.tensor4d(normal(2 * 16 * 15 * 2, 6), [2, 16, 15, 2]);
  const want = model.predict(xv) as tf.Tensor, got = folded.predict(xv) as tf.Tensor;
  assert.equal(got.shape, want.shape);
  assert.ok(relativeError(got, want) < 1e-6, `relative error ${relativeError(got, want)}`);
  tf.dispose([xv, want, got]);
  folded.dispose();
  assert.is(tf.memory().numTensors, before);
  // Spatial sizes unknown: the padding 'same' would give is unknown, nothing folds.
  const free = tfl.input({shape: [null, null, 2]});
  const open = tfl.model({inputs: free, outputs: ap(tfl.layers.conv2d({filters: 2, kernelSize: 3, strides: 2}), pad([[0, 1], [0, 1]], 'p5', free))});
  assert.is(foldForInference(open).reason, 'nothing to fold');
  open.dispose();
  model.dispose();
});

fold('a relu6 activation that tfjs would run unfused becomes a ReLU layer: Dense, DepthwiseConv2D, Activation', async () => {
  await useBackend('wasm');
  const ap = (l: tfl.layers.Layer, x: Sym) => l.apply(x) as Sym;
  const input = tfl.input({shape: [6, 6, 3]});
  let x = ap(tfl.layers.depthwiseConv2d({kernelSize: 3, name: 'd1'}), input);
  x = ap(tfl.layers.batchNormalization({name: 'bn1'}), x);
  x = ap(tfl.layers.activation({activation: 'relu6', name: 'a1'}), x);
  x = ap(tfl.layers.flatten({}), x);
  x = ap(tfl.layers.dense({units: 7, activation: 'relu6', name: 'dense'}), x);
  x = ap(tfl.layers.activation({activation: 'relu6', name: 'a2'}), x);
  const model = tfl.model({inputs: input, outputs: x});
  randomize(model, 8);
  const before = tf.memory().numTensors;
  const {model: folded, folded: list} = foldForInference(model);
  assert.equal(list.map(f => f.name), ['bn1'], 'a1 comes back as a ReLU layer, so it is not listed as folded');
  assert.equal(folded.layers.map(l => [l.name, l.getClassName(), l.getConfig().activation ?? l.getConfig().maxValue]), [
    [model.layers[0].name, 'InputLayer', undefined], ['d1', 'DepthwiseConv2D', 'linear'], ['a1', 'ReLU', 6],
    [model.layers[4].name, 'Flatten', undefined], ['dense', 'Dense', 'relu'], ['dense_relu6', 'ReLU', 6], ['a2', 'ReLU', 6]]);
  // Values past 6 and below 0 both occur, so both sides of the clip are checked.
  const xv = tf.tensor4d(normal(3 * 6 * 6 * 3, 9).map(v => v * 8), [3, 6, 6, 3]);
  const want = model.predict(xv) as tf.Tensor, got = folded.predict(xv) as tf.Tensor;
  const w = want.dataSync();
  assert.ok(w.some(v => v === 6) && w.some(v => v === 0) && w.some(v => v > 0 && v < 6), 'the clip is exercised');
  assert.ok(relativeError(got, want) < 1e-5, `relative error ${relativeError(got, want)}`);
  tf.dispose([xv, want, got]);
  folded.dispose();
  assert.is(tf.memory().numTensors, before);
  model.dispose();
});

fold.run();
