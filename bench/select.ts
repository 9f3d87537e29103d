// Exact magnitude threshold: magnitudeThreshold(w, s) against what a tfjs user writes,
// tf.topk(tf.abs(w), k) (sorted, the default) followed by reading the k-th value, on the wasm
// backend, w ~ N(0, 1). The unsorted topk row is there for honesty (it is the cheaper baseline).
// Run: node --import tsx bench/select.ts
import * as tf from '@tensorflow/tfjs-core';
import {keepCount, magnitudeThreshold} from '../src/index';
import {normal} from '../test/helpers';
import {Case, markdownTable, runCases, useWasm} from './util';

await useWasm();

function topkThreshold(w: tf.Tensor, k: number, sorted: boolean): void {
  tf.tidy(() => {
    const {values} = tf.topk(tf.abs(w), k, sorted);
    // Sorted: the k-th value; unsorted: the minimum of the top k. Read back, as the op's result is.
    (sorted ? tf.slice(values, [k - 1], [1]) : tf.min(values)).dataSync();
  });
}

function ours(w: tf.Tensor, s: number): void {
  const t = magnitudeThreshold(w, s);
  t.dataSync();
  t.dispose();
}

const cases: Case[] = [];
const tensors: tf.Tensor[] = [];
for (const n of [1e6, 1e7]) {
  const w = tf.tensor(normal(n, 42));
  tensors.push(w);
  for (const s of [0.5, 0.9]) {
    const k = keepCount(n, s);
    cases.push({name: `n=${n.toExponential()} s=${s} vs sorted topk`, baseline: () => topkThreshold(w, k, true),
                candidate: () => ours(w, s)});
    cases.push({name: `n=${n.toExponential()} s=${s} vs unsorted topk`, baseline: () => topkThreshold(w, k, false),
                candidate: () => ours(w, s)});
  }
}

// A threshold update at the same sparsity on already-pruned weights: the target sits next to a tie
// of 5e6 zeros (the band-peeling path).
const pruned = tf.tidy(() => {
  const w = tensors[1];
  const t = magnitudeThreshold(w, 0.5);
  return tf.mul(w, tf.cast(tf.greaterEqual(tf.abs(w), t), 'float32'));
});
tensors.push(pruned);
cases.push({name: 'n=1e+7 s=0.5 pruned to 0.5 already vs sorted topk',
            baseline: () => topkThreshold(pruned, keepCount(1e7, 0.5), true), candidate: () => ours(pruned, 0.5)});

const results = runCases(cases, {maxTime: 2});
console.log('\n' + markdownTable(results, 'tf.topk(tf.abs(w), k)'));
tf.dispose(tensors);
