import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {readFileSync} from 'node:fs';
import {blockPool, expandBlockMask} from '../src/index';
import * as ref from './reference';
import {assertBitsEqual, BACKENDS, noLeak, useBackend, valueCases} from './helpers';

// tfmot 0.8.1's pooled magnitudes (see the fixture's `source` and `versions`).
const GOLDEN = JSON.parse(readFileSync(new URL('./fixtures/pooled.json', import.meta.url), 'utf8')) as {
  weight_sets: Array<{id: string; shape: [number, number]; data: number[]}>;
  pooled: Array<{weights: string; block_size: [number, number]; pooling: 'AVG'|'MAX'; data: Array<number|string>}>;
};

/** Weight shapes named for the edges they hit in the kernels' 16-column SIMD loops and 4-block groups. */
const POOL_SHAPES: Array<[string, [number, number]]> = [
  ['one_element', [1, 1]],
  ['row_lt_4', [1, 3]],
  ['column', [17, 1]],
  ['row_tail', [1, 67]],
  ['small_tail', [5, 7]],
  ['tfmot_7x13', [7, 13]],
  ['square_16', [16, 16]],
  ['wide', [4, 300]],
  ['both_tails', [33, 71]],
  ['square_64', [64, 64]],
  ['tall', [131, 20]],
];

/** Every block shape the pruning API offers, plus odd ones and blocks larger than most weights. */
const BLOCKS: Array<[number, number]> = [
  [1, 1], [1, 4], [1, 8], [1, 16], [2, 2], [4, 4],
  [3, 5], [5, 3], [16, 1], [1, 12], [2, 16], [4, 8], [8, 8], [40, 40],
];

/** Values with NaN (both signs, two payloads) among normal values. */
function withNaN(n: number): Float32Array {
  const bits = Int32Array.from({length: n}, (_, i) => [0x7fc00000, 0xffc00000 | 0, 0x7f800001][i % 3]);
  const out = new Float32Array(bits.buffer);
  for (let i = 0; i < n; i++) if (i % 5 !== 0) out[i] = ((i * 37) % 11) - 5;
  return out;
}

function poolValueCases(n: number, seed: number): Array<[string, Float32Array]> {
  return [...valueCases(n, seed), ['nan', withNaN(n)]];
}

/**
 * Equal bits, except that any NaN equals any NaN: AVG computes its NaN, and which operand's payload
 * an add keeps depends on how V8's tier compiled it.
 */
function assertSameFloats(actual: Float32Array, expected: Float32Array, what: string): void {
  const a = actual.map((v, i) => (Number.isNaN(v) && Number.isNaN(expected[i]) ? NaN : v));
  const e = expected.map((v) => (Number.isNaN(v) ? NaN : v));
  assertBitsEqual(a, e, what);
}

const poolSuite = suite('blockPool');

poolSuite('blockPool(w, blockSize, type) equals the reference on both backends, bit for bit across them', async () => {
  const results = new Map<string, Float32Array>();
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const [shapeName, shape] of POOL_SHAPES) {
      const n = shape[0] * shape[1];
      for (const [valueName, values] of poolValueCases(n, n + 1)) {
        const w = tf.tensor2d(values, shape);
        for (const block of BLOCKS) {
          for (const type of ['AVG', 'MAX'] as const) {
            const what = `${shapeName} ${valueName} ${block} ${type}`;
            const pooled = noLeak(() => blockPool(w, block, type), 'blockPool');
            assert.equal(pooled.shape, [Math.ceil(shape[0] / block[0]), Math.ceil(shape[1] / block[1])], what);
            const got = pooled.dataSync() as Float32Array;
            const want = ref.blockPoolRef(values, shape[0], shape[1], block[0], block[1], type);
            if (type === 'MAX') assertBitsEqual(got, want, `${backend} ${what}`);
            else assertSameFloats(got, want, `${backend} ${what}`);
            const other = results.get(what);
            if (other) (type === 'MAX' ? assertBitsEqual : assertSameFloats)(got, other, `wasm vs cpu ${what}`);
            else results.set(what, got);
            pooled.dispose();
          }
        }
        w.dispose();
      }
    }
  }
});

poolSuite('blockPool pools |w| over valid cells only, and a block larger than the weight is one block', () => {
  const w = tf.tensor2d([[1, -2, 3], [-4, 5, -6]]);
  const cases: Array<[[number, number], 'AVG'|'MAX', number[][]]> = [
    [[1, 2], 'MAX', [[2, 3], [5, 6]]],
    [[1, 2], 'AVG', [[1.5, 3], [4.5, 6]]],
    [[2, 2], 'AVG', [[3, 4.5]]],
    [[4, 16], 'AVG', [[3.5]]],
    [[4, 16], 'MAX', [[6]]],
  ];
  for (const [block, type, want] of cases) {
    const p = blockPool(w, block, type);
    assert.equal(p.arraySync(), want, `${block} ${type}`);
    p.dispose();
  }
  w.dispose();
});

poolSuite('blockPool keeps NaN blocks: MAX and AVG of a block holding NaN are NaN', async () => {
  const TINY = 2 ** -149;  // the smallest subnormal: half of it rounds to 0
  const cases: Array<[[number, number], 'AVG'|'MAX', number[]]> = [
    [[1, 4], 'MAX', [NaN, Infinity]],
    [[1, 4], 'AVG', [NaN, Infinity]],
    [[2, 2], 'MAX', [NaN, 3]],
    [[2, 2], 'AVG', [NaN, 1.25]],
    [[1, 2], 'MAX', [NaN, 3, Infinity, TINY]],
    [[1, 2], 'AVG', [NaN, 2.5, Infinity, 0]],
  ];
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const w = tf.tensor2d([[NaN, 1, 2, 3], [0, Infinity, -0, TINY]]);
    for (const [block, type, want] of cases) {
      const p = blockPool(w, block, type);
      assert.equal(Array.from(p.dataSync()), want, `${backend} ${block} ${type}`);
      p.dispose();
    }
    w.dispose();
  }
});

poolSuite('blockPool reproduces every tfmot pooled value (its SAME windows rebuilt from aligned pools)', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const golden of GOLDEN.pooled) {
      const set = GOLDEN.weight_sets.find((s) => s.id === golden.weights)!;
      const [bh, bw] = golden.block_size;
      const w = tf.tensor2d(set.data, set.shape);
      // tfmot pads SAME: its block k covers [k*b - p, (k+1)*b - p) with p = floor(padding / 2). Where
      // p > 0, its first block is our pool of the first b - p cells and the rest is our pool of the
      // weight from b - p on; where p = 0 the windows are ours.
      const segments = (len: number, b: number) => {
        const p = Math.floor((Math.ceil(len / b) * b - len) / 2);
        return p === 0 || b - p >= len ? [[0, len]] : [[0, b - p], [b - p, len]];
      };
      const rows = segments(set.shape[0], bh), cols = segments(set.shape[1], bw);
      const pieces = rows.map(([r0, r1]) => cols.map(([c0, c1]) =>
          tf.tidy(() => blockPool(tf.slice(w, [r0, c0], [r1 - r0, c1 - c0]), [bh, bw], golden.pooling))));
      const got = tf.tidy(() => tf.concat(pieces.map((row) => tf.concat(row, 1)), 0));
      const want = Float32Array.from(golden.data, Number);
      assertBitsEqual(got.dataSync() as Float32Array, want, `${backend} ${golden.weights} ${golden.block_size} ${golden.pooling}`);
      tf.dispose([w, got, ...pieces.flat()]);
    }
  }
});

poolSuite('blockPool takes TensorLike values, empty weights and blocks beyond int32', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const p = blockPool([[1, -3]], [1, 2], 'AVG');
    assert.equal(p.arraySync(), [[2]]);
    const empty = tf.zeros([0, 5]) as tf.Tensor2D;
    const e = noLeak(() => blockPool(empty, [2, 2], 'MAX'), 'blockPool');
    assert.equal(e.shape, [0, 3]);
    const huge = blockPool([[1, -3, 2], [4, 0, 1]], [2 ** 40, 2], 'MAX');
    assert.equal(huge.arraySync(), [[4, 2]]);
    const hugeBack = expandBlockMask(huge, [2 ** 40, 2], [2, 3]);
    assert.equal(hugeBack.arraySync(), [[4, 4, 2], [4, 4, 2]]);
    tf.dispose([huge, hugeBack]);
    const back = noLeak(() => expandBlockMask(e, [2, 2], [0, 5]), 'expandBlockMask');
    assert.equal(back.shape, [0, 5]);
    tf.dispose([p, empty, e, back]);
  }
});

poolSuite('blockPool rejects bad arguments without leaking', () => {
  const i32 = tf.tensor2d([1, 2], [1, 2], 'int32');
  const bool = tf.tensor2d([1, 0], [1, 2], 'bool');
  const vec = tf.tensor1d([1, 2]);
  const cube = tf.zeros([2, 2, 2]);
  const w = tf.zeros([4, 4]) as tf.Tensor2D;
  const before = tf.memory().numTensors;
  for (const bad of [[0, 1], [1, -2], [1.5, 2], [2], [1, 2, 3], 'x', null, [NaN, 1]]) {
    assert.throws(() => blockPool(w, bad as [number, number], 'AVG'),
        /'blockSize' passed to 'blockPool' must be a pair of positive integers/, JSON.stringify(bad));
  }
  for (const bad of ['avg', 'MIN', '', undefined]) {
    assert.throws(() => blockPool(w, [2, 2], bad as 'AVG'),
        /'poolingType' passed to 'blockPool' must be one of 'AVG', 'MAX', but got/, String(bad));
  }
  assert.throws(() => blockPool(i32, [1, 1], 'MAX'), /'w' passed to 'blockPool' must be a float32 tensor, but got a int32/);
  assert.throws(() => blockPool(bool, [1, 1], 'MAX'), /'w' passed to 'blockPool' must be a float32 tensor, but got a bool/);
  assert.throws(() => blockPool(vec as unknown as tf.Tensor2D, [1, 1], 'MAX'), /'w' passed to 'blockPool' must have rank 2, but got rank 1/);
  assert.throws(() => blockPool(cube as unknown as tf.Tensor2D, [1, 1], 'MAX'), /'w' passed to 'blockPool' must have rank 2, but got rank 3/);
  assert.throws(() => blockPool([1, 2, 3] as unknown as number[][], [1, 1], 'MAX'), /'w' passed to 'blockPool' must have rank 2/);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([i32, bool, vec, cube, w]);
});

poolSuite.run();

// ---

const expandSuite = suite('expandBlockMask');

expandSuite('expandBlockMask(mask, blockSize, shape) equals the reference on both backends, bit for bit', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const [shapeName, shape] of POOL_SHAPES) {
      for (const block of BLOCKS) {
        const grid: [number, number] = [Math.ceil(shape[0] / block[0]), Math.ceil(shape[1] / block[1])];
        for (const [valueName, values] of poolValueCases(grid[0] * grid[1], shape[0] + 7 * shape[1])) {
          const m = tf.tensor2d(values, grid);
          const out = noLeak(() => expandBlockMask(m, block, shape), 'expandBlockMask');
          assert.equal(out.shape, shape);
          assertBitsEqual(out.dataSync() as Float32Array, ref.expandBlockMaskRef(values, block[0], block[1], shape[0], shape[1]),
              `${backend} ${shapeName} ${block} ${valueName}`);
          tf.dispose([m, out]);
        }
      }
    }
  }
});

expandSuite('expandBlockMask repeats each block value and crops the partial blocks', () => {
  const out = expandBlockMask([[1, 0], [0, 1]], [2, 2], [3, 3]);
  assert.equal(out.arraySync(), [[1, 1, 0], [1, 1, 0], [0, 0, 1]]);
  const big = expandBlockMask([[1]], [40, 40], [2, 3]);
  assert.equal(big.arraySync(), [[1, 1, 1], [1, 1, 1]]);
  tf.dispose([out, big]);
});

expandSuite('expandBlockMask rejects bad arguments without leaking', () => {
  const m = tf.ones([2, 3]) as tf.Tensor2D;
  const i32 = tf.ones([2, 3], 'int32') as tf.Tensor2D;
  const before = tf.memory().numTensors;
  assert.throws(() => expandBlockMask(m, [2, 2], [4, 4]),
      /'blockMask' passed to 'expandBlockMask' must have shape \[2,2\] \(shape \[4,4\] in blocks of \[2,2\]\), but got \[2,3\]/);
  assert.throws(() => expandBlockMask(m, [0, 2], [4, 6]), /'blockSize' passed to 'expandBlockMask' must be a pair of positive integers/);
  for (const bad of [[4], [4, 2.5], [-1, 4], 'x']) {
    assert.throws(() => expandBlockMask(m, [2, 2], bad as [number, number]),
        /'shape' passed to 'expandBlockMask' must be a pair of non-negative integers/, JSON.stringify(bad));
  }
  assert.throws(() => expandBlockMask(i32, [2, 2], [4, 6]), /'blockMask' passed to 'expandBlockMask' must be a float32 tensor, but got a int32/);
  assert.throws(() => expandBlockMask([1, 2] as unknown as number[][], [1, 1], [1, 2]), /'blockMask' passed to 'expandBlockMask' must have rank 2/);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([m, i32]);
});

expandSuite.run();
