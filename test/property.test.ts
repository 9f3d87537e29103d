// Property-based tests (fast-check): every kernel op against the plain reference on generated
// shapes and float32 values (±0, subnormals, ±Infinity, NaN where the op defines them). Seeded, so a
// failure reproduces; fast-check shrinks it and reports the smallest counterexample with its seed.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import {applyMask, blockPool, blockSparseMatMul, countNonzero, expandBlockMask, keepCount, kthLargestMagnitude,
  magnitudeThreshold, maskFromThreshold, mByNMask, packBlockSparse, unpackBlockSparse} from '../src/index';
import * as ref from './reference';
import type {BlockSparseKernel} from '../src/index';
import {BACKENDS, BackendName, int8Bound, useBackend} from './helpers';

/** Generated cases per kernel and backend (RELIABILITY.md records these figures). */
const RUNS: Record<BackendName, number> = {wasm: 10_000, cpu: 1_000};
const SEED = 20261128;

/** Any float32, with fast-check's bias towards ±0, subnormals, ±Infinity, NaN and the extremes. */
const anyF32 = fc.float();
/** Finite float32 of moderate magnitude (matmul sums stay far from overflow). */
const finiteF32 = fc.float({min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true});

/** A rows x cols matrix of `values` (rows, cols in [1, maxDim]). */
function matrix(values: fc.Arbitrary<number>, maxDim = 12) {
  return fc.tuple(fc.integer({min: 1, max: maxDim}), fc.integer({min: 1, max: maxDim})).chain(([rows, cols]) =>
    fc.array(values, {minLength: rows * cols, maxLength: rows * cols})
        .map(v => ({rows, cols, w: Float32Array.from(v)})));
}

/** The smallest float32 subnormal: a float32 product below it rounds to 0 (the float64 reference keeps it). */
const TINY = 2 ** -149;

/** Runs `property` RUNS[backend] times with the fixed seed, asserting no tensor leaks overall. */
async function check<T>(backend: BackendName, arb: fc.Arbitrary<T>, property: (t: T) => void): Promise<void> {
  await useBackend(backend);
  const before = tf.memory().numTensors;
  let cases = 0;
  fc.assert(fc.property(arb, t => { cases++; property(t); }),
      {seed: SEED, numRuns: RUNS[backend], includeErrorInReport: true});
  assert.is(cases, RUNS[backend], 'generated cases');
  assert.is(tf.memory().numTensors, before, 'leaked tensors');
}

/** Bitwise float32 equality (NaN bits included) as a boolean, for fast-check. */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Int32Array(a.buffer, a.byteOffset, a.length), y = new Int32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Reads a tensor's values and disposes it. */
function take(t: tf.Tensor): Float32Array {
  const v = t.dataSync() as Float32Array;
  t.dispose();
  return v;
}

/** blockSparseMatMul of x [M, K] by w [K, N] packed as `dtype`, with the float64 reference and the int8 scales. */
function packedMatMul(w: Float32Array, K: number, N: number, M: number, xv: number[], bh: number, bw: number,
                      kernel: BlockSparseKernel, relu: boolean, dtype: 'float32'|'int8') {
  const x = Float32Array.from(xv);
  const wt = tf.tensor2d(w, [K, N]), xt = tf.tensor2d(x, [M, K]);
  const packed = packBlockSparse(wt, {blockSize: [bh, bw], dtype});
  const scales = packed.toArrays().scales;
  const got = take(blockSparseMatMul(xt, packed, {kernel, activation: relu ? 'relu' : 'linear'}));
  tf.dispose([wt, xt]);
  packed.dispose();
  return {x, got, scales, want: ref.matMul(x, w, M, K, N, undefined, relu)};
}


const kernels = suite('property: kernels vs reference');

for (const backend of BACKENDS) {
  kernels(`maskFromThreshold on ${backend}`, () => check(backend,
    fc.tuple(fc.float32Array({minLength: 1, maxLength: 40}), anyF32), ([w, t]) => {
      const x = tf.tensor1d(w);
      const got = take(maskFromThreshold(x, t));
      x.dispose();
      assert.ok(sameBits(got, ref.maskFromThreshold(w, t)), 'mask');
    }));

  kernels(`applyMask on ${backend}`, () => check(backend,
    fc.integer({min: 1, max: 40}).chain(n => fc.tuple(
      fc.float32Array({minLength: n, maxLength: n}),
      fc.array(fc.constantFrom(0, 1), {minLength: n, maxLength: n}))), ([w, m]) => {
      const x = tf.tensor1d(w), mask = tf.tensor1d(m);
      const got = take(applyMask(x, mask));
      tf.dispose([x, mask]);
      // w * mask in float32: NaN * 0 and Infinity * 0 are NaN, -w * 0 keeps the sign.
      const want = Float32Array.from(w, (v, i) => v * m[i]);
      for (let i = 0; i < w.length; i++) {
        if (!(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) {
          assert.unreachable(`index ${i}: ${w[i]} * ${m[i]} = ${got[i]}, expected ${want[i]}`);
        }
      }
    }));

  kernels(`countNonzero on ${backend}`, () => check(backend, fc.float32Array({minLength: 0, maxLength: 60}), w => {
    const x = tf.tensor1d(w);
    const got = take(countNonzero(x))[0];
    x.dispose();
    assert.is(got, ref.countNonzero(w));
  }));

  kernels(`kthLargestMagnitude on ${backend}`, () => check(backend,
    fc.float32Array({minLength: 1, maxLength: 60}).chain(w => fc.tuple(fc.constant(w), fc.integer({min: 1, max: w.length}))),
    ([w, k]) => {
      const x = tf.tensor1d(w);
      const got = take(kthLargestMagnitude(x, k));
      x.dispose();
      assert.ok(sameBits(got, ref.kthLargestMagnitude(w, k)), `k=${k}: got ${got[0]}`);
    }));

  kernels(`magnitudeThreshold on ${backend}`, () => check(backend,
    fc.tuple(fc.float32Array({minLength: 1, maxLength: 60}), fc.double({min: 0, max: 1, maxExcluded: true, noNaN: true})),
    ([w, s]) => {
      const x = tf.tensor1d(w);
      const got = take(magnitudeThreshold(x, s));
      x.dispose();
      assert.ok(sameBits(got, ref.kthLargestMagnitude(w, keepCount(w.length, s))), `sparsity ${s}: got ${got[0]}`);
    }));

  const blocks = fc.tuple(fc.integer({min: 1, max: 5}), fc.integer({min: 1, max: 5}));

  kernels(`blockPool (AVG and MAX) on ${backend}`, () => check(backend,
    fc.tuple(matrix(anyF32), blocks, fc.constantFrom('AVG' as const, 'MAX' as const)), ([{rows, cols, w}, [bh, bw], type]) => {
      const x = tf.tensor2d(w, [rows, cols]);
      const got = take(blockPool(x, [bh, bw], type));
      x.dispose();
      assert.ok(sameBits(got, ref.blockPoolRef(w, rows, cols, bh, bw, type)), 'pooled');
    }));

  kernels(`expandBlockMask on ${backend}`, () => check(backend,
    fc.tuple(fc.integer({min: 0, max: 14}), fc.integer({min: 0, max: 14}), blocks).chain(([rows, cols, [bh, bw]]) => {
      const n = Math.ceil(rows / bh) * Math.ceil(cols / bw);
      return fc.tuple(fc.constant({rows, cols, bh, bw}), fc.float32Array({minLength: n, maxLength: n}));
    }), ([{rows, cols, bh, bw}, m]) => {
      const x = tf.tensor2d(m, [Math.ceil(rows / bh), Math.ceil(cols / bw)]);
      const got = take(expandBlockMask(x, [bh, bw], [rows, cols]));
      x.dispose();
      assert.ok(sameBits(got, ref.expandBlockMaskRef(m, bh, bw, rows, cols)), 'expanded');
    }));

  kernels(`mByNMask (rank 2 and 4) on ${backend}`, () => check(backend,
    fc.tuple(fc.integer({min: 2, max: 8}), fc.boolean(), fc.array(fc.integer({min: 1, max: 6}), {minLength: 4, maxLength: 4}))
        .chain(([n, rank4, dims]) => {
          const shape = rank4 ? dims.map(d => Math.min(d, 3)) : [dims[0] + dims[1], dims[2]];
          const size = shape.reduce((a, b) => a * b, 1);
          return fc.tuple(fc.constant(shape), fc.integer({min: 1, max: n - 1}), fc.constant(n),
              fc.float32Array({minLength: size, maxLength: size}));
        }), ([shape, m, n, w]) => {
      const x = tf.tensor(w, shape);
      const got = take(mByNMask(x, [m, n]));
      x.dispose();
      assert.ok(sameBits(got, ref.mByNMaskRef(w, shape, m, n)), `${m}:${n} of [${shape}]`);
    }));

  // Values with many exact zeros, so that whole blocks are pruned.
  const sparseF32 = fc.oneof({weight: 2, arbitrary: fc.constant(0)}, {weight: 1, arbitrary: fc.constant(-0)},
      {weight: 3, arbitrary: anyF32});

  kernels(`packBlockSparse then unpackBlockSparse (f32) gives W back on ${backend}`, () => check(backend,
    matrix(sparseF32).chain(m => fc.tuple(fc.constant(m), fc.integer({min: 1, max: m.rows}), fc.integer({min: 1, max: m.cols}))),
    ([{rows, cols, w}, bh, bw]) => {
      const x = tf.tensor2d(w, [rows, cols]);
      const packed = packBlockSparse(x, {blockSize: [bh, bw]});
      x.dispose();
      const got = take(unpackBlockSparse(packed));
      packed.dispose();
      // Exact, except that -0 in a block with no nonzero entry comes back as +0 (the block is not stored).
      for (let i = 0; i < w.length; i++) {
        const same = Object.is(got[i], w[i]) || (Number.isNaN(w[i]) && Number.isNaN(got[i])) || (w[i] === 0 && got[i] === 0);
        if (!same) assert.unreachable(`index ${i}: got ${got[i]}, expected ${w[i]}`);
      }
    }));

  const matmulCase = (values: fc.Arbitrary<number>) => fc.tuple(matrix(values, 10), fc.integer({min: 1, max: 4}))
      .chain(([m, M]) => fc.tuple(fc.constant(m), fc.constant(M),
          fc.array(finiteF32, {minLength: M * m.rows, maxLength: M * m.rows}),
          fc.integer({min: 1, max: m.rows}), fc.integer({min: 1, max: m.cols}),
          fc.constantFrom('sparse' as const, 'dense' as const, 'tfMatMul' as const), fc.boolean()));
  const sparseFinite = fc.oneof({weight: 2, arbitrary: fc.constant(0)}, {weight: 3, arbitrary: finiteF32});

  kernels(`blockSparseMatMul f32 within 1e-6 of the float64 product on ${backend}`, () => check(backend,
    matmulCase(sparseFinite), ([{rows: K, cols: N, w}, M, xv, bh, bw, kernel, relu]) => {
      const {x, got, want} = packedMatMul(w, K, N, M, xv, bh, bw, kernel, relu, 'float32');
      // Relative to the sum of |products| (float32 accumulation), as the spmm tests' 1e-6 of max|y|.
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let scale = 0;
          for (let k = 0; k < K; k++) scale += Math.abs(x[m * K + k] * w[k * N + n]);
          const i = m * N + n;
          const tol = 1e-6 * scale + K * TINY;
          if (!(Math.abs(got[i] - want[i]) <= tol)) {
            assert.unreachable(`${kernel} y[${m}, ${n}] = ${got[i]}, expected ${want[i]} ± ${tol}`);
          }
        }
      }
    }));

  kernels(`blockSparseMatMul int8 within the int8 bound on ${backend}`, () => check(backend,
    matmulCase(sparseFinite), ([{rows: K, cols: N, w}, M, xv, bh, bw, kernel, relu]) => {
      const {x, got, want, scales: maybeScales} = packedMatMul(w, K, N, M, xv, bh, bw, kernel, relu, 'int8');
      const scales = maybeScales!;
      for (let m = 0; m < M; m++) {
        for (let n = 0; n < N; n++) {
          let scale = 0, sumX = 0, sumW = 0;
          for (let k = 0; k < K; k++) {
            scale += Math.abs(x[m * K + k] * w[k * N + n]);
            sumX += Math.abs(x[m * K + k]);
            sumW += Math.abs(w[k * N + n]);
          }
          const i = m * N + n;
          // Plus the subnormal slack: a weight scale max|w|/127 or an activation scale max|x|/127 below
          // 2^-126 is rounded to a multiple of TINY (to 0 when max < 127·TINY, which zeroes the column
          // or row), so each quantized weight or activation is off by up to 128·TINY more; and when
          // the scale product sx·sw is subnormal the output keeps no relative precision: it is off by
          // up to its largest magnitude K·127²·sx·sw (under K·2e-34). A row with max|x| < 3.8e-37
          // (127 / max|x| overflows) quantizes to zero, as assembly/spmm_i8.ts documents (RELIABILITY.md).
          let sx = 0;
          for (let k = 0; k < K; k++) sx = Math.max(sx, Math.abs(x[m * K + k]) / 127);
          const scaleProduct = sx * scales[n];
          const underflow = (scaleProduct < 2 ** -125 ? K * 127 * 127 * scaleProduct : 0) +
              (sx * 127 < 3.8e-37 ? scale : 0);
          const tol = int8Bound(x, m, w, [K, N], scales, n) + 2e-6 * scale + ((sumX + sumW) * 128 + K) * TINY + underflow;
          if (!(Math.abs(got[i] - want[i]) <= tol)) {
            assert.unreachable(`${kernel} y[${m}, ${n}] = ${got[i]}, expected ${want[i]} ± ${tol}`);
          }
        }
      }
    }));
}

kernels.run();
