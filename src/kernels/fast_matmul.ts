/**
 * `SparsityFastMatMul`: `C = op(A) · op(B)` with `op` the identity or a transpose, covering the two
 * products of a Dense layer's backward pass (`dX = dY · Wᵀ`, `dW = Xᵀ · dY`), which tfjs-wasm 4.22
 * runs as scalar loops at 0.9–3.6 GFLOP/s (tfjs-facts §8), at the speed of the untransposed GEMM.
 * See `assembly/gemm_grad_f32.ts`.
 */
import {backend_util} from '@tensorflow/tfjs-core';
import {KernelDef, KernelInputs} from './bridge';
import {gemmScratch, productNT} from './gemm';

export const FAST_MATMUL = 'SparsityFastMatMul';

/** Attributes of `SparsityFastMatMul`: tfjs `BatchMatMul`'s own. */
export interface FastMatMulAttrs {transposeA: boolean; transposeB: boolean}

/** The product's dimensions: C[m, n] = op(A)[m, k] · op(B)[k, n], and the output shape. */
export interface MatMulDims {m: number; k: number; n: number; outShape: number[]}

/**
 * Dimensions of `op(a) · op(b)` for shapes of rank >= 2 whose batch dimensions are all 1 (after
 * broadcasting), or null when the product is batched (it then needs `BatchMatMul` proper).
 * @throws Error when the inner dimensions differ.
 */
export function fastMatMulDims(aShape: number[], bShape: number[], transposeA: boolean,
                               transposeB: boolean): MatMulDims|null {
  const ra = aShape.length, rb = bShape.length;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const ka = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (ka !== kb) {
    throw new Error(`Inner dimensions of 'fastMatMul' must match: op(a) is [${m}, ${ka}] and op(b) is ` +
        `[${kb}, ${n}] (shapes [${aShape}] and [${bShape}], transposeA=${transposeA}, transposeB=${transposeB})`);
  }
  const batch = backend_util.assertAndGetBroadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
  if (batch.some(d => d !== 1)) return null;
  return {m, k: ka, n, outShape: [...batch, m, n]};
}

export const fastMatMulKernel: KernelDef = {
  kernelName: FAST_MATMUL,
  run(ctx, {a, b}: KernelInputs, attrs) {
    const {transposeA, transposeB} = attrs as unknown as FastMatMulAttrs;
    const dims = fastMatMulDims(a.shape, b.shape, transposeA, transposeB);
    if (dims == null) throw new Error(`'${FAST_MATMUL}' takes unbatched products only, but got shapes [${a.shape}] and [${b.shape}]`);
    const {m, k, n, outShape} = dims;
    const c = ctx.output(outShape, 'float32');
    if (m * n === 0) return c;
    if (k === 0) {
      ctx.f32(c.ptr, m * n).fill(0);
      return c;
    }
    const pa = ctx.input(a), pb = ctx.input(b);
    if (transposeA && !transposeB) {
      // A is [k, m] as stored: k is the summed dimension of the kernel, m its output rows.
      const scratch = ctx.scratch(k * (m & ~3) * 4 + k * 32);
      ctx.kernels.f32_gemm_tn_4x8__simd128(pa, k, m, pb, n, c.ptr, scratch);
    } else if (transposeA) {
      const at = ctx.scratch(m * k * 4);
      ctx.kernels.x32_transpose__simd128(pa, k, m, at);
      productNT(ctx, at, pb, c.ptr, m, k, n);
    } else if (transposeB) {
      productNT(ctx, pa, pb, c.ptr, m, k, n);
    } else if (m === 1) {
      ctx.kernels.f32_gemv_rows__simd128(pa, k, pb, n, 0, 0, c.ptr);
    } else {
      ctx.kernels.f32_gemm_4x8__simd128(pa, m, k, pb, n, 0, 0, c.ptr, gemmScratch(ctx, k));
    }
    return c;
  },
};

