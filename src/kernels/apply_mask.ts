/** `SparsityApplyMask`: `w * mask` in one SIMD pass, into a new tensor (`assembly/mask.ts`). */
import {util} from '@tensorflow/tfjs-core';
import {KernelDef} from './bridge';

export const APPLY_MASK = 'SparsityApplyMask';

export const applyMaskKernel: KernelDef = {
  kernelName: APPLY_MASK,
  run(ctx, {w, mask}) {
    const out = ctx.output(w.shape, 'float32');
    ctx.kernels.f32_apply_mask__simd128(ctx.input(w), ctx.input(mask), util.sizeFromShape(w.shape), out.ptr);
    return out;
  },
};
