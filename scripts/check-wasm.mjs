// The kernels run inside the tfjs-wasm heap (DESIGN §4). A data segment would overwrite tfjs's
// own static data at instantiation, and memory.grow from our module would detach Emscripten's
// views, so a binary with either (or with any import besides env.memory, globals or a start
// function) is rejected. Nothing here parses bytes: the imports come from the engine's own decoder
// (`WebAssembly.Module.imports`), the rest from binaryen's reading of the module.
import binaryen from 'binaryen';

/** Returns a list of reasons the module cannot share the tfjs-wasm heap (empty when it can). */
export function checkSharedHeapModule(bytes) {
  const problems = [];
  for (const {module, name, kind} of WebAssembly.Module.imports(new WebAssembly.Module(bytes))) {
    if (kind !== 'memory' || module !== 'env' || name !== 'memory') {
      problems.push(`imports ${module}.${name} (only env.memory is allowed)`);
    }
  }
  const wasm = binaryen.readBinary(bytes);
  try {
    // An imported global is reported as an import above; only the module's own globals are state.
    const globals = Array.from({length: wasm.getNumGlobals()}, (_, i) => binaryen.getGlobalInfo(wasm.getGlobalByIndex(i)));
    if (globals.some(g => !g.module)) problems.push('has globals');
    if (wasm.getStart()) problems.push('has a start function');
    if (wasm.getNumDataSegments() > 0) problems.push('has a data section');
    if (/\bmemory\.grow\b/.test(wasm.emitText())) problems.push('contains memory.grow');
  } finally {
    wasm.dispose();
  }
  return problems;
}
