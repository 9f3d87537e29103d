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
 * The fewest multiply-adds for threads at all: below it handing out parts and waiting for them
 * costs what the second thread saves. `bench/threads.ts --sweep` (pixel kernel, threads forced, Node,
 * load 5 on the 2 cores; BENCHMARKS.md "Threads"): 0.26-0.67x up to 1.3M multiply-adds, 0.55-0.97x
 * at 2.5-5.4M where few per copied byte, 1.13-1.35x at 5.1M with 6.4-12.8 per byte, 1.49x at 41M.
 */
export const MIN_THREADED_MACS = 4_000_000;

/**
 * Where calls copy their operands (our shared memory: Node, the cpu backend), the fewest
 * multiply-adds per copied byte. One core runs about 20 G multiply-adds per second and copies about
 * 10 GB per second, so the second thread saves macs / 40e9 s and the copies cost bytes / 10e9 s:
 * threads pay above about 4 per byte. The same sweep: 0.55-0.97x at 0.5-1.7 per byte, 1.13x at 2.4
 * (15M), 1.13-1.49x at 6.4-12.8.
 */
export const MIN_MACS_PER_COPIED_BYTE = 4;

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
