/** `SparsityCountNonzero`: the number of entries that are not ±0, as an int32 scalar (`assembly/mask.ts`). */
import {util} from '@tensorflow/tfjs-core';
import {KernelDef} from './bridge';

export const COUNT_NONZERO = 'SparsityCountNonzero';

export const countNonzeroKernel: KernelDef = {
  kernelName: COUNT_NONZERO,
  run(ctx, {w}) {
    const count = ctx.kernels.f32_count_nonzero__simd128(ctx.input(w), util.sizeFromShape(w.shape));
    const out = ctx.output([], 'int32');
    ctx.i32(out.ptr, 1)[0] = count;
    return out;
  },
};
