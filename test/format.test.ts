import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {BlockSparseArrays, blockSparseMatMul, BlockSparseMatrix, packBlockSparse, unpackBlockSparse, validateBlockSparseArrays}
  from '../src/index';
import {assertBitsEqual, BACKENDS, noLeak, normal, rng, useBackend} from './helpers';

const BLOCKS: Array<[number, number]> = [[1, 1], [1, 4], [1, 8], [1, 16], [2, 2], [4, 4], [3, 5]];

/** W [K, N] with about half of its blocks zero, and the block mask that made it. */
function blockSparse(K: number, N: number, [bh, bw]: [number, number], seed: number): {w: Float32Array; mask: Float32Array} {
  const r = rng(seed);
  const w = normal(K * N, seed);
  const mask = new Float32Array(K * N);
  const ncb = Math.ceil(N / bw);
  const keep = Array.from({length: Math.ceil(K / bh) * ncb}, () => r() < 0.5);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      if (keep[Math.floor(k / bh) * ncb + Math.floor(n / bw)]) mask[k * N + n] = 1;
      else w[k * N + n] = 0;
    }
  }
  return {w, mask};
}

const packSuite = suite('packBlockSparse');

for (const backend of BACKENDS) {
  packSuite(`packBlockSparse then unpackBlockSparse gives W back (f32 exactly, int8 within scale/2) on ${backend}`, async () => {
    await useBackend(backend);
    let seed = 1;
    for (const block of BLOCKS) {
      const shapes: Array<[string, number, number]> = [['one_block', block[0], block[1]], ['k_odd_n_odd', 7, 13],
        ['tails', 37, 45], ['k_eq_64_n_tail', 64, 67]];
      for (const [name, K, N] of shapes) {
        if (block[0] > K || block[1] > N) continue;
        const {w} = blockSparse(K, N, block, seed++);
        const wt = tf.tensor2d(w, [K, N]);
        const before = tf.memory().numTensors;
        const f32 = packBlockSparse(wt, {blockSize: block});
        assert.is(tf.memory().numTensors, before + 3, 'packBlockSparse keeps colPtr, rows and values only');
        const back = noLeak(() => unpackBlockSparse(f32), 'unpackBlockSparse');
        assertBitsEqual(back.dataSync() as Float32Array, w, `${backend} ${block} ${name} [${K}, ${N}] f32`);
        const i8 = packBlockSparse(wt, {blockSize: block, dtype: 'int8'});
        const scales = i8.toArrays().scales!;
        const deq = unpackBlockSparse(i8).dataSync();
        for (let i = 0; i < w.length; i++) {
          assert.ok(Math.abs(deq[i] - w[i]) <= scales[i % N] / 2 * (1 + 1e-6),
              `${backend} ${block} ${name} int8 W[${Math.floor(i / N)}, ${i % N}] = ${deq[i]}, expected ${w[i]}`);
        }
        assert.is(i8.nnzBlocks, f32.nnzBlocks);
        tf.dispose([wt, back]);
        f32.dispose();
        i8.dispose();
      }
    }
  });
}

packSuite('packBlockSparse stores the blocks touched by the mask and zeros masked-out entries', async () => {
  await useBackend('wasm');
  const w = tf.tensor2d([[1, 2, 3, 4, 5], [6, 7, 8, 9, 10], [11, 12, 13, 14, 15]]);
  const mask = tf.tensor2d([[1, 0, 0, 0, 0], [0, 0, 0, 0, 0], [0, 0, 0, 0, 1]]);
  const packed = packBlockSparse(w, {blockSize: [2, 2], mask});
  // Blocks (0, 0) and (1, 2): the second is the bottom-right corner, one row and one column.
  assert.is(packed.nnzBlocks, 2);
  assert.is(packed.sparsity, 1 - 5 / 15);
  assert.equal(Array.from(unpackBlockSparse(packed).dataSync()), [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15]);
  const a = packed.toArrays();
  assert.equal(Array.from(a.colPtr), [0, 2, 2, 3]);
  assert.equal(Array.from(a.rows), [0, 1, 2]);
  assert.equal(Array.from(a.values), [1, 0, 0, 0, 15, 0]);
  tf.dispose([w, mask]);
  packed.dispose();
});

packSuite('packBlockSparse of an all-zero W stores nothing and a dense W everything', async () => {
  await useBackend('wasm');
  const zero = packBlockSparse(tf.zeros([10, 20]), {blockSize: [4, 4]});
  assert.is(zero.nnzBlocks, 0);
  assert.is(zero.sparsity, 1);
  assert.is(zero.strips, 0);
  assert.equal(Array.from(unpackBlockSparse(zero).dataSync()), new Array(200).fill(0));
  const full = packBlockSparse(tf.ones([10, 20]), {blockSize: [4, 4], dtype: 'int8'});
  assert.is(full.nnzBlocks, 3 * 5);
  assert.is(full.sparsity, 0);
  assert.equal(Array.from(full.toArrays().scales!), new Array(20).fill(Math.fround(1 / 127)));
  zero.dispose();
  full.dispose();
});

packSuite('packBlockSparse pads odd int8 strip counts with a zero strip', async () => {
  await useBackend('cpu');
  const packed = packBlockSparse(tf.tensor2d([[1, -2], [0, 0], [3, 4]]), {blockSize: [1, 2], dtype: 'int8'});
  const a = packed.toArrays();
  assert.equal(Array.from(a.colPtr), [0, 2]);
  assert.equal(Array.from(a.rows), [0, 2]);
  // Pair interleaved: q(0, 0), q(2, 0), q(0, 1), q(2, 1), with scales 3/127 and 4/127.
  assert.equal(Array.from(a.values), [42, 127, -64, 127]);
  packed.dispose();
  const odd = packBlockSparse(tf.tensor2d([[1], [0], [0]]), {blockSize: [1, 1], dtype: 'int8'}).toArrays();
  assert.equal(Array.from(odd.rows), [0, 0]);
  assert.equal(Array.from(odd.values), [127, 0]);
});

packSuite('packBlockSparse rejects bad arguments', async () => {
  await useBackend('wasm');
  const w = tf.ones([4, 8]);
  const i32 = tf.ones([4, 8], 'int32');
  const before = tf.memory().numTensors;
  assert.throws(() => packBlockSparse(i32), /'w' passed to 'packBlockSparse' must be a float32 tensor/);
  assert.throws(() => packBlockSparse([1, 2, 3]), /'w' passed to 'packBlockSparse' must have rank 2/);
  assert.throws(() => packBlockSparse(w, {blockSize: [1, 0]}), /'blockSize' passed to 'packBlockSparse' must be a pair of positive integers/);
  assert.throws(() => packBlockSparse(w, {blockSize: [1, 16]}), /'blockSize' passed to 'packBlockSparse' must fit in w of shape \[4, 8\], but got \[1, 16\]/);
  assert.throws(() => packBlockSparse(w, {dtype: 'int4' as 'int8'}), /'dtype' passed to 'packBlockSparse' must be one of 'float32', 'int8', but got 'int4'/);
  assert.throws(() => packBlockSparse(w, null as never), /packBlockSparse options must be an object \{blockSize, mask, dtype\}, but got null/);
  assert.throws(() => packBlockSparse(w, {blocksize: [1, 4]} as never), /packBlockSparse got an unknown option 'blocksize'/);
  assert.throws(() => packBlockSparse(w, {blockSize: [1, 8], mask: [[1, 0]]}), /'w' and 'mask' passed to 'packBlockSparse' must have the same shape/);
  assert.throws(() => packBlockSparse([[1, NaN]], {blockSize: [1, 1], dtype: 'int8'}), /must be finite for int8, but w\[0, 1\] = NaN/);
  assert.is(tf.memory().numTensors, before, 'failed packs leak nothing');
  tf.dispose([w, i32]);
});

packSuite.run();

// ---

const arraysSuite = suite('BlockSparseMatrix.fromArrays');

function sample(dtype: 'float32'|'int8'): BlockSparseArrays {
  const {w} = blockSparse(9, 20, [2, 4], 77);
  const wt = tf.tensor2d(w, [9, 20]);
  const packed = packBlockSparse(wt, {blockSize: [2, 4], dtype});
  const a = packed.toArrays();
  packed.dispose();
  wt.dispose();
  return a;
}

arraysSuite('fromArrays(toArrays()) round-trips every block shape and dtype', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const block of BLOCKS) {
      for (const dtype of ['float32', 'int8'] as const) {
        const {w} = blockSparse(23, 37, block, 5);
        const packed = packBlockSparse(tf.tensor2d(w, [23, 37]), {blockSize: block, dtype});
        const a = packed.toArrays();
        const again = BlockSparseMatrix.fromArrays(a);
        assert.equal(again.toArrays(), a);
        assert.is(again.nnzBlocks, packed.nnzBlocks);
        assert.is(again.sparsity, packed.sparsity);
        assertBitsEqual(unpackBlockSparse(again).dataSync() as Float32Array,
            unpackBlockSparse(packed).dataSync() as Float32Array, `${backend} ${block} ${dtype}`);
        packed.dispose();
        again.dispose();
      }
    }
  }
});

arraysSuite('dispose() frees every tensor, the dense copy included', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  const packed = BlockSparseMatrix.fromArrays(sample('int8'));
  packed.denseWeight();
  assert.ok(packed.hasDenseWeight);
  packed.dispose();
  packed.dispose();
  assert.ok(packed.isDisposed);
  assert.is(tf.memory().numTensors, before);
  assert.throws(() => packed.toArrays(), /'toArrays' was given a disposed BlockSparseMatrix/);
});

/** Corruptions of valid arrays and the message each must give. */
const CORRUPTIONS: Array<[string, (a: BlockSparseArrays) => void, RegExp]> = [
  ['shape not a pair', a => { (a as {shape: unknown}).shape = [9]; }, /shape must be \[K, N\]/],
  ['K not an integer', a => { a.shape[0] = 8.5; }, /shape\[0\] \(K\) must be an integer/],
  ['block wider than N', a => { a.blockSize[1] = 21; }, /blockSize\[1\] must be an integer in \[1, 20\]/],
  ['unknown dtype', a => { (a as {dtype: string}).dtype = 'int4'; }, /dtype must be one of 'float32', 'int8', but got 'int4'/],
  ['colPtr too short', a => { a.colPtr = a.colPtr.slice(1); }, /colPtr must be an Int32Array of ceil\(N \/ bw\) \+ 1 = 6 entries/],
  ['colPtr as a plain array', a => { (a as {colPtr: unknown}).colPtr = Array.from(a.colPtr); }, /colPtr must be an Int32Array/],
  ['colPtr[0] not 0', a => { a.colPtr[0] = 1; }, /colPtr\[0\] must be 0, but got 1/],
  ['colPtr decreasing', a => { a.colPtr[2] = a.colPtr[1] - 2; }, /colPtr must be non-decreasing, but colPtr\[1\]/],
  ['rows too short', a => { a.rows = a.rows.slice(1); }, /rows must be an Int32Array of colPtr\[5\] = \d+ entries/],
  ['row out of range', a => { a.rows[a.rows.length - 1] = 9; }, /is outside \[0, 9\)|needs strips/],
  ['negative row', a => { a.rows[0] = -2; }, /rows\[0\] = -2 is outside \[0, 9\)/],
  ['rows not increasing', a => { a.rows[1] = a.rows[0]; }, /rows must increase|needs strips/],
  ['values too short', a => { a.values = a.values.slice(1); }, /values must be a (Float32Array|Int8Array) of strips · bw = \d+ entries/],
];

arraysSuite('fromArrays refuses corrupt arrays with a clear error', async () => {
  await useBackend('wasm');
  for (const dtype of ['float32', 'int8'] as const) {
    for (const [name, corrupt, message] of CORRUPTIONS) {
      const a = sample(dtype);
      corrupt(a);
      const before = tf.memory().numTensors;
      assert.throws(() => BlockSparseMatrix.fromArrays(a), message, `${dtype}: ${name}`);
      assert.throws(() => validateBlockSparseArrays(a), /^Invalid block-sparse weight: /);
      assert.is(tf.memory().numTensors, before, `${dtype}: ${name} leaked`);
    }
  }
});

arraysSuite('fromArrays refuses broken blocks and bad int8 parts', () => {
  const f = sample('float32');
  f.rows[0] += 1;  // a strip no longer starts a 2-row block
  assert.throws(() => BlockSparseMatrix.fromArrays(f), /does not start a 2-row block|rows must increase/);
  const g = sample('float32');
  g.scales = new Float32Array(20);
  assert.throws(() => BlockSparseMatrix.fromArrays(g), /float32 weights take no scales/);
  const i = sample('int8');
  delete i.scales;
  assert.throws(() => BlockSparseMatrix.fromArrays(i), /int8 weights need scales, a Float32Array of N = 20 entries/);
  const j = sample('int8');
  j.scales![3] = -1;
  assert.throws(() => BlockSparseMatrix.fromArrays(j), /scales\[3\] = -1 is not finite and >= 0/);
  const k = sample('int8');
  k.values[0] = -128;
  assert.throws(() => BlockSparseMatrix.fromArrays(k), /int8 values must be in \[-127, 127\], but values\[0\] = -128/);
  const odd = sample('int8');
  odd.colPtr = Int32Array.from(odd.colPtr, (v, c) => (c === 0 ? 0 : v + 1));
  odd.rows = Int32Array.from([odd.rows[0], ...odd.rows]);
  odd.values = new Int8Array(odd.values.length + 4);
  assert.throws(() => BlockSparseMatrix.fromArrays(odd), /int8 strips come in pairs, but column block 0 has \d+ strips/);
  const f32 = sample('float32');
  f32.values = new Int8Array(f32.values.length);
  assert.throws(() => BlockSparseMatrix.fromArrays(f32), /values must be a Float32Array/);
});

arraysSuite('a BlockSparseMatrix is frozen: shape, block size and tensors cannot change under the kernels', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const packed = BlockSparseMatrix.fromArrays(sample('int8'));
    const x = tf.ones([2, 9]);
    const before = blockSparseMatMul(x, packed, {kernel: 'sparse'});
    const mutations: Array<[string, () => void]> = [
      ['shape[1]', () => { packed.shape[1] = 1 << 20; }],
      ['shape', () => { (packed as {shape: number[]}).shape = [9, 1 << 20]; }],
      ['blockSize[1]', () => { packed.blockSize[1] = 1 << 20; }],
      ['tensors.values', () => { (packed.tensors as {values: tf.Tensor}).values = tf.zeros([1]); }],
      ['tensors', () => { (packed as {tensors: unknown}).tensors = {}; }],
      ['strips', () => { (packed as {strips: number}).strips = 1 << 20; }],
    ];
    for (const [what, mutate] of mutations) assert.throws(mutate, TypeError, `${backend}: ${what} changed`);
    const after = blockSparseMatMul(x, packed, {kernel: 'sparse'});
    assertBitsEqual(after.dataSync() as Float32Array, before.dataSync() as Float32Array, `${backend}: product after the attempts`);
    // A kernel input disposed behind the matrix's back is refused by tfjs, not read.
    packed.tensors.values.dispose();
    assert.throws(() => blockSparseMatMul(x, packed, {kernel: 'sparse'}), /'blockSparseMatMul' was given a BlockSparseMatrix whose tensor 'values' was disposed on its own/);
    tf.dispose([x, before, after]);
    packed.dispose();
  }
});

arraysSuite.run();
