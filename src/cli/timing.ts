/**
 * Wall-clock timing for the demo and the bench harness: calls alternated round by round, so that on
 * a shared machine the ratios compare like with like, and medians.
 */
import * as tf from '@tensorflow/tfjs-core';
import {IMAGE_SIZE} from './mnist';

/** The median of `values` (the upper one of an even count). */
export function median(values: number[]): number {
  return [...values].sort((a, b) => a - b)[values.length >> 1];
}

/**
 * Milliseconds of each call of each of `fns` over `runs` rounds that call each once in turn, after
 * three warm-up rounds: on a shared machine neighbouring calls see the same load, so ratios taken
 * round by round are fair where separately timed blocks would not be.
 * @returns per function, its `runs` times in round order.
 */
export function timesAlternating(fns: Array<() => void>, runs: number): number[][] {
  for (let i = 0; i < 3; i++) fns.forEach(fn => fn());
  const times = fns.map(() => [] as number[]);
  for (let i = 0; i < runs; i++) {
    fns.forEach((fn, j) => {
      const t0 = performance.now();
      fn();
      times[j].push(performance.now() - t0);
    });
  }
  return times;
}

/** Median milliseconds of `fn` over `runs` calls, after three warm-up calls. */
export function medianMs(fn: () => void, runs: number): number {
  return median(timesAlternating([fn], runs)[0]);
}

type Predictor = {predict(x: tf.Tensor): tf.Tensor|tf.Tensor[]};

/**
 * Wall times in ms of `predict` on one batch, outputs read back as a user would, for each model in
 * alternation (see `timesAlternating`).
 * @returns per model, its `runs` times in round order.
 */
export function predictTimesMs(models: Predictor[], batch: number, runs = 30): number[][] {
  const x = tf.randomUniform([batch, IMAGE_SIZE, IMAGE_SIZE, 1], 0, 1, 'float32', 7);
  const times = timesAlternating(models.map(model => () => {
    const y = model.predict(x) as tf.Tensor;
    y.dataSync();
    y.dispose();
  }), runs);
  x.dispose();
  return times;
}

/** Median wall time in ms of `model.predict` on a batch (outputs read back, as a user would). */
export function latencyMs(model: Predictor, batch: number, runs = 30): number {
  return median(predictTimesMs([model], batch, runs)[0]);
}
