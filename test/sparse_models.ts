// Models and checks shared by the toSparse tests (to_sparse, sparse_save_load, sparse_layer_report).
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {extractPatches} from '../src/index';
import {SparseConv2D} from '../src/sparse/sparse_conv2d';
import {SparseDense} from '../src/sparse/sparse_dense';
import {blockSparseWeight, int8Bound, normal, relativeError} from './helpers';

/** A block shape [height, width]. */
export type Block = [number, number];

/** Zeros `sparsity` of the `block` blocks of every Dense and 1x1 Conv2D kernel of `model`. */
export function sparsify(model: tfl.LayersModel, block: Block, sparsity: number, seed = 1): void {
  const pointwise = (shape: number[]) => shape.length === 4 && shape[0] === 1 && shape[1] === 1;
  model.layers.filter(l => l.getClassName() === 'Dense' || (l.getClassName() === 'Conv2D' && pointwise(l.weights[0].shape as number[])))
      .forEach((layer, i) => {
    const shape = layer.weights[0].shape as number[];
    const [K, N] = shape.slice(-2);
    const w = blockSparseWeight(K, N, [Math.min(block[0], K), Math.min(block[1], N)], sparsity, seed + i);
    const kernel = tf.tensor(w, shape);
    layer.setWeights([kernel, ...layer.getWeights().slice(1)]);
    kernel.dispose();
  });
}

/** Dense(48, relu) -> Dense(24, tanh) -> Dense(5) on 20 features. */
export function sequentialMlp(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [20], units: 48, activation: 'relu', name: 'd1'}),
    tfl.layers.dense({units: 24, activation: 'tanh', name: 'd2'}),
    tfl.layers.dense({units: 5, name: 'd3'}),
  ]});
}

/** Two branches, a shared Dense used twice, a concatenation. */
export function functionalModel(): tfl.LayersModel {
  const input = tfl.input({shape: [16], name: 'in'});
  const shared = tfl.layers.dense({units: 16, activation: 'relu', name: 'shared'});
  const a = shared.apply(input) as tfl.SymbolicTensor;
  const b = tfl.layers.dense({units: 32, activation: 'relu', name: 'branch'}).apply(input) as tfl.SymbolicTensor;
  const a2 = shared.apply(a) as tfl.SymbolicTensor;
  const merged = tfl.layers.concatenate({name: 'cat'}).apply([a2, b]) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({units: 6, activation: 'softmax', name: 'out'}).apply(merged) as tfl.SymbolicTensor;
  return tfl.model({inputs: input, outputs: out});
}

/** Conv2D 3x3 -> Flatten -> Dense(40, relu) -> Dense(10) on 8x8x1 images. */
export function smallCnn(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [8, 8, 1], filters: 4, kernelSize: 3, activation: 'relu', name: 'conv'}),
    tfl.layers.flatten({name: 'flat'}),
    tfl.layers.dense({units: 40, activation: 'relu', name: 'hidden'}),
    tfl.layers.dense({units: 10, name: 'logits'}),
  ]});
}

/**
 * Disposes a model and its layers. tfjs counts every use of a layer, so a layer used twice in one
 * model (the functional model's 'shared') keeps its weights after `model.dispose()`: dispose it again.
 */
export function disposeModel(model: tfl.LayersModel): void {
  model.dispose();
  for (const layer of model.layers) {
    if (layer.inboundNodes.length > 1) layer.dispose();
  }
}

/** Pointwise (1x1) convolutions, one strided, then a Dense head. */
export function pointwiseCnn(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [6, 6, 8], filters: 16, kernelSize: 1, activation: 'relu', name: 'pw1'}),
    tfl.layers.conv2d({filters: 12, kernelSize: 1, strides: 2, padding: 'same', name: 'pw2'}),
    tfl.layers.flatten({name: 'flat'}),
    tfl.layers.dense({units: 5, name: 'head'}),
  ]});
}

/** A seeded N(0, 1) input batch for `model`. */
export function inputFor(model: tfl.LayersModel, batch: number, seed: number): tf.Tensor {
  const shape = [batch, ...(model.inputs[0].shape.slice(1) as number[])];
  return tf.tensor(normal(shape.reduce((a, b) => a * b, 1), seed), shape);
}

/** Relative error between the predictions of two models for `x`. */
export function predictBoth(a: tfl.LayersModel, b: tfl.LayersModel, x: tf.Tensor): number {
  const ya = a.predict(x) as tf.Tensor, yb = b.predict(x) as tf.Tensor;
  const e = relativeError(ya, yb);
  tf.dispose([ya, yb]);
  return e;
}

/**
 * Each int8 SparseDense of `sparse`, fed what its source layer receives in `source` for `x`, stays
 * within `int8Bound` of the source layer's output (row max norm).
 */
export function checkInt8Layers(source: tfl.LayersModel, sparse: tfl.LayersModel, x: tf.Tensor, what: string): void {
  for (const layer of sparse.layers) {
    if (!(layer instanceof SparseDense)) continue;
    const src = source.getLayer(layer.name);
    const inSym = src.getInputAt(0) as tfl.SymbolicTensor;
    const xin = inSym.sourceLayer.getClassName() === 'InputLayer' ? x :
        tfl.model({inputs: source.inputs, outputs: inSym}).predict(x) as tf.Tensor;
    const yq = layer.apply(xin) as tf.Tensor, yf = src.apply(xin) as tf.Tensor;
    const [K, N] = [layer.inputDim, layer.units];
    // A convolution multiplies its patches (a strided 1x1 one: the strided pixels).
    const xs = layer instanceof SparseConv2D ?
        extractPatches(xin as tf.Tensor4D, {kernelSize: layer.kernelSize, strides: layer.strides,
          padding: layer.kernelSize[0] * layer.kernelSize[1] === 1 ? 'same' : layer.padding}) : xin;
    const xv = xs.dataSync(), wv = src.weights[0].read().dataSync(), sv = layer.weights[2].read().dataSync();
    if (xs !== xin) xs.dispose();
    const q = yq.dataSync(), f = yf.dataSync();
    const rows = q.length / N;
    for (let m = 0; m < rows; m++) {
      let err = 0, bound = 0, mag = 0;
      for (let n = 0; n < N; n++) {
        err = Math.max(err, Math.abs(q[m * N + n] - f[m * N + n]));
        bound = Math.max(bound, int8Bound(xv, m, wv, [K, N], sv, n));
        mag = Math.max(mag, Math.abs(f[m * N + n]));
      }
      assert.ok(err <= bound + 1e-5 * mag + 1e-6, `${what}, layer ${layer.name}, row ${m}: error ${err} > bound ${bound}`);
    }
    tf.dispose(xin === x ? [yq, yf] : [xin, yq, yf]);
  }
}

/** The artifacts `model.save` hands its handler, kept in memory. */
export function memoryArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  return new Promise((resolve, reject) => {
    model.save(tf.io.withSaveHandler(async artifacts => {
      resolve(artifacts);
      return {modelArtifactsInfo: {dateSaved: new Date(), modelTopologyType: 'JSON'}};
    })).catch(reject);
  });
}

/** The model builders every conversion is tried on. */
export const MODELS: Array<[string, () => tfl.LayersModel]> = [
  ['sequential', sequentialMlp], ['functional', functionalModel], ['cnn', smallCnn], ['pointwise', pointwiseCnn],
];
