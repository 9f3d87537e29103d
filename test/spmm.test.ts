import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {BlockSparseDtype, BlockSparseKernel, BlockSparseMatrix, blockSparseMatMul, packBlockSparse,
  planBlockSparseMatMul} from '../src/index';
import {SPMM_F32} from '../src/kernels/spmm_f32';
import * as ref from './reference';
import {BACKENDS, noLeak, normal, rng, useBackend} from './helpers';

const BLOCKS: Array<[number, number]> = [[1, 1], [1, 4], [1, 8], [1, 16], [2, 2], [4, 4], [2, 16], [3, 5]];
const DTYPES: BlockSparseDtype[] = ['float32', 'int8'];
const KERNELS: BlockSparseKernel[] = ['sparse', 'dense', 'tfMatMul'];

/** A weight pattern named for the edge it hits. */
type Pattern = 'random_blocks'|'empty_rows_and_columns'|'zero_weights'|'dense'|'entrywise';

/** W [K, N] with the pattern's zeros (block-aligned or not), values N(0, 1). */
function weight(K: number, N: number, [bh, bw]: [number, number], pattern: Pattern, seed: number): Float32Array {
  const r = rng(seed);
  const w = normal(K * N, seed + 1);
  const density = r();
  const ncb = Math.ceil(N / bw);
  const keep = Float32Array.from({length: Math.ceil(K / bh) * ncb}, () => (r() < density ? 1 : 0));
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const i = k * N + n;
      const blockKept = keep[Math.floor(k / bh) * ncb + Math.floor(n / bw)] === 1;
      if (pattern === 'zero_weights') w[i] = 0;
      else if (pattern === 'random_blocks' && !blockKept) w[i] = 0;
      else if (pattern === 'empty_rows_and_columns' && (k % 3 === 1 || n % 4 === 2 || !blockKept)) w[i] = 0;
      else if (pattern === 'entrywise' && r() < 0.7) w[i] = 0;
    }
  }
  return w;
}

/** Checks y against the float64 reference: 1e-6 of max|y| for f32, the derived bound for int8. */
function checkResult(got: Float32Array, x: Float32Array, w: Float32Array, M: number, K: number, N: number,
                     packed: BlockSparseMatrix, bias: Float32Array|undefined, relu: boolean, what: string): void {
  const want = ref.matMul(x, w, M, K, N, bias, relu);
  let ymax = 0;
  for (const v of want) ymax = Math.max(ymax, Math.abs(v));
  const bound = packed.dtype === 'int8' ? ref.int8MatMulErrorBound(x, w, M, K, N, packed.toArrays().scales!) : null;
  for (let i = 0; i < want.length; i++) {
    const tol = bound ? bound[i] + 1e-6 * Math.abs(want[i]) : 1e-6 * ymax;
    if (!(Math.abs(got[i] - want[i]) <= tol)) {
      assert.unreachable(`${what}: y[${Math.floor(i / N)}, ${i % N}] = ${got[i]}, expected ${want[i]} ± ${tol}`);
    }
  }
}

/** One matmul case: its name says which edge of the tiles and blocks it hits. */
interface Case {
  name: string;
  M: number;
  K: number;
  N: number;
  pattern: Pattern;
}

/**
 * The cases for one block shape: every shape edge on random blocks (rows M against the 2-row tile,
 * K and N against the block, partial blocks last), then every weight pattern on an off-grid shape.
 */
function cases([bh, bw]: [number, number]): Case[] {
  const K = bh * 5 + (bh > 1 ? 1 : 17), N = bw * 3 + Math.max(1, bw >> 1);  // off the block grid
  const shapes: Array<[string, number, number, number]> = [
    ['m_eq_1', 1, K, N],
    ['m_eq_2', 2, K, N],
    ['m_odd', 13, K, N],
    ['m_eq_32', 32, K, N],
    ['m_gt_32', 67, K, N],
    [`k_eq_${bh}`, 5, bh, N],  // one block row
    ['k_div_block', 8, bh * 6, N],
    ['n_eq_block', 5, K, bw],  // one block column
    ['n_div_block', 8, K, bw * 4],
    ['n_tail', 8, K, bw * 2 + 1],
  ];
  const patterns: Pattern[] = ['empty_rows_and_columns', 'zero_weights', 'dense', 'entrywise'];
  return [
    ...shapes.map(([name, M, K, N]) => ({name, M, K, N, pattern: 'random_blocks' as Pattern})),
    ...patterns.map(pattern => ({name: pattern, M: 9, K, N, pattern})),
  ];
}

const matmulSuite = suite('blockSparseMatMul');

for (const backend of BACKENDS) {
  for (const block of BLOCKS) {
    matmulSuite(`blockSparseMatMul(x, packed) equals the dense reference on ${backend}, ${block.join('x')} blocks: every ` +
                'edge case, dtype and kernel', async () => {
      await useBackend(backend);
      let seed = 100 * block[0] + block[1];
      for (const dtype of DTYPES) {
        for (const [i, {name, M, K, N, pattern}] of cases(block).entries()) {
          const w = weight(K, N, block, pattern, seed++);
          const x = normal(M * K, seed++);
          const bias = i % 2 === 0 ? normal(N, seed++) : undefined;
          const relu = i % 3 === 0;
          const wt = tf.tensor2d(w, [K, N]);
          const xt = tf.tensor2d(x, [M, K]);
          const packed = packBlockSparse(wt, {blockSize: block, dtype});
          for (const kernel of KERNELS) {
            const what = `${backend} ${block.join('x')} ${dtype} ${name}: M=${M} K=${K} N=${N} bias=${!!bias} relu=${relu} ${kernel}`;
            const opts = {bias, activation: relu ? 'relu' as const : 'linear' as const, kernel};
            blockSparseMatMul(xt, packed, opts).dispose();  // materializes the dense weight once
            const y = noLeak(() => blockSparseMatMul(xt, packed, opts), what);
            assert.equal(y.shape, [M, N], what);
            checkResult(y.dataSync() as Float32Array, x, w, M, K, N, packed, bias, relu, what);
            y.dispose();
          }
          tf.dispose([wt, xt]);
          packed.dispose();
        }
      }
    });
  }
}

matmulSuite('blockSparseMatMul gives the same bits on wasm and cpu', async () => {
  const w = weight(70, 53, [1, 16], 'random_blocks', 5);
  const x = normal(9 * 70, 6);
  const results: Float32Array[] = [];
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const dtype of DTYPES) {
      const packed = packBlockSparse(tf.tensor2d(w, [70, 53]), {dtype});
      const y = blockSparseMatMul(tf.tensor2d(x, [9, 70]), packed, {kernel: 'sparse'});
      results.push(y.dataSync() as Float32Array);
      y.dispose();
      packed.dispose();
    }
  }
  assert.equal(Array.from(results[0]), Array.from(results[2]));
  assert.equal(Array.from(results[1]), Array.from(results[3]));
});

matmulSuite('blockSparseMatMul takes x of rank 3 and TensorLike inputs', async () => {
  await useBackend('wasm');
  const w = weight(20, 18, [1, 4], 'random_blocks', 9);
  const packed = packBlockSparse(tf.tensor2d(w, [20, 18]), {blockSize: [1, 4]});
  const x = normal(2 * 3 * 20, 10);
  const y = blockSparseMatMul(tf.tensor3d(x, [2, 3, 20]), packed);
  assert.equal(y.shape, [2, 3, 18]);
  checkResult(y.dataSync() as Float32Array, x, w, 6, 20, 18, packed, undefined, false, 'rank 3');
  const y2 = blockSparseMatMul([Array.from(x.subarray(0, 20))], packed, {bias: Array.from(normal(18, 3))});
  assert.equal(y2.shape, [1, 18]);
  tf.dispose([y, y2]);
  packed.dispose();
});

matmulSuite('blockSparseMatMul propagates NaN and Infinity in x', async () => {
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const dtype of DTYPES) {
      const packed = packBlockSparse(tf.ones([4, 16]), {dtype});
      const y = blockSparseMatMul(tf.tensor2d([[1, NaN, 0, 0], [1, 1, 1, 1]]), packed, {kernel: 'sparse'});
      const v = y.dataSync();
      assert.ok(v.subarray(0, 16).every(Number.isNaN), `${backend} ${dtype}: NaN row`);
      assert.ok(v.subarray(16).every(e => Math.abs(e - 4) < 0.05), `${backend} ${dtype}: finite row`);
      y.dispose();
      packed.dispose();
    }
  }
});

matmulSuite('blockSparseMatMul rejects bad arguments without leaking', async () => {
  await useBackend('wasm');
  const packed = packBlockSparse(tf.randomNormal([8, 16]));
  const x = tf.randomNormal([2, 8]);
  const [wideX, intX, vecX, shortBias, denseW] = [tf.randomNormal([2, 9]), tf.ones([2, 8], 'int32'), tf.ones([8]),
    tf.ones([15]), tf.ones([8, 16])];
  const before = tf.memory().numTensors;
  assert.throws(() => blockSparseMatMul(wideX, packed),
      /'x' passed to 'blockSparseMatMul' must have last dimension K = 8 \(the packed weight is \[8, 16\]\), but got shape \[2,9\]/);
  assert.throws(() => blockSparseMatMul(intX, packed), /'x' passed to 'blockSparseMatMul' must be a float32 tensor, but got a int32/);
  assert.throws(() => blockSparseMatMul(vecX, packed), /'x' passed to 'blockSparseMatMul' must have rank >= 2/);
  assert.throws(() => blockSparseMatMul(x, packed, {bias: shortBias as tf.Tensor1D}), /'bias' passed to 'blockSparseMatMul' must have shape \[16\], but got \[15\]/);
  assert.throws(() => blockSparseMatMul(x, packed, {bias: [[1, 2]]}), /'bias' passed to 'blockSparseMatMul' must have rank 1/);
  assert.throws(() => blockSparseMatMul(x, packed, null as never), /blockSparseMatMul options must be an object \{bias, activation, kernel\}, but got null/);
  assert.throws(() => blockSparseMatMul(x, packed, {activaton: 'relu'} as never), /blockSparseMatMul got an unknown option 'activaton'/);
  assert.throws(() => blockSparseMatMul(x, packed, {activation: 'tanh' as 'relu'}), /'activation' passed to 'blockSparseMatMul' must be one of 'linear', 'relu', but got 'tanh'/);
  assert.throws(() => blockSparseMatMul(x, packed, {kernel: 'gpu' as 'sparse'}), /'kernel' passed to 'blockSparseMatMul' must be one of 'sparse', 'pixel', 'dense', 'tfMatMul'/);
  assert.throws(() => blockSparseMatMul(x, denseW as unknown as BlockSparseMatrix), /'packed' passed to 'blockSparseMatMul' must be a BlockSparseMatrix/);
  assert.is(tf.memory().numTensors, before);
  tf.dispose([wideX, intX, vecX, shortBias, denseW]);
  packed.dispose();
  assert.throws(() => blockSparseMatMul(x, packed), /'blockSparseMatMul' was given a disposed BlockSparseMatrix/);
  x.dispose();
});

matmulSuite('blockSparseMatMul throws under a gradient tape, and so do its kernels', async () => {
  await import('@tensorflow/tfjs-layers');  // registers tfjs-core's gradients in Node
  for (const backend of BACKENDS) {
    await useBackend(backend);
    const packed = packBlockSparse(tf.randomNormal([8, 16]));
    const x = tf.randomNormal([2, 8]);
    const before = tf.memory().numTensors;
    assert.throws(() => tf.grad((a: tf.Tensor) => tf.sum(blockSparseMatMul(a, packed)))(x), /blockSparseMatMul is inference-only/);
    const v = tf.variable(x);
    assert.throws(() => tf.variableGrads(() => tf.sum(blockSparseMatMul(v, packed)) as tf.Scalar), /inference-only/);
    const {colPtr, rowOffsets, values} = packed.tensors;
    assert.throws(() => tf.grad((a: tf.Tensor) => tf.engine().runKernel(SPMM_F32,
        {x: a, colptr: colPtr, rowoff: rowOffsets, vals: values}, {n: 16, bw: 16, relu: false}) as tf.Tensor)(x),
        /inference-only/);
    v.dispose();
    assert.is(tf.memory().numTensors, before, `${backend}: no tensors leaked by the failed tapes`);
    tf.dispose(x);
    packed.dispose();
  }
});

matmulSuite.run();

// ---

const planSuite = suite('planBlockSparseMatMul');

planSuite('planBlockSparseMatMul picks sparse at high sparsity and a dense path when dense', async () => {
  await useBackend('wasm');
  const dense = packBlockSparse(tf.ones([64, 64]), {blockSize: [1, 1]});
  const sparse = packBlockSparse(tf.tensor2d(weight(64, 64, [1, 16], 'zero_weights', 1), [64, 64]));
  assert.is(planBlockSparseMatMul([1, 64], sparse).kernel, 'sparse');
  assert.is(planBlockSparseMatMul([32, 64], sparse).kernel, 'sparse');
  assert.is(planBlockSparseMatMul([1, 64], dense, 'wasm').kernel, 'tfMatMul');
  assert.is(planBlockSparseMatMul([32, 64], dense, 'wasm').kernel, 'tfMatMul');
  assert.is(planBlockSparseMatMul([1, 64], dense, 'cpu').kernel, 'dense');
  assert.is(planBlockSparseMatMul([32, 64], dense, 'cpu').kernel, 'dense');
  assert.match(planBlockSparseMatMul([4, 2, 64], dense).reason, /float32 1x1 blocks at density 1\.000, 8 rows, wasm backend: above density/);
  assert.throws(() => planBlockSparseMatMul([1, 63], dense), /'xShape' passed to 'planBlockSparseMatMul' must be a shape of rank >= 2 ending in K = 64, but got \[1,63\]/);
  assert.throws(() => planBlockSparseMatMul([1, 64], {} as BlockSparseMatrix), /'packed' passed to 'planBlockSparseMatMul' must be a BlockSparseMatrix/);
  dense.dispose();
  sparse.dispose();
  assert.throws(() => planBlockSparseMatMul([1, 64], dense), /'planBlockSparseMatMul' was given a disposed BlockSparseMatrix/);
});

planSuite('planBlockSparseMatMul uses the streamed limits for one row of a weight over 16 MiB', async () => {
  await useBackend('wasm');
  // 8 % of the entries kept, 1x1 blocks: in cache the scalar kernel loses to XNNPACK at this density,
  // streamed from memory it wins (BENCHMARKS.md, "Dispatcher thresholds").
  const pack = (K: number, N: number) => {
    const w = new Float32Array(K * N);
    for (let i = 0; i < w.length; i += 25) w[i] = 1;
    for (let i = 7; i < w.length; i += 25) w[i] = -1;
    const t = tf.tensor2d(w, [K, N]);
    const packed = packBlockSparse(t, {blockSize: [1, 1]});
    t.dispose();
    return packed;
  };
  const cached = pack(1024, 1024), streamed = pack(2048, 2100);
  assert.is(planBlockSparseMatMul([1, 1024], cached).kernel, 'tfMatMul');
  const plan = planBlockSparseMatMul([1, 2048], streamed);
  assert.is(plan.kernel, 'sparse');
  assert.match(plan.reason, /density 0\.080, 1 row, dense weight over 16 MiB \(streamed from memory\), wasm backend: sparse kernel/);
  assert.is(planBlockSparseMatMul([2, 2048], streamed).kernel, 'sparse', 'two rows: the batch limits');
  cached.dispose();
  streamed.dispose();
});

planSuite.run();
