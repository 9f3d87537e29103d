/**
 * tfjs-wasm's threaded build in Node. tfjs-wasm starts its single-threaded build in Node (its
 * WASM_HAS_MULTITHREAD_SUPPORT flag answers false there, tfjs issue #3830): the Emscripten glue of
 * the threaded build gives each pthread worker a blob: URL, which Node's worker_threads cannot
 * load. The threaded build's heap is a SharedArrayBuffer, and on a shared heap our kernels run on
 * several threads without copying their operands; on the single-threaded heap every threaded call
 * copies its activations, which costs as much as a 90 %-sparse layer's work, so a MobileNetV2 ran
 * 1.00x on 2 threads there and 1.4x here (BENCHMARKS "Threads").
 */
import {engine, env, findBackend, getBackend, setBackend} from '@tensorflow/tfjs-core';
import {nodeModule} from './thread_state';

interface WasmBackend {
  wasm?: {HEAPU8?: Uint8Array};
}

type WorkerClass = new (filename: string|URL, options?: Record<string, unknown>) => object;

interface NodeRequire {
  resolve(id: string): string;
}

/** True when the wasm backend is initialized and its heap is shared. */
function wasmHeapShared(): boolean {
  const heap = (findBackend('wasm') as WasmBackend|null)?.wasm?.HEAPU8;
  return heap !== undefined && typeof SharedArrayBuffer !== 'undefined' && heap.buffer instanceof SharedArrayBuffer;
}

/**
 * The code of each pthread worker: the glue's own worker script, with the two things Node lacks
 * supplied from tfjs-backend-wasm's `wasm-out` folder (`dir`): the main script as a file, where
 * the glue posts it as a Blob, and the worker script itself, which the package ships as a string.
 */
function pthreadWorkerSource(dir: string): string {
  const main = JSON.stringify(`${dir}/tfjs-backend-wasm-threaded-simd.js`);
  const worker = JSON.stringify(`${dir}/tfjs-backend-wasm-threaded-simd.worker.js`);
  return `URL.createObjectURL = () => ${main};
URL.revokeObjectURL = () => {};
const {wasmWorkerContents} = require(${worker});
new Function('require', '__filename', wasmWorkerContents.replace(/\\n/g, '\\\\n'))(require, ${worker});`;
}

/**
 * tfjs-backend-wasm's `wasm-out` folder as this package resolves it, or null when it lacks the two
 * scripts the workers need (the binary itself tfjs loads from `dist/`, as for any build).
 */
function wasmOutFolder(): string|null {
  const module = nodeModule<{createRequire(from: string): NodeRequire}>('node:module');
  const fs = nodeModule<{existsSync(path: string): boolean}>('node:fs');
  const path = nodeModule<{join(...parts: string[]): string; dirname(p: string): string}>('node:path');
  if (!module || !fs || !path) return null;
  let main: string;
  try {
    main = module.createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  } catch {
    return null;
  }
  const dir = path.join(path.dirname(main), '..', 'wasm-out');
  return ['tfjs-backend-wasm-threaded-simd.js', 'tfjs-backend-wasm-threaded-simd.worker.js']
      .every(f => fs.existsSync(path.join(dir, f))) ? dir : null;
}

/** Initializes the threaded build with worker_threads able to load its workers; true when it started. */
async function startThreaded(dir: string): Promise<boolean> {
  const threads = nodeModule<{Worker: WorkerClass}>('node:worker_threads')!;
  const Original = threads.Worker;
  const source = pthreadWorkerSource(dir);
  const started: Array<{terminate(): unknown}> = [];
  // The glue copies worker_threads.Worker to the global `Worker` while it initializes and creates
  // its workers from there, now and later; every script but its blob: URL goes through unchanged.
  class PthreadWorker extends Original {
    constructor(filename: string|URL, options?: Record<string, unknown>) {
      if (typeof filename === 'string' && filename.startsWith('blob:')) super(source, {...options, eval: true});
      else super(filename, options);
      started.push(this as unknown as {terminate(): unknown});
    }
  }
  env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  threads.Worker = PthreadWorker;
  let ok = false;
  try {
    ok = await setBackend('wasm') && wasmHeapShared();
  } catch {
    ok = false;
  } finally {
    threads.Worker = Original;
  }
  // A failed start leaves the glue's workers running, and they would keep the process alive.
  if (!ok) for (const w of started) w.terminate();
  return ok;
}

/**
 * Makes `wasm` the active backend, in Node on tfjs-wasm's threaded build (see above), so that our
 * kernels run threaded on its heap with no copies (`setThreads`). Call it instead of
 * `tf.setBackend('wasm')`, before anything initializes the wasm backend (`tf.ready()`, the first
 * op). In a browser tfjs picks its build itself (threaded in a cross-origin-isolated page).
 * tfjs-wasm's own ops keep the thread count it picks (min(4, cores / 2)).
 * @returns true when the wasm backend runs on a shared heap; false when it runs single-threaded
 *     (started before this call, or the threaded build failed here: then with a warning saying why).
 * @throws Error when tfjs-backend-wasm is not imported, or no wasm build starts at all.
 */
export async function useThreadedWasm(): Promise<boolean> {
  if (!(engine() as unknown as {registryFactory: Record<string, unknown>}).registryFactory.wasm) {
    throw new Error("useThreadedWasm needs the wasm backend: import '@tensorflow/tfjs-backend-wasm' first");
  }
  const isNode = nodeModule('node:worker_threads') !== undefined;
  let warning: string|null = null;
  if (isNode && findBackend('wasm') === null) {
    const dir = wasmOutFolder();
    if (dir === null) warning = "tfjs-backend-wasm's threaded build scripts (wasm-out/tfjs-backend-wasm-threaded-simd*.js) were not found";
    else if (await startThreaded(dir)) return true;
    else warning = "tfjs-backend-wasm's threaded build did not start in this Node (tfjs printed why above, if it knew)";
    env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  } else if (isNode && !wasmHeapShared()) {
    warning = 'the wasm backend was already initialized single-threaded: call useThreadedWasm() before ' +
        'tf.ready(), tf.setBackend or the first op';
  }
  if (!await setBackend('wasm') || getBackend() !== 'wasm') throw new Error('the wasm backend failed to initialize');
  if (warning) console.warn(`tfjs-sparsity: ${warning}; the sparse kernels copy their operands to run threaded.`);
  return wasmHeapShared();
}
