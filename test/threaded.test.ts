// Threaded kernel calls (src/kernels/threaded.ts, and the splits in spmm_nchw.ts, spmm.ts,
// dwconv_nchw.ts): every kernel split across 2 threads gives the single-threaded result bit for bit,
// on both backends; no tensors or shared-memory bytes leak; the arena reuses what it frees.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {packBlockSparse, PixelSparseMatrix} from '../src/index';
import {DWCONV_NCHW} from '../src/kernels/dwconv_nchw';
import {LAYOUT_TRANSPOSE} from '../src/kernels/layout_transpose';
import {SPMM_F32} from '../src/kernels/spmm_f32';
import {SPMM_I8} from '../src/kernels/spmm_i8';
import {SPMM_NCHW} from '../src/kernels/spmm_nchw';
import {ownThreadPool, SharedArena} from '../src/kernels/threaded';
import {assertBitsEqual, BACKENDS, normal, noLeak} from './helpers';
import {unstructuredWeight, withWorkers} from './thread_helpers';

/** Runs `kernelName` with threads 1 and 2 and checks the outputs are bit-identical and threads ran. */
function sameOnThreads(kernelName: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, unknown>, what: string): void {
  const pool = ownThreadPool()!;
  const runs = pool.threadedRuns;
  // Kernel calls with threads forced: the dispatcher (and its gain monitor) is not asked.
  const run = (threads: number) => noLeak(() =>
    tf.engine().runKernel(kernelName, inputs, {...attrs, threads} as unknown as tf.NamedAttrMap) as tf.Tensor, what);
  const one = run(1), two = run(2);
  assertBitsEqual(two.dataSync() as Float32Array, one.dataSync() as Float32Array, what);
  assert.ok(pool.threadedRuns > runs, `${what}: no part ran on a worker`);
  tf.dispose([one, two]);
}

// ---

const pixel = suite('SpMMNCHW on threads');

pixel('pixel splits (P >= 64) and output-channel splits (fewer pixels), f32 and int8, bias, batches, row-major: bit-identical', async () => {
  for (const backend of BACKENDS) {
    await withWorkers(backend);
    for (const [B, K, N, P] of [[1, 8, 5, 64], [1, 16, 33, 100], [2, 24, 40, 300], [3, 7, 9, 17], [1, 30, 64, 5], [1, 12, 3, 40]]) {
      for (const dtype of ['float32', 'int8'] as const) {
        const packed = PixelSparseMatrix.fromDense(unstructuredWeight(K, N, 0.7, K * N + P), [K, N], dtype);
        const x = tf.tensor3d(normal(B * K * P, B + K + P), [B, K, P]);
        const bias = tf.tensor1d(normal(N, 5));
        const {rowPtr, ics, values, scales} = packed.tensors;
        const inputs: Record<string, tf.Tensor> = {x, rowptr: rowPtr, ics, vals: values, bias};
        if (scales) inputs.scales = scales;
        const attrs = {n: N, vmin: 0, vmax: 6, rowMajor: false};
        sameOnThreads(SPMM_NCHW, inputs, attrs, `${backend} ${dtype} [${B}, ${K}, ${P}] -> ${N}`);
        const rows = tf.tensor2d(normal(P * K, P), [P, K]);
        sameOnThreads(SPMM_NCHW, {...inputs, x: rows}, {...attrs, rowMajor: true}, `${backend} ${dtype} row-major ${P}x${K} -> ${N}`);
        tf.dispose([x, bias, rows]);
        packed.dispose();
      }
    }
  }
});

pixel.run();

// ---

const strips = suite('SpMMF32 / SpMMI8 on threads');

strips('row splits (pairs, the odd row last) for 1x16, 1x8, 1x4 and scalar widths, f32 and int8: bit-identical', async () => {
  for (const backend of BACKENDS) {
    await withWorkers(backend);
    for (const bw of [16, 8, 4, 3]) {
      for (const dtype of ['float32', 'int8'] as const) {
        for (const m of [4, 5, 9, 33]) {
          const K = 40, N = 50;
          const kernel = tf.tensor2d(unstructuredWeight(K, N, 0.5, bw + m), [K, N]);
          const packed = packBlockSparse(kernel, {blockSize: [1, bw], dtype});
          const x = tf.tensor2d(normal(m * K, m), [m, K]);
          const bias = tf.tensor1d(normal(N, 9));
          const {colPtr, rowOffsets, values, scales} = packed.tensors;
          const inputs: Record<string, tf.Tensor> = {x, colptr: colPtr, rowoff: rowOffsets, vals: values, bias};
          if (scales) inputs.scales = scales;
          sameOnThreads(scales ? SPMM_I8 : SPMM_F32, inputs, {n: N, bw, relu: true}, `${backend} ${dtype} 1x${bw} rows ${m}`);
          tf.dispose([kernel, x, bias]);
          packed.dispose();
        }
      }
    }
  }
});

strips.run();

// ---

const depthwise = suite('DwConvNCHW on threads');

depthwise('channel splits in fours (quads and single planes), stride 1 and 2, batches: bit-identical', async () => {
  for (const backend of BACKENDS) {
    await withWorkers(backend);
    for (const [B, C, H] of [[1, 8, 9], [2, 13, 6], [1, 5, 20], [1, 64, 7]]) {
      for (const stride of [1, 2]) {
        const x = tf.tensor4d(normal(B * C * H * H, C + H), [B, C, H, H]);
        const weights = tf.tensor2d(normal(C * 9, C), [C, 9]);
        const bias = tf.tensor1d(normal(C, 3));
        const oh = Math.ceil(H / stride);
        sameOnThreads(DWCONV_NCHW, {x, weights, bias}, {stride, padTop: 1, padLeft: 1, oh, ow: oh, vmin: 0, vmax: 6},
            `${backend} [${B}, ${C}, ${H}, ${H}] stride ${stride}`);
        tf.dispose([x, weights, bias]);
      }
    }
  }
});

depthwise.run();

// ---

const layout = suite('LayoutTranspose on threads');

layout('source rows split in fours (any remainder; 5 rows or more, so two parts), both directions, batches: bit-identical to tf.transpose', async () => {
  for (const backend of BACKENDS) {
    await withWorkers(backend);
    for (const [B, H, W, C] of [[1, 5, 7, 5], [2, 9, 9, 13], [1, 4, 4, 64], [3, 1, 11, 6], [1, 28, 28, 24]]) {
      for (const toChannelsFirst of [true, false]) {
        const shape = toChannelsFirst ? [B, H, W, C] : [B, C, H, W];
        const x = tf.tensor4d(normal(B * H * W * C, H + C), shape as [number, number, number, number]);
        const what = `${backend} [${shape}] ${toChannelsFirst ? 'to channels first' : 'to channels last'}`;
        sameOnThreads(LAYOUT_TRANSPOSE, {x}, {toChannelsFirst}, what);
        const y = tf.engine().runKernel(LAYOUT_TRANSPOSE, {x}, {toChannelsFirst, threads: 2} as unknown as tf.NamedAttrMap) as tf.Tensor;
        const want = tf.transpose(x, toChannelsFirst ? [0, 3, 1, 2] : [0, 2, 3, 1]);
        assert.equal(y.shape, want.shape, what);
        assertBitsEqual(y.dataSync() as Float32Array, want.dataSync() as Float32Array, what);
        tf.dispose([x, y, want]);
      }
    }
  }
});

layout.run();


// ---

const arena = suite('SharedArena');

arena('alloc is 16-byte aligned and never 0; release merges neighbours and gives the top back', () => {
  const a = new SharedArena(new WebAssembly.Memory({initial: 1, maximum: 64, shared: true}));
  const p = a.alloc(10), q = a.alloc(100), r = a.alloc(70000);
  assert.ok(p > 0 && p % 16 === 0 && q % 16 === 0 && r % 16 === 0);
  assert.ok(q >= p + 16 && r >= q + 112, 'blocks overlap');
  assert.ok(a.memory.buffer.byteLength >= r + 70000, 'the memory grew');
  a.release(q);
  assert.is(a.alloc(96), q, 'first fit reuses the freed block');
  a.release(p);
  a.release(q);
  a.release(r);
  assert.is(a.used, 0);
  assert.is(a.alloc(16), 16, 'everything merged back to the bottom');
});

arena('alloc returns -1 past the memory\'s maximum instead of throwing', () => {
  const a = new SharedArena(new WebAssembly.Memory({initial: 1, maximum: 2, shared: true}));
  assert.is(a.alloc(3 * 65536), -1);
  assert.ok(a.alloc(1000) > 0);
});

arena.run();
