import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {readFileSync} from 'node:fs';
import {mByNMask} from '../src/index';
import * as ref from './reference';
import {assertBitsEqual, BACKENDS, noLeak, useBackend, valueCases} from './helpers';

// tfmot 0.8.1's `sparsity_m_by_n` masks (fixture copied from tfmot-golden; see its `versions`).
const GOLDEN = JSON.parse(readFileSync(new URL('./fixtures/masks_m_by_n.json', import.meta.url), 'utf8')) as {
  weight_sets: Array<{id: string; shape: number[]; data: number[]}>;
  cases: Array<{weights: string; sparsity_m_by_n: [number, number]; step: number; mask: number[]}>;
};

/** Shapes named for their edge: in-channel tails (cin % n), short channels (cin <= n - m), out-channel lane tails. */
const NM_SHAPES: Array<[string, number[]]> = [
  ['one_in_one_out', [1, 1]],
  ['cin_lt_n', [3, 5]],
  ['cin_eq_n', [4, 4]],
  ['cin_tail', [7, 13]],
  ['cout_tail', [16, 7]],
  ['cout_1', [17, 1]],
  ['dense', [64, 64]],
  ['wide', [9, 130]],
  ['conv_rgb', [3, 3, 3, 8]],
  ['conv', [3, 3, 6, 4]],
  ['conv_tails', [2, 3, 11, 5]],
  ['conv_1x1', [1, 1, 32, 3]],
];

const M_BY_N: Array<[number, number]> = [[2, 4], [1, 4], [3, 4], [1, 2], [4, 8], [1, 3], [5, 7], [1, 16], [15, 16]];

function withNaN(n: number): Float32Array {
  return Float32Array.from({length: n}, (_, i) => (i % 5 === 0 ? NaN : i % 7 === 0 ? -Infinity : ((i * 13) % 9) - 4));
}

const nmSuite = suite('mByNMask');

nmSuite('mByNMask(w, [m, n]) equals the reference on both backends, bit for bit across them', async () => {
  const results = new Map<string, Float32Array>();
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const [shapeName, shape] of NM_SHAPES) {
      const size = shape.reduce((a, b) => a * b, 1);
      for (const [valueName, values] of [...valueCases(size, size + 3), ['nan', withNaN(size)] as [string, Float32Array]]) {
        const w = tf.tensor(values, shape);
        for (const [m, n] of M_BY_N) {
          const what = `${shapeName} ${valueName} ${m}:${n}`;
          const mask = noLeak(() => mByNMask(w, [m, n]), 'mByNMask');
          assert.equal(mask.shape, shape, what);
          const got = mask.dataSync() as Float32Array;
          assertBitsEqual(got, ref.mByNMaskRef(values, shape, m, n), `${backend} ${what}`);
          const other = results.get(what);
          if (other) assertBitsEqual(got, other, `wasm vs cpu ${what}`);
          else results.set(what, got);
          mask.dispose();
        }
        w.dispose();
      }
    }
  }
});

nmSuite('mByNMask keeps n - m of every n input channels (all of a group with no more)', () => {
  const [cin, cout] = [11, 6];
  const w = tf.tensor2d(Float32Array.from({length: cin * cout}, (_, i) => Math.sin(i)), [cin, cout]);
  for (const [m, n] of M_BY_N) {
    const mask = mByNMask(w, [m, n]).arraySync() as number[][];
    for (let o = 0; o < cout; o++) {
      for (let g0 = 0; g0 < cin; g0 += n) {
        const kept = mask.slice(g0, g0 + n).reduce((s, row) => s + row[o], 0);
        assert.is(kept, Math.min(n - m, cin - g0), `${m}:${n} out ${o} group at ${g0}`);
      }
    }
  }
  w.dispose();
});

nmSuite('mByNMask matches tfmot on every golden case (step 1) on both backends', async () => {
  const updates = GOLDEN.cases.filter((c) => c.step === 1);
  assert.is(updates.length, 16);
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const c of updates) {
      const set = GOLDEN.weight_sets.find((s) => s.id === c.weights)!;
      const w = tf.tensor(set.data, set.shape);
      const mask = noLeak(() => mByNMask(w, c.sparsity_m_by_n), 'mByNMask');
      assert.equal(Array.from(mask.dataSync()), c.mask, `${backend} ${c.weights} ${c.sparsity_m_by_n}`);
      tf.dispose([w, mask]);
    }
  }
});

nmSuite('mByNMask matches tfmot testSparsityMbyNMaskingSimple (2-D, 2:4)', () => {
  const mask = mByNMask([[0.74, 0.68], [-0.89, -0.45], [-1.68, 1.24], [0.31, -0.6]], [2, 4]);
  assert.equal(mask.arraySync(), [[0, 1], [1, 0], [1, 1], [0, 0]]);
  mask.dispose();
});

nmSuite('mByNMask breaks ties toward the lower input channel, and ±0 tie', () => {
  const mask = mByNMask([[1], [-1], [1], [-1], [0], [-0], [0], [2]], [2, 4]);
  assert.equal(Array.from(mask.dataSync()), [1, 1, 0, 0, 1, 0, 0, 1]);
  mask.dispose();
});

nmSuite('mByNMask takes groups longer than the input channels, beyond int32', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const w = tf.tensor2d([[1, 5], [-3, 0], [2, 1]]);
    for (const [mByN, want] of [[[2 ** 40 - 2, 2 ** 40], [[0, 1], [1, 0], [1, 1]]], [[1, 2 ** 40], [[1, 1], [1, 1], [1, 1]]],
                                [[1, 5], [[1, 1], [1, 1], [1, 1]]], [[3, 5], [[0, 1], [1, 0], [1, 1]]]] as const) {
      const mask = mByNMask(w, mByN as unknown as [number, number]);
      assert.equal(mask.arraySync(), want, `${backend} ${mByN}`);
      mask.dispose();
    }
    w.dispose();
  }
});

nmSuite('mByNMask rejects bad arguments without leaking', () => {
  const w = tf.zeros([4, 4]);
  const i32 = tf.zeros([4, 4], 'int32');
  const bool = tf.zeros([4, 4], 'bool');
  const cube = tf.zeros([4, 4, 4]);
  const before = tf.memory().numTensors;
  for (const bad of [[0, 4], [2, 0], [1.5, 4], [-1, 4], [2], 'x', null]) {
    assert.throws(() => mByNMask(w, bad as [number, number]),
        /'mByN' passed to 'mByNMask' must be a pair of positive integers \[m, n\]/, JSON.stringify(bad));
  }
  assert.throws(() => mByNMask(w, [4, 4]), /'mByN' passed to 'mByNMask' must have m smaller than n, but got \[4,4\]/);
  assert.throws(() => mByNMask(w, [5, 4]), /'mByN' passed to 'mByNMask' must have m smaller than n, but got \[5,4\]/);
  assert.throws(() => mByNMask([1, 2, 3, 4], [2, 4]), /'w' passed to 'mByNMask' must have rank 2 or 4, but got rank 1/);
  assert.throws(() => mByNMask(cube, [2, 4]), /'w' passed to 'mByNMask' must have rank 2 or 4, but got rank 3/);
  assert.throws(() => mByNMask(i32, [2, 4]), /'w' passed to 'mByNMask' must be a float32 tensor, but got a int32/);
  assert.throws(() => mByNMask(bool, [2, 4]), /'w' passed to 'mByNMask' must be a float32 tensor, but got a bool/);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([w, i32, bool, cube]);
});

nmSuite.run();
