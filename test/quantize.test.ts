import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {BlockSparseArrays, packBlockSparse, PixelSparseMatrix} from '../src/index';
import {packKept} from '../src/sparse/pack';
import {dequantize, INT8_LIMIT, INT8_MAX_K, quantizeInt8} from '../src/sparse/quantize';
import {decodeStored, encodeWeight, int8ToWords} from '../src/sparse/storage';
import {blockSparseWeight, normal, useBackend} from './helpers';

const fail = (entry: string) => new Error(`bad ${entry}`);

const rule = suite('quantizeInt8');

rule('scales are max|w| / 127 per output channel, q rounds w / scale into [-127, 127], zeros stay 0', () => {
  // [K, N] = [3, 4]: column 1 all zero, column 3 one entry.
  const w = Float32Array.from([0.5, 0, -1.27, 0, -0.25, 0, 0.635, 0, 1, 0, 0.1, 2.54]);
  const {q, scales} = quantizeInt8(w, [3, 4], fail);
  assert.equal(Array.from(scales), [1, 0, 1.27, 2.54].map(a => Math.fround(a / 127)));
  assert.equal(Array.from(q), [64, 0, -127, 0, -32, 0, 64, 0, 127, 0, 10, 127]);
  for (let i = 0; i < w.length; i++) {
    const s = scales[i % 4];
    assert.ok(Math.abs(q[i] * s - w[i]) <= s / 2 * (1 + 1e-6), `entry ${i}`);
    assert.ok(Math.abs(q[i]) <= INT8_LIMIT);
  }
});

rule('a NaN or ±Infinity is refused through the caller\'s error, naming the entry', () => {
  for (const bad of [NaN, Infinity, -Infinity]) {
    assert.throws(() => quantizeInt8(Float32Array.from([1, 2, 3, bad]), [2, 2], fail), new RegExp(`^bad w\\[1, 1\\] = ${bad}$`));
  }
});

rule('dequantize is q · scales[n]; float32 weights pass through', () => {
  const {q, scales} = quantizeInt8(Float32Array.from([1, -2, 3, 4]), [2, 2], fail);
  assert.equal(Array.from(dequantize({dtype: 'int8', values: q, scales})), Array.from(q, (v, i) => Math.fround(v * scales[i % 2])));
  const values = Float32Array.from([1, 2]);
  assert.is(dequantize({dtype: 'float32', values}), values);
});

rule('INT8_MAX_K keeps K products of 127·127 below 2^31', () => {
  assert.ok(INT8_MAX_K * 127 * 127 < 2 ** 31);
  assert.ok((INT8_MAX_K + 1) * 127 * 127 >= 2 ** 31);
});

rule.run();

// ---

const one = suite('one int8 rule');

/** Every typed array of packed arrays, for comparing two packings entry for entry. */
function fields(a: BlockSparseArrays): Record<string, number[]> {
  return {shape: a.shape, blockSize: a.blockSize, colPtr: Array.from(a.colPtr), rows: Array.from(a.rows),
    values: Array.from(a.values), scales: Array.from(a.scales ?? [])};
}

one('storage, the strip layout and the pixel layout quantize alike', async () => {
  await useBackend('cpu');
  const shape: [number, number] = [40, 24];
  const w = blockSparseWeight(...shape, [1, 4], 0.6, 7);
  const {q, scales} = quantizeInt8(w, shape, fail);
  const stored = encodeWeight(w, shape, [1, 4], 'int8');
  assert.equal(Array.from(stored.scales!), Array.from(scales));
  const dense = tf.tensor2d(w, shape);
  const packed = packBlockSparse(dense, {blockSize: [1, 8], dtype: 'int8'});
  dense.dispose();
  assert.equal(Array.from(packed.toArrays().scales!), Array.from(scales));
  packed.dispose();
  const pixel = PixelSparseMatrix.fromDense(w, shape, 'int8');
  assert.equal(Array.from(pixel.denseWeight().dataSync()), Array.from(q, (v, i) => Math.fround(v * scales[i % shape[1]])));
  pixel.dispose();
});

one('a stored int8 weight packs as it is stored: the same strips as quantizing its dequantized values again', async () => {
  // What SparseDense did before packing its stored int8 values directly: dequantize, then pack as
  // int8 (quantizing again). For every weight the library stores, both give the same arrays.
  await useBackend('cpu');
  const before = tf.memory().numTensors;
  const cases: Array<[[number, number], [number, number], number, number]> =
      [[[64, 48], [1, 16], 0.8, 1], [[33, 17], [2, 2], 0.5, 2], [[7, 5], [1, 1], 0.3, 3], [[130, 40], [4, 4], 0.9, 4]];
  for (const [shape, block, sparsity, seed] of cases) {
    const w = blockSparseWeight(...shape, block, sparsity, seed);
    const spread = normal(w.length, seed + 9);
    for (let i = 0; i < w.length; i += 13) w[i] *= 1 + 10 * spread[i] ** 2;  // uneven column scales
    const stored = encodeWeight(w, shape, block, 'int8');
    const kernel = decodeStored(stored, stored.positions, int8ToWords(stored.values as Int8Array), stored.scales);
    for (const bw of [16, 8, 4, 1].filter(b => b <= shape[1])) {
      const direct = packKept(kernel, shape, [1, bw]);
      const dense = tf.tensor2d(dequantize(kernel), shape);
      const again = packBlockSparse(dense, {blockSize: [1, bw], dtype: 'int8'});
      dense.dispose();
      assert.equal(fields(direct.toArrays()), fields(again.toArrays()), `${shape} ${block} s=${sparsity} bw=${bw}`);
      direct.dispose();
      again.dispose();
    }
  }
  assert.is(tf.memory().numTensors, before);
});

one.run();
