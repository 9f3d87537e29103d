// What the thread tests share: a backend with two threads' workers ready, and unstructured weights.
import * as assert from 'uvu/assert';
import {ready, setThreads} from '../src/index';
import {ownThreadPool} from '../src/kernels/threaded';
import {BACKENDS, normal, rng, useBackend} from './helpers';

/** A [K, N] weight with about `s` of its entries zero, anywhere (no block structure). */
export function unstructuredWeight(K: number, N: number, s: number, seed: number): Float32Array {
  const r = rng(seed);
  return normal(K * N, seed + 1).map(v => r() < s ? 0 : v);
}

/** Switches to `backend` with setThreads(2) and waits until the worker is ready. */
export async function withWorkers(backend: typeof BACKENDS[number]): Promise<void> {
  await useBackend(backend);
  setThreads(2);
  await ready();
  assert.is(ownThreadPool()?.threads, 2, 'the worker did not start');
}
