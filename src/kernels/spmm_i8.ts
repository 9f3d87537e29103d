/**
 * `SpMMI8`: `Y = X · W (+ bias)`, optional relu, with W in the int8 strip layout of
 * `src/sparse/format.ts` (`assembly/spmm_i8.ts`): the activations are quantized per row into scratch
 * and multiplied int8 x int8 in i32, then scaled back.
 */
import {KernelDef} from './bridge';
import {biasPtr, STRIP_TAIL_BYTES, StripMatMulAttrs, stripVariant} from './strips';

/** A short name, as `SpMMF32`'s (see there). */
export const SPMM_I8 = 'SpMMI8';

export const spmmI8Kernel: KernelDef = {
  kernelName: SPMM_I8,
  run(ctx, inputs, attrs) {
    const {x, colptr, rowoff, vals, scales} = inputs;
    const {n, bw, relu} = attrs as unknown as StripMatMulAttrs;
    const [m, k] = x.shape;
    const y = ctx.output([m, n], 'float32');
    // One scratch block (each allocation is two more calls into wasm): the tail buffer, then the
    // activation tables (two i32 pair tables: 8 bytes per entry), then the row scales.
    const tmp = ctx.scratch(STRIP_TAIL_BYTES + m * k * 8 + m * 4);
    const xq = tmp + STRIP_TAIL_BYTES, sx = xq + m * k * 8;
    const kern = ctx.kernels;
    kern.i8_quantize_rows__simd128(ctx.input(x), m, k, xq, sx);
    const w = [ctx.input(colptr), ctx.input(rowoff), ctx.input(vals), ctx.input(scales)] as const;
    const b = biasPtr(ctx, inputs), r = relu ? 1 : 0;
    const rows2 = stripVariant(bw, {16: kern.i8_spmm_2x16__simd128, 8: kern.i8_spmm_2x8__simd128, 4: kern.i8_spmm_2x4__simd128});
    const row1 = stripVariant(bw, {16: kern.i8_spmm_1x16__simd128, 8: kern.i8_spmm_1x8__simd128, 4: kern.i8_spmm_1x4__simd128});
    if (!rows2 || !row1) {
      kern.i8_spmm_1xw__scalar(xq, sx, m, k, ...w, bw, n, b, r, y.ptr);
      return y;
    }
    // Rows in pairs, then an odd last row through the one-row kernel.
    const pairs = m & ~1;
    if (pairs > 0) rows2(xq, sx, pairs, k, ...w, n, b, r, y.ptr, tmp);
    if (pairs < m) row1(xq + pairs * k * 8, sx + pairs * 4, k, ...w, n, b, r, y.ptr + pairs * n * 4, tmp);
    return y;
  },
};
