/** `SparsityMaskFromThreshold`: 1 where |w| >= threshold, else 0, in one SIMD pass (`assembly/mask.ts`). */
import {util} from '@tensorflow/tfjs-core';
import {KernelDef} from './bridge';

export const MASK_FROM_THRESHOLD = 'SparsityMaskFromThreshold';

export const maskFromThresholdKernel: KernelDef = {
  kernelName: MASK_FROM_THRESHOLD,
  run(ctx, {w, threshold}) {
    const out = ctx.output(w.shape, 'float32');
    ctx.kernels.f32_mask_from_threshold__simd128(
        ctx.input(w), util.sizeFromShape(w.shape), ctx.input(threshold), out.ptr);
    return out;
  },
};
