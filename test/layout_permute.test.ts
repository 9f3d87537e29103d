// changeLayout and LayoutPermute (src/sparse/layout_permute.ts): the layout changes around a
// channel-major run on our transpose kernel, against tf.transpose over many shapes and values on
// both backends; bad input; the layer's shapes, config and serialization.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {changeLayout, LayoutPermute, VALID_CHANNELS_POSITIONS} from '../src/index';
import {NO_GRADIENT_MESSAGE} from '../src/sparse/inference_only';
import {assertBitsEqual, BACKENDS, noLeak, useBackend, valueCases} from './helpers';

const op = suite('changeLayout');

for (const backend of BACKENDS) {
  op(`equals tf.transpose bit for bit, every value kind, shapes with and without multiples of 4, on ${backend}`, async () => {
    await useBackend(backend);
    let seed = 1;
    for (const [B, H, W, C] of [[1, 1, 1, 1], [1, 2, 3, 5], [2, 4, 4, 4], [1, 7, 1, 9], [3, 5, 6, 17], [1, 8, 8, 32],
      [1, 1, 13, 2], [2, 3, 3, 1], [1, 14, 14, 48]]) {
      for (const [kind, values] of valueCases(B * H * W * C, ++seed)) {
        const x = tf.tensor4d(values, [B, H, W, C]);
        const what = `${backend} [${B}, ${H}, ${W}, ${C}] ${kind}`;
        const first = noLeak(() => changeLayout(x, 'channelsFirst'), what);
        const want = tf.transpose(x, [0, 3, 1, 2]);
        assert.equal(first.shape, [B, C, H, W], what);
        assertBitsEqual(first.dataSync() as Float32Array, want.dataSync() as Float32Array, what);
        const back = noLeak(() => changeLayout(first as tf.Tensor4D, 'channelsLast'), what);
        assert.equal(back.shape, [B, H, W, C]);
        assertBitsEqual(back.dataSync() as Float32Array, values, `${what}, round trip`);
        tf.dispose([x, first, want, back]);
      }
    }
  });
}

op('bad input: a clear error naming the argument, nothing leaked', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const x3 = tf.zeros([2, 3, 4]);
  const xi = tf.zeros([1, 2, 2, 3], 'int32') as tf.Tensor4D;
  const x4 = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
  assert.throws(() => changeLayout(x3 as tf.Tensor4D, 'channelsFirst'), /Argument 'x' passed to 'changeLayout' must have rank 4, but got rank 3/);
  assert.throws(() => changeLayout(xi, 'channelsFirst'), /Argument 'x' passed to 'changeLayout' must be a float32 tensor, but got a int32 tensor/);
  assert.throws(() => changeLayout(x4, 'nchw' as never),
      new RegExp(`Argument 'to' passed to 'changeLayout' must be one of ${VALID_CHANNELS_POSITIONS.map(v => `'${v}'`).join(', ')}`));
  assert.throws(() => tf.grad((a: tf.Tensor) => changeLayout(a as tf.Tensor4D, 'channelsFirst'))(x4),
      (e: Error) => e.message === NO_GRADIENT_MESSAGE);
  tf.dispose([x3, xi, x4]);
  assert.is(tf.memory().numTensors, before);
});

op.run();

// ---

const layer = suite('LayoutPermute');

layer('is a Keras Permute with dims [3, 1, 2] or [2, 3, 1]: shapes, predictions, config; other dims are refused', async () => {
  await useBackend('wasm');
  assert.throws(() => new LayoutPermute({dims: [1, 3, 2]}), /LayoutPermute '.*': invalid config: dims must be \[3, 1, 2\] or \[2, 3, 1\], but got \[1,3,2\]/);
  assert.throws(() => new LayoutPermute({dims: undefined as never}), /dims must be/);
  const input = tfl.input({shape: [5, 6, 7]});
  const toFirst = new LayoutPermute({dims: [3, 1, 2], name: 'to_first'});
  const toLast = new LayoutPermute({dims: [2, 3, 1], name: 'to_last'});
  const mid = toFirst.apply(input) as tfl.SymbolicTensor;
  assert.equal(mid.shape, [null, 7, 5, 6]);
  const out = toLast.apply(mid) as tfl.SymbolicTensor;
  const model = tfl.model({inputs: input, outputs: [mid, out]});
  const before = tf.memory().numTensors;
  const x = tf.randomNormal([2, 5, 6, 7]);
  const [y, z] = model.predict(x) as tf.Tensor[];
  const want = tf.transpose(x, [0, 3, 1, 2]);
  assertBitsEqual(y.dataSync() as Float32Array, want.dataSync() as Float32Array, 'to channels first');
  assertBitsEqual(z.dataSync() as Float32Array, x.dataSync() as Float32Array, 'and back');
  tf.dispose([x, y, z, want]);
  assert.is(tf.memory().numTensors, before);
  assert.equal(toFirst.getConfig().dims, [3, 1, 2]);
  // Through JSON and back by class name, as a saved model is.
  const json = JSON.parse(JSON.stringify(model.toJSON(null, false)));
  const copy = await tfl.models.modelFromJSON({modelTopology: json});
  assert.equal(copy.layers.map(l => l.getClassName()), ['InputLayer', 'LayoutPermute', 'LayoutPermute']);
  assert.equal(copy.getLayer('to_last').getConfig().dims, [2, 3, 1]);
  copy.dispose();
  model.dispose();
});

layer.run();
