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
  assert.equal(list.map(f => [f.name, f.into]), [['bn1', 'c1'], ['r1', 'c1'], ['bn2', 'd1'], ['a2', 'd1'], ['r2', 'c2'], ['drop', null]]);
  assert.equal(folded.layers.map(l => l.getClassName()), ['InputLayer', 'Conv2D', 'DepthwiseConv2D', 'Conv2D']);
  assert.equal(folded.layers.slice(1).map(l => l.getConfig().activation), ['relu6', 'relu', 'relu']);
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

fold.run();
