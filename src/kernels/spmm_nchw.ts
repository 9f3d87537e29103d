/**
 * The pixel-vectorized sparse matmul kernels (`assembly/spmm_nchw_f32.ts`, `assembly/spmm_nchw_i8.ts`):
 * `Y[b] = clamp(Wᵀ · X[b] + bias)` with X channel-major `[B, K, P]` and W `[K, N]` packed in
 * compressed rows by output channel (`src/sparse/pixel_format.ts`), Y `[B, N, P]`. With
 * `rowMajor`, X is `[M, K]` and Y `[M, N]` (a batched Dense layer): both are transposed through
 * scratch around the same kernel, the M rows being the pixels.
 *
 * On threads the pixels are split (whole 16-pixel tiles per thread, each thread with its own
 * packing scratch), or, when there are too few pixels for every thread, the output channels (by
 * equal nonzeros). Either way each output value is summed in the same order as on one thread:
 * threaded results equal single-threaded ones bit for bit.
 */
import {KernelDef} from './bridge';
import {splitsPixels} from './thread_limits';
import {evenSplits, nonzeroSplits} from './splits';
import {KernelCall, MAX_PART_CALLS} from './thread_pool';

export const SPMM_NCHW = 'SpMMNCHW';

/** Attributes: output channels, the clamp of the fused activation, row-major operands, threads wanted. */
export interface SpmmNchwAttrs {n: number; vmin: number; vmax: number; rowMajor: boolean; threads?: number}

/** The pixel kernel's tile: threads split pixels in whole tiles. */
const TILE = 16;

export const spmmNchwKernel: KernelDef = {
  kernelName: SPMM_NCHW,
  run(ctx, inputs, attrs) {
    const {x, rowptr, ics, vals, scales, bias} = inputs;
    const {n, vmin, vmax, rowMajor} = attrs as unknown as SpmmNchwAttrs;
    const kern = ctx.kernels;
    const [batch, k, p] = rowMajor ? [1, x.shape[1], x.shape[0]] : x.shape;
    const y = ctx.output(rowMajor ? [p, n] : [batch, n, p], 'float32');
    const w = [ctx.weight(rowptr), ctx.weight(ics), ctx.weight(vals)] as const;
    const b = bias ? ctx.weight(bias) : 0;
    const sc = scales ? ctx.weight(scales) : 0;
    let xp = ctx.input(x), yp = y.ptr;
    let xt = 0, yt = 0;
    if (rowMajor) {
      xt = ctx.scratch(4 * k * p);
      yt = ctx.scratch(4 * n * p);
      kern.x32_transpose__simd128(xp, p, k, xt);
      [xp, yp] = [xt, yt];
    }
    // Ranges of [pixel0, pixel1) x [oc0, oc1), one per thread.
    let ranges: Array<[number, number, number, number]>;
    if (ctx.threads > 1 && splitsPixels(p, ctx.threads)) {
      const cuts = evenSplits(p, ctx.threads, TILE);
      ranges = cuts.slice(1).map((end, i) => [cuts[i], end, 0, n]);
    } else if (ctx.threads > 1) {
      const cuts = nonzeroSplits(ctx.i32(w[0], n + 1), ctx.threads);
      ranges = cuts.slice(1).map((end, i) => [0, p, cuts[i], end]);
    } else {
      ranges = [[0, p, 0, n]];
    }
    // Scratch per range: the packing buffer, and for int8 the dequantized weights.
    const packs = ranges.map(() => ctx.scratch(64 * k));
    const wqs = ranges.map(() => sc ? ctx.scratch(4 * Math.max(1, ics.shape[0])) : 0);
    const xs = 4 * p, plane = k * p * 4, out = n * p * 4;
    for (let i0 = 0; i0 < batch; i0 += MAX_PART_CALLS) {
      const parts = ranges.map(([p0, p1, oc0, oc1], t) => {
        const calls: KernelCall[] = [];
        for (let i = i0; i < Math.min(batch, i0 + MAX_PART_CALLS); i++) {
          const xi = xp + i * plane + 4 * p0, yi = yp + i * out + 4 * p0;
          calls.push(sc ?
              ['i8_spmm_nchw_16x1__simd128', xi, xs, p1 - p0, ...w, sc, oc0, oc1, b, vmin, vmax, yi, xs, k, packs[t], wqs[t]] :
              ['f32_spmm_nchw_16x1__simd128', xi, xs, p1 - p0, ...w, oc0, oc1, b, vmin, vmax, yi, xs, k, packs[t]]);
        }
        return calls;
      });
      ctx.parallel(parts);
    }
    if (rowMajor) kern.x32_transpose__simd128(yt, n, p, y.ptr);
    return y;
  },
};
