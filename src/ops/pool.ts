/** Block ops: pool |w| over blocks (AVG or MAX) and expand a block mask back to the weight. */
import {engine, Tensor2D, TensorLike, tidy} from '@tensorflow/tfjs-core';
import {BLOCK_POOL, blockGridShape, POOLING_TYPES, PoolingType} from '../kernels/block_pool';
import {EXPAND_BLOCK_MASK} from '../kernels/expand_block_mask';
import {checkOutputBytes} from '../kernels/heap_limit';
import {checkChoice, checkRank, float32Arg, positiveIntPair} from '../util/validate';

export {POOLING_TYPES} from '../kernels/block_pool';
export type {PoolingType} from '../kernels/block_pool';

/**
 * The score of each `bh x bw` block of `|w|`, the quantity block pruning ranks (tfmot's
 * `factorized_pool`). Blocks are aligned at (0, 0); partial blocks at the bottom and right edges
 * pool over their valid cells only, and a block larger than the weight is one partial block.
 * AVG reproduces tfmot's float32 values bit for bit (column means over the block's rows first, then
 * their mean, each sum in order). A block holding NaN pools to NaN (for AVG through the sum, for
 * MAX because NaN ranks above every magnitude), so such blocks are always kept.
 *
 * ```js
 * blockPool(tf.tensor2d([[1, -2, 3], [4, 5, -6]]), [1, 2], 'MAX').print();  // [[2, 3], [5, 6]]
 * ```
 * @param w a rank-2 float32 weight `[rows, cols]`.
 * @param blockSize `[bh, bw]`, positive integers.
 * @param poolingType `'AVG'` or `'MAX'`.
 * @returns float32 `[ceil(rows / bh), ceil(cols / bw)]`.
 */
export function blockPool(w: Tensor2D|TensorLike, blockSize: [number, number], poolingType: PoolingType): Tensor2D {
  const op = 'blockPool';
  const [bh, bw] = positiveIntPair(blockSize, 'blockSize', op);
  const type = checkChoice(poolingType, POOLING_TYPES, 'poolingType', op);
  return tidy(() => {
    const $w = float32Arg(w, 'w', op);
    checkRank($w, [2], 'w', op);
    return engine().runKernel(BLOCK_POOL, {w: $w}, {blockHeight: bh, blockWidth: bw, poolingType: type}) as Tensor2D;
  });
}

/**
 * A block mask back at the weight's resolution: each block's value repeated over its `bh x bw`
 * cells, and the grid cropped to `shape` (the inverse of `blockPool`'s tiling; tfmot's
 * `expand_tensor` followed by the crop).
 *
 * ```js
 * expandBlockMask(tf.tensor2d([[1, 0]]), [2, 2], [2, 3]).print();  // [[1, 1, 0], [1, 1, 0]]
 * ```
 * @param blockMask float32 `[ceil(rows / bh), ceil(cols / bw)]`.
 * @param blockSize `[bh, bw]`, positive integers.
 * @param shape the weight's `[rows, cols]`.
 * @returns float32 `[rows, cols]`.
 */
export function expandBlockMask(blockMask: Tensor2D|TensorLike, blockSize: [number, number],
                                shape: [number, number]): Tensor2D {
  const op = 'expandBlockMask';
  const [bh, bw] = positiveIntPair(blockSize, 'blockSize', op);
  if (!Array.isArray(shape) || shape.length !== 2 ||
      !shape.every(d => typeof d === 'number' && Number.isInteger(d) && d >= 0)) {
    throw new Error(`Argument 'shape' passed to '${op}' must be a pair of non-negative integers ` +
        `[rows, cols], but got ${JSON.stringify(shape)}`);
  }
  checkOutputBytes(shape, op, `'shape'`);
  return tidy(() => {
    const $m = float32Arg(blockMask, 'blockMask', op);
    checkRank($m, [2], 'blockMask', op);
    const grid = blockGridShape(shape, [bh, bw]);
    if ($m.shape[0] !== grid[0] || $m.shape[1] !== grid[1]) {
      throw new Error(`Argument 'blockMask' passed to '${op}' must have shape [${grid}] ` +
          `(shape [${shape}] in blocks of [${bh},${bw}]), but got [${$m.shape}]`);
    }
    return engine().runKernel(EXPAND_BLOCK_MASK, {blockMask: $m},
        {blockHeight: bh, blockWidth: bw, rows: shape[0], cols: shape[1]}) as Tensor2D;
  });
}
