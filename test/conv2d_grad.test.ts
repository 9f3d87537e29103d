import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import '../src/index';
import {normal, useBackend} from './helpers';

const grad = suite('Conv2DBackpropFilter on wasm');

interface Case {
  name: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: number|[number, number];
  pad: 'valid'|'same'|number;
}

const CASES: Case[] = [
  {name: 'mnist_first_layer', x: [4, 28, 28, 1], filter: [3, 3, 1, 12], strides: 1, pad: 'valid'},
  {name: 'same_padding', x: [2, 9, 7, 3], filter: [3, 3, 3, 5], strides: 1, pad: 'same'},
  {name: 'stride_2', x: [3, 11, 10, 2], filter: [3, 2, 2, 6], strides: [2, 2], pad: 'valid'},
  {name: 'stride_2_same', x: [1, 8, 8, 4], filter: [5, 5, 4, 7], strides: 2, pad: 'same'},
  {name: 'pointwise', x: [2, 5, 5, 8], filter: [1, 1, 8, 16], strides: 1, pad: 'valid'},
  {name: 'explicit_pad', x: [2, 6, 6, 3], filter: [3, 3, 3, 4], strides: 1, pad: 1},
  {name: 'out_channels_tail', x: [2, 6, 5, 3], filter: [2, 3, 3, 9], strides: [1, 2], pad: 'same'},
];

/** dL/dfilter of sum(conv2d(x, f) * r) for a fixed random r, on the active backend. */
function filterGrad(c: Case, seed: number): Float32Array {
  const g = tf.tidy(() => {
    const x = tf.tensor4d(normal(c.x.reduce((a, b) => a * b), seed), c.x);
    const f = tf.tensor4d(normal(c.filter.reduce((a, b) => a * b), seed + 1), c.filter);
    const y = tf.conv2d(x, f, c.strides, c.pad);
    const r = tf.tensor(normal(y.size, seed + 2), y.shape);
    const g = tf.grad((filter: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(x, filter as tf.Tensor4D, c.strides, c.pad), r)))(f);
    return g;
  });
  const values = g.dataSync() as Float32Array;
  g.dispose();
  return values;
}

grad('tf.grad of conv2d works on wasm and equals the cpu backend', async () => {
  for (const [i, c] of CASES.entries()) {
    await useBackend('cpu');
    const want = filterGrad(c, 100 + i);
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    const got = filterGrad(c, 100 + i);
    assert.is(tf.memory().numTensors, before, `${c.name}: leaked tensors`);
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    for (let j = 0; j < want.length; j++) {
      if (!(Math.abs(got[j] - want[j]) <= 1e-5 * scale)) {
        assert.unreachable(`${c.name}: index ${j}: got ${got[j]}, expected ${want[j]} (scale ${scale})`);
      }
    }
  }
});

grad('a Conv2D model trains with fit on wasm', async () => {
  await useBackend('wasm');
  const tfl = await import('@tensorflow/tfjs-layers');
  const model = tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu'}),
    tfl.layers.flatten(),
    tfl.layers.dense({units: 2}),
  ]});
  model.compile({optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError'});
  const xs = tf.tensor4d(normal(16 * 64, 5), [16, 8, 8, 1]);
  const ys = tf.tensor2d(normal(32, 6), [16, 2]);
  const history = await model.fit(xs, ys, {epochs: 5, batchSize: 8, verbose: 0});
  const losses = history.history.loss as number[];
  assert.ok(losses[4] < losses[0], `loss should fall: ${losses}`);
  tf.dispose([xs, ys]);
  model.dispose();
});

grad('NCHW is refused with a clear error', async () => {
  await useBackend('wasm');
  const x = tf.zeros([1, 1, 4, 4]);
  const dy = tf.zeros([1, 1, 2, 2]);
  assert.throws(() => tf.engine().runKernel('Conv2DBackpropFilter', {x, dy},
      {strides: 1, pad: 'valid', dataFormat: 'NCHW', filterShape: [3, 3, 1, 1]} as unknown as tf.NamedAttrMap),
      /supports dataFormat 'NHWC' only, but got 'NCHW'/);
  tf.dispose([x, dy]);
});

grad.run();
