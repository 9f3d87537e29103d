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

interface Data {
  x: Float32Array;
  filter: Float32Array;
  /** The weights of sum(conv2d(x, filter) * r): dL/dy. */
  r: Float32Array;
  outShape: [number, number, number, number];
}

/** Output size and top/left padding of one spatial axis, by TensorFlow's rules. */
function axis(size: number, k: number, stride: number, pad: Case['pad']): {out: number; before: number} {
  if (typeof pad === 'number') return {out: Math.floor((size + 2 * pad - k) / stride) + 1, before: pad};
  if (pad === 'valid') return {out: Math.ceil((size - k + 1) / stride), before: 0};
  const out = Math.ceil(size / stride);
  return {out, before: Math.floor(Math.max((out - 1) * stride + k - size, 0) / 2)};
}

function data(c: Case, seed: number): Data {
  const [sh, sw] = typeof c.strides === 'number' ? [c.strides, c.strides] : c.strides;
  const [b, h, w] = c.x, [kh, kw, , co] = c.filter;
  const outShape: Data['outShape'] = [b, axis(h, kh, sh, c.pad).out, axis(w, kw, sw, c.pad).out, co];
  return {x: normal(c.x.reduce((a, v) => a * v), seed), filter: normal(c.filter.reduce((a, v) => a * v), seed + 1),
          r: normal(outShape.reduce((a, v) => a * v), seed + 2), outShape};
}

/** dL/dfilter of sum(conv2d(x, f) * r) in plain loops and float64: sum over b, oh, ow of x[b, ih, iw, ci] r[b, oh, ow, co]. */
function referenceFilterGrad(c: Case, {x, r, outShape}: Data): Float64Array {
  const [sh, sw] = typeof c.strides === 'number' ? [c.strides, c.strides] : c.strides;
  const [B, H, W, CI] = c.x, [KH, KW, , CO] = c.filter, [, OH, OW] = outShape;
  const top = axis(H, KH, sh, c.pad).before, left = axis(W, KW, sw, c.pad).before;
  const g = new Float64Array(KH * KW * CI * CO);
  for (let b = 0; b < B; b++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * sh + kh - top, iw = ow * sw + kw - left;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      for (let ci = 0; ci < CI; ci++) {
        const xv = x[((b * H + ih) * W + iw) * CI + ci];
        for (let co = 0; co < CO; co++) g[((kh * KW + kw) * CI + ci) * CO + co] += xv * r[((b * OH + oh) * OW + ow) * CO + co];
      }
    }
  }
  return g;
}

/** dL/dfilter of sum(conv2d(x, f) * r), by tf.grad on the active backend. */
function filterGrad(c: Case, {x, filter, r, outShape}: Data): Float32Array {
  const g = tf.tidy(() => {
    const xt = tf.tensor4d(x, c.x);
    const rt = tf.tensor4d(r, outShape);
    return tf.grad((f: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(xt, f as tf.Tensor4D, c.strides, c.pad), rt)))(tf.tensor4d(filter, c.filter));
  });
  const values = g.dataSync() as Float32Array;
  g.dispose();
  return values;
}

/** Asserts `got` within 1e-5 of the largest |want| entry-wise. */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.is(got.length, want.length, what);
  let scale = 0;
  for (let j = 0; j < want.length; j++) scale = Math.max(scale, Math.abs(want[j]));
  for (let j = 0; j < want.length; j++) {
    if (!(Math.abs(got[j] - want[j]) <= 1e-5 * scale)) {
      assert.unreachable(`${what}: index ${j}: got ${got[j]}, expected ${want[j]} (scale ${scale})`);
    }
  }
}

grad('tf.grad of conv2d on wasm equals plain loops and the cpu backend', async () => {
  for (const [i, c] of CASES.entries()) {
    const d = data(c, 100 + i);
    const want = referenceFilterGrad(c, d);
    await useBackend('cpu');
    assertClose(filterGrad(c, d), want, `${c.name} on cpu`);
    await useBackend('wasm');
    const before = tf.memory().numTensors;
    assertClose(filterGrad(c, d), want, `${c.name} on wasm`);
    assert.is(tf.memory().numTensors, before, `${c.name}: leaked tensors`);
  }
});

grad('fit of a Conv2D model on wasm takes the steps the cpu backend takes (same weights after 2 epochs of SGD)', async () => {
  const tfl = await import('@tensorflow/tfjs-layers');
  const xs = normal(16 * 64, 5), ys = normal(32, 6);
  const trained: Float32Array[][] = [];
  for (const backend of ['cpu', 'wasm'] as const) {
    await useBackend(backend);
    const model = tfl.sequential({layers: [
      tfl.layers.conv2d({inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', strides: 2, padding: 'same'}),
      tfl.layers.flatten(),
      tfl.layers.dense({units: 2}),
    ]});
    const initial = model.getWeights().map((w, i) => tf.tensor(normal(w.size, 20 + i, 0.3), w.shape));
    model.setWeights(initial);
    tf.dispose(initial);
    model.compile({optimizer: tf.train.sgd(0.05), loss: 'meanSquaredError'});
    const [x, y] = [tf.tensor4d(xs, [16, 8, 8, 1]), tf.tensor2d(ys, [16, 2])];
    await model.fit(x, y, {epochs: 2, batchSize: 8, shuffle: false, verbose: 0});
    trained.push(model.getWeights().map(w => w.dataSync() as Float32Array));
    tf.dispose([x, y]);
    model.dispose();
  }
  const [cpu, wasm] = trained;
  cpu.forEach((w, i) => assertClose(wasm[i], w, `weight ${i}`));
  // The steps moved the weights: an equality of untrained weights would prove nothing.
  const initialKernel = normal(cpu[0].length, 20, 0.3);
  assert.ok(cpu[0].some((v, j) => Math.abs(v - initialKernel[j]) > 1e-3), 'the conv kernel was trained');
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
