/**
 * `SparsityMaskedDense`: a masked Dense layer's forward pass, `y = act(x · (kernel ⊙ mask) + bias)`,
 * which visits only the kept weights when the mask is sparse enough (`mask_index.ts`). Its gradient
 * is registered with the `maskedDense` op (`training/fast_dense.ts`); its input gradient is
 * `SparsityMaskedDenseBackpropInput`. See `assembly/gemm_grad_f32.ts`.
 */
import {TensorInfo} from '@tensorflow/tfjs-core';
import {KernelDef} from './bridge';
import {SPARSE_FORWARD} from './kernel_tuning';
import {gemmScratch} from './gemm';
import {indexScratch, sparseIndex} from './mask_index';

export const MASKED_DENSE = 'SparsityMaskedDense';

/**
 * Attributes of `SparsityMaskedDense`: whether a mask and a bias are among the inputs, fused relu,
 * and the data id of the caller's mask tensor. The mask index is cached by that id; the gradient
 * receives a copy of the mask (tfjs clones saved inputs), so it finds the index through this attribute.
 */
export interface MaskedDenseAttrs {masked: boolean; biased: boolean; relu: boolean; maskDataId?: object}

/**
 * `[x, kernel, mask, bias]` from the kernel's input list `[x, kernel, mask?, bias?]`. The inputs are
 * a list, not named, because tfjs saves all inputs for the gradient only when they are a list.
 */
export function maskedDenseInputs<T>(list: T[], masked: boolean, biased: boolean): [T, T, T|undefined, T|undefined] {
  return [list[0], list[1], masked ? list[2] : undefined, biased ? list[masked ? 3 : 2] : undefined];
}

/**
 * `y = act(x · (kernel ⊙ mask) + bias)` for x [m, k], kernel and mask [k, n], bias [n]; mask and
 * bias optional, act linear or relu. The masked kernel lives in scratch only: the gradient
 * recomputes it (one pass) rather than keeping a second copy of the weights alive on the tape.
 */
export const maskedDenseKernel: KernelDef = {
  kernelName: MASKED_DENSE,
  run(ctx, inputs, attrs) {
    const {masked, biased, relu, maskDataId} = attrs as unknown as MaskedDenseAttrs;
    const [x, kernel, mask, bias] = maskedDenseInputs(inputs as unknown as TensorInfo[], masked, biased);
    const [m, k] = x.shape;
    const n = kernel.shape[1];
    const y = ctx.output([m, n], 'float32');
    const pb = bias ? ctx.input(bias) : 0, r = relu ? 1 : 0;
    const index = mask ? sparseIndex(ctx, mask, maskDataId, m, SPARSE_FORWARD) : null;
    if (index) {
      // Yᵀ = (W⊙M)ᵀ · Xᵀ over the kept k of each column n, then transposed back with bias and relu.
      // W is transposed first so that each column's kept weights are read in order, not 4·N bytes apart.
      const xT = ctx.scratch(m * k * 4), wT = ctx.scratch(k * n * 4), outT = ctx.scratch(n * m * 4);
      const [ptr, idx] = indexScratch(ctx, index.colPtr, index.colIdx);
      ctx.kernels.x32_transpose__simd128(ctx.input(x), m, k, xT);
      ctx.kernels.x32_transpose__simd128(ctx.input(kernel), k, n, wT);
      ctx.kernels.f32_spmm_t_1x32__simd128(wT, 1, k, ptr, idx, n, xT, m, outT);
      ctx.kernels.f32_transpose_bias_relu__simd128(outT, n, m, pb, r, y.ptr);
      return y;
    }
    const w = mask ? ctx.scratch(k * n * 4) : ctx.input(kernel);
    const tmp = gemmScratch(ctx, k);
    if (mask) ctx.kernels.f32_apply_mask__simd128(ctx.input(kernel), ctx.input(mask), k * n, w);
    if (m === 1) ctx.kernels.f32_gemv_rows__simd128(ctx.input(x), k, w, n, pb, r, y.ptr);
    else if (m > 1) ctx.kernels.f32_gemm_4x8__simd128(ctx.input(x), m, k, w, n, pb, r, y.ptr, tmp);
    return y;
  },
};

