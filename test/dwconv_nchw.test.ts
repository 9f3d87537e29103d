import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {depthwiseConv2dChannelsFirst, DepthwisePadding, FusedActivation} from '../src/index';
import {kernelsOn} from '../src/kernels/module';
import * as ref from './reference';
import {assertBitsEqual, BACKENDS, normal, noLeak, useBackend} from './helpers';

const CLAMPS: Record<FusedActivation, [number, number]> = {linear: [-Infinity, Infinity], relu: [0, Infinity], relu6: [0, 6]};

/** Explicit [top, left] padding and output size of a 3x3 kernel, as Keras pads. */
function geometry(H: number, W: number, s: number, padding: DepthwisePadding): [number, number, number, number] {
  const pads = (size: number): [number, number] => {
    if (padding === 'valid') return [0, 0];
    const total = Math.max((Math.ceil(size / s) - 1) * s + 3 - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  };
  const [[t, b], [l, r]] = Array.isArray(padding) ? padding : [pads(H), pads(W)];
  return [t, l, Math.floor((H + t + b - 3) / s) + 1, Math.floor((W + l + r - 3) / s) + 1];
}

const op = suite('depthwiseConv2dChannelsFirst');

const PADDINGS: DepthwisePadding[] = ['same', 'valid', [[0, 1], [0, 1]], [[1, 1], [1, 1]], [[2, 0], [0, 2]]];

/**
 * [B, C, H, W] named for the edge they hit: widths around the 4-lane vectors and the stride-2 even/odd
 * split, heights from 1 row up, channel counts around the 4-channel path of narrow outputs (and its
 * remainder), batches.
 */
const DW_SHAPES: Array<[string, [number, number, number, number]]> = [
  ['c_eq_1_w_lt_4', [1, 1, 3, 3]], ['h_eq_1', [1, 2, 1, 5]], ['batch_2_w_eq_4', [2, 3, 5, 4]], ['c_eq_4_w_odd', [1, 4, 7, 7]],
  ['w_tail_1', [1, 3, 8, 9]], ['w_gt_16_odd', [1, 2, 13, 17]], ['w_gt_32', [1, 1, 4, 33]], ['batch_2_c_tail', [2, 6, 9, 11]],
  ['c_eq_8_w_eq_16', [1, 8, 16, 16]], ['c_eq_9_narrow', [1, 9, 5, 3]], ['large_odd', [1, 5, 34, 35]],
  ['batch_2_h_lt_4', [2, 4, 3, 14]],
];

for (const backend of BACKENDS) {
  op(`depthwiseConv2dChannelsFirst(x, filter) equals the reference over sizes, strides, paddings and activations on ${backend}`, async () => {
    await useBackend(backend);
    let seed = 1, cases = 0;
    for (const [name, [B, C, H, W]] of DW_SHAPES) {
      for (const s of [1, 2] as const) {
        for (const padding of PADDINGS) {
          const [top, left, OH, OW] = geometry(H, W, s, padding);
          if (OH < 1 || OW < 1) continue;
          for (const activation of ['linear', 'relu6'] as FusedActivation[]) {
            seed++;
            const xv = normal(B * C * H * W, seed, 4);
            const fv = normal(C * 9, seed + 1);
            const bias = seed % 2 ? normal(C, seed + 2) : undefined;
            const x = tf.tensor4d(xv, [B, C, H, W]);
            const f = tf.tensor4d(fv, [C, 1, 3, 3]);
            const y = noLeak(() => depthwiseConv2dChannelsFirst(x, f, {strides: s, padding, bias, activation}), 'depthwise');
            const what = `${backend} ${name} [${B},${C},${H},${W}] s=${s} ${JSON.stringify(padding)} ${activation}`;
            assert.equal(y.shape, [B, C, OH, OW], what);
            const want = ref.depthwise3x3ChannelMajor(xv, fv, B, C, H, W, s, top, left, OH, OW, bias, ...CLAMPS[activation]);
            const got = y.dataSync();
            for (let i = 0; i < want.length; i++) {
              if (!(Math.abs(got[i] - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])))) {
                assert.unreachable(`${what}: y[${i}] = ${got[i]}, expected ${want[i]}`);
              }
            }
            tf.dispose([x, f, y]);
            cases++;
          }
        }
      }
    }
    assert.ok(cases >= 100, `only ${cases} cases ran`);
  });
}

op('equals tf.depthwiseConv2d on transposed NHWC input (MobileNet shapes)', async () => {
  await useBackend('wasm');
  for (const [H, C, s, padding] of [[16, 8, 1, 'same'], [17, 4, 2, 'same'], [16, 6, 2, [[0, 1], [0, 1]]]] as const) {
    const x = tf.randomNormal([1, C, H, H]) as tf.Tensor4D;
    const f = tf.randomNormal([3, 3, C, 1]) as tf.Tensor4D;
    const got = depthwiseConv2dChannelsFirst(x, tf.transpose(f, [2, 3, 0, 1]), {strides: s, padding: padding as DepthwisePadding});
    const xn = tf.transpose(x, [0, 2, 3, 1]) as tf.Tensor4D;
    const padded = Array.isArray(padding) ? tf.pad(xn, [[0, 0], [0, 1], [0, 1], [0, 0]]) as tf.Tensor4D : xn;
    const want = tf.transpose(tf.depthwiseConv2d(padded, f, s, Array.isArray(padding) ? 'valid' : 'same'), [0, 3, 1, 2]);
    const err = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0];
    assert.ok(err < 1e-4, `H=${H} C=${C} s=${s}: max error ${err}`);
  }
});

op('the wasm and cpu backends give bit-identical results', async () => {
  const xv = normal(2 * 5 * 11 * 13, 3), fv = normal(45, 4), bias = normal(5, 5);
  const out: Float32Array[] = [];
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const strides of [1, 2] as const) {
      const x = tf.tensor4d(xv, [2, 5, 11, 13]), f = tf.tensor4d(fv, [5, 1, 3, 3]);
      const y = depthwiseConv2dChannelsFirst(x, f, {strides, padding: 'same', bias, activation: 'relu6'});
      out.push(y.dataSync() as Float32Array);
      tf.dispose([x, f, y]);
    }
  }
  assertBitsEqual(out[0], out[2], 'stride 1');
  assertBitsEqual(out[1], out[3], 'stride 2');
});

op('a channel range [c0, c1) of the raw kernel writes only its planes, in every image (the threading split)', async () => {
  await useBackend('wasm');
  const memory = new WebAssembly.Memory({initial: 16});
  const kern = kernelsOn(memory);
  const f = new Float32Array(memory.buffer);
  for (const [B, C, H, W, c0, c1] of [[2, 11, 7, 7, 2, 9], [1, 6, 20, 21, 1, 6]]) {
    const xv = normal(B * C * H * W, c0 + 1), fv = normal(C * 9, c0 + 2);
    const [OH, OW] = [H, W];  // stride 1, padding 1: 'same'
    const xp = 0, fp = 4 * xv.length, yp = fp + 4 * fv.length, scratch = (yp + 4 * B * C * OH * OW + 15) & ~15;
    f.set(xv, xp / 4);
    f.set(fv, fp / 4);
    f.fill(NaN, yp / 4, yp / 4 + B * C * OH * OW);
    kern.f32_dwconv2d_nchw_3x3s1__simd128(xp, B, C, c0, c1, H, W, OH, OW, 1, 1, fp, 0, -Infinity, Infinity, yp, scratch);
    const want = ref.depthwise3x3ChannelMajor(xv, fv, B, C, H, W, 1, 1, 1, OH, OW, undefined, -Infinity, Infinity);
    for (let i = 0; i < want.length; i++) {
      const c = Math.floor(i / (OH * OW)) % C, got = f[yp / 4 + i];
      if (c < c0 || c >= c1) assert.ok(Number.isNaN(got), `channel ${c} outside [${c0}, ${c1}) was written`);
      else assert.ok(Math.abs(got - want[i]) <= 1e-5 * Math.max(1, Math.abs(want[i])), `y[${i}] = ${got}, expected ${want[i]}`);
    }
  }
});

op('bad arguments throw errors naming them, and leak nothing', async () => {
  await useBackend('wasm');
  const [x, f, f2, rank3] = [tf.zeros([1, 2, 5, 5]), tf.zeros([2, 1, 3, 3]), tf.zeros([3, 3, 2, 1]), tf.zeros([2, 5, 5])];
  const before = tf.memory().numTensors;
  const call = (options: object, input: tf.Tensor = x, filter: tf.Tensor = f) =>
    () => depthwiseConv2dChannelsFirst(input as tf.Tensor4D, filter, options);
  assert.throws(call({strides: 3}), /'strides' .* must be 1 or 2, but got 3/);
  assert.throws(call({padding: 'full'}), /'padding' .* 'same', 'valid' or \[\[top, bottom\], \[left, right\]\]/);
  assert.throws(call({padding: [[3, 0], [0, 0]]}), /'padding'/);
  assert.throws(call({activation: 'tanh'}), /'activation' .* 'linear', 'relu', 'relu6'/);
  assert.throws(call({bias: [1, 2, 3]}), /'bias' .* must have shape \[2\]/);
  assert.throws(call({}, x, f2), /'filter' .* must have shape \[2, 1, 3, 3\]/);
  assert.throws(call({}, rank3), /'x' .* rank 4/);
  assert.throws(call({padding: 'valid'}, tf.zeros([1, 2, 2, 5])), /does not fit a 2x5 input/);
  assert.throws(() => tf.grad((t: tf.Tensor) => depthwiseConv2dChannelsFirst(t as tf.Tensor4D, f))(x), /inference-only/);
  assert.is(tf.memory().numTensors, before + 1, 'only the one zeros([1, 2, 2, 5]) argument made here remains');
  tf.dispose([x, f, f2, rank3]);
});

op.run();
