/**
 * Kernel calls on threads. Two places a call can run split across workers:
 * - a shared tfjs-wasm heap (tfjs-wasm's threaded build: a cross-origin-isolated page, or Node after
 *   `useThreadedWasm`): the workers run on the heap itself, zero copy (`heapPool`);
 * - anywhere else (tfjs-wasm's single-threaded build, Node's default; the `cpu` backend): our own shared
 *   memory (`runThreaded`), with the packed weights resident in it (copied once per weight tensor,
 *   freed when the tensor is garbage-collected) and each call's activations copied in and its
 *   outputs copied out.
 */
import {NamedAttrMap, TensorInfo, util} from '@tensorflow/tfjs-core';
import {MAX_HEAP_BYTES} from './heap_limit';
import type {KernelExports} from './exports';
import {kernelModule, kernelsOn} from './module';
import {KernelCall, ThreadPool} from './thread_pool';
import {startOrRefuse, threadsUnavailable} from './thread_state';
import {getThreads, poolOn} from './threads';

const PAGE = 65536;

/** The thread count an op asked for (`attrs.threads`, set by the dispatcher; 1 when absent). */
export function threadsWanted(attrs: NamedAttrMap): number {
  const t = attrs.threads;
  return typeof t === 'number' && t > 1 ? t : 1;
}

/**
 * First-fit allocation of 16-byte-aligned blocks in a shared memory, growing it as needed (all
 * instances on a shared memory see it grow; views must be made anew).
 */
export class SharedArena {
  private readonly free: Array<{ptr: number; size: number}> = [];
  private readonly sizes = new Map<number, number>();
  /** Address 0 is never handed out: kernels take 0 for "none". */
  private top = 16;

  constructor(readonly memory: WebAssembly.Memory) {}

  /** @returns the block's address, or -1 when the memory cannot hold it. */
  alloc(bytes: number): number {
    const size = Math.max(16, Math.ceil(bytes / 16) * 16);
    for (let i = 0; i < this.free.length; i++) {
      const b = this.free[i];
      if (b.size < size) continue;
      const ptr = b.ptr;
      if (b.size === size) this.free.splice(i, 1);
      else { b.ptr += size; b.size -= size; }
      this.sizes.set(ptr, size);
      return ptr;
    }
    const end = this.top + size;
    if (!(end <= MAX_HEAP_BYTES)) return -1;
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch {
        return -1;
      }
    }
    const ptr = this.top;
    this.top = end;
    this.sizes.set(ptr, size);
    return ptr;
  }

  /** Returns a block to the arena, merging it with free neighbours. */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) return;
    this.sizes.delete(ptr);
    let i = 0;
    while (i < this.free.length && this.free[i].ptr < ptr) i++;
    this.free.splice(i, 0, {ptr, size});
    if (i + 1 < this.free.length && ptr + size === this.free[i + 1].ptr) {
      this.free[i].size += this.free[i + 1].size;
      this.free.splice(i + 1, 1);
    }
    if (i > 0 && this.free[i - 1].ptr + this.free[i - 1].size === ptr) {
      this.free[i - 1].size += this.free[i].size;
      this.free.splice(i, 1);
      i--;
    }
    const last = this.free[this.free.length - 1];
    if (last && last.ptr + last.size === this.top) {
      this.top = last.ptr;
      this.free.pop();
    }
  }

  /** Bytes handed out and not released. */
  get used(): number {
    let n = 0;
    for (const s of this.sizes.values()) n += s;
    return n;
  }
}

// --- pools -----------------------------------------------------------------------------------

/** Our own shared memory, its arena and the weights resident in it: one per process (see `threadState`). */
interface OwnMemory {memory: WebAssembly.Memory; arena: SharedArena; resident: WeakMap<object, number>;
  registry: FinalizationRegistry<number>}
const OWN_KEY = Symbol.for('tfjs-sparsity.ownMemory');

function ownMemory(): OwnMemory {
  const g = globalThis as Record<symbol, OwnMemory>;
  if (!g[OWN_KEY]) {
    const memory = new WebAssembly.Memory({initial: 16, maximum: 65536, shared: true});
    const arena = new SharedArena(memory);
    g[OWN_KEY] = {memory, arena, resident: new WeakMap(), registry: new FinalizationRegistry(ptr => arena.release(ptr))};
  }
  return g[OWN_KEY];
}

/** The pool on `memory` for getThreads() threads, or null for one thread (or a failed pool). */
function poolFor(memory: WebAssembly.Memory): ThreadPool|null {
  const threads = getThreads();
  if (threads <= 1) return null;
  return poolOn(memory, () => kernelsOn(memory), () => kernelModule(true), threads - 1);
}

/** Our own memory and its pool (Node, the `cpu` backend), started on first use, or null. */
function ownPool(): (OwnMemory & {pool: ThreadPool})|null {
  if (threadsUnavailable() || getThreads() <= 1) return null;
  const own = startOrRefuse(ownMemory);
  const pool = own && poolFor(own.memory);
  return pool ? {...own, pool} : null;
}

/** The pool on a shared tfjs-wasm heap (its workers run on the heap itself), or null. */
export function heapPool(memory: WebAssembly.Memory): ThreadPool|null {
  return poolFor(memory);
}

/**
 * Starts the workers of our own pool (Node, `cpu` backend) and waits until they are ready, so the
 * first ops already run threaded. Resolves at once where threads cannot run.
 */
export async function startThreads(): Promise<void> {
  await ownPool()?.pool.whenReady();
}

/** The pool our own memory runs on (tests and benchmarks), started if need be. */
export function ownThreadPool(): ThreadPool|null {
  return ownPool()?.pool ?? null;
}

/** Bytes of our shared memory held by resident weights and calls in flight (tests). */
export function ownArenaBytes(): number {
  return startOrRefuse(ownMemory)?.arena.used ?? 0;
}

// --- one call on our own shared memory -------------------------------------------------------

/** Reads inputs from a backend and writes outputs to it (see `bridge.ts`). */
export interface CopyHost {
  read(t: TensorInfo): Float32Array|Int32Array;
  write(shape: number[], dtype: 'float32'|'int32', values: Float32Array|Int32Array): TensorInfo;
}

/** A kernel's view of a call (see `KernelContext` in bridge.ts, which this satisfies). */
export interface ThreadedContext {
  readonly kernels: KernelExports;
  readonly threads: number;
  input(t: TensorInfo): number;
  weight(t: TensorInfo): number;
  output(shape: number[], dtype: 'float32'|'int32'): {ptr: number; shape: number[]; dtype: 'float32'|'int32'};
  scratch(bytes: number): number;
  f32(ptr: number, length: number): Float32Array;
  i32(ptr: number, length: number): Int32Array;
  parallel(parts: KernelCall[][]): void;
}

/**
 * Runs `run` on our shared memory across the pool's threads, inputs copied from `host` and outputs
 * copied to it. Returns null (nothing done) when no worker is ready: the caller runs the call on
 * one thread as it would anyway.
 * @throws Error from `run`, or when the shared memory cannot hold the call (naming what).
 */
export function runThreaded<O extends {ptr: number; shape: number[]; dtype: 'float32'|'int32'}>(
    host: CopyHost, attrs: NamedAttrMap, run: (ctx: ThreadedContext) => O|O[],
    heapError: (what: string, bytes: number, heapBytes: number) => Error): TensorInfo|TensorInfo[]|null {
  const o = ownPool();
  if (!o || o.pool.threads <= 1) return null;
  const {pool, arena, resident, registry} = o;
  const memory = pool.memory;
  const perCall: number[] = [];
  const alloc = (bytes: number, what: string) => {
    const ptr = arena.alloc(bytes);
    if (ptr < 0) throw heapError(what, bytes, memory.buffer.byteLength);
    perCall.push(ptr);
    return ptr;
  };
  const copyIn = (ptr: number, values: Float32Array|Int32Array) => {
    new Uint8Array(memory.buffer, ptr, values.byteLength).set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
  };
  const ctx: ThreadedContext = {
    kernels: pool.kernels,
    threads: Math.min(threadsWanted(attrs), pool.threads),
    input(t) {
      const values = host.read(t);
      const ptr = alloc(values.byteLength, `an input of shape [${t.shape}]`);
      copyIn(ptr, values);
      return ptr;
    },
    weight(t) {
      let ptr = resident.get(t.dataId);
      if (ptr === undefined) {
        const values = host.read(t);
        ptr = arena.alloc(values.byteLength);
        if (ptr < 0) throw heapError(`a weight of shape [${t.shape}]`, values.byteLength, memory.buffer.byteLength);
        copyIn(ptr, values);
        resident.set(t.dataId, ptr);
        registry.register(t.dataId, ptr);
      }
      return ptr;
    },
    output: (shape, dtype) => ({ptr: alloc(util.sizeFromShape(shape) * 4, `an output of shape [${shape}]`), shape, dtype}),
    scratch: (bytes) => alloc(bytes, 'scratch'),
    f32: (ptr, length) => new Float32Array(memory.buffer, ptr, length),
    i32: (ptr, length) => new Int32Array(memory.buffer, ptr, length),
    parallel: (parts) => pool.run(parts),
  };
  try {
    const result = run(ctx);
    const copyOut = (out: O) => {
      const n = util.sizeFromShape(out.shape);
      return host.write(out.shape, out.dtype, out.dtype === 'float32' ? ctx.f32(out.ptr, n) : ctx.i32(out.ptr, n));
    };
    return Array.isArray(result) ? result.map(copyOut) : copyOut(result);
  } finally {
    for (const p of perCall) arena.release(p);
  }
}
