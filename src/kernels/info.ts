/** `kernelInfo()`: how the kernels run here, for users asking why a model is as fast as it is. */
import {copyCounts} from './bridge';
import type {KernelBuildChoice} from './builds';
import {kernelBuild} from './module';
import {pools} from './thread_pool';
import {threadFailure, threadGain, threadsUnavailable} from './thread_state';
import {getThreads} from './threads';

/** What `kernelInfo()` reports. */
export interface KernelInfo {
  /** The kernel build in use (relaxed SIMD or baseline SIMD128) and why. */
  build: KernelBuildChoice;
  /** `getThreads()`: the threads big ops may use. */
  threads: number;
  /** Why threads cannot run in this runtime, or null. */
  threadsUnavailable: string|null;
  /** Workers started, and how many are ready. */
  workers: number;
  workersReady: number;
  /** Kernel calls that handed parts to workers. */
  threadedCalls: number;
  /**
   * Workers' parts the calling thread ran itself because their worker had not started them by the
   * time it finished its own (workers woken late: a busy machine, or an idle core slow to wake).
   */
  stolenParts: number;
  /**
   * Kernel calls that copied their operands: on our shared memory for threads (tfjs-wasm's
   * single-threaded build, Node's default, has no shared heap), or through a private memory (a
   * shared tfjs-wasm heap our module could not run on). On a shared heap (a cross-origin-isolated
   * page, Node after `useThreadedWasm`) both stay 0: the kernels and their workers run on it.
   */
  copiedCalls: {threaded: number; private: number};
  /**
   * Times threads were suspended (for a second each) after calls ran slower than one thread would
   * have: the other cores were busy, or workers woke late.
   */
  suspensions: number;
  /** Why the threads last failed (ops then run on one thread until `setThreads`), or null. */
  failure: string|null;
}

/**
 * How the kernels run in this process: build, threads, workers, copies.
 * ```js
 * await tfsp.ready();
 * console.log(tfsp.kernelInfo());  // {build: {build: 'relaxed-simd', ...}, threads: 4, ...}
 * ```
 */
export function kernelInfo(): KernelInfo {
  const live = [...pools.live];
  return {
    build: kernelBuild(),
    threads: getThreads(),
    threadsUnavailable: threadsUnavailable(),
    workers: live.reduce((n, p) => n + p.size, 0),
    workersReady: live.reduce((n, p) => n + p.readyWorkers().length, 0),
    threadedCalls: live.reduce((n, p) => n + p.threadedRuns, 0),
    stolenParts: live.reduce((n, p) => n + p.stolenParts, 0),
    copiedCalls: {...copyCounts},
    suspensions: threadGain.suspensions,
    failure: threadFailure(),
  };
}
