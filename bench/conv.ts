// k×k SparseConv2D (patches times the block-sparse kernel, from toSparse) against the Conv2D layer it
// replaces (tfjs-wasm's conv2d: XNNPACK), same process, reported as ratios.
//
//   node --import tsx bench/conv.ts
//   SHAPES='[[1,28,28,16,32,3]]' node --import tsx bench/conv.ts   chosen [B, H, W, C, F, k] only
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {SparseConv2D, toSparse} from '../src/index';
import {mulberry32} from '../src/util/random';
import {CaseResult, markdownTable, timeAlternating, useWasm} from './util';

/** [batch, height, width, in channels, filters, kernel size]. */
type ConvShape = [number, number, number, number, number, number];
const SHAPES: ConvShape[] = (process.env.SHAPES ? JSON.parse(process.env.SHAPES) : [[1, 16, 16, 64, 64, 3], [8, 16, 16, 64, 64, 3],
  [1, 32, 32, 32, 64, 3], [1, 8, 8, 128, 128, 3], [1, 28, 28, 16, 32, 3], [32, 28, 28, 16, 32, 3]]) as ConvShape[];
const SPARSITIES = [0.5, 0.8, 0.9];

/** The kernel [k, k, C, F] with 1x16 blocks (along the filters) kept uniformly at 1 - sparsity. */
function blockSparseKernel([, , , C, F, k]: ConvShape, sparsity: number, seed: number): tf.Tensor4D {
  const r = mulberry32(seed);
  const w = new Float32Array(k * k * C * F);
  for (let row = 0; row < k * k * C; row++) {
    for (let cb = 0; cb < F / 16; cb++) {
      if (r() < sparsity) continue;
      for (let j = 0; j < 16; j++) w[row * F + cb * 16 + j] = 0.1 * (r() - 0.5);
    }
  }
  return tf.tensor4d(w, [k, k, C, F]);
}

await useWasm();
const results: CaseResult[] = [];
for (const shape of SHAPES) {
  const [B, H, W, C, F, k] = shape;
  for (const sparsity of SPARSITIES) {
    for (const dtype of ['float32', 'int8'] as const) {
      const model = tfl.sequential({layers: [tfl.layers.conv2d({inputShape: [H, W, C], filters: F, kernelSize: k,
        padding: 'same', activation: 'relu'})]});
      const kernel = blockSparseKernel(shape, sparsity, 7);
      model.layers[0].setWeights([kernel, model.layers[0].getWeights()[1]]);
      kernel.dispose();
      const {model: sparse} = await toSparse(model, {dtype, blockSize: [1, 16]});
      const x = tf.randomNormal([B, H, W, C]);
      // The path the layer takes: the conv2d fallback decodes a dense kernel, the patch path never.
      (sparse.predict(x) as tf.Tensor).dispose();
      const path = (sparse.layers[0] as SparseConv2D).packedKernel().hasDenseWeight ? 'tf.conv2d' : 'patches';
      results.push(timeAlternating(`${B}x${H}x${W}x${C} -> ${F}, ${k}x${k} same, ${dtype} 1x16 s=${sparsity} (${path})`,
          () => (model.predict(x) as tf.Tensor).dispose(), () => (sparse.predict(x) as tf.Tensor).dispose(), {rounds: 15}));
      tf.dispose(x);
      model.dispose();
      sparse.dispose();
    }
  }
}
console.log('\n' + markdownTable(results, 'Conv2D'));
