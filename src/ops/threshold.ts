/**
 * The threshold ops of tfmot's mask update: how many weights are kept (`keepCount`), and the k-th
 * largest magnitude that keeps them (`kthLargestMagnitude`, `magnitudeThreshold`), on the exact
 * selection kernel `SparsityKthLargestMagnitude`.
 */
import {engine, Scalar, Tensor, TensorLike, tidy} from '@tensorflow/tfjs-core';
import {KTH_LARGEST_MAGNITUDE} from '../kernels/kth_largest_magnitude';
import {checkSparsity, float32Arg} from '../util/validate';

/** Round half to even, as `tf.round` rounds (x >= 0). */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * How many of `n` weights tfmot keeps at `sparsity`: `max(roundHalfEven(float32(n) * (1 - s)), 1)`,
 * every step in float32 as tfmot's graph computes it, so the kept count (and the threshold) match
 * tfmot even where n * (1 - s) lands on .5 (0.25 on 10 weights keeps 8, not 7).
 *
 * ```js
 * keepCount(10, 0.25);     // 8
 * keepCount(100, 0.9999);  // 1: at least one weight is always kept
 * ```
 * @param n number of weights (or blocks), a positive integer.
 * @param sparsity target fraction of zeros, in [0, 1).
 */
export function keepCount(n: number, sparsity: number): number {
  const keep = Math.fround(1 - Math.fround(sparsity));
  return Math.max(roundHalfEven(Math.fround(Math.fround(n) * keep)), 1);
}

/** A float32 weights argument `w` that must not be empty (threshold ops and `pruneMask`). */
export function weightsArg(w: Tensor|TensorLike, op: string): Tensor {
  const $w = float32Arg(w, 'w', op);
  if ($w.size === 0) {
    throw new Error(`Argument 'w' passed to '${op}' must not be empty, but got shape [${$w.shape}]`);
  }
  return $w;
}

/**
 * The k-th largest magnitude of `w`, exactly (bit for bit what a full sort of |w| gives, for ties,
 * ±0, subnormals and ±Infinity), in expected O(n) time, reading `w` in place on the wasm backend.
 * NaN policy: NaN ranks above +Infinity (NaNs among themselves by their bits), so NaN weights are
 * the last ever pruned; the result is NaN when the k-th largest is a NaN.
 *
 * ```js
 * kthLargestMagnitude(tf.tensor([0.5, -3, 2, -1]), 2).print();  // 2
 * ```
 * @param w float32 weights of any shape, not empty.
 * @param k rank from the top, an integer in [1, size of w].
 * @returns a float32 scalar >= 0 (or NaN).
 */
export function kthLargestMagnitude(w: Tensor|TensorLike, k: number): Scalar {
  const op = 'kthLargestMagnitude';
  return tidy(() => {
    const $w = weightsArg(w, op);
    if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > $w.size) {
      throw new Error(`Argument 'k' passed to '${op}' must be an integer in [1, ${$w.size}] ` +
          `(the size of 'w'), but got ${String(k)}`);
    }
    return engine().runKernel(KTH_LARGEST_MAGNITUDE, {w: $w}, {k}) as Scalar;
  });
}

/**
 * tfmot's pruning threshold: the k-th largest |w| with `k = keepCount(size, sparsity)`, so that
 * `maskFromThreshold(w, threshold)` keeps at least k weights (every tie with the threshold is
 * kept). Same NaN policy as `kthLargestMagnitude`.
 *
 * ```js
 * magnitudeThreshold(tf.tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]), 0.25).print();  // 3 (keeps 8)
 * ```
 * @param w float32 weights of any shape, not empty.
 * @param sparsity target fraction of zeros, in [0, 1).
 * @returns a float32 scalar: the threshold.
 */
export function magnitudeThreshold(w: Tensor|TensorLike, sparsity: number): Scalar {
  const op = 'magnitudeThreshold';
  return tidy(() => {
    checkSparsity(sparsity, op);
    const $w = weightsArg(w, op);
    return engine().runKernel(KTH_LARGEST_MAGNITUDE, {w: $w}, {k: keepCount($w.size, sparsity)}) as Scalar;
  });
}
