/**
 * Steps shared by the dense product kernels (`GEMMF32`, `SparsityFastMatMul`, the masked Dense
 * kernels): the 4x8 GEMM's scratch, and `A · Bᵀ` by dot products or by a transpose and the GEMM.
 */
import {KernelContext} from './bridge';
import {NT_DOT_MAX_ROWS} from './kernel_tuning';

/** The bytes `f32_gemm_4x8__simd128` stores a partial tile's outputs in before copying them out. */
const TAIL_BYTES = 64;

/**
 * The scratch `f32_gemm_4x8__simd128` needs: the tail buffer, then one packed 8-column panel of W
 * (k rows of 8 floats: 32 bytes per row of W).
 */
export function gemmScratch(ctx: KernelContext, k: number): number {
  return ctx.scratch(TAIL_BYTES + k * 32);
}

/** `a · bᵀ` for a [m, k] and b [n, k] into c [m, n]. */
export function productNT(ctx: KernelContext, a: number, b: number, c: number, m: number, k: number, n: number): void {
  if (m < NT_DOT_MAX_ROWS) {
    ctx.kernels.f32_gemm_nt_dot_1x4__simd128(a, m, k, b, n, c);
    return;
  }
  const bt = ctx.scratch(k * n * 4);
  const tmp = gemmScratch(ctx, k);
  ctx.kernels.x32_transpose__simd128(b, n, k, bt);
  ctx.kernels.f32_gemm_4x8__simd128(a, m, k, bt, n, 0, 0, c, tmp);
}
