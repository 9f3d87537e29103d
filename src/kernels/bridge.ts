/**
 * The bridge between tfjs kernels and the AssemblyScript module. A kernel is written once against
 * `KernelContext`; `kernelConfigs` turns it into one `KernelConfig` for the `wasm` backend (zero copy:
 * the module runs on the backend's own heap, on the tensors' bytes) and one for the `cpu` backend
 * (the same module on a private memory, inputs copied in and outputs copied out), so the two
 * backends run the same instructions and give bit-identical results.
 */
import {KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo, util} from '@tensorflow/tfjs-core';
import {KernelExports, kernelsOn} from './module';

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
  /** Allocates an output tensor. */
  output(shape: number[], dtype: 'float32'|'int32'): KernelOutput;
  /** Allocates scratch bytes (16-byte aligned), released when the kernel returns. */
  scratch(bytes: number): number;
  f32(ptr: number, length: number): Float32Array;
  i32(ptr: number, length: number): Int32Array;
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

// --- wasm backend: the tfjs-wasm heap -------------------------------------------------------------

interface WasmBackendLike {
  wasm: {asm?: {memory?: WebAssembly.Memory}; wasmMemory?: WebAssembly.Memory;
         wasmExports?: {memory?: WebAssembly.Memory}; _malloc(n: number): number; _free(p: number): void};
  dataIdMap: {get(id: object): {memoryOffset: number}|undefined};
  makeOutput(shape: number[], dtype: string): TensorInfo;
}

/** True for the heap of tfjs-wasm's threaded build (cross-origin-isolated pages): a shared memory. */
function isShared(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/** The backend heap's `WebAssembly.Memory`, under each name tfjs-wasm builds have used. */
export function wasmHeapMemory(backend: WasmBackendLike): WebAssembly.Memory {
  const m = backend.wasm.asm?.memory ?? backend.wasm.wasmMemory ?? backend.wasm.wasmExports?.memory;
  if (!m) throw new Error('tfjs-sparsity: cannot find the memory of the tfjs wasm backend');
  return m;
}

/** What a wasm backend's heap needs per call, looked up once per backend. */
/** `kernels` is null on a shared heap, which our module cannot import. */
interface WasmHeap {memory: WebAssembly.Memory; kernels: KernelExports|null}
const heaps = new WeakMap<WasmBackendLike, WasmHeap>();

function heapOf(backend: WasmBackendLike): WasmHeap {
  let heap = heaps.get(backend);
  if (!heap) {
    const memory = wasmHeapMemory(backend);
    heap = {memory, kernels: isShared(memory) ? null : kernelsOn(memory)};
    heaps.set(backend, heap);
  }
  return heap;
}

/**
 * A kernel call on the tfjs-wasm heap. A class rather than an object of closures: it is built on
 * every call of every kernel, and the methods live once on the prototype.
 */
class WasmHeapContext implements KernelContext {
  private readonly scratchPtrs: number[] = [];
  readonly infos = new Map<KernelOutput, TensorInfo>();

  constructor(private readonly backend: WasmBackendLike, private readonly memory: WebAssembly.Memory,
              readonly kernels: KernelExports) {}

  input(t: TensorInfo): number {
    const data = this.backend.dataIdMap.get(t.dataId);
    if (!data) throw new Error(`tfjs-sparsity: tensor ${t.dataId} is not on the wasm backend`);
    return data.memoryOffset;
  }

  output(shape: number[], dtype: 'float32'|'int32'): KernelOutput {
    const info = this.backend.makeOutput(shape, dtype);
    const out = {ptr: this.backend.dataIdMap.get(info.dataId)!.memoryOffset, shape, dtype};
    this.infos.set(out, info);
    return out;
  }

  scratch(bytes: number): number {
    // emmalloc aligns to 8; over-allocate to align to 16 for v128 loads.
    const raw = this.backend.wasm._malloc(bytes + 16) >>> 0;
    this.scratchPtrs.push(raw);
    return (raw + 15) & ~15;
  }

  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }

  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }

  release(): void {
    for (const p of this.scratchPtrs) this.backend.wasm._free(p);
  }
}

function runOnWasm(def: KernelDef, backend: WasmBackendLike, inputs: NamedTensorInfoMap,
                   attrs: NamedAttrMap): TensorInfo|TensorInfo[] {
  const {memory, kernels} = heapOf(backend);
  // Our module imports an unshared memory, so it cannot run on a shared heap: run it on the
  // private memory as on the cpu backend, copying inputs out of the heap and outputs into it.
  if (!kernels) return runOnPrivateMemory(def, sharedHeapHost(backend, memory), inputs, attrs);
  const ctx = new WasmHeapContext(backend, memory, kernels);
  try {
    const result = def.run(ctx, inputs as KernelInputs, attrs);
    return Array.isArray(result) ? result.map(o => ctx.infos.get(o)!) : ctx.infos.get(result)!;
  } finally {
    ctx.release();
  }
}

// --- cpu backend: a private memory ----------------------------------------------------------------

interface CpuBackendLike {
  readSync(dataId: object): ArrayLike<number>|Uint8Array[];
  makeTensorInfo(shape: number[], dtype: string, values: Float32Array|Int32Array): TensorInfo;
}

/** Where the private-memory path reads its inputs and puts its outputs. */
interface CopyHost {
  /** An input's values (a view is enough: they are copied at once). */
  read(t: TensorInfo): Float32Array|Int32Array;
  /** A new tensor holding `values`, a view on the private memory that the host must copy. */
  write(shape: number[], dtype: 'float32'|'int32', values: Float32Array|Int32Array): TensorInfo;
}

function cpuHost(backend: CpuBackendLike): CopyHost {
  return {
    read: (t) => backend.readSync(t.dataId) as Float32Array|Int32Array,
    write: (shape, dtype, values) => backend.makeTensorInfo(shape, dtype, values.slice()),
  };
}

/**
 * A shared tfjs-wasm heap, read and written through views: `readSync` would `slice` (allocate) a
 * copy of every input, which costs more than the kernel (about 50 ms per 4 MB in Chromium).
 */
function sharedHeapHost(backend: WasmBackendLike, memory: WebAssembly.Memory): CopyHost {
  const view = (dtype: string, offset: number, n: number) =>
    dtype === 'int32' ? new Int32Array(memory.buffer, offset, n) : new Float32Array(memory.buffer, offset, n);
  const offsetOf = (info: TensorInfo) => {
    const data = backend.dataIdMap.get(info.dataId);
    if (!data) throw new Error(`tfjs-sparsity: tensor ${info.dataId} is not on the wasm backend`);
    return data.memoryOffset;
  };
  return {
    read: (t) => view(t.dtype, offsetOf(t), util.sizeFromShape(t.shape)),
    write: (shape, dtype, values) => {
      const info = backend.makeOutput(shape, dtype);
      view(dtype, offsetOf(info), values.length).set(values);
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
  const alloc = (bytes: number) => {
    const ptr = top;
    top = (top + bytes + 15) & ~15;
    if (top > memory.buffer.byteLength) memory.grow(Math.ceil((top - memory.buffer.byteLength) / PAGE));
    return ptr;
  };
  const ctx: KernelContext = {
    kernels: kernelsOn(memory),
    input: (t) => {
      const values = host.read(t);
      const ptr = alloc(values.byteLength);
      new Uint8Array(memory.buffer, ptr, values.byteLength)
          .set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      return ptr;
    },
    output: (shape, dtype) => ({ptr: alloc(util.sizeFromShape(shape) * BYTES[dtype]), shape, dtype}),
    scratch: alloc,
    f32: (ptr, length) => new Float32Array(memory.buffer, ptr, length),
    i32: (ptr, length) => new Int32Array(memory.buffer, ptr, length),
  };
  const copyOut = (o: KernelOutput) => {
    const n = util.sizeFromShape(o.shape);
    return host.write(o.shape, o.dtype, o.dtype === 'float32' ? ctx.f32(o.ptr, n) : ctx.i32(o.ptr, n));
  };
  const result = def.run(ctx, inputs as KernelInputs, attrs);
  return Array.isArray(result) ? result.map(copyOut) : copyOut(result);
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
      kernelFunc: (({inputs, backend, attrs}) =>
          runOnPrivateMemory(def, cpuHost(backend as CpuBackendLike), inputs, attrs ?? {})) as KernelFunc,
    },
  ];
  return configs.filter(c => backends.includes(c.backendName as 'wasm'|'cpu'));
}
