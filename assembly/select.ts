// Selection kernels: the exact k-th largest magnitude of float32 weights without sorting them.
//
// Magnitudes are integer keys, `bits & ABS_MASK` (see keys.ts): signed i32 compares on keys are
// exact (keys < 2^31) and order them as |w| orders finite values and ±Infinity; NaN keys are above
// +Infinity's, so NaN ranks as the largest magnitude. The TypeScript side (src/kernels/kth_largest_magnitude.ts)
// runs the Floyd–Rivest style plan of perf-anchors §4.5: sample keys (f32_sample_keys), select a
// band of ranks around the target in the sample (i32_kth_largest_in_range__radix), make ONE pass
// over all n that counts keys above the band and compacts keys inside it (f32_magnitude_band),
// then select among the candidates; the radix selection is also the exact fallback when a band
// holds too many keys (f32_kth_largest_magnitude_in_range__radix, read-only, no scratch beyond the
// histogram) and the whole method for small n.

import {ABS_MASK} from './keys';

/** Radix digit width: 2^11 counters (8 KiB) stay in L1 while a pass streams the keys. */
// @ts-ignore: decorator
@inline const DIGIT_BITS: i32 = 11;
/** Keys per sample chunk: one 64-byte cache line. */
// @ts-ignore: decorator
@inline const CHUNK: i32 = 16;

/**
 * Copies `chunks` runs of 16 consecutive keys, spread evenly from the first to the last 16 keys of
 * `src`, into `dst` (16 * chunks int32). Contiguous runs cost one cache line each.
 * @param src    float32[n] weights, n >= 16
 * @param n      element count
 * @param chunks number of runs, >= 2
 * @param dst    int32[16 * chunks] keys out
 */
export function f32_sample_keys__simd128(src: usize, n: i32, chunks: i32, dst: usize): void {
  const vabs = i32x4.splat(ABS_MASK);
  const span = <i64>(n - CHUNK);
  const last = <i64>(chunks - 1);
  for (let j = 0; j < chunks; j++) {
    const p = src + (<usize>((<i64>j * span) / last) << 2);
    const q = dst + (<usize>(j * CHUNK) << 2);
    v128.store(q, v128.and(v128.load(p), vabs));
    v128.store(q, v128.and(v128.load(p, 16), vabs), 16);
    v128.store(q, v128.and(v128.load(p, 32), vabs), 32);
    v128.store(q, v128.and(v128.load(p, 48), vabs), 48);
  }
}

/** Stores the four lanes of `keys` at dst[c..c+4) and advances c past the lanes set in `inBand`. */
// @ts-ignore: decorator
@inline function compact4(dst: usize, c: i32, keys: v128, inBand: v128): i32 {
  store<i32>(dst + (<usize>c << 2), i32x4.extract_lane(keys, 0));
  c -= i32x4.extract_lane(inBand, 0);
  store<i32>(dst + (<usize>c << 2), i32x4.extract_lane(keys, 1));
  c -= i32x4.extract_lane(inBand, 1);
  store<i32>(dst + (<usize>c << 2), i32x4.extract_lane(keys, 2));
  c -= i32x4.extract_lane(inBand, 2);
  store<i32>(dst + (<usize>c << 2), i32x4.extract_lane(keys, 3));
  return c - i32x4.extract_lane(inBand, 3);
}

/**
 * One pass over all weights: counts keys above `hi` and compacts keys in [lo, hi] into `dst`.
 * Groups of 16 keys with no candidate cost two compares per vector and one `any_true`.
 * Returns the exact number of keys in [lo, hi]; `dst` holds all of them only when that number is
 * at most `cap - 16` (the compaction writes whole groups while 16 slots are left).
 * @param src      float32[n] weights
 * @param n        element count
 * @param lo       lowest key of the band, >= 0
 * @param hi       highest key of the band, lo <= hi <= 0x7fffffff
 * @param dst      int32[cap] candidate keys out
 * @param cap      capacity of dst in keys
 * @param aboveOut address of one int32: the number of keys above hi
 */
export function f32_magnitude_band__simd128(src: usize, n: i32, lo: i32, hi: i32, dst: usize, cap: i32,
                                             aboveOut: usize): i32 {
  const vabs = i32x4.splat(ABS_MASK);
  const vlo = i32x4.splat(lo);
  const vhi = i32x4.splat(hi);
  const vwidth = i32x4.splat(hi - lo);
  const room = cap - CHUNK;
  // Lanes count down (true lanes are -1); each lane sees at most n / 4 keys.
  let above = i32x4.splat(0);
  let c = 0;
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 2);
    const k0 = v128.and(v128.load(p), vabs);
    const k1 = v128.and(v128.load(p, 16), vabs);
    const k2 = v128.and(v128.load(p, 32), vabs);
    const k3 = v128.and(v128.load(p, 48), vabs);
    above = i32x4.add(above, i32x4.add(i32x4.add(i32x4.gt_s(k0, vhi), i32x4.gt_s(k1, vhi)),
                                       i32x4.add(i32x4.gt_s(k2, vhi), i32x4.gt_s(k3, vhi))));
    // key in [lo, hi]  <=>  (key - lo) <= (hi - lo) as unsigned.
    const m0 = i32x4.le_u(i32x4.sub(k0, vlo), vwidth);
    const m1 = i32x4.le_u(i32x4.sub(k1, vlo), vwidth);
    const m2 = i32x4.le_u(i32x4.sub(k2, vlo), vwidth);
    const m3 = i32x4.le_u(i32x4.sub(k3, vlo), vwidth);
    if (v128.any_true(v128.or(v128.or(m0, m1), v128.or(m2, m3)))) {
      if (c <= room) {
        c = compact4(dst, c, k0, m0);
        c = compact4(dst, c, k1, m1);
        c = compact4(dst, c, k2, m2);
        c = compact4(dst, c, k3, m3);
      } else {
        c += popcnt<i32>(i32x4.bitmask(m0)) + popcnt<i32>(i32x4.bitmask(m1)) +
             popcnt<i32>(i32x4.bitmask(m2)) + popcnt<i32>(i32x4.bitmask(m3));
      }
    }
  }
  let aboveCount = -(i32x4.extract_lane(above, 0) + i32x4.extract_lane(above, 1) +
                     i32x4.extract_lane(above, 2) + i32x4.extract_lane(above, 3));
  for (; i < n; i++) {
    const key = load<i32>(src + (<usize>i << 2)) & ABS_MASK;
    aboveCount += i32(key > hi);
    if (c < cap) store<i32>(dst + (<usize>c << 2), key);
    c += i32(<u32>(key - lo) <= <u32>(hi - lo));
  }
  store<i32>(aboveOut, aboveCount);
  return c;
}

/**
 * Radix selection of the k-th largest key among the keys of src[0..m) that lie in [lo, hi], by
 * 11-bit digits of (key - lo), most significant first: each pass histograms the keys still in range,
 * finds the digit holding the target and narrows [lo, hi] to it, so a band of width w takes
 * ceil(log2(w + 1) / 11) passes (at most 3). With `compact`, each pass also moves the keys left in
 * range to the front of src, so later passes read only those (src must be scratch).
 */
// @ts-ignore: decorator
@inline function radixSelect(src: usize, m: i32, k: i32, lo: i32, hi: i32, hist: usize, compact: bool): i32 {
  let width = <u32>(hi - lo);
  while (width != 0) {
    const bits = 32 - <i32>clz<u32>(width);
    const shift = bits > DIGIT_BITS ? bits - DIGIT_BITS : 0;
    const buckets = <i32>(width >>> shift) + 1;
    const zero = i32x4.splat(0);
    for (let b = 0; b < buckets + 1; b += 4) v128.store(hist + (<usize>b << 2), zero);
    for (let i = 0; i < m; i++) {
      const d = <u32>((load<i32>(src + (<usize>i << 2)) & ABS_MASK) - lo);
      const slot = select<i32>(<i32>(d >>> shift), buckets, d <= width);
      const at = hist + (<usize>slot << 2);
      store<i32>(at, load<i32>(at) + 1);
    }
    // The digit holding the target, counting down from the largest; the caller guarantees that
    // at least k keys are in range, so the scan stops at a bucket.
    let b = buckets - 1;
    let h = load<i32>(hist + (<usize>b << 2));
    while (h < k) {
      k -= h;
      b--;
      h = load<i32>(hist + (<usize>b << 2));
    }
    const base = <u32>b << shift;
    lo += <i32>base;
    width = min<u32>(width - base, (<u32>1 << shift) - 1);
    if (compact) {
      let j = 0;
      for (let i = 0; i < m; i++) {
        const key = load<i32>(src + (<usize>i << 2));
        store<i32>(src + (<usize>j << 2), key);
        j += i32(<u32>(key - lo) <= width);
      }
      m = j;
    }
  }
  return lo;
}

/**
 * The k-th largest of the int32 keys in keys[0..m) that lie in [lo, hi] (at least k of them must),
 * reordering `keys` in place.
 * @param keys int32[m] keys (scratch; overwritten)
 * @param m    key count
 * @param k    rank from the top, 1-based
 * @param lo   lowest key counted, >= 0
 * @param hi   highest key counted, lo <= hi <= 0x7fffffff
 * @param hist int32[2052] scratch histogram (16-byte aligned): 2^11 digits, a sink, padding
 */
export function i32_kth_largest_in_range__radix(keys: usize, m: i32, k: i32, lo: i32, hi: i32, hist: usize): i32 {
  return radixSelect(keys, m, k, lo, hi, hist, true);
}

/**
 * The k-th largest key of the weights whose keys lie in [lo, hi] (at least k of them must), reading
 * `src` only: the exact fallback of the band method, and the whole method for small n.
 * @param src  float32[n] weights (never written)
 * @param n    element count
 * @param k    rank from the top, 1-based
 * @param lo   lowest key counted, >= 0
 * @param hi   highest key counted, lo <= hi <= 0x7fffffff
 * @param hist int32[2052] scratch histogram (16-byte aligned): 2^11 digits, a sink, padding
 */
export function f32_kth_largest_magnitude_in_range__radix(src: usize, n: i32, k: i32, lo: i32, hi: i32,
                                                          hist: usize): i32 {
  return radixSelect(src, n, k, lo, hi, hist, false);
}

