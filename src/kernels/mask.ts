/** Mask kernels: mask from a threshold, apply a mask, count nonzeros; each one SIMD pass. */
import {engine, Scalar, Tensor, TensorLike, tidy, util} from '@tensorflow/tfjs-core';
import {KernelDef} from './bridge';
import {checkRank, checkSameShape, float32Arg} from '../util/validate';

export const MASK_FROM_THRESHOLD = 'SparsityMaskFromThreshold';
export const APPLY_MASK = 'SparsityApplyMask';
export const COUNT_NONZERO = 'SparsityCountNonzero';

export const maskFromThresholdKernel: KernelDef = {
  kernelName: MASK_FROM_THRESHOLD,
  run(ctx, {w, threshold}) {
    const out = ctx.output(w.shape, 'float32');
    ctx.kernels.f32_mask_from_threshold__simd128(
        ctx.input(w), util.sizeFromShape(w.shape), ctx.input(threshold), out.ptr);
    return out;
  },
};

export const applyMaskKernel: KernelDef = {
  kernelName: APPLY_MASK,
  run(ctx, {w, mask}) {
    const out = ctx.output(w.shape, 'float32');
    ctx.kernels.f32_apply_mask__simd128(ctx.input(w), ctx.input(mask), util.sizeFromShape(w.shape), out.ptr);
    return out;
  },
};

export const countNonzeroKernel: KernelDef = {
  kernelName: COUNT_NONZERO,
  run(ctx, {w}) {
    const count = ctx.kernels.f32_count_nonzero__simd128(ctx.input(w), util.sizeFromShape(w.shape));
    const out = ctx.output([], 'int32');
    ctx.i32(out.ptr, 1)[0] = count;
    return out;
  },
};

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
