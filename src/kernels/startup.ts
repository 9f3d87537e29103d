/**
 * `ready()`: everything the kernels need before the first op, done asynchronously: the module
 * compiled (and its build chosen and self-tested), and the threads' workers started and ready, so
 * that the first ops already run on every thread.
 */
import {getBackend, engine} from '@tensorflow/tfjs-core';
import {wasmHeapMemory} from './bridge';
import {isSharedMemory, ready as compileKernels} from './module';
import {heapPool, startThreads} from './threaded';
import {getThreads} from './threads';

/**
 * Compiles the kernel module and starts the threads' workers. Optional in Node; in a browser call
 * it once before the first op (browsers refuse large synchronous compiles on the main thread, and
 * start workers only while it is idle). Call it after `tf.setBackend`: on a cross-origin-isolated
 * page with tfjs-wasm's threaded build the workers run on the backend's heap.
 */
export async function ready(): Promise<void> {
  await compileKernels();
  if (getThreads() <= 1) return;
  if (getBackend() === 'wasm') {
    const memory = wasmHeapMemory(engine().backend as unknown as Parameters<typeof wasmHeapMemory>[0]);
    if (isSharedMemory(memory)) {
      await heapPool(memory)?.whenReady();
      return;
    }
  }
  await startThreads();
}
