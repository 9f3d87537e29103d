/**
 * One mask update of tfmot's `pruning_impl.Pruning` (`_update_mask` and
 * `_maybe_update_block_mask`), with no layer or schedule: weights and a sparsity in, mask and
 * threshold out.
 */
import {Scalar, Tensor, Tensor2D, TensorLike, tidy} from '@tensorflow/tfjs-core';
import {maskFromThreshold} from './mask';
import {blockPool, expandBlockMask, POOLING_TYPES, PoolingType} from './pool';
import {magnitudeThreshold, weightsArg} from './threshold';
import {checkChoice, checkOptions, checkSparsity, positiveIntPair} from '../util/validate';

const PRUNE_MASK_OPTIONS = ['blockSize', 'blockPoolingType'];

/** Options of `pruneMask`, tfmot's `block_size` and `block_pooling_type`. */
export interface PruneMaskOptions {
  /** `[height, width]` of the blocks pruned together; `[1, 1]` (the default) prunes single weights. */
  blockSize?: [number, number];
  /** How a block's magnitudes are pooled into its score: `'AVG'` (the default) or `'MAX'`. */
  blockPoolingType?: PoolingType;
}

/** A mask update's result; both tensors belong to the caller. */
export interface PruneMaskResult {
  /** float32 0/1 with the shape of `w`. */
  mask: Tensor;
  /** float32 scalar: the k-th largest magnitude (of block scores when pruning blocks). */
  threshold: Scalar;
}

/**
 * The pruning mask of `w` at `sparsity`, as one tfmot mask update computes it: keep the
 * `keepCount(n, sparsity)` largest magnitudes and every tie with the smallest of them (so the
 * achieved sparsity can fall short of the target, as in tfmot). With a block size other than
 * `[1, 1]` (rank-2 weights only), blocks are ranked by their pooled magnitudes (`blockPool`) with
 * the same rule over the number of blocks, and kept or pruned whole.
 *
 * Porting note: tfmot pools with centred SAME padding but expands the mask from the top-left, so
 * when the shape does not divide by the block its mask does not line up with what it pooled; we
 * align both at (0, 0), with partial blocks at the bottom and right edges. Where the shape divides
 * by the block, the masks are tfmot's exactly. A block larger than the weight works (tfmot raises).
 *
 * ```js
 * const {mask, threshold} = pruneMask(tf.tensor([1, -2, 3, -4]), 0.5);
 * mask.print();       // [0, 0, 1, 1]
 * threshold.print();  // 3
 * ```
 * @param w float32 weights, not empty; rank 2 when `blockSize` is not `[1, 1]`.
 * @param sparsity target fraction of zeros, in [0, 1).
 * @param options `blockSize` and `blockPoolingType`.
 * @throws Error naming the argument when `w` is not float32, empty, or not rank 2 with blocks,
 *     when `sparsity` is outside [0, 1), when `blockSize` is not a pair of positive integers, or
 *     when `blockPoolingType` is not 'AVG' or 'MAX'.
 */
export function pruneMask(w: Tensor|TensorLike, sparsity: number, options?: PruneMaskOptions): PruneMaskResult {
  const op = 'pruneMask';
  const {blockSize = [1, 1], blockPoolingType = 'AVG'} = checkOptions(options, PRUNE_MASK_OPTIONS, op);
  checkSparsity(sparsity, op);
  const [bh, bw] = positiveIntPair(blockSize, 'blockSize', op);
  checkChoice(blockPoolingType, POOLING_TYPES, 'blockPoolingType', op);
  return tidy(() => {
    const $w = weightsArg(w, op);
    if (bh === 1 && bw === 1) {
      const threshold = magnitudeThreshold($w, sparsity);
      return {mask: maskFromThreshold($w, threshold), threshold};
    }
    if ($w.rank !== 2) {
      throw new Error(`Argument 'w' passed to '${op}' must have rank 2 with blockSize [${bh},${bw}] ` +
          `(block sparsity can only be used for 2-dimensional weights), but got rank ${$w.rank} ` +
          `(shape [${$w.shape}])`);
    }
    const pooled = blockPool($w as Tensor2D, [bh, bw], blockPoolingType);
    const threshold = magnitudeThreshold(pooled, sparsity);
    const blockMask = maskFromThreshold(pooled, threshold) as Tensor2D;
    return {mask: expandBlockMask(blockMask, [bh, bw], $w.shape as [number, number]), threshold};
  });
}
