/**
 * `SpMMI8`: `Y = X · W (+ bias)`, optional relu, with W in the int8 strip layout of
 * `src/sparse/format.ts` (`assembly/spmm_i8.ts`): the activations are quantized per row into scratch
 * and multiplied int8 x int8 in i32, then scaled back. On threads the rows are split (`rowRanges`),
 * each range quantizing its own rows.
 */
import {KernelDef} from './bridge';
import {KernelCall} from './thread_pool';
import {biasPtr, rowRanges, STRIP_TAIL_BYTES, StripMatMulAttrs, stripVariant} from './strips';

/** A short name, as `SpMMF32`'s (see there). */
export const SPMM_I8 = 'SpMMI8';

export const spmmI8Kernel: KernelDef = {
  kernelName: SPMM_I8,
  run(ctx, inputs, attrs) {
    const {x, colptr, rowoff, vals, scales} = inputs;
    const {n, bw, relu} = attrs as unknown as StripMatMulAttrs;
    const [m, k] = x.shape;
    const y = ctx.output([m, n], 'float32');
    // One scratch block for the activation tables (two i32 pair tables: 8 bytes per entry) and the
    // row scales (each allocation is two more calls into wasm).
    const xq = ctx.scratch(m * k * 8 + m * 4), sx = xq + m * k * 8;
    const xp = ctx.input(x);
    const w = [ctx.weight(colptr), ctx.weight(rowoff), ctx.weight(vals), ctx.weight(scales)] as const;
    const b = biasPtr(ctx, inputs), r = relu ? 1 : 0;
    const rows2 = stripVariant(bw, {16: 'i8_spmm_2x16__simd128', 8: 'i8_spmm_2x8__simd128', 4: 'i8_spmm_2x4__simd128'} as const);
    const row1 = stripVariant(bw, {16: 'i8_spmm_1x16__simd128', 8: 'i8_spmm_1x8__simd128', 4: 'i8_spmm_1x4__simd128'} as const);
    const cuts = rowRanges(ctx, m);
    ctx.parallel(cuts.slice(1).map((r1, t): KernelCall[] => {
      const r0 = cuts[t], rows = r1 - r0, q0 = xq + r0 * k * 8, s0 = sx + r0 * 4, y0 = y.ptr + r0 * n * 4;
      const calls: KernelCall[] = [['i8_quantize_rows__simd128', xp + r0 * k * 4, rows, k, q0, s0]];
      if (!rows2 || !row1) {
        calls.push(['i8_spmm_1xw__scalar', q0, s0, rows, k, ...w, bw, n, b, r, y0]);
        return calls;
      }
      // Rows in pairs, then an odd last row through the one-row kernel.
      const pairs = rows & ~1, tmp = ctx.scratch(STRIP_TAIL_BYTES);
      if (pairs > 0) calls.push([rows2, q0, s0, pairs, k, ...w, n, b, r, y0, tmp]);
      if (pairs < rows) calls.push([row1, q0 + pairs * k * 8, s0 + pairs * 4, k, ...w, n, b, r, y0 + pairs * n * 4, tmp]);
      return calls;
    }));
    return y;
  },
};
