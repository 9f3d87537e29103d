import * as tf from '@tensorflow/tfjs-core';
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {extractPatches, PatchPadding} from '../src/index';
import {convOutputLength} from '../src/ops/patches';
import {BACKENDS, assertBitsEqual, noLeak, normal, rng, useBackend} from './helpers';

const patches = suite('extractPatches');

/** Plain loops: patch (oy, ox) of image n holds x[n, oy·sh + i - top, ox·sw + j - left, c] or 0 outside. */
function reference(x: Float32Array, [b, h, w, c]: number[], [kh, kw]: number[], [sh, sw]: number[],
                   padding: PatchPadding): {values: Float32Array; shape: number[]} {
  const rows = convOutputLength(h, kh, sh, padding), cols = convOutputLength(w, kw, sw, padding);
  const out = new Float32Array(b * rows.length * cols.length * kh * kw * c);
  let o = 0;
  for (let n = 0; n < b; n++) {
    for (let oy = 0; oy < rows.length; oy++) {
      for (let ox = 0; ox < cols.length; ox++) {
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const y = oy * sh + i - rows.before, xx = ox * sw + j - cols.before;
            for (let ch = 0; ch < c; ch++) {
              out[o++] = y >= 0 && y < h && xx >= 0 && xx < w ? x[((n * h + y) * w + xx) * c + ch] : 0;
            }
          }
        }
      }
    }
  }
  return {values: out, shape: [b, rows.length, cols.length, kh * kw * c]};
}

for (const backend of BACKENDS) {
  patches(`extractPatches equals a plain loop over 300 random shapes on ${backend}`, async () => {
    await useBackend(backend);
    const r = rng(11);
    const pick = <T>(v: T[]) => v[Math.floor(r() * v.length)];
    for (let t = 0; t < 300; t++) {
      const shape = [pick([1, 2, 3]), pick([1, 2, 3, 5, 8, 9]), pick([1, 2, 4, 7, 10]), pick([1, 2, 3, 5])];
      const kernel = [pick([1, 2, 3, 5]), pick([1, 2, 3, 4])];
      const strides = [pick([1, 1, 2, 3]), pick([1, 2, 3])];
      const padding = pick<PatchPadding>(['valid', 'same']);
      const xv = normal(shape.reduce((a, b) => a * b, 1), t);
      const x = tf.tensor4d(xv, shape as [number, number, number, number]);
      const what = `x [${shape}] kernel ${kernel} strides ${strides} ${padding}`;
      if (padding === 'valid' && (kernel[0] > shape[1] || kernel[1] > shape[2])) {
        assert.throws(() => extractPatches(x, {kernelSize: kernel as [number, number], strides: strides as [number, number], padding}),
            /extractPatches: a \d+x\d+ kernel does not fit a \d+x\d+ input with 'valid' padding/, what);
      } else {
        const got = noLeak(() => extractPatches(x, {kernelSize: kernel as [number, number], strides: strides as [number, number], padding}), what);
        const want = reference(xv, shape, kernel, strides, padding);
        assert.equal(got.shape, want.shape, what);
        assertBitsEqual(got.dataSync() as Float32Array, want.values, what);
        got.dispose();
      }
      x.dispose();
    }
  });
}

patches('convOutputLength gives tf.conv2d output sizes', async () => {
  await useBackend('cpu');
  for (const size of [1, 2, 5, 8, 13]) {
    for (const k of [1, 2, 3, 5]) {
      for (const s of [1, 2, 3]) {
        for (const padding of ['valid', 'same'] as const) {
          if (padding === 'valid' && k > size) {
            assert.is(convOutputLength(size, k, s, padding).length, 0);
            continue;
          }
          const y = tf.conv2d(tf.zeros([1, size, size, 1]) as tf.Tensor4D, tf.zeros([k, k, 1, 1]) as tf.Tensor4D, s, padding);
          assert.is(convOutputLength(size, k, s, padding).length, y.shape[1], `size ${size} k ${k} s ${s} ${padding}`);
          tf.dispose(y);
        }
      }
    }
  }
});

patches('extractPatches refuses bad arguments, naming them', async () => {
  await useBackend('cpu');
  const x = tf.zeros([1, 4, 4, 2]) as tf.Tensor4D, flat = tf.zeros([4, 4]), ints = tf.zeros([1, 2, 2, 1], 'int32') as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const made: tf.Tensor[] = [];
  const empty = (shape: number[]) => {
    made.push(tf.zeros(shape));
    return made[made.length - 1] as tf.Tensor4D;
  };
  assert.throws(() => extractPatches(flat as unknown as tf.Tensor4D, {kernelSize: [2, 2]}),
      /'x' passed to 'extractPatches' must be a rank-4 channels-last tensor \[B, H, W, C\], but got shape \[4,4\]/);
  assert.throws(() => extractPatches(x, {kernelSize: [0, 2]}), /'kernelSize' passed to 'extractPatches' must be a pair of positive integers \[height, width\], but got \[0,2\]/);
  assert.throws(() => extractPatches(x, {kernelSize: [2, 2], strides: [1.5, 1]}), /'strides' passed to 'extractPatches' must be a pair of positive integers/);
  assert.throws(() => extractPatches(x, {kernelSize: [2, 2], padding: 'causal' as 'same'}), /'padding' passed to 'extractPatches' must be one of 'valid', 'same', but got 'causal'/);
  assert.throws(() => extractPatches(x, undefined as unknown as {kernelSize: [number, number]}), /'options' passed to 'extractPatches' must be/);
  assert.throws(() => extractPatches(x, {kernelSize: [9000, 9000], padding: 'same'}),
      /extractPatches: the 9000x9000 patches of a \[1,4,4,2\] input would hold 2592000000 values, more than the 536870912/);
  assert.throws(() => extractPatches(ints, {kernelSize: [1, 1]}),
      /'x' passed to 'extractPatches' must be a float32 tensor, but got a int32 tensor/);
  assert.throws(() => extractPatches(x, null as never), /extractPatches options must be an object \{kernelSize, strides, padding\}, but got null/);
  assert.throws(() => extractPatches(x, {kernelSize: [2, 2], stride: [2, 2]} as never), /extractPatches got an unknown option 'stride'/);
  // An empty image has no patches under either padding; the message says so, not "'valid' padding".
  for (const padding of ['same', 'valid'] as const) {
    for (const shape of [[1, 0, 4, 2], [1, 4, 0, 2]]) {
      assert.throws(() => extractPatches(empty(shape), {kernelSize: [1, 1], padding}),
          new RegExp(`'x' passed to 'extractPatches' must have a nonzero height and width, but got shape \\[${shape}\\]`));
    }
  }
  assert.throws(() => extractPatches(x, {kernelSize: [5, 1], padding: 'valid'}),
      /extractPatches: a 5x1 kernel does not fit a 4x4 input with 'valid' padding/);
  assert.is(tf.memory().numTensors, before + 4, 'a refused call leaves no tensor');
  tf.dispose([x, flat, ints, ...made]);
});

patches.run();
