/**
 * The layout changes around a channel-major run (`assembly/gemm_grad_f32.ts`,
 * `x32_transpose_strided__simd128`): x `[B, H, W, C]` to y `[B, C, H, W]` (`toChannelsFirst`) or
 * back, each example a transpose of its `[H·W, C]` (or `[C, H·W]`) matrix in 4x4 SIMD blocks. On
 * threads the source rows are split in fours, each thread writing its band of destination columns.
 */
import {KernelDef} from './bridge';
import {evenSplits} from './splits';
import {KernelCall, MAX_PART_CALLS} from './thread_pool';

export const LAYOUT_TRANSPOSE = 'LayoutTranspose';

export interface LayoutTransposeAttrs {toChannelsFirst: boolean; threads?: number}

export const layoutTransposeKernel: KernelDef = {
  kernelName: LAYOUT_TRANSPOSE,
  run(ctx, {x}, attrs) {
    const {toChannelsFirst} = attrs as unknown as LayoutTransposeAttrs;
    const [b, d1, d2, d3] = x.shape;
    const y = ctx.output(toChannelsFirst ? [b, d3, d1, d2] : [b, d2, d3, d1], 'float32');
    // Per example, the source is a [rows, cols] matrix.
    const [rows, cols] = toChannelsFirst ? [d1 * d2, d3] : [d1, d2 * d3];
    const xp = ctx.input(x), plane = 4 * rows * cols;
    const cuts = evenSplits(rows, ctx.threads, 4);
    for (let i0 = 0; i0 < b; i0 += MAX_PART_CALLS) {
      ctx.parallel(cuts.slice(1).map((r1, t): KernelCall[] => {
        const r0 = cuts[t], calls: KernelCall[] = [];
        for (let i = i0; i < Math.min(b, i0 + MAX_PART_CALLS); i++) {
          calls.push(['x32_transpose_strided__simd128', xp + i * plane + 4 * r0 * cols, r1 - r0, cols, cols,
            y.ptr + i * plane + 4 * r0, rows]);
        }
        return calls;
      }));
    }
    return y;
  },
};
