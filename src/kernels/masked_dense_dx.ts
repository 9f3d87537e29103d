/**
 * `SparsityMaskedDenseBackpropInput`: the input gradient of `SparsityMaskedDense`, which visits only
 * the kept weights when the mask is sparse enough (`mask_index.ts`).
 */
import {KernelDef, KernelInputs} from './bridge';
import {SPARSE_DX} from './kernel_tuning';
import {productNT} from './gemm';
import {MaskedDenseAttrs} from './masked_dense';
import {indexScratch, sparseIndex} from './mask_index';

export const MASKED_DENSE_DX = 'SparsityMaskedDenseBackpropInput';

/** `dx = dy · (kernel ⊙ mask)ᵀ` for dy [m, n], kernel and mask [k, n]: the input gradient of `SparsityMaskedDense`. */
export const maskedDenseDxKernel: KernelDef = {
  kernelName: MASKED_DENSE_DX,
  run(ctx, {dy, kernel, mask}: KernelInputs, attrs) {
    const [m, n] = dy.shape;
    const k = kernel.shape[0];
    const dx = ctx.output([m, k], 'float32');
    const index = sparseIndex(ctx, mask, (attrs as unknown as MaskedDenseAttrs).maskDataId, m, SPARSE_DX);
    if (index) {
      // dXᵀ = (W⊙M) · dYᵀ over the kept n of each row k, then transposed back.
      const dyT = ctx.scratch(m * n * 4), dxT = ctx.scratch(k * m * 4);
      const [ptr, idx] = indexScratch(ctx, index.rowPtr, index.rowIdx);
      ctx.kernels.x32_transpose__simd128(ctx.input(dy), m, n, dyT);
      ctx.kernels.f32_spmm_t_1x32__simd128(ctx.input(kernel), 1, n, ptr, idx, k, dyT, m, dxT);
      ctx.kernels.x32_transpose__simd128(dxT, k, m, dx.ptr);
      return dx;
    }
    const w = ctx.scratch(k * n * 4);
    ctx.kernels.f32_apply_mask__simd128(ctx.input(kernel), ctx.input(mask), k * n, w);
    productNT(ctx, ctx.input(dy), w, dx.ptr, m, n, k);
    return dx;
  },
};

