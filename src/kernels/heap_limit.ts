/**
 * The size limit of a wasm32 heap, checked before anything is allocated. tfjs-wasm's `_malloc` takes its
 * size modulo 2^32: asked for a 4 GiB output it returns a few bytes, and the kernel filling the output
 * then writes over other tensors. So every op whose output size comes from its arguments checks it here,
 * naming the argument, and the kernel bridge checks every allocation again (outputs and scratch, on
 * both backends) in unsigned arithmetic.
 */

/**
 * The most bytes a wasm32 heap holds: tfjs-wasm grows its heap to at most 65535 pages of 64 KiB
 * (emscripten's `getHeapMax()` in tfjs-backend-wasm 4.22: 4294901760), and our kernels' private memory
 * on the `cpu` backend stops at the same size. No single allocation can be larger.
 */
export const MAX_HEAP_BYTES = 65535 * 65536;

/**
 * Throws unless a float32 (or int32) tensor of `shape` fits a wasm32 heap.
 * @param shape the output's shape.
 * @param op the op that would make it.
 * @param cause which arguments set the shape, for the message (e.g. "'shape'").
 * @returns the tensor's bytes.
 */
export function checkOutputBytes(shape: readonly number[], op: string, cause: string): number {
  const bytes = shape.reduce((a, b) => a * b, 1) * 4;
  if (!(bytes <= MAX_HEAP_BYTES)) {
    throw new Error(`'${op}' would return a float32 tensor of shape [${shape}] (${bytes} bytes), more than a ` +
        `wasm32 heap holds (${MAX_HEAP_BYTES} bytes, 4 GiB - 64 KiB): check ${cause}`);
  }
  return bytes;
}
