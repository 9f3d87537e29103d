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
import {util} from '@tensorflow/tfjs-core';
import {KernelContext, KernelDef} from './bridge';
import {SELECT_CANDIDATE_SLACK, SELECT_DIRECT_MAX_N, SELECT_MARGIN_MIN, SELECT_MARGIN_SD, SELECT_MAX_CANDIDATE_FRACTION,
  SELECT_SAMPLE_SCALE} from './kernel_tuning';

export const KTH_LARGEST_MAGNITUDE = 'SparsityKthLargestMagnitude';

/** The largest key: NaN with every payload bit set. */
export const MAX_KEY = 0x7fffffff;
/** The radix histogram: 2^11 digit counters, one sink for out-of-range keys, padding to 16 bytes. */
export const HIST_BYTES = 2052 * 4;
/** Keys per sample run (one cache line), as in assembly/select.ts. */
const CHUNK = 16;

/**
 * The k-th largest key of `n` weights at `src` by the band method (exported for bench/dispatch.ts,
 * which times it against the radix selection alone around SELECT_DIRECT_MAX_N). Scratch: the sample (8 bytes a
 * key, about 16 n^(2/3) bytes), and candidate buffers that grow geometrically up to n / 8 keys
 * (at most about 1.2 n bytes in all, reached only by inputs whose bands miss repeatedly).
 */
export function bandSelect(ctx: KernelContext, src: number, n: number, k: number, hist: number): number {
  const K = ctx.kernels;
  const chunks = Math.max(2, Math.round(SELECT_SAMPLE_SCALE * Math.pow(n, 2 / 3) / CHUNK));
  const s = chunks * CHUNK;
  const sample = ctx.scratch(2 * s * 4);
  const work = sample + s * 4;
  const counts = ctx.scratch(16);
  K.f32_sample_keys__simd128(src, n, chunks, sample);
  const sampleKey = (rank: number) => {
    ctx.i32(work, s).set(ctx.i32(sample, s));
    return K.i32_kth_largest_in_range__radix(work, s, rank, 0, MAX_KEY, hist);
  };

  const maxCandidates = Math.ceil(n * SELECT_MAX_CANDIDATE_FRACTION) + CHUNK;
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
  let margin = SELECT_MARGIN_SD * Math.sqrt(s * p * (1 - p)) + SELECT_MARGIN_MIN;
  for (;;) {
    const top = Math.floor(expected - margin);
    const bottom = Math.ceil(expected + margin);
    const hi = top < 1 ? MAX_KEY : sampleKey(top);
    const lo = bottom > s ? 0 : sampleKey(bottom);
    const estimate = n * (Math.min(bottom, s) - Math.max(top, 1) + 1) / s;
    reserve(Math.min(Math.ceil(estimate * SELECT_CANDIDATE_SLACK) + 4 * CHUNK, maxCandidates));
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
    const key = n < SELECT_DIRECT_MAX_N ?
        ctx.kernels.f32_kth_largest_magnitude_in_range__radix(src, n, k, 0, MAX_KEY, hist) :
        bandSelect(ctx, src, n, k, hist);
    ctx.i32(out.ptr, 1)[0] = key;
    return out;
  },
};
