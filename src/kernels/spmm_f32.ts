/**
 * `SpMMF32`: `Y = X · W (+ bias)`, optional relu, with W in the f32 strip layout of
 * `src/sparse/format.ts` (`assembly/spmm_f32.ts`). The op is `blockSparseMatMul`
 * (`src/sparse/matmul.ts`), which picks among this kernel, the others and `tf.matMul`.
 */
import {KernelDef} from './bridge';
import {biasPtr, STRIP_TAIL_BYTES, StripMatMulAttrs, stripVariant} from './strips';

// The inference kernels have short names: tfjs looks a kernel up by the string `${backend}_${name}`
// on every call, and V8 hashes a concatenation of 13 characters or more only after flattening it
// (0.28 µs more per call, measured; about 4 % of a 90 %-sparse 1024x1024 layer at batch 1).
export const SPMM_F32 = 'SpMMF32';

export const spmmF32Kernel: KernelDef = {
  kernelName: SPMM_F32,
  run(ctx, inputs, attrs) {
    const {x, colptr, rowoff, vals} = inputs;
    const {n, bw, relu} = attrs as unknown as StripMatMulAttrs;
    const [m, k] = x.shape;
    const y = ctx.output([m, n], 'float32');
    const tmp = ctx.scratch(STRIP_TAIL_BYTES);
    const kern = ctx.kernels;
    const xp = ctx.input(x);
    const w = [ctx.input(colptr), ctx.input(rowoff), ctx.input(vals)] as const;
    const b = biasPtr(ctx, inputs), r = relu ? 1 : 0;
    const rows2 = stripVariant(bw, {16: kern.f32_spmm_2x16__simd128, 8: kern.f32_spmm_2x8__simd128, 4: kern.f32_spmm_2x4__simd128});
    const row1 = stripVariant(bw, {16: kern.f32_spmm_1x16__simd128, 8: kern.f32_spmm_1x8__simd128, 4: kern.f32_spmm_1x4__simd128});
    if (!rows2 || !row1) {
      kern.f32_spmm_2xw__scalar(xp, m, k, ...w, bw, n, b, r, y.ptr);
      return y;
    }
    // Rows in pairs, then an odd last row through the one-row kernel.
    const pairs = m & ~1;
    if (pairs > 0) rows2(xp, pairs, k, ...w, n, b, r, y.ptr, tmp);
    if (pairs < m) row1(xp + pairs * k * 4, ...w, n, b, r, y.ptr + pairs * n * 4, tmp);
    return y;
  },
};
