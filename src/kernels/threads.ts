/**
 * Threads for the sparse kernels: a pool of workers (`worker_threads` in Node, Web Workers in a
 * cross-origin-isolated page), each running its own instance of the kernel module on one shared
 * `WebAssembly.Memory`. tfjs kernels are synchronous, so a call is synchronous too: the main thread
 * hands each worker its part (a list of kernel calls) through a shared control block, runs the
 * first part itself, then waits (`Atomics.wait` where the thread may block, a spin on the main
 * thread of a page, where it may not) until every worker has marked its part finished.
 *
 * Failures never hang and never corrupt: a worker whose call throws marks itself failed; one that
 * died (terminated, crashed) is caught by a deadline. Either way the main thread runs the part
 * itself, the pool is shut down, and ops run on one thread from then on, with one warning.
 */
import {KernelExports} from './module';

/** One kernel call: the export's name and its arguments. */
export type KernelCall = [name: keyof KernelExports, ...args: number[]];

/** The most workers a pool has, whatever `setThreads` asks (the control block is sized for it). */
const MAX_WORKERS = 15;
/** Calls per part, and arguments per call (the widest kernel takes 17). */
const MAX_CALLS = 64;
const MAX_ARGS = 20;
const CALL_SLOTS = 2 + MAX_ARGS;
const PART_SLOTS = 1 + MAX_CALLS * CALL_SLOTS;

/** Where things are in the control block (Int32 indexes). */
const LAYOUT = {done: 0, state: 1, ticket: 1 + MAX_WORKERS, finished: 1 + 2 * MAX_WORKERS, size: 1 + 3 * MAX_WORKERS,
  slot: PART_SLOTS, callSlots: CALL_SLOTS};

/** Worker states (0: starting). `workerMain` writes them as literals: it cannot see this module. */
const READY = 1, FAILED = 2;

/** A function index that makes a worker throw: the tests' way to fail a worker mid-call. */
const POISON = -1;

/**
 * A worker waits for at least this long past the main thread's own share before it is taken for
 * dead: parts are equal, so a live worker finishes near the main thread; 2 s covers a worker
 * descheduled on a loaded machine.
 */
const MIN_DEADLINE_MS = 2000;
const DEADLINE_FACTOR = 50;

interface WorkerInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  control: SharedArrayBuffer;
  tasks: SharedArrayBuffer;
  index: number;
  names: string[];
  layout: typeof LAYOUT;
}

/**
 * The body of every worker, shipped as its source text (so it needs no file of its own: it runs
 * from this module's source under tsx, from the bundle in dist, and from a Blob URL in browsers).
 * It must stay self-contained: no imports, no helpers.
 */
function workerMain(init: WorkerInit): void {
  const {module, memory, control, tasks, index, names, layout} = init;
  const ctl = new Int32Array(control);
  const t = new Float64Array(tasks);
  let fns: Array<(...args: number[]) => void>;
  try {
    const exports = new WebAssembly.Instance(module, {env: {memory}}).exports as Record<string, unknown>;
    fns = names.map(n => exports[n] as (...args: number[]) => void);
  } catch {
    Atomics.store(ctl, layout.state + index, 2);
    return;
  }
  Atomics.store(ctl, layout.state + index, 1);
  let last = Atomics.load(ctl, layout.ticket + index);
  for (;;) {
    Atomics.wait(ctl, layout.ticket + index, last);
    const ticket = Atomics.load(ctl, layout.ticket + index);
    if (ticket === last) continue;
    if (ticket < 0) return;
    last = ticket;
    try {
      let p = index * layout.slot;
      const calls = t[p++];
      for (let c = 0; c < calls; c++, p += layout.callSlots) {
        const fn = fns[t[p]];
        if (!fn) throw new Error(`no kernel ${t[p]}`);
        const args: number[] = [];
        for (let i = 0; i < t[p + 1]; i++) args.push(t[p + 2 + i]);
        fn.apply(null, args);
      }
    } catch {
      Atomics.store(ctl, layout.state + index, 2);
    }
    Atomics.store(ctl, layout.finished + index, ticket);
    Atomics.add(ctl, layout.done, 1);
    Atomics.notify(ctl, layout.done);
  }
}

/** What a pool needs of a worker, in Node or a browser. */
interface WorkerHandle {
  terminate(): void;
}

interface NodeWorkerThreads {
  Worker: new (code: string, options: {eval: boolean; workerData: unknown; execArgv: string[]}) =>
      WorkerHandle & {unref(): void; on(event: string, f: () => void): void};
}

interface NodeProcess {
  getBuiltinModule?(name: string): unknown;
}

function nodeModule<T>(name: string): T|undefined {
  const proc = (globalThis as {process?: NodeProcess}).process;
  return proc?.getBuiltinModule?.(name) as T|undefined;
}

const isNode = typeof (globalThis as {process?: {versions?: {node?: string}}}).process?.versions?.node === 'string';

/** Cores of this machine (1 where it cannot be told). */
export function coreCount(): number {
  const os = nodeModule<{availableParallelism?(): number; cpus(): unknown[]}>('node:os');
  if (os) return os.availableParallelism?.() ?? os.cpus().length;
  return (globalThis as {navigator?: {hardwareConcurrency?: number}}).navigator?.hardwareConcurrency ?? 1;
}

/**
 * The default thread count: every core (the main thread takes a share, so cores − 1 workers), at
 * most 4. Two threads paid on this project's 2-core machine where nothing was copied (1.44-1.58x on
 * the larger 1x1 convolutions in a cross-origin-isolated page, BENCHMARKS.md "Threads"); more than 4
 * were never measured, and kernels that stream their weights stop scaling before the memory bus does.
 */
export const MAX_DEFAULT_THREADS = 4;

/** Why threads cannot run here, or null when they can. */
export function threadsUnavailable(): string|null {
  if (threadState.refused) return threadState.refused;
  if (typeof SharedArrayBuffer === 'undefined') return 'SharedArrayBuffer is not available (a page must be cross-origin isolated)';
  if (typeof Atomics === 'undefined') return 'Atomics is not available';
  if (isNode) return nodeModule('node:worker_threads') ? null : 'this Node cannot load worker_threads synchronously (getBuiltinModule: Node >= 20.16)';
  if (typeof Worker === 'undefined') return 'Web Workers are not available';
  if ((globalThis as {crossOriginIsolated?: boolean}).crossOriginIsolated === false) return 'the page is not cross-origin isolated';
  return null;
}

/**
 * Whether threads are paying off right now, judged from the calls themselves: with parts of equal
 * work, one thread would have taken (parts / parts run here) x the calling thread's own time, so
 * the ratio of that to the call's wall time is the speedup threads gave. On a machine whose other
 * jobs leave no core free, a worker's part finishes late and the ratio drops below 1; the monitor
 * then suspends threads for `SUSPEND_MS` and tries again after (measured on this project's shared
 * 2-core machine: under a load of 4-5, 2 threads ran 0.61-0.98x of one; BENCHMARKS.md "Threads").
 */
export class GainMonitor {
  /** Exponential average of the speedup, starting neutral. */
  private gain = 1;
  private suspendedUntil = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Records one threaded call: the calling thread's time on `localParts` of `parts`, and the wall time. */
  record(localMs: number, totalMs: number, parts: number, localParts: number): void {
    if (!(totalMs > 0)) return;
    this.gain = 0.8 * this.gain + 0.2 * (localMs * parts / localParts) / totalMs;
    if (this.gain < MIN_GAIN) {
      this.suspendedUntil = this.now() + SUSPEND_MS;
      this.gain = 1;
    }
  }

  /** False while threads are suspended after calls that ran slower than one thread would. */
  get paying(): boolean {
    return this.now() >= this.suspendedUntil;
  }

  /** Forgets what was measured (setThreads calls it: threads were asked for). */
  reset(): void {
    this.gain = 1;
    this.suspendedUntil = 0;
  }
}

/** Below this average speedup threads are suspended (a little under 1: equal parts are never exactly equal). */
const MIN_GAIN = 0.95;
/** How long threads stay suspended before calls try them again. */
const SUSPEND_MS = 1000;

/**
 * The process's thread state, one object however many copies of this library are loaded (a CommonJS
 * and an ES module copy, say: tfjs's kernel registry is process-wide, so the kernels that run may
 * come from either copy, and both must see the same setting, pools and monitor).
 */
interface ThreadState {
  setting: number|undefined;
  warned: boolean;
  /** The last pool failure since `setThreads`. */
  lastFailure: string|null;
  /** Every pool reports its calls here; the dispatcher asks it. */
  gain: GainMonitor;
  /** Pools whose workers have not been stopped. */
  live: Set<ThreadPool>;
  /** Pools by the memory they run on (ours, or a shared tfjs-wasm heap). */
  pools: WeakMap<WebAssembly.Memory, ThreadPool>;
  /** Counts `setThreads` calls: a pool that failed before the last one is replaced. */
  epoch: number;
  /** Why this runtime refused to start threads (a shared memory or a worker), until `setThreads`. */
  refused: string|null;
}

const STATE_KEY = Symbol.for('tfjs-sparsity.threads');
export const threadState: ThreadState = ((globalThis as Record<symbol, ThreadState>)[STATE_KEY] ??=
  {setting: undefined, warned: false, lastFailure: null, gain: new GainMonitor(), live: new Set(), pools: new WeakMap(),
    epoch: 0, refused: null});

/** The process's monitor: every pool reports to it, and the dispatcher asks it. */
export const threadGain = threadState.gain;

/** Why the last pool failed (ops then run on one thread until `setThreads`), or null. */
export function threadFailure(): string|null {
  return threadState.lastFailure;
}

/** Warns once per process: the first failure is the one worth reading. */
function warnOnce(message: string): void {
  if (threadState.warned) return;
  threadState.warned = true;
  console.warn(message);
}

/**
 * A pool of `workers` workers running `module` on the shared `memory`. Parts handed to workers
 * that are not ready yet (they start asynchronously) run on the main thread instead.
 */
export class ThreadPool {
  private readonly ctl: Int32Array;
  private readonly tasks: Float64Array;
  private readonly workers: WorkerHandle[] = [];
  private readonly names: string[];
  private readonly fnIndex = new Map<string, number>();
  private ticket = 0;
  /** The `setThreads` epoch the pool was started in. */
  readonly epoch = threadState.epoch;
  /** Calls that handed parts to workers (for tests: proof that threads ran). */
  threadedRuns = 0;
  private broken: string|null = null;
  private stopped = false;

  constructor(readonly memory: WebAssembly.Memory, readonly kernels: KernelExports, module: WebAssembly.Module,
              workers: number) {
    const n = Math.min(workers, MAX_WORKERS);
    const control = new SharedArrayBuffer(4 * LAYOUT.size);
    const tasks = new SharedArrayBuffer(8 * PART_SLOTS * Math.max(1, n));
    this.ctl = new Int32Array(control);
    this.tasks = new Float64Array(tasks);
    this.names = WebAssembly.Module.exports(module).filter(e => e.kind === 'function').map(e => e.name);
    this.names.forEach((name, i) => this.fnIndex.set(name, i));
    threadState.live.add(this);
    try {
      for (let index = 0; index < n; index++) {
        this.startWorker({module, memory, control, tasks, index, names: this.names, layout: LAYOUT});
      }
    } catch (e) {
      this.terminate();  // the workers that did start
      throw e;
    }
  }

  private startWorker(init: WorkerInit): void {
    // tsx and rollup may wrap named functions in helpers (esbuild's __name): define it as a no-op.
    const body = `var __name = (f) => f; const workerMain = ${workerMain.toString()};`;
    const threads = nodeModule<NodeWorkerThreads>('node:worker_threads');
    const onExit = () => {
      if (this.stopped) return;
      Atomics.store(this.ctl, LAYOUT.state + init.index, FAILED);
      this.fail(`kernel worker ${init.index} exited`);
    };
    if (threads) {
      // Plain script flags: a worker inherits the parent's execArgv (say --input-type=module, or a loader).
      const w = new threads.Worker(`${body} workerMain(globalThis.process?.getBuiltinModule('node:worker_threads').workerData);`,
          {eval: true, workerData: init, execArgv: []});
      // Unreferenced: a process whose work is done exits with its workers waiting.
      w.unref();
      w.on('error', onExit);
      w.on('exit', onExit);
      this.workers.push(w);
    } else {
      const url = URL.createObjectURL(new Blob([`${body} onmessage = (e) => { onmessage = null; workerMain(e.data); };`],
          {type: 'text/javascript'}));
      const w = new Worker(url);
      w.onerror = onExit;
      w.postMessage(init);
      URL.revokeObjectURL(url);
      this.workers.push(w);
    }
  }

  /**
   * Resolves once every worker is ready (or has failed, or `timeoutMs` passed): for `ready()` and
   * tests. It polls with timers, which keep a Node process alive: the workers are unreferenced.
   */
  async whenReady(timeoutMs = 10000): Promise<void> {
    const t0 = Date.now();
    while (!this.broken && this.readyWorkers().length < this.workers.length && Date.now() - t0 < timeoutMs) {
      await new Promise(r => setTimeout(r, 2));
    }
  }

  /** Why this pool no longer runs parts, or null while it does. */
  get failure(): string|null {
    return this.broken;
  }

  /** Indexes of the workers ready for a part. */
  readyWorkers(): number[] {
    const ready: number[] = [];
    if (this.broken) return ready;
    for (let i = 0; i < this.workers.length; i++) if (Atomics.load(this.ctl, LAYOUT.state + i) === READY) ready.push(i);
    return ready;
  }

  /** Workers this pool started with. */
  get size(): number {
    return this.workers.length;
  }

  /** True once the workers were told to stop (the pool is replaced on next use). */
  get terminated(): boolean {
    return this.stopped;
  }

  /** Threads a call can use now: the main thread and the ready workers. */
  get threads(): number {
    return 1 + this.readyWorkers().length;
  }

  private runSerial(calls: KernelCall[]): void {
    for (const [name, ...args] of calls) (this.kernels[name] as (...a: number[]) => void)(...args);
  }

  /**
   * Runs `parts` at once, part 0 on the calling thread and each other part on a ready worker (or on
   * the calling thread where none is ready), and returns when every part is done.
   * @throws Error if a part has more than 64 calls or a call more than 20 arguments.
   */
  run(parts: KernelCall[][], poison = false): void {
    const ready = this.readyWorkers();
    const assigned: Array<{worker: number; part: KernelCall[]}> = [];
    const local: KernelCall[][] = [parts[0]];
    for (let i = 1; i < parts.length; i++) {
      if (i - 1 < ready.length) assigned.push({worker: ready[i - 1], part: parts[i]});
      else local.push(parts[i]);
    }
    Atomics.store(this.ctl, LAYOUT.done, 0);
    const ticket = ++this.ticket;
    if (assigned.length > 0) this.threadedRuns++;
    for (const {worker, part} of assigned) {
      this.writePart(worker, part, poison);
      Atomics.store(this.ctl, LAYOUT.ticket + worker, ticket);
      Atomics.notify(this.ctl, LAYOUT.ticket + worker);
    }
    const t0 = performance.now();
    for (const part of local) this.runSerial(part);
    if (assigned.length === 0) return;
    const localMs = performance.now() - t0;
    const deadline = performance.now() + Math.max(MIN_DEADLINE_MS, DEADLINE_FACTOR * localMs);
    this.waitFor(assigned.length, deadline);
    threadGain.record(localMs, performance.now() - t0, parts.length, local.length);
    for (const {worker, part} of assigned) {
      const finished = Atomics.load(this.ctl, LAYOUT.finished + worker) === ticket;
      const failed = Atomics.load(this.ctl, LAYOUT.state + worker) === FAILED;
      if (finished && !failed) continue;
      // Kernels write only their own part's outputs, from inputs nobody writes: running the part
      // again is safe even if the worker is still writing it.
      this.runSerial(part);
      this.fail(finished ? `kernel worker ${worker} failed in a call` : `kernel worker ${worker} did not finish in time`);
    }
  }

  private writePart(worker: number, part: KernelCall[], poison: boolean): void {
    if (part.length > MAX_CALLS) throw new Error(`tfjs-sparsity: a thread part has ${part.length} calls, at most ${MAX_CALLS}`);
    let p = worker * PART_SLOTS;
    this.tasks[p++] = part.length;
    for (const [name, ...args] of part) {
      if (args.length > MAX_ARGS) throw new Error(`tfjs-sparsity: kernel ${name} has ${args.length} arguments, at most ${MAX_ARGS}`);
      this.tasks[p] = poison ? POISON : this.fnIndex.get(name)!;
      this.tasks[p + 1] = args.length;
      for (let i = 0; i < args.length; i++) this.tasks[p + 2 + i] = args[i];
      p += CALL_SLOTS;
    }
  }

  private static canBlock: boolean|undefined;

  /** Waits until `count` parts are done or the deadline passes. */
  private waitFor(count: number, deadline: number): void {
    for (;;) {
      const done = Atomics.load(this.ctl, LAYOUT.done);
      if (done >= count) return;
      const left = deadline - performance.now();
      if (left <= 0) return;
      if (ThreadPool.canBlock !== false) {
        try {
          Atomics.wait(this.ctl, LAYOUT.done, done, Math.min(left, 50));
          ThreadPool.canBlock = true;
          continue;
        } catch {
          ThreadPool.canBlock = false;  // a page's main thread may not block: spin instead
        }
      }
    }
  }

  /** Marks the pool failed (ops go back to one thread), warns once, and stops its workers. */
  fail(reason: string): void {
    if (this.broken) return;
    this.broken = reason;
    threadState.lastFailure = reason;
    warnOnce(`tfjs-sparsity: ${reason}; the sparse kernels run on one thread from now on (setThreads() starts new workers).`);
    this.terminate();
  }

  /** Stops the workers (they exit once they see the stop ticket, or at once when terminated). */
  terminate(): void {
    this.stopped = true;
    threadState.live.delete(this);
    for (let i = 0; i < this.workers.length; i++) {
      Atomics.store(this.ctl, LAYOUT.ticket + i, -1);
      Atomics.notify(this.ctl, LAYOUT.ticket + i);
    }
    for (const w of this.workers) w.terminate();
  }

  /** Test hook: terminates worker `i` as a crash would, without telling the pool. */
  killWorker(i: number): void {
    this.workers[i].terminate();
  }
}

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
  for (const pool of [...threadState.live]) if (pool.failure !== null || pool.size < n - 1) pool.terminate();
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
  let pool = threadState.pools.get(memory);
  if (!pool || pool.terminated && (pool.failure === null || pool.epoch !== threadState.epoch)) {
    const made = startOrRefuse(() => new ThreadPool(memory, kernels(), module(), workers));
    if (!made) return null;
    threadState.pools.set(memory, pool = made);
  }
  return pool.failure ? null : pool;
}

/**
 * `start()`, or null when the runtime refuses (no shared memory of that size, workers blocked by a
 * content security policy, ...): threads are then off, with one warning, until `setThreads`.
 */
export function startOrRefuse<T>(start: () => T): T|null {
  try {
    return start();
  } catch (e) {
    const reason = `threads could not start (${(e as Error)?.message ?? String(e)})`;
    threadState.refused = threadState.lastFailure = reason;
    warnOnce(`tfjs-sparsity: ${reason}; the sparse kernels run on one thread.`);
    return null;
  }
}

/** The most calls one part may hold. */
export const MAX_PART_CALLS = MAX_CALLS;

/**
 * Boundaries splitting [0, count) into at most `parts` ranges of whole multiples of `align` (the
 * last range takes the remainder); fewer ranges when there are not enough aligned units.
 */
export function evenSplits(count: number, parts: number, align = 1): number[] {
  const units = Math.ceil(count / align);
  const n = Math.max(1, Math.min(parts, units));
  const bounds = [0];
  for (let i = 1; i < n; i++) bounds.push(Math.min(count, Math.max(bounds[i - 1] + align, Math.round(count * i / n / align) * align)));
  bounds.push(count);
  return bounds;
}

/**
 * Boundaries splitting the rows of a compressed-row matrix (`rowPtr`, length rows + 1) into at most
 * `parts` ranges of about equal nonzeros (the work of the pixel kernels), none empty.
 */
export function nonzeroSplits(rowPtr: Int32Array, parts: number): number[] {
  const rows = rowPtr.length - 1, total = rowPtr[rows];
  const bounds = [0];
  for (let i = 1, r = 0; i < parts; i++) {
    const target = total * i / parts;
    while (r < rows && rowPtr[r] < target) r++;
    if (r > bounds[bounds.length - 1] && r < rows) bounds.push(r);
  }
  bounds.push(rows);
  return bounds;
}
