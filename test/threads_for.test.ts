// How many threads a call gets (src/kernels/threads_for.ts, on the limits of src/kernels/dispatch.ts's
// threadsPay): one thread below the measured limits, every thread above; an op over the limits runs
// threaded, equal to one thread bit for bit, and leaves no tensors nor shared-memory bytes behind.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {channelMajorSparseMatMul, PixelSparseMatrix, setThreads} from '../src/index';
import {ownArenaBytes, ownThreadPool} from '../src/kernels/threaded';
import {MIN_CHANNEL_SPLIT_MACS, MIN_COPIED_THREADED_MACS, MIN_MACS_PER_COPIED_BYTE, MIN_THREADED_MACS, PIXEL_SPLIT_MIN_TILES,
  threadsPay} from '../src/kernels/thread_limits';
import {threadGain} from '../src/kernels/thread_state';
import {threadsFor} from '../src/kernels/threads_for';
import {assertBitsEqual, BACKENDS, normal, noLeak} from './helpers';
import {unstructuredWeight, withWorkers} from './thread_helpers';

const pays = suite('threadsPay');

pays('threadsPay(work, copies) pays from MIN_THREADED_MACS with no copies; with copies from MIN_COPIED_THREADED_MACS and MIN_MACS_PER_COPIED_BYTE', () => {
  const never = () => { throw new Error('copies asked below the first limit'); };
  assert.ok(MIN_THREADED_MACS < MIN_COPIED_THREADED_MACS, 'copies only raise the limit');
  assert.not.ok(threadsPay({macs: MIN_THREADED_MACS - 1, bytes: 0}, never));
  assert.ok(threadsPay({macs: MIN_THREADED_MACS, bytes: 1e12}, () => false), 'no copies: the work alone decides');
  assert.not.ok(threadsPay({macs: MIN_COPIED_THREADED_MACS - 1, bytes: 0}, () => true), 'copied: the higher limit');
  const bytes = MIN_COPIED_THREADED_MACS / MIN_MACS_PER_COPIED_BYTE;
  assert.ok(threadsPay({macs: MIN_COPIED_THREADED_MACS, bytes}, () => true), 'exactly the limit per copied byte');
  assert.not.ok(threadsPay({macs: MIN_COPIED_THREADED_MACS, bytes: bytes + 1}, () => true), 'just under it');
});

pays('a pixel-kernel call with too few pixels to split them (it splits output channels) needs MIN_CHANNEL_SPLIT_MACS', () => {
  const no = () => false;
  assert.ok(MIN_CHANNEL_SPLIT_MACS > MIN_THREADED_MACS);
  for (const threads of [2, 3, 4]) {
    const fewest = threads * PIXEL_SPLIT_MIN_TILES * 16;  // pixels per example the kernel splits by pixels
    assert.ok(threadsPay({macs: MIN_THREADED_MACS, bytes: 0, pixels: fewest}, no, threads), `${threads} threads, pixels split`);
    assert.not.ok(threadsPay({macs: MIN_CHANNEL_SPLIT_MACS - 1, bytes: 0, pixels: fewest - 1}, no, threads), `${threads} threads, channels split`);
    assert.ok(threadsPay({macs: MIN_CHANNEL_SPLIT_MACS, bytes: 0, pixels: fewest - 1}, no, threads));
  }
  assert.ok(threadsPay({macs: MIN_THREADED_MACS, bytes: 0}, no), 'other kernels: no pixels, the plain limit');
});

pays.run();

// ---

const dispatch = suite('threadsFor');

dispatch('threadsFor({macs, bytes}) keeps one thread below the measured limits and asks for every thread above', async () => {
  await withWorkers('wasm');
  assert.is(threadsFor({macs: MIN_THREADED_MACS / 2, bytes: 1}), 1);
  assert.is(threadsFor({macs: 1e12, bytes: 1e12}), 1, 'copies that cost more than the arithmetic');
  assert.is(threadsFor({macs: (MIN_THREADED_MACS + MIN_COPIED_THREADED_MACS) / 2, bytes: 1}), 1,
            'Node copies its operands: the copied limit applies');
  assert.is(threadsFor({macs: 1e9, bytes: 1e3}), 2);
  setThreads(1);
  assert.is(threadsFor({macs: 1e9, bytes: 1e3}), 1, 'setThreads(1)');
  setThreads(2);
});

dispatch('channelMajorSparseMatMul on a layer over the limits runs on threads and equals one thread bit for bit, no leaks', async () => {
  for (const backend of BACKENDS) {
    await withWorkers(backend);
    const K = 512, N = 512, P = 512;
    const packed = PixelSparseMatrix.fromDense(unstructuredWeight(K, N, 0.5, 3), [K, N]);
    const x = tf.tensor3d(normal(K * P, 4), [1, K, P]);
    assert.ok(threadsFor({macs: packed.nnz * P, bytes: 4 * (K + N) * P}) === 2, 'the case must be over the limits');
    const pool = ownThreadPool()!;
    const runs = pool.threadedRuns;
    threadGain.reset();  // a loaded machine may have suspended threads: this test is about the path
    const two = noLeak(() => channelMajorSparseMatMul(x, packed, {activation: 'relu'}));
    assert.ok(pool.threadedRuns > runs, 'the op did not run on threads');
    setThreads(1);
    const one = noLeak(() => channelMajorSparseMatMul(x, packed, {activation: 'relu'}));
    setThreads(2);
    assertBitsEqual(two.dataSync() as Float32Array, one.dataSync() as Float32Array, backend);
    tf.dispose([x, one, two]);
    packed.dispose();
  }
});

dispatch('repeated threaded calls hold no shared-memory bytes beyond the resident weights', async () => {
  await withWorkers('wasm');
  const K = 64, N = 256, P = 4096;
  const packed = PixelSparseMatrix.fromDense(unstructuredWeight(K, N, 0.5, 3), [K, N]);
  const x = tf.tensor3d(normal(K * P, 4), [1, K, P]);
  threadGain.reset();
  channelMajorSparseMatMul(x, packed).dispose();
  const held = ownArenaBytes();
  for (let i = 0; i < 5; i++) channelMajorSparseMatMul(x, packed).dispose();
  assert.is(ownArenaBytes(), held);
  x.dispose();
  packed.dispose();
});

dispatch.run();
