// Block pooling and M:N masks against what a user composes from tfjs ops, on the wasm backend.
// Run: node --import tsx bench/pool.ts
import * as tf from '@tensorflow/tfjs-core';
import {blockPool, mByNMask} from '../src/index';
import {Case, markdownTable, runCases, useWasm} from './util';

/** Bytes of |w| read per second, in GB/s. */
const readRate = (bytes: number) => (_: number, seconds: number) => ({'ours GB/s': (bytes / seconds / 1e9).toFixed(1)});

function randomWeights(rows: number, cols: number): tf.Tensor2D {
  return tf.randomNormal([rows, cols], 0, 1, 'float32', 42) as tf.Tensor2D;
}

/** Runs `fn`, disposing whatever it returns, so both sides pay for allocating their output. */
const disposing = (fn: () => tf.Tensor) => () => { fn().dispose(); };

async function main(): Promise<void> {
  await useWasm();
  const weights: tf.Tensor2D[] = [];
  const cases: Case[] = [];
  for (const [R, C] of [[768, 3072], [4096, 4096]]) {
    const w = randomWeights(R, C);
    weights.push(w);
    const rate = readRate(R * C * 4);
    cases.push({
      name: `1x16 MAX ${R}x${C}`,
      baseline: disposing(() => tf.tidy(() => tf.max(tf.reshape(tf.abs(w), [R, C / 16, 16]), -1))),
      candidate: disposing(() => blockPool(w, [1, 16], 'MAX')),
      extra: rate,
    }, {
      name: `1x4 AVG ${R}x${C}`,
      baseline: disposing(() => tf.tidy(() => tf.mean(tf.reshape(tf.abs(w), [R, C / 4, 4]), -1))),
      candidate: disposing(() => blockPool(w, [1, 4], 'AVG')),
      extra: rate,
    }, {
      name: `4x4 MAX ${R}x${C}`,
      baseline: disposing(() => tf.tidy(() => tf.maxPool(tf.reshape(tf.abs(w), [1, R, C, 1]) as tf.Tensor4D, 4, 4, 'valid'))),
      candidate: disposing(() => blockPool(w, [4, 4], 'MAX')),
      extra: rate,
    }, {
      // tfmot's own recipe in tfjs ops: [in, out] -> [out, in] groups of 4, top 2 per group, scatter back.
      name: `2:4 mask ${R}x${C}`,
      baseline: disposing(() => tf.tidy(() => {
        const groups = tf.reshape(tf.abs(tf.transpose(w)), [-1, 4]);
        const kept = tf.sum(tf.oneHot(tf.topk(groups, 2).indices, 4), 1);
        return tf.transpose(tf.reshape(tf.cast(kept, 'float32'), [C, R]));
      })),
      candidate: disposing(() => mByNMask(w, [2, 4])),
      extra: rate,
    });
  }
  const results = runCases(cases);
  console.log('\n' + markdownTable(results, 'tfjs ops'));
  tf.dispose(weights);
}

await main();
