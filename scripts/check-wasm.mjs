// The kernels run inside the tfjs-wasm heap (DESIGN §4). A data segment would overwrite tfjs's
// own static data at instantiation, and memory.grow from our module would detach Emscripten's
// views, so a binary with either (or with any import besides env.memory, globals or a start
// function) is rejected. Nothing here parses bytes: binaryen reads the module. (Not
// `WebAssembly.Module.imports`: it must compile the module first, and Node 20 cannot compile the
// relaxed-SIMD build without a flag.)
import binaryen from 'binaryen';

/** Returns a list of reasons the module cannot share the tfjs-wasm heap (empty when it can). */
export function checkSharedHeapModule(bytes) {
  const problems = [];
  const wasm = binaryen.readBinary(bytes);
  try {
    const all = (count, at, info) => Array.from({length: count}, (_, i) => info(at(i)));
    const functions = all(wasm.getNumFunctions(), i => wasm.getFunctionByIndex(i), binaryen.getFunctionInfo);
    const globals = all(wasm.getNumGlobals(), i => wasm.getGlobalByIndex(i), binaryen.getGlobalInfo);
    const tables = all(wasm.getNumTables(), i => wasm.getTableByIndex(i), binaryen.getTableInfo);
    const memory = wasm.hasMemory() ? [wasm.getMemoryInfo()] : [];
    for (const {module, base} of [...functions, ...globals, ...tables].filter(item => item.module)) {
      problems.push(`imports ${module}.${base} (only env.memory is allowed)`);
    }
    for (const {module, base} of memory.filter(m => m.module !== 'env' || m.base !== 'memory')) {
      problems.push(module ? `imports ${module}.${base} (only env.memory is allowed)` : 'has its own memory (it must import env.memory)');
    }
    // An imported global is reported as an import above; only the module's own globals are state.
    if (globals.some(g => !g.module)) problems.push('has globals');
    if (wasm.getStart()) problems.push('has a start function');
    if (wasm.getNumDataSegments() > 0) problems.push('has a data section');
    if (/\bmemory\.grow\b/.test(wasm.emitText())) problems.push('contains memory.grow');
  } finally {
    wasm.dispose();
  }
  return problems;
}
