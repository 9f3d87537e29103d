/** The demo's MNIST CNN: built, compiled, trained with a progress bar and scored, for the demo and the bench harness. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import cliProgress from 'cli-progress';
import {IMAGE_SIZE, MnistSplit, NUM_CLASSES} from './mnist';

/**
 * The demo's CNN: tfmot's MNIST tutorial model with a wider hidden Dense layer, where pruning pays.
 * `filters` widens the convolution (the channel-pruning benchmark uses 32).
 */
export function buildCnn(seed = 42, hiddenUnits = 256, filters = 12): tfl.Sequential {
  const init = (s: number) => tfl.initializers.glorotUniform({seed: seed + s});
  return tfl.sequential({
    layers: [
      tfl.layers.conv2d({inputShape: [IMAGE_SIZE, IMAGE_SIZE, 1], filters, kernelSize: 3,
                         activation: 'relu', kernelInitializer: init(1), name: 'conv'}),
      tfl.layers.maxPooling2d({poolSize: 2, name: 'pool'}),
      tfl.layers.flatten({name: 'flatten'}),
      tfl.layers.dense({units: hiddenUnits, activation: 'relu', kernelInitializer: init(2), name: 'hidden'}),
      tfl.layers.dense({units: NUM_CLASSES, kernelInitializer: init(3), name: 'logits'}),
    ],
  });
}

/** The split as tensors: images [n, 28, 28, 1], one-hot labels [n, 10]. */
export function splitTensors(split: MnistSplit): {xs: tf.Tensor4D; ys: tf.Tensor2D} {
  return tf.tidy(() => ({
    xs: tf.tensor4d(split.images, [split.count, IMAGE_SIZE, IMAGE_SIZE, 1]),
    ys: tf.cast(tf.oneHot(tf.tensor1d(split.labels, 'int32'), NUM_CLASSES), 'float32') as tf.Tensor2D,
  }));
}

/** Compiles with Adam and sparse-free categorical cross-entropy on logits. */
export function compileForMnist(model: tfl.LayersModel, learningRate = 1e-3): void {
  model.compile({
    optimizer: tf.train.adam(learningRate),
    loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.losses.softmaxCrossEntropy(yTrue, yPred),
    metrics: ['accuracy'],
  });
}

/** A callback that draws a progress bar per epoch (to stderr, so tables on stdout stay clean). */
export function progressBar(label: string, stepsPerEpoch: number, enabled = true): tfl.CustomCallback {
  let bar: cliProgress.SingleBar|undefined;
  let epoch = 0;
  return new tfl.CustomCallback({
    onEpochBegin: async (e) => {
      epoch = e;
      if (!enabled) return;
      bar = new cliProgress.SingleBar({
        format: `${label} epoch ${epoch + 1} [{bar}] {value}/{total} batches | loss {loss}`,
        stream: process.stderr, hideCursor: true, clearOnComplete: false,
      }, cliProgress.Presets.shades_classic);
      bar.start(stepsPerEpoch, 0, {loss: '-'});
    },
    onBatchEnd: async (_batch, logs) => {
      bar?.increment(1, {loss: logs?.loss !== undefined ? Number(logs.loss).toFixed(4) : '-'});
    },
    onEpochEnd: async () => {
      bar?.stop();
    },
  });
}

/** Top-1 accuracy of `model` on `split`, in [0, 1]. */
export function accuracy(model: {predict(x: tf.Tensor): tf.Tensor|tf.Tensor[]}, split: MnistSplit, batchSize = 256): number {
  let correct = 0;
  for (let start = 0; start < split.count; start += batchSize) {
    const n = Math.min(batchSize, split.count - start);
    const predicted = tf.tidy(() => {
      const x = tf.tensor4d(split.images.subarray(start * IMAGE_SIZE * IMAGE_SIZE, (start + n) * IMAGE_SIZE * IMAGE_SIZE),
                            [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
      return tf.argMax(model.predict(x) as tf.Tensor, -1);
    });
    const ids = predicted.dataSync();
    predicted.dispose();
    for (let i = 0; i < n; i++) if (ids[i] === split.labels[start + i]) correct++;
  }
  return correct / split.count;
}
