/**
 * The pixel-vectorized sparse matmul kernels (`assembly/spmm_nchw_f32.ts`, `assembly/spmm_nchw_i8.ts`):
 * `Y[b] = clamp(Wᵀ · X[b] + bias)` with X channel-major `[B, K, P]` and W `[K, N]` packed in
 * compressed rows by output channel (`src/sparse/pixel_format.ts`), Y `[B, N, P]`. With
 * `rowMajor`, X is `[M, K]` and Y `[M, N]` (a batched Dense layer): both are transposed through
 * scratch around the same kernel, the M rows being the pixels.
 */
import {KernelDef} from './bridge';

export const SPMM_NCHW = 'SpMMNCHW';

/** Attributes: output channels, the clamp of the fused activation, row-major operands. */
export interface SpmmNchwAttrs {n: number; vmin: number; vmax: number; rowMajor: boolean}

export const spmmNchwKernel: KernelDef = {
  kernelName: SPMM_NCHW,
  run(ctx, inputs, attrs) {
    const {x, rowptr, ics, vals, scales, bias} = inputs;
    const {n, vmin, vmax, rowMajor} = attrs as unknown as SpmmNchwAttrs;
    const kern = ctx.kernels;
    const [batch, k, p] = rowMajor ? [1, x.shape[1], x.shape[0]] : x.shape;
    const y = ctx.output(rowMajor ? [p, n] : [batch, n, p], 'float32');
    const w = [ctx.input(rowptr), ctx.input(ics), ctx.input(vals)] as const;
    const b = bias ? ctx.input(bias) : 0;
    const sc = scales ? ctx.input(scales) : 0;
    let xp = ctx.input(x), yp = y.ptr;
    // int8 weights are dequantized into scratch by the kernel.
    const wq = sc ? ctx.scratch(4 * Math.max(1, ics.shape[0])) : 0;
    const pack = ctx.scratch(64 * k);
    let xt = 0, yt = 0;
    if (rowMajor) {
      xt = ctx.scratch(4 * k * p);
      yt = ctx.scratch(4 * n * p);
      kern.x32_transpose__simd128(xp, p, k, xt);
      [xp, yp] = [xt, yt];
    }
    const xs = 4 * p, plane = k * p * 4, out = n * p * 4;
    for (let i = 0; i < batch; i++) {
      if (sc) kern.i8_spmm_nchw_16x1__simd128(xp + i * plane, xs, p, ...w, sc, 0, n, b, vmin, vmax, yp + i * out, xs, k, pack, wq);
      else kern.f32_spmm_nchw_16x1__simd128(xp + i * plane, xs, p, ...w, 0, n, b, vmin, vmax, yp + i * out, xs, k, pack);
    }
    if (rowMajor) kern.x32_transpose__simd128(yt, n, p, y.ptr);
    return y;
  },
};
