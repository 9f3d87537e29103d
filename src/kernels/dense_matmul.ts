/**
 * `GEMMF32`: the dense `Y = X · W (+ bias)`, optional relu, on our SIMD kernels (the row GEMV for one
 * row, the 4x8 GEMM otherwise): `blockSparseMatMul`'s dense path on backends other than `wasm`,
 * where tfjs's own matMul is slower (`src/kernels/dispatch.ts`).
 */
import {KernelDef} from './bridge';
import {gemmScratch} from './gemm';
import {biasPtr, StripMatMulAttrs} from './strips';

/** A short name, as `SpMMF32`'s (see there). */
export const DENSE_MATMUL = 'GEMMF32';

export const denseMatMulKernel: KernelDef = {
  kernelName: DENSE_MATMUL,
  run(ctx, inputs, attrs) {
    const {x, w} = inputs;
    const relu = (attrs as unknown as StripMatMulAttrs).relu ? 1 : 0;
    const [m, k] = x.shape;
    const n = w.shape[1];
    const y = ctx.output([m, n], 'float32');
    const b = biasPtr(ctx, inputs);
    if (m === 1) {
      ctx.kernels.f32_gemv_rows__simd128(ctx.input(x), k, ctx.input(w), n, b, relu, y.ptr);
    } else {
      ctx.kernels.f32_gemm_4x8__simd128(ctx.input(x), m, k, ctx.input(w), n, b, relu, y.ptr, gemmScratch(ctx, k));
    }
    return y;
  },
};
