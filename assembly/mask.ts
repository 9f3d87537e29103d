// Mask kernels: one streaming pass each over float32 weights.
//
// Magnitudes are compared as integer keys, `bits & 0x7fffffff`: for finite values and ±Infinity the
// key order is the order of |w|, and every NaN key is above +Infinity's, so NaN ranks as the
// largest magnitude and is never pruned (our NaN policy, shared with the selection kernel).

import {ABS_MASK} from './keys';

// @ts-ignore: decorator
@inline const ONE_BITS: i32 = 0x3f800000;
// @ts-ignore: decorator
@inline const INF_KEY: i32 = 0x7f800000;

/** The key of a threshold: a negative threshold keeps everything, like `|w| >= t` does. */
// @ts-ignore: decorator
@inline function thresholdKey(bits: i32): i32 {
  return bits < 0 && (bits & ABS_MASK) != 0 && (bits & ABS_MASK) <= INF_KEY ? 0 : bits & ABS_MASK;
}

/**
 * dst[i] = |src[i]| >= threshold ? 1 : 0.
 * @param src       float32[n] weights
 * @param n         element count
 * @param threshold address of one float32 (a tfjs scalar's bytes)
 * @param dst       float32[n] output
 */
export function f32_mask_from_threshold__simd128(src: usize, n: i32, threshold: usize, dst: usize): void {
  const tkey = thresholdKey(load<i32>(threshold));
  // Every NaN is kept, whatever its payload and even against a NaN threshold: keys above
  // +Infinity's are NaNs, so the effective threshold key is capped there.
  const ckey = min(tkey, INF_KEY + 1);
  const vt = i32x4.splat(ckey - 1);
  const vabs = i32x4.splat(ABS_MASK);
  const vone = i32x4.splat(ONE_BITS);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 2), q = dst + (<usize>i << 2);
    v128.store(q, v128.and(i32x4.gt_s(v128.and(v128.load(p), vabs), vt), vone));
    v128.store(q, v128.and(i32x4.gt_s(v128.and(v128.load(p, 16), vabs), vt), vone), 16);
    v128.store(q, v128.and(i32x4.gt_s(v128.and(v128.load(p, 32), vabs), vt), vone), 32);
    v128.store(q, v128.and(i32x4.gt_s(v128.and(v128.load(p, 48), vabs), vt), vone), 48);
  }
  for (; i < n; i++) {
    const key = load<i32>(src + (<usize>i << 2)) & ABS_MASK;
    store<f32>(dst + (<usize>i << 2), select<f32>(1, 0, key >= ckey));
  }
}

/**
 * dst[i] = src[i] * mask[i], rounded as tf.mul rounds (so -w * 0 = -0).
 * @param src  float32[n] weights
 * @param mask float32[n] mask
 * @param n    element count
 * @param dst  float32[n] output (may not alias a live tensor)
 */
export function f32_apply_mask__simd128(src: usize, mask: usize, n: i32, dst: usize): void {
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    const p = src + o, m = mask + o, q = dst + o;
    v128.store(q, f32x4.mul(v128.load(p), v128.load(m)));
    v128.store(q, f32x4.mul(v128.load(p, 16), v128.load(m, 16)), 16);
    v128.store(q, f32x4.mul(v128.load(p, 32), v128.load(m, 32)), 32);
    v128.store(q, f32x4.mul(v128.load(p, 48), v128.load(m, 48)), 48);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dst + o, load<f32>(src + o) * load<f32>(mask + o));
  }
}

/**
 * Number of entries that are not ±0 (NaN counts as nonzero).
 * @param src float32[n]
 * @param n   element count
 */
export function f32_count_nonzero__simd128(src: usize, n: i32): i32 {
  const vabs = i32x4.splat(ABS_MASK);
  const vzero = i32x4.splat(0);
  let acc = i32x4.splat(0);
  let i = 0;
  // Lane counts stay below 2^31 because n < 2^31.
  for (; i + 16 <= n; i += 16) {
    const p = src + (<usize>i << 2);
    acc = i32x4.add(acc, i32x4.eq(v128.and(v128.load(p), vabs), vzero));
    acc = i32x4.add(acc, i32x4.eq(v128.and(v128.load(p, 16), vabs), vzero));
    acc = i32x4.add(acc, i32x4.eq(v128.and(v128.load(p, 32), vabs), vzero));
    acc = i32x4.add(acc, i32x4.eq(v128.and(v128.load(p, 48), vabs), vzero));
  }
  // acc holds minus the number of zeros seen so far.
  let zeros = -(i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) +
      i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3));
  for (; i < n; i++) {
    zeros += i32((load<i32>(src + (<usize>i << 2)) & ABS_MASK) == 0);
  }
  return n - zeros;
}
