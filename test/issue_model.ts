// The pruning issue's example, shared by the callback and summary tests: a Dense(32, relu) ->
// Dense(10) model on 20 features, its schedule, and seeded data.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {ConstantSparsity, PolynomialDecay, pruneLowMagnitude} from '../src/index';
import {normal} from './helpers';

const L = tfl.layers;

/** The issue's model: Dense(32, relu) -> Dense(10) on 20 features, pruned with `schedule`. */
export function issueModel(schedule: ConstantSparsity|PolynomialDecay): tfl.Sequential {
  const model = tfl.sequential({layers: [
    L.dense({units: 32, activation: 'relu', inputShape: [20], name: 'dense',
      kernelInitializer: tfl.initializers.glorotUniform({seed: 1})}),
    L.dense({units: 10, name: 'dense_1', kernelInitializer: tfl.initializers.glorotUniform({seed: 2})}),
  ]});
  const pruned = pruneLowMagnitude(model, {pruningSchedule: schedule});
  pruned.compile({optimizer: tf.train.sgd(0.1), loss: 'meanSquaredError'});
  return pruned;
}

export const ISSUE_SCHEDULE = () => new PolynomialDecay({initialSparsity: 0.2, finalSparsity: 0.8, beginStep: 0, endStep: 8, frequency: 2});

/** `n` rows of N(0, 1) features and targets, from seeds `seed` and `seed + 1`. */
export function data(n: number, seed: number): [tf.Tensor2D, tf.Tensor2D] {
  return [tf.tensor2d(normal(n * 20, seed), [n, 20]), tf.tensor2d(normal(n * 10, seed + 1), [n, 10])];
}

