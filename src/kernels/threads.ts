/**
 * The thread count of the sparse kernels: `setThreads` / `getThreads`, and the pool a memory's
 * calls run on. The pool itself is `thread_pool.ts`, the process's thread state `thread_state.ts`,
 * and the limits under which a call keeps one thread `thread_limits.ts`.
 */
import {MAX_DEFAULT_THREADS} from './thread_limits';
import type {KernelExports} from './exports';
import {pools, ThreadPool} from './thread_pool';
import {coreCount, startOrRefuse, threadState, threadsUnavailable} from './thread_state';

/**
 * Sets how many threads the sparse kernels may use (the calling thread included), from 1 (no
 * workers) up. Workers start on the next op big enough to pay for them (or on `ready()`); they
 * wait idle, unreferenced, when fewer threads are asked for, so changing the count costs nothing,
 * and a Node process exits with them waiting. After a worker failed (ops then run on one thread),
 * calling it starts new workers.
 * ```js
 * tfsp.setThreads(2);
 * ```
 * @throws Error if `n` is not a positive integer.
 */
export function setThreads(n: number): void {
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new Error(`Argument 'n' passed to 'setThreads' must be a positive integer, but got ${String(n)}`);
  }
  Object.assign(threadState, {setting: n, warned: false, lastFailure: null, epoch: threadState.epoch + 1, refused: null});
  threadState.gain.reset();
  // Failed pools and pools too small for n go; the next op that wants threads starts new ones.
  for (const pool of [...pools.live]) if (pool.failure !== null || pool.size < n - 1) pool.terminate();
}

/**
 * The threads the sparse kernels may use: `setThreads`'s value, else min(cores, 4); 1 where threads
 * cannot run. (The dispatcher also keeps one thread for small calls, and while `threadGain` finds
 * threads slower than one.)
 */
export function getThreads(): number {
  if (threadsUnavailable()) return 1;
  return threadState.setting ?? Math.max(1, Math.min(coreCount(), MAX_DEFAULT_THREADS));
}

/**
 * The pool running on `memory` with `workers` workers, started on first use (`module` is the
 * kernel module's shared-memory variant, `kernels` its instance on `memory` for this thread); null
 * once it failed, until `setThreads`.
 */
export function poolOn(memory: WebAssembly.Memory, kernels: () => KernelExports, module: () => WebAssembly.Module,
                       workers: number): ThreadPool|null {
  let pool = pools.byMemory.get(memory);
  if (!pool || pool.terminated && (pool.failure === null || pool.epoch !== threadState.epoch)) {
    const made = startOrRefuse(() => new ThreadPool(memory, kernels(), module(), workers));
    if (!made) return null;
    pools.byMemory.set(memory, pool = made);
  }
  return pool.failure ? null : pool;
}
