// The kernels run inside the tfjs-wasm heap (DESIGN §4). A data segment would overwrite tfjs's
// own static data at instantiation, and memory.grow from our module would detach Emscripten's
// views, so a binary with either (or with any import besides env.memory, globals or a start
// function) is rejected. Sections are parsed from the binary; instructions are read through
// binaryen, which decodes the code section exactly.
import binaryen from 'binaryen';

const SECTION = {import: 2, global: 6, start: 8, data: 11, dataCount: 12};

function readU32(bytes, at) {
  let result = 0, shift = 0, byte;
  do {
    byte = bytes[at.pos++];
    result |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  return result >>> 0;
}

function readName(bytes, at) {
  const len = readU32(bytes, at);
  const s = Buffer.from(bytes.subarray(at.pos, at.pos + len)).toString('utf8');
  at.pos += len;
  return s;
}

/** Returns a list of reasons the module cannot share the tfjs-wasm heap (empty when it can). */
export function checkSharedHeapModule(bytes) {
  const problems = [];
  const at = {pos: 8};
  while (at.pos < bytes.length) {
    const id = bytes[at.pos++];
    const size = readU32(bytes, at);
    const end = at.pos + size;
    if (id === SECTION.data || id === SECTION.dataCount) problems.push('has a data section');
    if (id === SECTION.global) problems.push('has globals');
    if (id === SECTION.start) problems.push('has a start function');
    if (id === SECTION.import) {
      const count = readU32(bytes, at);
      for (let i = 0; i < count; i++) {
        const mod = readName(bytes, at), name = readName(bytes, at);
        const kind = bytes[at.pos++];
        if (kind !== 2 || mod !== 'env' || name !== 'memory') {
          problems.push(`imports ${mod}.${name} (only env.memory is allowed)`);
        }
        if (kind === 0) readU32(bytes, at);
        else if (kind === 1) { at.pos++; const f = bytes[at.pos++]; readU32(bytes, at); if (f & 1) readU32(bytes, at); }
        else if (kind === 2) { const f = bytes[at.pos++]; readU32(bytes, at); if (f & 1) readU32(bytes, at); }
        else if (kind === 3) { at.pos += 2; }
      }
    }
    at.pos = end;
  }
  const module = binaryen.readBinary(bytes);
  try {
    const text = module.emitText();
    if (/\bmemory\.grow\b/.test(text)) problems.push('contains memory.grow');
  } finally {
    module.dispose();
  }
  return problems;
}
