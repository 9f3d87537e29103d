/**
 * How many threads a sparse kernel call runs on: every decision here comes from
 * `bench/threads.ts` (BENCHMARKS.md, "Threads"). Threads pay only above a size: each call hands its
 * parts to the workers and waits for them (tens of microseconds), and where the call runs on our
 * own shared memory (Node, where tfjs-wasm's heap is never shared; the `cpu` backend) its
 * activations are copied in and its outputs out, which costs about as much as a small layer's
 * arithmetic. On a shared tfjs-wasm heap (a cross-origin-isolated page) there is no copy. And
 * while the calls themselves show threads running slower than one thread would (the cores are
 * busy with other work), `threadGain` suspends them.
 */
import {engine} from '@tensorflow/tfjs-core';
import {threadedCallsCopy} from '../kernels/bridge';
import {getThreads, threadGain} from '../kernels/threads';

/**
 * The fewest multiply-adds for threads at all: below it one thread is as fast (the handoff and
 * wait cost about what 2 threads save). Measured: bench/threads.ts, see BENCHMARKS.md "Threads".
 */
export const MIN_THREADED_MACS = 2_000_000;

/**
 * Where calls copy their operands, the fewest multiply-adds per copied byte: a byte costs about as
 * much to copy in or out as 8 multiply-adds take on one core, so below this the copies eat what
 * the second thread saves. Measured: bench/threads.ts, see BENCHMARKS.md "Threads".
 */
export const MIN_MACS_PER_COPIED_BYTE = 16;

/** What a kernel call does: its multiply-adds and the bytes of its activations and outputs. */
export interface ThreadedWork {
  macs: number;
  bytes: number;
}

/** The threads for a call of `work` on the current backend: `getThreads()`, or 1 below the limits above. */
export function threadsFor(work: ThreadedWork): number {
  const threads = getThreads();
  if (threads <= 1 || work.macs < MIN_THREADED_MACS || !threadGain.paying) return 1;
  if (threadedCallsCopy(engine().backend) && work.macs < MIN_MACS_PER_COPIED_BYTE * work.bytes) return 1;
  return threads;
}
