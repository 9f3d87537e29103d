/**
 * The sparse kernels' pool of workers (`worker_threads` in Node, Web Workers in a
 * cross-origin-isolated page), each running its own instance of the kernel module on one shared
 * `WebAssembly.Memory`. tfjs kernels are synchronous, so a call is synchronous too: the main thread
 * hands each worker its part (a list of kernel calls) through a shared control block, runs the
 * first part itself, then runs any worker's part that no worker has claimed yet (a worker woken
 * from its sleep can start later than the main thread takes to finish: on a virtual machine an
 * idle core wakes in tens of microseconds or more), then waits (a short spin, then `Atomics.wait`
 * where the thread may block, a spin on the main thread of a page, where it may not) until every
 * claimed part is done. So a call is never much slower than one thread. Idle workers also spin a
 * little before they sleep (thread_limits.ts, `THREAD_SPIN_MS`).
 *
 * Failures never hang and never corrupt: a worker whose call throws marks itself failed; one that
 * died (terminated, crashed) is caught by a deadline. Either way the main thread runs the part
 * itself, the pool is shut down, and ops run on one thread from then on, with one warning.
 */
import {THREAD_SPIN_MS} from './thread_limits';
import type {KernelExports} from './exports';
import {nodeModule, threadGain, threadState, warnOnce} from './thread_state';

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
const LAYOUT = {done: 0, state: 1, ticket: 1 + MAX_WORKERS, claim: 1 + 2 * MAX_WORKERS, delay: 1 + 3 * MAX_WORKERS,
  size: 2 + 3 * MAX_WORKERS,
  slot: PART_SLOTS, callSlots: CALL_SLOTS, spinMs: THREAD_SPIN_MS};

/** Worker states (0: starting). `workerMain` writes them as literals: it cannot see this module. */
const READY = 1, FAILED = 2;
/**
 * Claims of a worker's part: the main thread sets UNCLAIMED before the worker's ticket; the worker
 * or the main thread takes it (RUNNING, STOLEN) with a compare-exchange, and the worker marks it DONE.
 */
const UNCLAIMED = 0, STOLEN = 2, DONE = 3;

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
    // The next part usually comes within microseconds (the next layer): look for it a little while
    // before sleeping, since waking from Atomics.wait costs tens of microseconds.
    for (const until = performance.now() + layout.spinMs; Atomics.load(ctl, layout.ticket + index) === last &&
        performance.now() < until;);
    Atomics.wait(ctl, layout.ticket + index, last);
    const ticket = Atomics.load(ctl, layout.ticket + index);
    if (ticket === last) continue;
    if (ticket < 0) return;
    last = ticket;
    const delay = Atomics.load(ctl, layout.delay);
    for (const until = performance.now() + delay; delay > 0 && performance.now() < until;);
    // 0 -> 1 (RUNNING): the part is ours, unless the main thread took it first (2) or we ran it (3).
    if (Atomics.compareExchange(ctl, layout.claim + index, 0, 1) !== 0) continue;
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
    Atomics.store(ctl, layout.claim + index, 3);
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

/**
 * The process's pools, kept beside the process's thread state and for the same reason (one registry
 * however many copies of this library are loaded; see `thread_state.ts`).
 */
interface PoolRegistry {
  /** Pools whose workers have not been stopped. */
  live: Set<ThreadPool>;
  /** Pools by the memory they run on (ours, or a shared tfjs-wasm heap). */
  byMemory: WeakMap<WebAssembly.Memory, ThreadPool>;
}

const POOLS_KEY = Symbol.for('tfjs-sparsity.thread-pools');
export const pools: PoolRegistry = (globalThis as Record<symbol, PoolRegistry>)[POOLS_KEY] ??=
  {live: new Set(), byMemory: new WeakMap()};

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
  /** Workers' parts the calling thread ran because their worker had not started them. */
  stolenParts = 0;
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
    pools.live.add(this);
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
   * the calling thread where none is ready, or where its worker has not started it by the time the
   * calling thread is done with its own), and returns when every part is done.
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
      // The claim is opened after the part is written and the ticket after the claim, so a worker
      // that claims a part reads all of it, and one that sees the ticket early finds nothing to claim.
      Atomics.store(this.ctl, LAYOUT.claim + worker, UNCLAIMED);
      Atomics.store(this.ctl, LAYOUT.ticket + worker, ticket);
      Atomics.notify(this.ctl, LAYOUT.ticket + worker);
    }
    const t0 = performance.now();
    for (const part of local) this.runSerial(part);
    if (assigned.length === 0) return;
    const running: typeof assigned = [];
    let localParts = local.length;
    for (const a of assigned) {
      if (Atomics.compareExchange(this.ctl, LAYOUT.claim + a.worker, UNCLAIMED, STOLEN) !== UNCLAIMED) {
        running.push(a);
        continue;
      }
      this.runSerial(a.part);
      localParts++;
      this.stolenParts++;
    }
    const localMs = performance.now() - t0;
    const deadline = performance.now() + Math.max(MIN_DEADLINE_MS, DEADLINE_FACTOR * localMs);
    if (running.length > 0) this.waitFor(running.length, deadline);
    threadGain.record(localMs, performance.now() - t0, parts.length, localParts);
    for (const {worker, part} of running) {
      const finished = Atomics.load(this.ctl, LAYOUT.claim + worker) === DONE;
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
    // The workers' parts end near the calling thread's own: look for them a little while before sleeping.
    for (const until = performance.now() + THREAD_SPIN_MS; Atomics.load(this.ctl, LAYOUT.done) < count &&
        performance.now() < until;);
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
    pools.live.delete(this);
    for (let i = 0; i < this.workers.length; i++) {
      Atomics.store(this.ctl, LAYOUT.ticket + i, -1);
      Atomics.notify(this.ctl, LAYOUT.ticket + i);
    }
    for (const w of this.workers) w.terminate();
  }

  /** Test hook: workers wait `ms` after each wake-up before they claim their part (a late wake-up). */
  delayWorkers(ms: number): void {
    Atomics.store(this.ctl, LAYOUT.delay, ms);
  }

  /** Test hook: terminates worker `i` as a crash would, without telling the pool. */
  killWorker(i: number): void {
    this.workers[i].terminate();
  }
}

/** The most calls one part may hold. */
export const MAX_PART_CALLS = MAX_CALLS;
