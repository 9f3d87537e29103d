/** M:N structured masks (tfmot's `sparsity_m_by_n`), computed in the weight's own layout. */
import {engine, Tensor, TensorLike, tidy} from '@tensorflow/tfjs-core';
import {M_BY_N_MASK} from '../kernels/m_by_n_mask';
import {checkRank, float32Arg, positiveIntPair} from '../util/validate';

/** Checks tfmot's `(m, n)`: positive integers with m < n. */
export function mByNArg(mByN: unknown, op: string): [number, number] {
  const [m, n] = positiveIntPair(mByN, 'mByN', op, '[m, n] (m zeros in every n weights)');
  if (m >= n) {
    throw new Error(`Argument 'mByN' passed to '${op}' must have m smaller than n, but got [${m},${n}]`);
  }
  return [m, n];
}

/**
 * The M:N mask of a weight as tfmot builds it: `(m, n)` means m ZEROS in every n consecutive
 * weights along the input channels (`[2, 4]` keeps 2 of every 4). A rank-2 weight is `[in, out]`, a
 * rank-4 one `[h, w, in, out]`; groups run along `in` for each output (and spatial position),
 * starting at channel 0. In each group the `n - m` largest `|w|` are kept; a tie goes to the lower
 * channel, as `tf.math.top_k` orders it. A last group shorter than n keeps its `n - m` largest
 * entries (all of them if it has no more), as tfmot's zero padding does. NaN weights rank above
 * every magnitude and are kept first.
 *
 * ```js
 * mByNMask(tf.tensor2d([[1], [-4], [3], [2]]), [2, 4]).print();  // [[0], [1], [1], [0]]
 * ```
 * @param w a float32 weight of rank 2 or 4.
 * @param mByN `[m, n]`, positive integers with m < n.
 * @returns a float32 mask of 0 and 1 with the shape of `w`.
 */
export function mByNMask(w: Tensor|TensorLike, mByN: [number, number]): Tensor {
  const op = 'mByNMask';
  const [m, n] = mByNArg(mByN, op);
  return tidy(() => {
    const $w = float32Arg(w, 'w', op);
    checkRank($w, [2, 4], 'w', op);
    return engine().runKernel(M_BY_N_MASK, {w: $w}, {m, n}) as Tensor;
  });
}
