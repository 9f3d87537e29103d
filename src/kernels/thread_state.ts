/**
 * What the process knows about threads: whether this runtime can run them, whether they are paying
 * off right now, and the one state every copy of the library shares (setting, pools, failures).
 */
import {MIN_GAIN, SUSPEND_MS} from './thread_limits';

interface NodeProcess {
  getBuiltinModule?(name: string): unknown;
}

/** A Node built-in module, loaded synchronously, or undefined outside Node (or before Node 20.16). */
export function nodeModule<T>(name: string): T|undefined {
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
 * then suspends threads for `SUSPEND_MS` and tries again after (`src/kernels/thread_limits.ts`).
 */
export class GainMonitor {
  /** Exponential average of the speedup, starting neutral. */
  private gain = 1;
  private suspendedUntil = 0;
  /** Times threads were suspended since the process started. */
  suspensions = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Records one threaded call: the calling thread's time on `localParts` of `parts`, and the wall time. */
  record(localMs: number, totalMs: number, parts: number, localParts: number): void {
    if (!(totalMs > 0)) return;
    this.gain = 0.8 * this.gain + 0.2 * (localMs * parts / localParts) / totalMs;
    if (this.gain < MIN_GAIN) {
      this.suspendedUntil = this.now() + SUSPEND_MS;
      this.gain = 1;
      this.suspensions++;
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
  /** Counts `setThreads` calls: a pool that failed before the last one is replaced. */
  epoch: number;
  /** Why this runtime refused to start threads (a shared memory or a worker), until `setThreads`. */
  refused: string|null;
}

const STATE_KEY = Symbol.for('tfjs-sparsity.threads');
export const threadState: ThreadState = ((globalThis as Record<symbol, ThreadState>)[STATE_KEY] ??=
  {setting: undefined, warned: false, lastFailure: null, gain: new GainMonitor(),
    epoch: 0, refused: null});

/** The process's monitor: every pool reports to it, and the dispatcher asks it. */
export const threadGain = threadState.gain;

/** Why the last pool failed (ops then run on one thread until `setThreads`), or null. */
export function threadFailure(): string|null {
  return threadState.lastFailure;
}

/** Warns once per process (until `setThreads`): the first failure is the one worth reading. */
export function warnOnce(message: string): void {
  if (threadState.warned) return;
  threadState.warned = true;
  console.warn(message);
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

