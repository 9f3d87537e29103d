/**
 * `SparsityBlockPool`: the AVG or MAX of |w| over each `bh x bw` block of a rank-2 weight, blocks
 * aligned at (0, 0) (`assembly/pool.ts`).
 */
import {KernelDef} from './bridge';

/** How the magnitudes of a block are pooled into its score (tfmot's `block_pooling_type`). */
export type PoolingType = 'AVG'|'MAX';
export const POOLING_TYPES: readonly PoolingType[] = ['AVG', 'MAX'];

export const BLOCK_POOL = 'SparsityBlockPool';

/** The pooled grid of a `rows x cols` weight: partial edge blocks count as blocks. */
export function blockGridShape([rows, cols]: readonly number[], [bh, bw]: readonly number[]): [number, number] {
  return [Math.ceil(rows / bh), Math.ceil(cols / bw)];
}

/** Attributes of the block kernels: the block size. */
export interface BlockAttrs {
  blockHeight: number;
  blockWidth: number;
}

/**
 * The block size clipped to the weight: a block larger than the weight covers the same cells as
 * one of the weight's size, and the clipped sizes stay within the kernels' int32 arguments.
 */
export function blockInWeight({blockHeight, blockWidth}: BlockAttrs, rows: number, cols: number): [number, number] {
  return [Math.min(blockHeight, Math.max(rows, 1)), Math.min(blockWidth, Math.max(cols, 1))];
}

export const blockPoolKernel: KernelDef = {
  kernelName: BLOCK_POOL,
  run(ctx, {w}, attrs) {
    const {poolingType} = attrs as unknown as {poolingType: PoolingType};
    const [rows, cols] = w.shape;
    const [bh, bw] = blockInWeight(attrs as unknown as BlockAttrs, rows, cols);
    const out = ctx.output(blockGridShape(w.shape, [bh, bw]), 'float32');
    // Stage 1 of the kernel reduces a block row's bh rows into one scratch row.
    const scratch = bh > 1 ? ctx.scratch(cols * 4) : 0;
    const pool = poolingType === 'MAX' ? ctx.kernels.f32_block_pool_max__simd128 : ctx.kernels.f32_block_pool_avg__simd128;
    pool(ctx.input(w), rows, cols, bh, bw, scratch, out.ptr);
    return out;
  },
};
