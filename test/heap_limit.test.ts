// Heap limits: ops whose output would pass a wasm32 heap's 4 GiB are refused before anything is
// allocated or written (tfjs-wasm's _malloc wraps sizes modulo 2^32, and the kernel would then write
// over other tensors), on both backends; the bridge refuses oversized outputs and scratch, and a failed
// _malloc, itself. These cases need no memory. The cases that hold tensors of 2 and 4 GiB run only with
// TFJS_SPARSITY_LARGE=1 (RELIABILITY.md), one at a time, each in its own process:
//   TFJS_SPARSITY_LARGE=1 npx uvu -r tsx test "heap_limit\.test\.ts$"
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {spawnSync} from 'node:child_process';
import {join} from 'node:path';
import {applyMask, blockSparseMatMul, BlockSparseMatrix, channelMajorSparseMatMul, countNonzero, expandBlockMask, fastMatMul,
  maskedDense, PixelSparseMatrix, unpackBlockSparse} from '../src/index';
import {KernelDef, kernelConfigs} from '../src/kernels/bridge';
import {checkOutputBytes, MAX_HEAP_BYTES} from '../src/kernels/heap_limit';
import {EXPAND_BLOCK_MASK} from '../src/kernels/expand_block_mask';
import {BACKENDS, noLeak, useBackend} from './helpers';

/**
 * Runs `fn`, which must throw `message`, and checks that a sentinel tensor made before keeps its values,
 * that new tensors still work, and that nothing leaked.
 */
function refusedCleanly(fn: () => unknown, message: RegExp, what: string): void {
  const values = Float32Array.from({length: 1024}, (_, i) => i + 0.5);
  const sentinel = tf.tensor1d(values);
  const before = tf.memory().numTensors;
  assert.throws(fn, message, what);
  assert.is(tf.memory().numTensors, before, `${what}: leaked tensors`);
  assert.equal(Array.from(sentinel.dataSync()), Array.from(values), `${what}: the sentinel tensor changed`);
  const after = tf.tensor1d([1, 2, 3]);
  assert.equal(Array.from(after.dataSync()), [1, 2, 3], `${what}: new tensors broke`);
  tf.dispose([sentinel, after]);
}

/** An empty packed weight of `shape` (no stored blocks): valid, and tiny whatever its shape. */
function emptyPacked(shape: [number, number], bw: number): BlockSparseMatrix {
  return BlockSparseMatrix.fromArrays({shape, blockSize: [1, bw], dtype: 'float32',
    colPtr: new Int32Array(Math.ceil(shape[1] / bw) + 1), rows: new Int32Array(0), values: new Float32Array(0)});
}

// ---

const check = suite('checkOutputBytes');

check('checkOutputBytes(shape, op, cause) accepts up to MAX_HEAP_BYTES (65535 pages) and names op, shape and cause past it', () => {
  assert.is(MAX_HEAP_BYTES, 4294901760);
  assert.is(checkOutputBytes([MAX_HEAP_BYTES / 4], 'op', 'x'), MAX_HEAP_BYTES);
  assert.is(checkOutputBytes([0, 2 ** 40], 'op', 'x'), 0);
  assert.throws(() => checkOutputBytes([MAX_HEAP_BYTES / 4 + 1], 'someOp', `'shape'`),
      /'someOp' would return a float32 tensor of shape \[1073725441\] \(4294901764 bytes\), more than a wasm32 heap holds \(4294901760 bytes, 4 GiB - 64 KiB\): check 'shape'/);
  assert.throws(() => checkOutputBytes([65536, 16384], 'op', 'x'), /\(4294967296 bytes\)/);
  assert.throws(() => checkOutputBytes([2 ** 40, 2 ** 40], 'op', 'x'), /more than a wasm32 heap holds/);
});

check.run();

// ---

const ops = suite('ops refuse outputs past 4 GiB');

for (const backend of BACKENDS) {
  ops(`expandBlockMask(ones([1, 1]), [65536, 16384], [65536, 16384]) is refused, nothing written (${backend})`, async () => {
    await useBackend(backend);
    const mask = tf.ones([1, 1]) as tf.Tensor2D;
    refusedCleanly(() => expandBlockMask(mask, [65536, 16384], [65536, 16384]),
        /'expandBlockMask' would return a float32 tensor of shape \[65536,16384\] \(4294967296 bytes\), more than a wasm32 heap holds .*check 'shape'/,
        'expandBlockMask');
    mask.dispose();
  });

  ops(`an empty [65536, 16384] packed weight works sparse, and refuses its dense forms (${backend})`, async () => {
    await useBackend(backend);
    const packed = emptyPacked([65536, 16384], 16);
    const message = /'unpackBlockSparse' would return a float32 tensor of shape \[65536,16384\] .*check the shape of 'packed'/;
    refusedCleanly(() => unpackBlockSparse(packed), message, 'unpackBlockSparse');
    refusedCleanly(() => packed.denseWeight(), message, 'denseWeight');
    const x = tf.ones([1, 65536]);
    refusedCleanly(() => blockSparseMatMul(x, packed, {kernel: 'tfMatMul'}), message, 'blockSparseMatMul tfMatMul');
    const y = blockSparseMatMul(x, packed, {kernel: 'sparse'});
    assert.equal(y.shape, [1, 16384]);
    assert.ok((y.dataSync() as Float32Array).every(v => v === 0), 'an empty weight multiplies to zeros');
    tf.dispose([x, y]);
    packed.dispose();
  });

  ops(`blockSparseMatMul with a [1, 2^30] packed weight is refused, nothing zeroed (${backend})`, async () => {
    await useBackend(backend);
    const packed = emptyPacked([1, 2 ** 30], 2 ** 30);
    const x = tf.ones([1, 1]);
    for (const kernel of ['sparse', 'dense', 'tfMatMul'] as const) {
      refusedCleanly(() => blockSparseMatMul(x, packed, {kernel}),
          /'blockSparseMatMul' would return a float32 tensor of shape \[1,1073741824\] \(4294967296 bytes\).*check the shapes of 'x' and 'packed'/,
          `blockSparseMatMul ${kernel}`);
    }
    tf.dispose(x);
    packed.dispose();
  });

  ops(`channelMajorSparseMatMul of [1, 1, 16384] pixels by a [1, 65536] weight is refused (${backend})`, async () => {
    await useBackend(backend);
    const packed = PixelSparseMatrix.fromDense(new Float32Array(65536), [1, 65536]);
    const x = tf.ones([1, 1, 16384]);
    refusedCleanly(() => channelMajorSparseMatMul(x, packed),
        /'channelMajorSparseMatMul' would return .* shape \[1,65536,16384\].*check the shapes of 'x' and 'packed'/,
        'channelMajorSparseMatMul');
    tf.dispose(x);
    packed.dispose();
  });

  ops(`fastMatMul and maskedDense of [65536, 1] x [1, 16384] are refused (${backend})`, async () => {
    await useBackend(backend);
    const a = tf.ones([65536, 1]), b = tf.ones([1, 16384]);
    refusedCleanly(() => fastMatMul(a, b), /'fastMatMul' would return .* shape \[65536,16384\].*check the shapes of 'a' and 'b'/, 'fastMatMul');
    refusedCleanly(() => maskedDense(a, b), /'maskedDense' would return .* shape \[65536,16384\].*check the shapes of 'x' and 'kernel'/, 'maskedDense');
    tf.dispose([a, b]);
  });
}

ops.run();

// ---

const bridge = suite('kernel bridge allocations');

/** A test kernel that makes a [4] output, then `scratch` bytes of scratch, then writes the output. */
const SCRATCH_KERNEL = 'SparsityTestScratch';
const scratchKernel: KernelDef = {
  kernelName: SCRATCH_KERNEL,
  run(ctx, _inputs, attrs) {
    const out = ctx.output([4], 'float32');
    ctx.scratch(attrs.scratch as number);
    ctx.f32(out.ptr, 4).fill(7);
    return out;
  },
};
for (const config of kernelConfigs(scratchKernel)) tf.registerKernel(config);

/** Data ids the backend holds: a failed kernel must release its outputs there too, not only in the engine. */
const backendIds = () => tf.backend().numDataIds();

for (const backend of BACKENDS) {
  bridge(`the bridge refuses an output past 4 GiB that an op did not check, before writing (${backend})`, async () => {
    await useBackend(backend);
    const mask = tf.ones([1, 1]);
    const ids = backendIds();
    refusedCleanly(() => tf.engine().runKernel(EXPAND_BLOCK_MASK, {blockMask: mask},
        {blockHeight: 65536, blockWidth: 16384, rows: 65536, cols: 16384}),
        new RegExp(`kernel 'SparsityExpandBlockMask' needs 4294967296 bytes for an output of shape \\[65536,16384\\], which ` +
            `${backend === 'wasm' ? 'the tfjs-wasm heap' : 'the kernels\' memory on the cpu backend'} cannot give`),
        'runKernel(expand)');
    assert.is(backendIds(), ids, 'backend data ids');
    mask.dispose();
  });

  bridge(`scratch past the limit is refused and the kernel's output released (${backend})`, async () => {
    await useBackend(backend);
    const ids = backendIds();
    for (const bytes of [2 ** 32, MAX_HEAP_BYTES - 15, Number.NaN, -1]) {
      refusedCleanly(() => tf.engine().runKernel(SCRATCH_KERNEL, {}, {scratch: bytes}),
          new RegExp(`kernel 'SparsityTestScratch' needs ${bytes} bytes for scratch`), `scratch ${bytes}`);
    }
    assert.is(backendIds(), ids, 'backend data ids');
    const ok = tf.engine().runKernel(SCRATCH_KERNEL, {}, {scratch: 1000}) as tf.Tensor;
    assert.equal(Array.from(ok.dataSync()), [7, 7, 7, 7]);
    ok.dispose();
  });
}

bridge('a float32 tensor that the cpu backend keeps as bytes (a cast bool) reaches the kernels as float32 (cpu)', async () => {
  await useBackend('cpu');
  const values = Float32Array.from({length: 1000}, (_, i) => Math.sin(i));
  const w = tf.tensor1d(values);
  const mask = tf.cast(tf.greater(w, 0), 'float32');
  const masked = noLeak(() => applyMask(w, mask), 'applyMask');
  assert.equal(Array.from(masked.dataSync()), Array.from(values, v => (v > 0 ? v : v * 0)));
  const kept = countNonzero(mask);
  assert.is(kept.dataSync()[0], values.filter(v => v > 0).length);
  tf.dispose([w, mask, masked, kept]);
});

bridge('a _malloc that fails (an output of 65535 pages: the heap cannot grow by that) is refused, not written at address 0 (wasm)', async () => {
  await useBackend('wasm');
  const mask = tf.ones([1, 1]) as tf.Tensor2D;
  const ids = backendIds();
  // The op check passes (exactly MAX_HEAP_BYTES); tfjs-wasm's heap cannot grow to hold it beside what it holds.
  refusedCleanly(() => expandBlockMask(mask, [65535, 16384], [65535, 16384]),
      /kernel 'SparsityExpandBlockMask' needs 4294901760 bytes for an output of shape \[65535,16384\], which the tfjs-wasm heap cannot give/,
      'expandBlockMask of MAX_HEAP_BYTES');
  assert.is(backendIds(), ids, 'backend data ids');
  mask.dispose();
});

bridge.run();

// ---

/** The memory-hungry cases, each run in a child process (test/fixtures/large_heap.ts) so its heap is freed after. */
const LARGE_CASES = ['wasm-above-2gib', 'wasm-near-4gib', 'cpu-540m'];

if (process.env.TFJS_SPARSITY_LARGE === '1') {
  const large = suite('large heaps (TFJS_SPARSITY_LARGE=1)');
  for (const name of LARGE_CASES) {
    large(`large case ${name}`, () => {
      const child = spawnSync(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'large_heap.ts'), name],
          {encoding: 'utf8', maxBuffer: 1 << 24});
      process.stdout.write(child.stdout);
      assert.is(child.status, 0, `${name} failed:\n${child.stdout}\n${child.stderr}`);
      assert.match(child.stdout, new RegExp(`^${name}: ok`, 'm'));
    });
  }
  large.run();
}
