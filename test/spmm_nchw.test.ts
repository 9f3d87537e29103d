import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {blockSparseMatMul, channelMajorSparseMatMul, FusedActivation, packBlockSparse, PixelSparseMatrix,
  planBlockSparseMatMul} from '../src/index';
import {kernelsOn} from '../src/kernels/module';
import * as ref from './reference';
import {assertBitsEqual, BACKENDS, normal, noLeak, rng, useBackend} from './helpers';

/** A weight pattern named for the edge it hits. */
type Pattern = 'random'|'empty_rows'|'zero_weights'|'dense'|'single';

/** W [K, N] (Keras [in, out]) with the pattern's zeros. */
function weight(K: number, N: number, pattern: Pattern, sparsity: number, seed: number): Float32Array {
  const r = rng(seed);
  const w = normal(K * N, seed + 1);
  for (let k = 0; k < K; k++) {
    for (let n = 0; n < N; n++) {
      const i = k * N + n;
      if (pattern === 'zero_weights') w[i] = 0;
      else if (pattern === 'random' && r() < sparsity) w[i] = 0;
      else if (pattern === 'empty_rows' && (n % 3 === 1 || r() < sparsity)) w[i] = 0;
      else if (pattern === 'single' && i !== (seed % (K * N))) w[i] = 0;
    }
  }
  return w;
}

const CLAMPS: Record<FusedActivation, [number, number]> = {linear: [-Infinity, Infinity], relu: [0, Infinity], relu6: [0, 6]};

/** Checks got against the float64 reference to 1e-6 of max|y| (plus the int8 weights' own rounding). */
function check(got: ArrayLike<number>, want: Float64Array, what: string): void {
  let ymax = 1e-30;
  for (const v of want) ymax = Math.max(ymax, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    if (!(Math.abs(got[i] - want[i]) <= 2e-6 * ymax)) assert.unreachable(`${what}: y[${i}] = ${got[i]}, expected ${want[i]}`);
  }
}

// Pixel counts around every tile edge: scalar tails (1-3), 4/8 tails, 16-pixel tiles and beyond.
const PIXELS = [1, 2, 3, 4, 5, 7, 8, 11, 15, 16, 17, 23, 31, 32, 33, 47, 63, 64, 70];

// ---

const raw = suite('f32_spmm_nchw_16x1__simd128');

raw('every pixel count 1..70 and tile edge, NaN-prefilled outputs, packed and unpacked tiles equal the reference', async () => {
  await useBackend('wasm');
  const memory = new WebAssembly.Memory({initial: 64});
  const kern = kernelsOn(memory);
  const [K, N] = [13, 9];
  for (const P of [...PIXELS, ...Array.from({length: 70}, (_, i) => i + 1)]) {
    for (const pattern of ['random', 'empty_rows', 'zero_weights', 'dense', 'single'] as Pattern[]) {
      const w = weight(K, N, pattern, 0.7, P * 7 + pattern.length);
      const packed = PixelSparseMatrix.fromDense(w, [K, N]);
      const x = normal(K * P, P);
      const bias = normal(N, P + 1);
      // Layout: x rows with a stride of P + 3 pixels, y rows with P + 5, the gaps must stay untouched.
      const xs = (P + 3) * 4, ys = (P + 5) * 4;
      let top = 64;
      const put = (v: Float32Array|Int32Array) => {
        const p = top;
        new Uint8Array(memory.buffer, p, v.byteLength).set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        top += (v.byteLength + 63) & ~63;
        return p;
      };
      const xPadded = new Float32Array(K * (P + 3));
      for (let k = 0; k < K; k++) xPadded.set(x.subarray(k * P, (k + 1) * P), k * (P + 3));
      const xp = put(xPadded), rp = put(packed.tensors.rowPtr.dataSync() as Int32Array);
      const ip = put(packed.tensors.ics.dataSync() as Int32Array), vp = put(packed.tensors.values.dataSync() as Float32Array);
      const bp = put(bias), pack = put(new Float32Array(16 * K));
      for (const usePack of [false, true]) {
        const yp = top;
        new Float32Array(memory.buffer, yp, N * (P + 5)).fill(NaN);
        kern.f32_spmm_nchw_16x1__simd128(xp, xs, P, rp, ip, vp, 0, N, bp, 0, 6, yp, ys, K, usePack ? pack : 0);
        const y = new Float32Array(memory.buffer, yp, N * (P + 5));
        const want = ref.channelMajorMatMul(x, w, 1, K, N, P, bias, 0, 6);
        const got = new Float32Array(N * P);
        for (let n = 0; n < N; n++) {
          got.set(y.subarray(n * (P + 5), n * (P + 5) + P), n * P);
          for (let g = P; g < P + 5; g++) assert.ok(Number.isNaN(y[n * (P + 5) + g]), `P=${P} ${pattern}: gap written at row ${n}`);
        }
        check(got, want, `P=${P} ${pattern} pack=${usePack}`);
      }
      packed.dispose();
    }
  }
});

raw('an output-channel range writes only its rows (the threading split)', async () => {
  await useBackend('wasm');
  const memory = new WebAssembly.Memory({initial: 16});
  const kern = kernelsOn(memory);
  const [K, N, P] = [10, 12, 37];
  const w = weight(K, N, 'random', 0.5, 3);
  const packed = PixelSparseMatrix.fromDense(w, [K, N]);
  const f = new Float32Array(memory.buffer);
  const i = new Int32Array(memory.buffer);
  const x = normal(K * P, 4);
  f.set(x, 0);
  const rp = 4096, ip = rp + 4096, vp = ip + 4096, yp = vp + 4096;
  i.set(packed.tensors.rowPtr.dataSync() as Int32Array, rp / 4);
  i.set(packed.tensors.ics.dataSync() as Int32Array, ip / 4);
  f.set(packed.tensors.values.dataSync() as Float32Array, vp / 4);
  f.fill(NaN, yp / 4, yp / 4 + N * P);
  kern.f32_spmm_nchw_16x1__simd128(0, P * 4, P, rp, ip, vp, 4, 9, 0, -Infinity, Infinity, yp, P * 4, K, 0);
  const want = ref.channelMajorMatMul(x, w, 1, K, N, P, undefined, -Infinity, Infinity);
  for (let n = 0; n < N; n++) {
    for (let p = 0; p < P; p++) {
      const got = f[yp / 4 + n * P + p];
      if (n < 4 || n >= 9) assert.ok(Number.isNaN(got), `row ${n} outside [4, 9) was written`);
      else assert.ok(Math.abs(got - want[n * P + p]) <= 1e-5 * Math.max(1, Math.abs(want[n * P + p])), `row ${n} pixel ${p}`);
    }
  }
  packed.dispose();
});

raw.run();

// ---

const op = suite('channelMajorSparseMatMul');

/** [B, K, N] cases named for the edge they hit (K against the 4-row unroll, N against nothing, batches). */
const OP_SHAPES: Array<[string, [number, number, number]]> = [
  ['k_eq_1', [1, 1, 1]], ['k_lt_4', [1, 3, 5]], ['batch_2', [2, 16, 24]], ['k_odd', [1, 37, 7]], ['batch_3_k_64', [3, 64, 17]],
];
/** Pixel counts named for the 16-pixel tile edge they hit. */
const OP_PIXELS: Array<[string, number]> = [['p_eq_1', 1], ['p_lt_4', 3], ['p_eq_16', 16], ['p_gt_32', 33], ['p_tile_and_tail', 70]];

for (const backend of BACKENDS) {
  op(`channelMajorSparseMatMul(x, packed) equals the reference over shapes, patterns, dtypes and activations on ${backend}`, async () => {
    await useBackend(backend);
    let seed = 1;
    for (const [shapeName, [B, K, N]] of OP_SHAPES) {
      for (const [pixelsName, P] of OP_PIXELS) {
        for (const pattern of ['random', 'empty_rows', 'zero_weights', 'dense'] as Pattern[]) {
          for (const dtype of ['float32', 'int8'] as const) {
            for (const activation of ['linear', 'relu', 'relu6'] as FusedActivation[]) {
              seed++;
              const w = weight(K, N, pattern, 0.8, seed);
              const packed = PixelSparseMatrix.fromDense(w, [K, N], dtype);
              const xv = normal(B * K * P, seed + 2, 3);
              const bias = seed % 2 ? normal(N, seed + 3) : undefined;
              const x = tf.tensor3d(xv, [B, K, P]);
              const y = noLeak(() => channelMajorSparseMatMul(x, packed, {bias, activation}), 'channelMajorSparseMatMul');
              assert.equal(y.shape, [B, N, P]);
              // int8 multiplies by the dequantized weight exactly: compare against it.
              const wq = dtype === 'int8' ? packed.denseWeight().dataSync() as Float32Array : w;
              check(y.dataSync(), ref.channelMajorMatMul(xv, wq, B, K, N, P, bias, ...CLAMPS[activation]),
                  `${backend} ${shapeName} ${pixelsName} ${pattern} ${dtype} ${activation}: B=${B} K=${K} N=${N} P=${P}`);
              tf.dispose([x, y]);
              packed.dispose();
            }
          }
        }
      }
    }
  });
}

op('the wasm and cpu backends give bit-identical results', async () => {
  const w = weight(48, 40, 'random', 0.9, 5);
  const xv = normal(2 * 48 * 61, 6);
  const bias = normal(40, 7);
  const out: Float32Array[] = [];
  for (const backend of BACKENDS) {
    await useBackend(backend);
    for (const dtype of ['float32', 'int8'] as const) {
      const packed = PixelSparseMatrix.fromDense(w, [48, 40], dtype);
      const x = tf.tensor3d(xv, [2, 48, 61]);
      const y = channelMajorSparseMatMul(x, packed, {bias, activation: 'relu6'});
      out.push(y.dataSync() as Float32Array);
      tf.dispose([x, y]);
      packed.dispose();
    }
  }
  assertBitsEqual(out[0], out[2], 'float32 wasm vs cpu');
  assertBitsEqual(out[1], out[3], 'int8 wasm vs cpu');
});

op('rank 4 input [B, H, K, P] keeps its leading dimensions; NaN reaches only outputs of stored weights', async () => {
  await useBackend('wasm');
  const w = new Float32Array([1, 0, 0, 0, 2, 0]);  // K = 2, N = 3: w[0,0] = 1, w[1,1] = 2
  const packed = PixelSparseMatrix.fromDense(w, [2, 3]);
  const x = tf.tensor4d([NaN, 1, 2, 3, 4, 5, 6, 7], [1, 2, 2, 2]);
  const y = noLeak(() => channelMajorSparseMatMul(x, packed));
  assert.equal(y.shape, [1, 2, 3, 2]);
  const v = Array.from(y.dataSync());
  assert.ok(Number.isNaN(v[0]), 'NaN times a stored weight is NaN');
  assert.equal(v.slice(1), [1, 4, 6, 0, 0, 4, 5, 12, 14, 0, 0]);
  tf.dispose([x, y]);
  packed.dispose();
});

op('PixelSparseMatrix.fromDense(w, shape, dtype) refuses bad arguments, naming them', async () => {
  await useBackend('wasm');
  const before = tf.memory().numTensors;
  assert.throws(() => PixelSparseMatrix.fromDense(new Float32Array(5), [2, 3]), /'w' .* Float32Array of K·N = 6 values, but got Float32Array of length 5/);
  assert.throws(() => PixelSparseMatrix.fromDense([1, 2] as unknown as Float32Array, [1, 2]), /'w' .* but got Array/);
  assert.throws(() => PixelSparseMatrix.fromDense(new Float32Array(6), [2, 0] as [number, number]), /'shape' .* positive integers \[K, N\], but got \[2,0\]/);
  assert.throws(() => PixelSparseMatrix.fromDense(new Float32Array(6), [2, 3], 'int4' as 'int8'), /'dtype' .* 'float32', 'int8', but got 'int4'/);
  assert.throws(() => PixelSparseMatrix.fromDense(new Float32Array([1, NaN]), [1, 2], 'int8'), /int8 weights must be finite/);
  assert.is(tf.memory().numTensors, before);
  const packed = PixelSparseMatrix.fromDense(new Float32Array([0, 2, -1, 0, 0, 3]), [2, 3]);
  assert.equal([packed.nnz, packed.sparsity, packed.shape], [3, 0.5, [2, 3]]);
  assert.equal(Array.from(packed.denseWeight().dataSync()), [0, 2, -1, 0, 0, 3]);
  packed.dispose();
  assert.ok(packed.isDisposed);
  assert.is(tf.memory().numTensors, before, 'dispose frees every tensor, the dense weight included');
});

op('bad arguments throw errors naming them, and leak nothing', async () => {
  await useBackend('wasm');
  const packed = PixelSparseMatrix.fromDense(weight(4, 3, 'random', 0.5, 1), [4, 3]);
  const [x, transposed, rank1] = [tf.zeros([1, 4, 5]), tf.zeros([1, 5, 4]), tf.zeros([4])];
  const before = tf.memory().numTensors;
  assert.throws(() => channelMajorSparseMatMul(transposed, packed), /'x' .* must have shape \[\.\.\., 4, pixels\]/);
  assert.throws(() => channelMajorSparseMatMul(x, packed, {bias: [1, 2]}), /'bias' .* must have shape \[3\]/);
  assert.throws(() => channelMajorSparseMatMul(x, packed, {activation: 'tanh' as FusedActivation}), /'activation' .* 'linear', 'relu', 'relu6'/);
  assert.throws(() => channelMajorSparseMatMul(rank1, packed), /'x'/);
  assert.throws(() => channelMajorSparseMatMul(x, {} as PixelSparseMatrix), /'packed' .* PixelSparseMatrix/);
  assert.throws(() => tf.grad((t: tf.Tensor) => channelMajorSparseMatMul(t, packed))(x), /inference-only/);
  assert.is(tf.memory().numTensors, before, 'failed calls leaked tensors');
  tf.dispose([transposed, rank1]);
  packed.dispose();
  assert.throws(() => channelMajorSparseMatMul(x, packed), /disposed PixelSparseMatrix/);
  x.dispose();
});

op.run();

// ---

const rows = suite('blockSparseMatMul kernel pixel');

for (const backend of BACKENDS) {
  rows(`blockSparseMatMul(x, packed, {kernel: 'pixel'}) runs Dense rows as pixels and equals the reference on ${backend}`, async () => {
    await useBackend(backend);
    let seed = 50;
    for (const [M, K, N] of [[1, 5, 3], [7, 16, 9], [33, 20, 40], [70, 64, 17]]) {
      for (const dtype of ['float32', 'int8'] as const) {
        seed++;
        const w = weight(K, N, 'random', 0.85, seed);
        const wt = tf.tensor2d(w, [K, N]);
        const packed = packBlockSparse(wt, {blockSize: [1, Math.min(4, N)], dtype});
        wt.dispose();
        const xv = normal(M * K, seed);
        const bias = normal(N, seed + 1);
        const x = tf.tensor2d(xv, [M, K]);
        packed.pixelMatrix();  // made once and kept by packed, as its dense weight is
        const y = noLeak(() => blockSparseMatMul(x, packed, {bias, activation: 'relu', kernel: 'pixel'}));
        const wq = packed.pixelMatrix().denseWeight().dataSync() as Float32Array;
        const want = ref.matMul(xv, wq, M, K, N, bias, true);
        check(y.dataSync(), want, `${backend} ${M}x${K}x${N} ${dtype}`);
        tf.dispose([x, y]);
        packed.dispose();
      }
    }
  });
}

rows('planBlockSparseMatMul picks the pixel kernel for unstructured weights over 16 rows or more (in any strips but SIMD ones that fit), the strips for 1x16 blocks', async () => {
  await useBackend('wasm');
  const unstructured = tf.tensor2d(weight(256, 256, 'random', 0.8, 7), [256, 256]);
  const blocks = tf.tensor2d(Float32Array.from(weight(256, 256, 'dense', 0, 8), (v, i) => (Math.floor(i / 16) % 5 === 0 ? v : 0)), [256, 256]);
  const loose = packBlockSparse(unstructured, {blockSize: [1, 16]});
  const tight = packBlockSparse(blocks, {blockSize: [1, 16]});
  assert.is(loose.nonzeros, Array.from(unstructured.dataSync()).filter(v => v !== 0).length);
  assert.is(planBlockSparseMatMul([32, 256], loose).kernel, 'pixel');
  assert.match(planBlockSparseMatMul([32, 256], loose).reason, /32 rows, wasm backend: pixel-vectorized kernel \(true density 0\.[12]\d\d\)/);
  assert.not.equal(planBlockSparseMatMul([8, 256], loose).kernel, 'pixel', 'below 16 rows');
  assert.is(planBlockSparseMatMul([1, 256], loose).kernel, 'tfMatMul', 'one row: 1x16 strips of an 80 % unstructured weight are dense');
  assert.is(planBlockSparseMatMul([32, 256], tight).kernel, 'sparse', '1x16 blocks stay on the strips');
  const scalar = packBlockSparse(unstructured, {blockSize: [1, 1]});
  assert.is(planBlockSparseMatMul([32, 256], scalar).kernel, 'pixel', '1x1 strips have only the scalar kernel');
  assert.not.equal(planBlockSparseMatMul([8, 256], scalar).kernel, 'pixel', 'below 16 rows');
  tf.dispose([unstructured, blocks]);
  loose.dispose();
  tight.dispose();
  scalar.dispose();
});

rows.run();
