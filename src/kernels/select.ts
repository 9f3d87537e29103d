/**
 * The exact magnitude threshold: the k-th largest |w| by selection, not sorting (perf-anchors
 * §4.5, §6.5). Plan, Floyd–Rivest style: sample runs of 16 keys spread over the weights, pick the
 * sample ranks a few standard deviations either side of the target's expected rank, make ONE SIMD
 * pass over all n weights that counts keys above that band and compacts the keys inside it, then
 * radix-select among the candidates. When the band misses the target it is widened 4x and the pass
 * rerun (the widest band holds every key, so this ends). When the band holds more than n / 8 keys
 * (a huge tie, such as the zeros of already-pruned weights) one more pass peels the band's two end
 * values off, and if that is not enough a read-only radix selection over the weights answers.
 * Every path is exact; scratch stays below about 1.2 n bytes plus 16 n^(2/3) (the weights take 4 n).
 */
import {engine, Scalar, Tensor, TensorLike, tidy, util} from '@tensorflow/tfjs-core';
import {KernelContext, KernelDef} from './bridge';
import {checkSparsity, float32Arg} from '../util/validate';

export const KTH_LARGEST_MAGNITUDE = 'SparsityKthLargestMagnitude';

/** The largest key: NaN with every payload bit set. */
const MAX_KEY = 0x7fffffff;
/** The radix histogram: 2^11 digit counters, one sink for out-of-range keys, padding to 16 bytes. */
const HIST_BYTES = 2052 * 4;
/** Below this size the read-only radix selection (at most three passes) answers directly. */
const SAMPLE_MIN_N = 1 << 14;
/** Keys per sample run (one cache line), as in assembly/select.ts. */
const CHUNK = 16;
/**
 * Sample size about SAMPLE_SCALE * n^(2/3): it balances selecting in the sample against selecting
 * among the candidates (about n * 2 * margin / sample of them). Set with MARGIN_SD by CPU-time
 * sweeps of bench/select.ts's cases (BENCHMARKS.md, Magnitude threshold).
 */
const SAMPLE_SCALE = 2;
/** Band half-width in standard deviations of the target's rank in the sample, plus a floor. */
const MARGIN_SD = 3;
const MARGIN_MIN = 16;
/** Candidate buffers stop growing at n / 8 keys; beyond, the read-only radix path answers. */
const MAX_CANDIDATE_FRACTION = 1 / 8;

/**
 * The k-th largest key of `n` weights at `src` by the band method. Scratch: the sample (8 bytes a
 * key, about 16 n^(2/3) bytes), and candidate buffers that grow geometrically up to n / 8 keys
 * (at most about 1.2 n bytes in all, reached only by inputs whose bands miss repeatedly).
 */
function bandSelect(ctx: KernelContext, src: number, n: number, k: number, hist: number): number {
  const K = ctx.kernels;
  const chunks = Math.max(2, Math.round(SAMPLE_SCALE * Math.pow(n, 2 / 3) / CHUNK));
  const s = chunks * CHUNK;
  const sample = ctx.scratch(2 * s * 4);
  const work = sample + s * 4;
  const counts = ctx.scratch(16);
  K.f32_sample_keys__simd128(src, n, chunks, sample);
  const sampleKey = (rank: number) => {
    ctx.i32(work, s).set(ctx.i32(sample, s));
    return K.i32_kth_largest_in_range__radix(work, s, rank, 0, MAX_KEY, hist);
  };

  const maxCandidates = Math.ceil(n * MAX_CANDIDATE_FRACTION) + CHUNK;
  let buf = 0, bufCap = 0;
  const reserve = (cap: number) => {
    if (cap > bufCap) {
      buf = ctx.scratch(cap * 4);
      bufCap = cap;
    }
  };

  /** One band pass into the candidate buffer: [keys above hi, keys in [lo, hi]]. */
  const pass = (lo: number, hi: number): [number, number] => {
    const c = K.f32_magnitude_band__simd128(src, n, lo, hi, buf, bufCap, counts);
    return [ctx.i32(counts, 1)[0], c];
  };
  /** The answer once [lo, hi] is known to hold it, `above` keys above hi and `c` inside. */
  const finish = (lo: number, hi: number, above: number, c: number, peel: boolean): number => {
    const rank = k - above;
    if (lo === hi) return lo;
    if (c + CHUNK <= maxCandidates) {
      if (c > bufCap - CHUNK) {
        reserve(c + CHUNK);
        pass(lo, hi);
      }
      return K.i32_kth_largest_in_range__radix(buf, c, rank, lo, hi, hist);
    }
    if (!peel) return K.f32_kth_largest_magnitude_in_range__radix(src, n, rank, lo, hi, hist);
    // Too many candidates: usually a tie at an end of the band (pruned weights are mostly ±0, so
    // a threshold update at the same sparsity lands next to them). Peel both ends off.
    if (hi - lo === 1) {
      const [aboveHi, atHi] = pass(hi, hi);
      return k <= aboveHi + atHi ? hi : lo;
    }
    const [aboveInside, inside] = pass(lo + 1, hi - 1);
    if (k <= aboveInside) return hi;
    if (k > aboveInside + inside) return lo;
    return finish(lo + 1, hi - 1, aboveInside, inside, false);
  };

  const p = k / n;
  const expected = p * s;
  let margin = MARGIN_SD * Math.sqrt(s * p * (1 - p)) + MARGIN_MIN;
  for (;;) {
    const top = Math.floor(expected - margin);
    const bottom = Math.ceil(expected + margin);
    const hi = top < 1 ? MAX_KEY : sampleKey(top);
    const lo = bottom > s ? 0 : sampleKey(bottom);
    const estimate = n * (Math.min(bottom, s) - Math.max(top, 1) + 1) / s;
    reserve(Math.min(Math.ceil(estimate * 1.25) + 4 * CHUNK, maxCandidates));
    const [above, c] = pass(lo, hi);
    if (k > above && k <= above + c) return finish(lo, hi, above, c, true);
    // The band missed the target (a sample blind to part of the input): widen it.
    margin *= 4;
  }
}

export const kthLargestMagnitudeKernel: KernelDef = {
  kernelName: KTH_LARGEST_MAGNITUDE,
  run(ctx, {w}, attrs) {
    const n = util.sizeFromShape(w.shape);
    const k = attrs.k as number;
    const out = ctx.output([], 'float32');
    const hist = ctx.scratch(HIST_BYTES);
    const src = ctx.input(w);
    const key = n < SAMPLE_MIN_N ?
        ctx.kernels.f32_kth_largest_magnitude_in_range__radix(src, n, k, 0, MAX_KEY, hist) :
        bandSelect(ctx, src, n, k, hist);
    ctx.i32(out.ptr, 1)[0] = key;
    return out;
  },
};

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
