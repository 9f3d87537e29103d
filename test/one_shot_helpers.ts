// Small models and calibration data for the one-shot pruning tests.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {normal} from './helpers';

const init = (seed: number) => tfl.initializers.glorotUniform({seed});

/** Dense 8 -> 24 (relu) -> 12 (relu) -> 4. */
export function mlp(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.dense({inputShape: [8], units: 24, activation: 'relu', kernelInitializer: init(1), name: 'fc1'}),
    tfl.layers.dense({units: 12, activation: 'relu', kernelInitializer: init(2), name: 'fc2'}),
    tfl.layers.dense({units: 4, kernelInitializer: init(3), name: 'out'}),
  ]});
}

/** Conv 3x3 (same) -> BatchNorm -> ReLU -> Conv 3x3 stride 2 (valid) -> BatchNorm -> Flatten -> Dense 3. */
export function convNet(): tfl.Sequential {
  return tfl.sequential({layers: [
    tfl.layers.conv2d({inputShape: [7, 7, 2], filters: 8, kernelSize: 3, padding: 'same', kernelInitializer: init(4), name: 'conv1'}),
    tfl.layers.batchNormalization({name: 'bn1'}),
    tfl.layers.reLU({name: 'relu'}),
    tfl.layers.conv2d({filters: 4, kernelSize: 3, strides: 2, kernelInitializer: init(5), name: 'conv2'}),
    tfl.layers.batchNormalization({name: 'bn2'}),
    tfl.layers.flatten({name: 'flatten'}),
    tfl.layers.dense({units: 3, kernelInitializer: init(6), name: 'out'}),
  ]});
}

/** Correlated inputs: `n` samples of `shape`, each value a mix of a few shared factors plus noise. */
export function samples(n: number, shape: number[], seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const noise = normal(n * size, seed, 0.3), factors = normal(n * 3, seed + 1), mix = normal(3 * size, seed + 2);
  const values = noise.map((v, i) => {
    const s = Math.floor(i / size), j = i % size;
    return v + factors[s * 3] * mix[j] + factors[s * 3 + 1] * mix[size + j] + factors[s * 3 + 2] * mix[2 * size + j];
  });
  return tf.tensor(values, [n, ...shape]);
}

/** Every weight of `model` as arrays, to check it was not changed. */
export function snapshot(model: tfl.LayersModel): Float32Array[] {
  return model.getWeights().map(w => w.dataSync().slice() as Float32Array);
}

/** The relative squared distance of the models' outputs on `x`. */
export function outputDistance(a: tfl.LayersModel, b: tfl.LayersModel, x: tf.Tensor): number {
  return tf.tidy(() => {
    const ya = a.predict(x) as tf.Tensor, yb = b.predict(x) as tf.Tensor;
    return tf.div(tf.sum(tf.squaredDifference(ya, yb)), tf.sum(tf.square(ya))).dataSync()[0];
  });
}

/** The fraction of zeros of a layer's first weight. */
export function layerSparsity(model: tfl.LayersModel, name: string): number {
  const w = model.getLayer(name).getWeights()[0].dataSync();
  return w.filter(v => v === 0).length / w.length;
}
