/**
 * How many threads a sparse kernel call runs on: the dispatcher's limits (`thread_limits.ts`)
 * applied to this process's setting and backend. Threads pay only above a size: each call hands its
 * parts to the workers and waits for them (tens of microseconds), and where the call runs on our
 * own shared memory (tfjs-wasm's single-threaded build, Node's default; the `cpu` backend) its
 * activations are copied in and its outputs out, which costs about as much as a small layer's
 * arithmetic. On a shared tfjs-wasm heap (a cross-origin-isolated page, Node after
 * `useThreadedWasm`) there is no copy. And while
 * the calls themselves show threads running slower than one thread would (the cores are busy with
 * other work), `threadGain` suspends them.
 */
import {engine} from '@tensorflow/tfjs-core';
import {threadedCallsCopy} from './bridge';
import {ThreadedWork, threadsPay} from './thread_limits';
import {threadGain} from './thread_state';
import {getThreads} from './threads';

/** The threads for a call of `work` on the current backend: `getThreads()`, or 1 below the limits. */
export function threadsFor(work: ThreadedWork): number {
  const threads = getThreads();
  if (threads <= 1 || !threadGain.paying) return 1;
  return threadsPay(work, () => threadedCallsCopy(engine().backend), threads) ? threads : 1;
}
