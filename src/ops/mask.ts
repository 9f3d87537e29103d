/** Mask ops: a mask from a threshold, a mask applied, nonzeros counted; each one SIMD pass over the weights. */
import {engine, Scalar, Tensor, TensorLike, tidy} from '@tensorflow/tfjs-core';
import {APPLY_MASK} from '../kernels/apply_mask';
import {COUNT_NONZERO} from '../kernels/count_nonzero';
import {MASK_FROM_THRESHOLD} from '../kernels/mask_from_threshold';
import {checkRank, checkSameShape, float32Arg} from '../util/validate';

/**
 * The pruning mask of `w` at a magnitude threshold: 1 where `|w| >= threshold`, else 0 (ties are
 * kept, as tfmot keeps them). NaN weights rank above every magnitude and are always kept.
 *
 * ```js
 * maskFromThreshold(tf.tensor([0.5, -2, 1]), 1).print();  // [0, 1, 1]
 * ```
 * @param w float32 weights of any shape.
 * @param threshold a float32 scalar (a number, or a scalar tensor so the value never leaves the backend).
 * @returns a float32 tensor of 0 and 1 with the shape of `w`.
 */
export function maskFromThreshold(w: Tensor|TensorLike, threshold: Scalar|number): Tensor {
  const op = 'maskFromThreshold';
  return tidy(() => {
    const $w = float32Arg(w, 'w', op);
    const $t = float32Arg(threshold, 'threshold', op);
    checkRank($t, [0], 'threshold', op);
    return engine().runKernel(MASK_FROM_THRESHOLD, {w: $w, threshold: $t}) as Tensor;
  });
}

/**
 * `w * mask` in one pass, into a new tensor (weights are never changed in place: tfjs-wasm caches
 * packed weights per tensor).
 * @param w float32 weights.
 * @param mask float32 mask with the shape of `w`.
 */
export function applyMask(w: Tensor|TensorLike, mask: Tensor|TensorLike): Tensor {
  const op = 'applyMask';
  return tidy(() => {
    const $w = float32Arg(w, 'w', op);
    const $m = float32Arg(mask, 'mask', op);
    checkSameShape($w, $m, 'w', 'mask', op);
    return engine().runKernel(APPLY_MASK, {w: $w, mask: $m}) as Tensor;
  });
}

/**
 * The number of entries of `w` that are not ±0, as an int32 scalar (NaN counts as nonzero).
 * @param w float32 tensor of any shape.
 */
export function countNonzero(w: Tensor|TensorLike): Scalar {
  return tidy(() => engine().runKernel(COUNT_NONZERO, {w: float32Arg(w, 'w', 'countNonzero')}) as Scalar);
}
