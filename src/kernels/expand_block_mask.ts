/** `SparsityExpandBlockMask`: a block mask repeated over each block's cells, cropped to the weight (`assembly/pool.ts`). */
import {KernelDef} from './bridge';
import {BlockAttrs, blockInWeight} from './block_pool';

export const EXPAND_BLOCK_MASK = 'SparsityExpandBlockMask';

export const expandBlockMaskKernel: KernelDef = {
  kernelName: EXPAND_BLOCK_MASK,
  run(ctx, {blockMask}, attrs) {
    const {rows, cols} = attrs as unknown as {rows: number; cols: number};
    const [bh, bw] = blockInWeight(attrs as unknown as BlockAttrs, rows, cols);
    const out = ctx.output([rows, cols], 'float32');
    ctx.kernels.f32_expand_block_mask__simd128(ctx.input(blockMask), rows, cols, bh, bw, out.ptr);
    return out;
  },
};
