/**
 * The bridge between tfjs kernels and the AssemblyScript module. A kernel is written once against
 * `KernelContext`; `kernelConfigs` turns it into one `KernelConfig` for the `wasm` backend (zero copy:
 * the module runs on the backend's own heap, on the tensors' bytes) and one for the `cpu` backend
 * (the same module on a private memory, inputs copied in and outputs copied out), so the two
 * backends run the same instructions and give bit-identical results.
 */
import {KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo, util} from '@tensorflow/tfjs-core';
import {MAX_HEAP_BYTES} from './heap_limit';
import type {KernelExports} from './exports';
import {isSharedMemory, kernelsOn} from './module';
import {CopyHost, heapPool, runThreaded, threadsWanted} from './threaded';
import {KernelCall, ThreadPool} from './thread_pool';

/** An output tensor being filled by a kernel. */
export interface KernelOutput {
  /** Byte address of the output's data in the kernel module's memory. */
  readonly ptr: number;
  readonly shape: number[];
  readonly dtype: 'float32'|'int32';
}

/** What a kernel sees of the backend. Views are fresh on every call: memory may grow in between. */
export interface KernelContext {
  readonly kernels: KernelExports;
  /** Byte address of an input's data. */
  input(t: TensorInfo): number;
  /**
   * Allocates an output tensor.
   * @throws Error, before anything is written, when it does not fit the heap.
   */
  output(shape: number[], dtype: 'float32'|'int32'): KernelOutput;
  /**
   * Allocates scratch bytes (16-byte aligned), released when the kernel returns.
   * @throws Error, before anything is written, when they do not fit the heap.
   */
  scratch(bytes: number): number;
  f32(ptr: number, length: number): Float32Array;
  i32(ptr: number, length: number): Int32Array;
  /** Threads this call may split across (1: run everything on this thread). */
  readonly threads: number;
  /**
   * Runs each part's calls in order, the parts at once on up to `threads` threads; returns when all
   * are done. Parts must write disjoint bytes.
   */
  parallel(parts: KernelCall[][]): void;
  /**
   * Byte address of an input that never changes (a packed weight): on our shared memory it is
   * copied once and stays resident; elsewhere it is `input(t)`.
   */
  weight(t: TensorInfo): number;
}

/** A kernel's inputs by name; `runKernel` callers always pass every input the kernel reads. */
export type KernelInputs = Record<string, TensorInfo>;

/** A kernel written once for both backends. */
export interface KernelDef {
  kernelName: string;
  /** The backends to register on (default both); e.g. a kernel that fills a gap in tfjs-wasm only. */
  backends?: Array<'wasm'|'cpu'>;
  run(ctx: KernelContext, inputs: KernelInputs, attrs: NamedAttrMap): KernelOutput|KernelOutput[];
}

const BYTES = {float32: 4, int32: 4} as const;

/** The next multiple of 16 at or above `p`, in unsigned arithmetic (`& ~15` is signed: wrong above 2 GiB). */
function align16(p: number): number {
  return Math.ceil(p / 16) * 16;
}

/** The error for an allocation of `bytes` that `heap` (of `heapBytes` now) cannot make. */
function heapError(kernelName: string, what: string, bytes: number, heap: string, heapBytes: number): Error {
  return new Error(`tfjs-sparsity: kernel '${kernelName}' needs ${bytes} bytes for ${what}, which ${heap} cannot ` +
      `give (it holds ${heapBytes} bytes now and at most ${MAX_HEAP_BYTES}, 4 GiB - 64 KiB)`);
}

const WASM_HEAP = 'the tfjs-wasm heap';
const PRIVATE_MEMORY = 'the kernels\' memory on the cpu backend';

// --- wasm backend: the tfjs-wasm heap -------------------------------------------------------------

interface WasmBackendLike {
  wasm: {asm?: {memory?: WebAssembly.Memory}; wasmMemory?: WebAssembly.Memory;
         wasmExports?: {memory?: WebAssembly.Memory}; _malloc(n: number): number; _free(p: number): void};
  dataIdMap: {get(id: object): {memoryOffset: number}|undefined};
  makeOutput(shape: number[], dtype: string): TensorInfo;
  disposeData(dataId: object, force?: boolean): boolean;
}

/** The backend heap's `WebAssembly.Memory`, under each name tfjs-wasm builds have used. */
export function wasmHeapMemory(backend: WasmBackendLike): WebAssembly.Memory {
  const m = backend.wasm.asm?.memory ?? backend.wasm.wasmMemory ?? backend.wasm.wasmExports?.memory;
  if (!m) throw new Error('tfjs-sparsity: cannot find the memory of the tfjs wasm backend');
  return m;
}

/**
 * What a wasm backend's heap needs per call, looked up once per backend. `kernels` is null where our
 * module cannot be instantiated on the heap (then calls copy through a private memory).
 */
interface WasmHeap {memory: WebAssembly.Memory; shared: boolean; kernels: KernelExports|null}
const heaps = new WeakMap<WasmBackendLike, WasmHeap>();

function heapOf(backend: WasmBackendLike): WasmHeap {
  let heap = heaps.get(backend);
  if (!heap) {
    const memory = wasmHeapMemory(backend);
    let kernels: KernelExports|null = null;
    try {
      kernels = kernelsOn(memory);
    } catch {
      // A shared heap whose limits our shared-memory variant does not accept: copy instead.
    }
    heap = {memory, shared: isSharedMemory(memory), kernels};
    heaps.set(backend, heap);
  }
  return heap;
}

/**
 * Whether threaded calls on `backend` copy their operands (into our own shared memory), i.e. it is
 * not a wasm backend on a shared heap.
 */
export function threadedCallsCopy(backend: unknown): boolean {
  const b = backend as Partial<WasmBackendLike>;
  if (!b.wasm || !b.dataIdMap) return true;
  const heap = heapOf(b as WasmBackendLike);
  return !(heap.shared && heap.kernels);
}

/**
 * Kernel calls that copied their operands (through a private or our shared memory), for
 * `kernelInfo`: one count per process, whichever copy of the library ran the kernel.
 */
export const copyCounts: {private: number; threaded: number} =
  ((globalThis as Record<symbol, {private: number; threaded: number}>)[Symbol.for('tfjs-sparsity.copyCounts')] ??=
    {private: 0, threaded: 0});

/** Runs each part's calls in order on this thread. */
function runSerial(kernels: KernelExports, parts: KernelCall[][]): void {
  for (const part of parts) for (const [name, ...args] of part) (kernels[name] as (...a: number[]) => void)(...args);
}

/**
 * A new tensor on the tfjs-wasm heap and its address. Its size is checked before `makeOutput` (whose
 * `_malloc` wraps sizes modulo 2^32) and its address after: a failed `_malloc` returns 0, which
 * tfjs-wasm keeps as the tensor's address.
 */
function makeHeapOutput(backend: WasmBackendLike, memory: WebAssembly.Memory, shape: number[],
                        dtype: 'float32'|'int32', kernelName: string): {info: TensorInfo; ptr: number} {
  const bytes = util.sizeFromShape(shape) * BYTES[dtype];
  let info: TensorInfo|undefined, ptr = 0;
  if (bytes <= MAX_HEAP_BYTES) {
    info = backend.makeOutput(shape, dtype);
    ptr = backend.dataIdMap.get(info.dataId)!.memoryOffset >>> 0;
    if (bytes === 0 || (ptr !== 0 && ptr + bytes <= memory.buffer.byteLength)) return {info, ptr};
    backend.disposeData(info.dataId, true);
  }
  throw heapError(kernelName, `an output of shape [${shape}]`, bytes, WASM_HEAP, memory.buffer.byteLength);
}

/**
 * A kernel call on the tfjs-wasm heap. A class rather than an object of closures: it is built on
 * every call of every kernel, and the methods live once on the prototype.
 */
class WasmHeapContext implements KernelContext {
  private readonly scratchPtrs: number[] = [];
  readonly infos = new Map<KernelOutput, TensorInfo>();

  readonly threads: number;

  constructor(private readonly backend: WasmBackendLike, private readonly memory: WebAssembly.Memory,
              readonly kernels: KernelExports, private readonly kernelName: string,
              private readonly pool: ThreadPool|null, threads: number) {
    this.threads = pool ? Math.min(threads, pool.threads) : 1;
  }

  weight(t: TensorInfo): number {
    return this.input(t);
  }

  parallel(parts: KernelCall[][]): void {
    if (this.pool && parts.length > 1) this.pool.run(parts);
    else runSerial(this.kernels, parts);
  }

  input(t: TensorInfo): number {
    const data = this.backend.dataIdMap.get(t.dataId);
    if (!data) throw new Error(`tfjs-sparsity: tensor ${t.dataId} is not on the wasm backend`);
    return data.memoryOffset >>> 0;
  }

  output(shape: number[], dtype: 'float32'|'int32'): KernelOutput {
    const {info, ptr} = makeHeapOutput(this.backend, this.memory, shape, dtype, this.kernelName);
    const out = {ptr, shape, dtype};
    this.infos.set(out, info);
    return out;
  }

  scratch(bytes: number): number {
    // emmalloc aligns to 8; over-allocate to align to 16 for v128 loads.
    if (!(bytes >= 0 && bytes + 16 <= MAX_HEAP_BYTES)) throw this.heapError('scratch', bytes);
    const raw = this.backend.wasm._malloc(bytes + 16) >>> 0;
    if (raw === 0) throw this.heapError('scratch', bytes);
    this.scratchPtrs.push(raw);
    return align16(raw);
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  private heapError(what: string, bytes: number): Error {
    return heapError(this.kernelName, what, bytes, WASM_HEAP, this.memory.buffer.byteLength);
  }

  /** Frees the scratch; after a failed kernel also its outputs. */
  release(failed: boolean): void {
    for (const p of this.scratchPtrs) this.backend.wasm._free(p);
    if (failed) for (const info of this.infos.values()) this.backend.disposeData(info.dataId, true);
  }
}

function runOnWasm(def: KernelDef, backend: WasmBackendLike, inputs: NamedTensorInfoMap,
                   attrs: NamedAttrMap): TensorInfo|TensorInfo[] {
  const {memory, shared, kernels} = heapOf(backend);
  const threads = threadsWanted(attrs);
  // On an unshared heap (Node) threads run on our own shared memory, through copies.
  if (threads > 1 && !shared) {
    const result = runThreaded(heapViewHost(backend, memory, def.kernelName), attrs,
        (ctx) => def.run(ctx, inputs as KernelInputs, attrs), threadedHeapError(def.kernelName));
    if (result) {
      copyCounts.threaded++;
      return result;
    }
  }
  if (!kernels) {
    copyCounts.private++;
    return runOnPrivateMemory(def, heapViewHost(backend, memory, def.kernelName), inputs, attrs);
  }
  // On a shared heap (tfjs-wasm's threaded build) the workers run on the heap itself: no copies.
  const pool = threads > 1 && shared ? heapPool(memory) : null;
  const ctx = new WasmHeapContext(backend, memory, kernels, def.kernelName, pool, threads);
  let failed = true;
  try {
    const result = def.run(ctx, inputs as KernelInputs, attrs);
    failed = false;
    return Array.isArray(result) ? result.map(o => ctx.infos.get(o)!) : ctx.infos.get(result)!;
  } finally {
    ctx.release(failed);
  }
}

// --- cpu backend: a private memory ----------------------------------------------------------------

interface CpuBackendLike {
  readSync(dataId: object): ArrayLike<number>|Uint8Array[];
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array|Int32Array): TensorInfo;
}

function cpuHost(backend: CpuBackendLike): CopyHost {
  return {
    // The cpu backend may keep another array type than the dtype says: a bool tensor cast to float32
    // keeps its Uint8Array. Copying its bytes would give the kernel a quarter of the bytes it reads.
    read: (t) => {
      const values = backend.readSync(t.dataId) as ArrayLike<number>;
      const type = t.dtype === 'int32' ? Int32Array : Float32Array;
      return values instanceof type ? values : type.from(values);
    },
    write: (shape, dtype, values) => backend.makeTensorInfo(shape, dtype, values.slice()),
  };
}

/**
 * The tfjs-wasm heap, read and written through views, for calls that run elsewhere (our shared
 * memory, or a private memory): `readSync` would `slice` (allocate) a copy of every input, which
 * costs more than the kernel (about 50 ms per 4 MB in Chromium).
 */
function heapViewHost(backend: WasmBackendLike, memory: WebAssembly.Memory, kernelName: string): CopyHost {
  const view = (dtype: string, offset: number, n: number) =>
    dtype === 'int32' ? new Int32Array(memory.buffer, offset, n) : new Float32Array(memory.buffer, offset, n);
  return {
    read: (t) => {
      const data = backend.dataIdMap.get(t.dataId);
      if (!data) throw new Error(`tfjs-sparsity: tensor ${t.dataId} is not on the wasm backend`);
      return view(t.dtype, data.memoryOffset >>> 0, util.sizeFromShape(t.shape));
    },
    write: (shape, dtype, values) => {
      const {info, ptr} = makeHeapOutput(backend, memory, shape, dtype, kernelName);
      view(dtype, ptr, values.length).set(values);
      return info;
    },
  };
}

const PAGE = 65536;
let privateMemory: WebAssembly.Memory|undefined;

function runOnPrivateMemory(def: KernelDef, host: CopyHost, inputs: NamedTensorInfoMap,
                            attrs: NamedAttrMap): TensorInfo|TensorInfo[] {
  privateMemory ??= new WebAssembly.Memory({initial: 16});
  const memory = privateMemory;
  let top = 0;
  /** Inputs, outputs and scratch, one after the other, each 16-byte aligned; plain numbers throughout. */
  const alloc = (bytes: number, what: string) => {
    const ptr = top;
    const end = align16(ptr + bytes);
    if (!(bytes >= 0 && end <= MAX_HEAP_BYTES)) throw heapError(def.kernelName, what, bytes, PRIVATE_MEMORY, memory.buffer.byteLength);
    if (end > memory.buffer.byteLength) {
      try {
        memory.grow(Math.ceil((end - memory.buffer.byteLength) / PAGE));
      } catch {
        throw heapError(def.kernelName, what, bytes, PRIVATE_MEMORY, memory.buffer.byteLength);
      }
    }
    top = end;
    return ptr;
  };
  const ctx: KernelContext = {
    kernels: kernelsOn(memory),
    input: (t) => {
      const values = host.read(t);
      const ptr = alloc(values.byteLength, `an input of shape [${t.shape}]`);
      new Uint8Array(memory.buffer, ptr, values.byteLength)
          .set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      return ptr;
    },
    output: (shape, dtype) => ({ptr: alloc(util.sizeFromShape(shape) * BYTES[dtype], `an output of shape [${shape}]`), shape, dtype}),
    scratch: (bytes) => alloc(bytes, 'scratch'),
    f32: (ptr, length) => new Float32Array(memory.buffer, ptr, length),
    i32: (ptr, length) => new Int32Array(memory.buffer, ptr, length),
    threads: 1,
    parallel: (parts) => runSerial(ctx.kernels, parts),
    weight: (t) => ctx.input(t),
  };
  const copyOut = (o: KernelOutput) => {
    const n = util.sizeFromShape(o.shape);
    return host.write(o.shape, o.dtype, o.dtype === 'float32' ? ctx.f32(o.ptr, n) : ctx.i32(o.ptr, n));
  };
  const result = def.run(ctx, inputs as KernelInputs, attrs);
  return Array.isArray(result) ? result.map(copyOut) : copyOut(result);
}

function runOnCpu(def: KernelDef, backend: CpuBackendLike, inputs: NamedTensorInfoMap,
                  attrs: NamedAttrMap): TensorInfo|TensorInfo[] {
  const host = cpuHost(backend);
  if (threadsWanted(attrs) > 1) {
    const result = runThreaded(host, attrs, (ctx) => def.run(ctx, inputs as KernelInputs, attrs),
        threadedHeapError(def.kernelName));
    if (result) return result;
  }
  return runOnPrivateMemory(def, host, inputs, attrs);
}

function threadedHeapError(kernelName: string) {
  return (what: string, bytes: number, heapBytes: number) =>
    heapError(kernelName, what, bytes, 'the kernels\' shared memory for threads', heapBytes);
}

/** The `wasm` and `cpu` kernel configs of one kernel. */
export function kernelConfigs(def: KernelDef): KernelConfig[] {
  const backends = def.backends ?? ['wasm', 'cpu'];
  const configs: KernelConfig[] = [
    {
      kernelName: def.kernelName,
      backendName: 'wasm',
      kernelFunc: (({inputs, backend, attrs}) =>
          runOnWasm(def, backend as WasmBackendLike, inputs, attrs ?? {})) as KernelFunc,
    },
    {
      kernelName: def.kernelName,
      backendName: 'cpu',
      kernelFunc: (({inputs, backend, attrs}) => runOnCpu(def, backend as CpuBackendLike, inputs, attrs ?? {})) as KernelFunc,
    },
  ];
  return configs.filter(c => backends.includes(c.backendName as 'wasm'|'cpu'));
}
