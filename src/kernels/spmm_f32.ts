/**
 * `SpMMF32`: `Y = X · W (+ bias)`, optional relu, with W in the f32 strip layout of
 * `src/sparse/format.ts` (`assembly/spmm_f32.ts`). The op is `blockSparseMatMul`
 * (`src/sparse/matmul.ts`), which picks among this kernel, the others and `tf.matMul`. On threads
 * the rows are split (`rowRanges`).
 */
import {KernelDef} from './bridge';
import {KernelCall} from './thread_pool';
import {biasPtr, rowRanges, STRIP_TAIL_BYTES, StripMatMulAttrs, stripVariant} from './strips';

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
    const xp = ctx.input(x);
    const w = [ctx.weight(colptr), ctx.weight(rowoff), ctx.weight(vals)] as const;
    const b = biasPtr(ctx, inputs), r = relu ? 1 : 0;
    const rows2 = stripVariant(bw, {16: 'f32_spmm_2x16__simd128', 8: 'f32_spmm_2x8__simd128', 4: 'f32_spmm_2x4__simd128'} as const);
    const row1 = stripVariant(bw, {16: 'f32_spmm_1x16__simd128', 8: 'f32_spmm_1x8__simd128', 4: 'f32_spmm_1x4__simd128'} as const);
    const cuts = rowRanges(ctx, m);
    ctx.parallel(cuts.slice(1).map((r1, t): KernelCall[] => {
      const r0 = cuts[t], x0 = xp + r0 * k * 4, y0 = y.ptr + r0 * n * 4;
      if (!rows2 || !row1) return [['f32_spmm_2xw__scalar', x0, r1 - r0, k, ...w, bw, n, b, r, y0]];
      // Rows in pairs, then an odd last row through the one-row kernel.
      const pairs = (r1 - r0) & ~1, tmp = ctx.scratch(STRIP_TAIL_BYTES);
      const calls: KernelCall[] = [];
      if (pairs > 0) calls.push([rows2, x0, pairs, k, ...w, n, b, r, y0, tmp]);
      if (pairs < r1 - r0) calls.push([row1, x0 + pairs * k * 4, ...w, n, b, r, y0 + pairs * n * 4, tmp]);
      return calls;
    }));
    return y;
  },
};
