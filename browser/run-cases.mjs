// Runs calls described as plain data, so one table of cases runs in Node and in a browser page with
// the same code (test/browser.test.ts). Tensors travel as base64 bytes, so every bit (NaN payloads,
// -0, subnormals) survives the trip. An expression is one of:
//   {$tensor: base64, shape, dtype}          a new tensor ('float32' or 'int32')
//   {$typed: 'Int32Array', data: base64}     a typed array (Float32Array, Int32Array, Int8Array)
//   {$call: 'name' | 'Class.method', args}   a call of a library export on evaluated args
//   {$kernel: 'Name', inputs: {...}, attrs}  tf.engine().runKernel on evaluated inputs
//   {$ref: 'w'}                              the value the case's `let: {w: expr}` bound
//   anything else                            itself, with arrays and objects evaluated inside
// Everything created is disposed after the case; `leaked` counts the tensors left behind. With
// `digest`, tensors and typed arrays are described by a hash of their bytes instead of the bytes.

const TYPED = {Float32Array, Int32Array, Int8Array, Uint8Array};
const DTYPES = {float32: Float32Array, int32: Int32Array};

/** Bytes to base64, in chunks (String.fromCharCode takes a bounded number of arguments). */
export function toBase64(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

/** Base64 to a fresh, aligned typed array of type `Type`. */
export function fromBase64(b64, Type = Uint8Array) {
  const s = atob(b64);
  const bytes = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i);
  return new Type(bytes.buffer, 0, bytes.length / Type.BYTES_PER_ELEMENT);
}

/** The library function `name` ('op' or 'Class.method'), bound to its owner. */
function lookup(lib, name) {
  const path = name.split('.');
  const owner = path.slice(0, -1).reduce((o, k) => o?.[k], lib);
  const f = owner?.[path[path.length - 1]];
  if (typeof f !== 'function') throw new Error(`run-cases: the library exports no function '${name}'`);
  return f.bind(owner);
}

function typeOf(table, name) {
  if (!Object.hasOwn(table, name)) throw new Error(`run-cases: unknown type ${name}`);
  return table[name];
}

function evaluate(tf, lib, expr, owned, bound) {
  const recur = (e) => evaluate(tf, lib, e, owned, bound);
  if (Array.isArray(expr)) return expr.map(recur);
  if (expr === null || typeof expr !== 'object') return expr;
  let value;
  if ('$ref' in expr) {
    if (!(expr.$ref in bound)) throw new Error(`run-cases: '${expr.$ref}' is not bound by the case's let`);
    return bound[expr.$ref];
  } else if ('$tensor' in expr) {
    value = tf.tensor(fromBase64(expr.$tensor, typeOf(DTYPES, expr.dtype)), expr.shape, expr.dtype);
  } else if ('$typed' in expr) {
    return fromBase64(expr.data, typeOf(TYPED, expr.$typed));
  } else if ('$call' in expr) {
    value = lookup(lib, expr.$call)(...recur(expr.args ?? []));
  } else if ('$kernel' in expr) {
    value = tf.engine().runKernel(expr.$kernel, recur(expr.inputs), expr.attrs ?? {});
  } else {
    return Object.fromEntries(Object.entries(expr).map(([k, v]) => [k, recur(v)]));
  }
  owned.push(value);
  return value;
}

/** FNV-1a over the bytes, with the length: equal digests mean equal bytes, short of a collision. */
function digestOf(view) {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  return `fnv1a:${bytes.length}:${(h >>> 0).toString(16)}`;
}

/** A JSON-safe, bit-exact description of a result. */
export function describe(tf, v, digest = false, depth = 0) {
  const bytes = (view) => (digest ? digestOf(view) : toBase64(view));
  if (depth > 4) return {value: '(too deep)'};
  if (v instanceof tf.Tensor) {
    return {tensor: {shape: v.shape, dtype: v.dtype, data: v.isDisposed ? '(disposed)' : bytes(v.dataSync())}};
  }
  if (ArrayBuffer.isView(v)) return {typed: v.constructor.name, data: bytes(v)};
  if (typeof v === 'number') return {number: Object.is(v, -0) ? '-0' : String(v)};
  if (v === null || typeof v !== 'object') return {value: v === undefined ? 'undefined' : JSON.stringify(v)};
  if (Array.isArray(v)) return {array: v.map(e => describe(tf, e, digest, depth + 1))};
  return {object: Object.fromEntries(Object.keys(v).sort().map(k => [k, describe(tf, v[k], digest, depth + 1)]))};
}

function disposeDeep(v, depth = 0) {
  if (v === null || typeof v !== 'object' || depth > 4 || ArrayBuffer.isView(v)) return;
  if (typeof v.dispose === 'function') return v.dispose();
  for (const e of Array.isArray(v) ? v : Object.values(v)) disposeDeep(e, depth + 1);
}

/**
 * Runs each case `{name, let, expr}` and returns `{name, result | error, leaked}`: the described
 * value of `expr` (after binding each `let` entry), or the message it threw, and how many tensors
 * it left alive.
 */
export function runCases(tf, lib, cases, {digest = false} = {}) {
  return cases.map(({name, let: lets = {}, expr}) => {
    const before = tf.memory().numTensors;
    const owned = [];
    const out = {name};
    try {
      const bound = {};
      for (const [k, e] of Object.entries(lets)) bound[k] = evaluate(tf, lib, e, owned, bound);
      out.result = describe(tf, evaluate(tf, lib, expr, owned, bound), digest);
    } catch (e) {
      out.error = e instanceof Error ? e.message : String(e);
    }
    for (const v of owned) disposeDeep(v);
    out.leaked = tf.memory().numTensors - before;
    return out;
  });
}
