/**
 * The compiled kernel module. Its bytes are embedded (base64, generated from `assembly/` by
 * `scripts/build-wasm.mjs`), so loading needs no path configuration and no network, in Node and in
 * browsers alike. The module imports exactly one thing, `env.memory`: on the `wasm` backend it is
 * instantiated on the tfjs-wasm heap itself (zero copy); on the `cpu` backend on a private memory.
 */
import {WASM_BASE64} from './wasm-bytes';

/**
 * The kernel exports, pointer in / pointer out (see `assembly/`). Empty here: each kernel family's
 * file in `src/kernels/` declares its own exports by augmenting this interface.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface KernelExports {}

let compiled: WebAssembly.Module|undefined;
let compiling: Promise<WebAssembly.Module>|undefined;

function wasmBytes(): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') return new Uint8Array(Buffer.from(WASM_BASE64, 'base64'));
  const s = atob(WASM_BASE64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return bytes;
}

/**
 * Compiles the kernel module asynchronously. Optional in Node; in a browser call it once before
 * the first pruning op, since browsers refuse large synchronous compiles on the main thread.
 */
export async function ready(): Promise<void> {
  if (compiled) return;
  compiling ??= WebAssembly.compile(wasmBytes());
  compiled = await compiling;
}

/** The compiled module, compiled synchronously on first use when `ready()` was not awaited. */
export function kernelModule(): WebAssembly.Module {
  compiled ??= new WebAssembly.Module(wasmBytes());
  return compiled;
}

const instances = new WeakMap<WebAssembly.Memory, KernelExports>();

/** The kernel exports running on `memory`, instantiated once per memory. */
export function kernelsOn(memory: WebAssembly.Memory): KernelExports {
  let exports = instances.get(memory);
  if (!exports) {
    const instance = new WebAssembly.Instance(kernelModule(), {env: {memory}});
    exports = instance.exports as unknown as KernelExports;
    instances.set(memory, exports);
  }
  return exports;
}
