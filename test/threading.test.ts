// The thread dispatcher (src/sparse/threading.ts): one thread below the measured limits, every
// thread above; an op over the limits runs threaded, equal to one thread bit for bit, and leaves no
// tensors nor shared-memory bytes behind.
import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {channelMajorSparseMatMul, PixelSparseMatrix, ready, setThreads} from '../src/index';
import {ownArenaBytes, ownThreadPool} from '../src/kernels/threaded';
import {threadGain} from '../src/kernels/threads';
import {MIN_THREADED_MACS, threadsFor} from '../src/sparse/threading';
import {assertBitsEqual, BACKENDS, normal, noLeak, rng, useBackend} from './helpers';

/** A [K, N] weight with about `s` of its entries zero. */
function weight(K: number, N: number, s: number, seed: number): Float32Array {
  const r = rng(seed);
  return normal(K * N, seed + 1).map(v => r() < s ? 0 : v);
}

async function withWorkers(backend: typeof BACKENDS[number]): Promise<void> {
  await useBackend(backend);
  setThreads(2);
  await ready();
  assert.is(ownThreadPool()?.threads, 2, 'the worker did not start');
}

const dispatch = suite('threadsFor');

dispatch('threadsFor({macs, bytes}) keeps one thread below the measured limits and asks for every thread above', async () => {
  await withWorkers('wasm');
  assert.is(threadsFor({macs: MIN_THREADED_MACS / 2, bytes: 1}), 1);
  assert.is(threadsFor({macs: 1e12, bytes: 1e12}), 1, 'copies that cost more than the arithmetic');
  assert.is(threadsFor({macs: 1e9, bytes: 1e3}), 2);
  setThreads(1);
  assert.is(threadsFor({macs: 1e9, bytes: 1e3}), 1, 'setThreads(1)');
  setThreads(2);
});

dispatch('channelMajorSparseMatMul on a layer over the limits runs on threads and equals one thread bit for bit, no leaks', async () => {
  for (const backend of BACKENDS) {
    await withWorkers(backend);
    const K = 512, N = 512, P = 512;
    const packed = PixelSparseMatrix.fromDense(weight(K, N, 0.5, 3), [K, N]);
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
  const packed = PixelSparseMatrix.fromDense(weight(K, N, 0.5, 3), [K, N]);
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
