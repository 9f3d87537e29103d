/**
 * The compiled kernel module. Its bytes are embedded (base64, generated from `assembly/` by
 * `scripts/build-wasm.mjs`), so loading needs no path configuration and no network, in Node and in
 * browsers alike. The module imports exactly one thing, `env.memory`: on the `wasm` backend it is
 * instantiated on the tfjs-wasm heap itself (zero copy); on the `cpu` backend on a private memory.
 *
 * Two builds of the same source exist, baseline SIMD128 and relaxed SIMD, each with a
 * shared-memory variant for threads: `builds.ts` makes their bytes and chooses between them; this
 * module compiles the chosen one once and instantiates it on each memory.
 */
import {chooseBuild, forcedBuild, KernelBuild, KernelBuildChoice, wasmBytes} from './builds';
import type {KernelExports} from './exports';

let choice: KernelBuildChoice|undefined;
const modules = new Map<string, WebAssembly.Module>();

function compileSync(build: KernelBuild, shared: boolean): WebAssembly.Module {
  const key = `${build}:${shared}`;
  let m = modules.get(key);
  if (!m) {
    m = new WebAssembly.Module(wasmBytes(build, shared));
    modules.set(key, m);
  }
  return m;
}

/** The build the kernels run with, chosen (and self-tested) on first use. */
export function kernelBuild(): KernelBuildChoice {
  choice ??= chooseBuild(() => {
    try {
      return compileSync('relaxed-simd', false);
    } catch {
      return null;
    }
  }, () => compileSync('simd128', false));
  return choice;
}

let compiling: Promise<void>|undefined;

/**
 * Compiles the kernel module asynchronously and picks its build. Optional in Node; in a browser
 * call it once before the first op, since browsers refuse large synchronous compiles on the main
 * thread.
 */
export async function ready(): Promise<void> {
  compiling ??= (async () => {
    if (!choice) {
      let relaxed: WebAssembly.Module|null = null;
      if (forcedBuild() !== 'simd128' && WebAssembly.validate(wasmBytes('relaxed-simd'))) {
        relaxed = await WebAssembly.compile(wasmBytes('relaxed-simd')).catch(() => null);
        if (relaxed) modules.set('relaxed-simd:false', relaxed);
      }
      const baseline = await WebAssembly.compile(wasmBytes('simd128'));
      modules.set('simd128:false', baseline);
      choice = chooseBuild(() => relaxed, () => baseline);
    }
    const {build} = choice;
    const shared = typeof SharedArrayBuffer !== 'undefined';
    for (const s of shared ? [false, true] : [false]) {
      const key = `${build}:${s}`;
      if (!modules.has(key)) modules.set(key, await WebAssembly.compile(wasmBytes(build, s)));
    }
  })();
  await compiling;
}

/** The compiled module of the chosen build, compiled synchronously on first use when `ready()` was not awaited. */
export function kernelModule(shared = false): WebAssembly.Module {
  return compileSync(kernelBuild().build, shared);
}

const instances = new WeakMap<WebAssembly.Memory, KernelExports>();

/** True for a memory whose buffer all threads share (ours for threads, or tfjs-wasm's threaded heap). */
export function isSharedMemory(memory: WebAssembly.Memory): boolean {
  return typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
}

/** The kernel exports running on `memory` (shared or not), instantiated once per memory. */
export function kernelsOn(memory: WebAssembly.Memory): KernelExports {
  let exports = instances.get(memory);
  if (!exports) {
    const instance = new WebAssembly.Instance(kernelModule(isSharedMemory(memory)), {env: {memory}});
    exports = instance.exports as unknown as KernelExports;
    instances.set(memory, exports);
  }
  return exports;
}
