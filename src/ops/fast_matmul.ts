/** `fastMatMul`: the op over the `SparsityFastMatMul` kernel. */
import {engine, Tensor, TensorLike, tidy} from '@tensorflow/tfjs-core';
import {FAST_MATMUL, FastMatMulAttrs, fastMatMulDims} from '../kernels/fast_matmul';
import {checkOutputBytes} from '../kernels/heap_limit';
import {float32Arg} from '../util/validate';

/**
 * `op(a) · op(b)` in float32 through SIMD kernels that are as fast transposed as not (tfjs-wasm's
 * transposed matmul is a scalar loop). No gradient of its own: it is the building block of
 * `maskedDense`'s backward pass and of `enableFastTraining`.
 *
 * ```js
 * fastMatMul(x, dy, true, false);  // Xᵀ·dY, the weight gradient of a Dense layer
 * ```
 * @param a float32, rank >= 2, batch dimensions all 1.
 * @param b float32, rank >= 2, batch dimensions all 1.
 * @param transposeA use `aᵀ` (the last two dimensions swapped).
 * @param transposeB use `bᵀ`.
 * @throws Error when an argument is not float32, has rank < 2, is batched, or the inner dimensions differ.
 */
export function fastMatMul(a: Tensor|TensorLike, b: Tensor|TensorLike, transposeA = false, transposeB = false): Tensor {
  const op = 'fastMatMul';
  return tidy(() => {
    const $a = float32Arg(a, 'a', op), $b = float32Arg(b, 'b', op);
    for (const [t, arg] of [[$a, 'a'], [$b, 'b']] as const) {
      if (t.rank < 2) throw new Error(`Argument '${arg}' passed to '${op}' must have rank >= 2, but got rank ${t.rank} (shape [${t.shape}])`);
    }
    const dims = fastMatMulDims($a.shape, $b.shape, transposeA, transposeB);
    if (dims == null) {
      throw new Error(`Arguments 'a' and 'b' passed to '${op}' must have batch dimensions of size 1 ` +
          `(use tf.matMul for batched products), but got shapes [${$a.shape}] and [${$b.shape}]`);
    }
    checkOutputBytes(dims.outShape, op, `the shapes of 'a' and 'b'`);
    return engine().runKernel(FAST_MATMUL, {a: $a, b: $b}, {transposeA, transposeB} satisfies FastMatMulAttrs as unknown as Record<string, boolean>) as Tensor;
  });
}

