// M:N masks along input channels (tfmot's `sparsity_m_by_n`): in every group of n consecutive
// input channels, the n - m largest |w| are kept. The weight is read in its own layout,
// [spatial, in, out] (rank 2 [in, out] has spatial = 1; rank 4 [h, w, in, out] has spatial = h*w),
// so tfmot's rows of [out*h*w, in] are strided columns here, and four neighbouring outputs are four
// lanes: the selection runs on four rows at once with no transpose.
//
// Selection by rank: element j of a group is kept iff fewer than n - m elements outrank it, where
// k outranks j when |w_k| > |w_j|, or |w_k| == |w_j| and k < j. That is tf.math.top_k's order
// (the lower index wins a tie). Magnitudes are the integer keys `bits & 0x7fffffff` (NaN above
// +Infinity: a NaN weight is kept first, our NaN policy). tfmot zero-pads each row to a multiple
// of n; a padding zero outranks no real weight (it is never larger, and it has the higher index),
// so a short last group keeps its n - m largest real entries, or all of them if it has no more.

import {ABS_MASK} from './keys';

/**
 * A full group of four (n = 4, the common 2:4 case) for four outputs: each of the six pairs is
 * compared once; `ge(a, b)` is `not gt(b, a)`.
 * @param p      address of the group's first weight for these four outputs
 * @param stride bytes between input channels
 * @param keep   weights kept per group
 * @param q      the mask at the same place
 */
// @ts-ignore: decorator
@inline function keepOfFour(p: usize, stride: usize, keep: i32, q: usize): void {
  const vabs = i32x4.splat(ABS_MASK);
  const k0 = v128.and(v128.load(p), vabs);
  const k1 = v128.and(v128.load(p + stride), vabs);
  const k2 = v128.and(v128.load(p + stride * 2), vabs);
  const k3 = v128.and(v128.load(p + stride * 3), vabs);
  // cAB: lanes where B outranks A (B > A; B >= A when B comes first).
  const c01 = i32x4.gt_s(k1, k0), c02 = i32x4.gt_s(k2, k0), c03 = i32x4.gt_s(k3, k0);
  const c12 = i32x4.gt_s(k2, k1), c13 = i32x4.gt_s(k3, k1), c23 = i32x4.gt_s(k3, k2);
  // Ranks as minus counts (a true compare is -1): rank1 counts element 0 unless 1 beats it, etc.
  const r0 = i32x4.add(i32x4.add(c01, c02), c03);
  const r1 = i32x4.add(i32x4.add(v128.not(c01), c12), c13);
  const r2 = i32x4.add(i32x4.add(v128.not(c02), v128.not(c12)), c23);
  const r3 = i32x4.add(i32x4.add(v128.not(c03), v128.not(c13)), v128.not(c23));
  const vminusKeep = i32x4.splat(-keep);
  const vone = f32x4.splat(1);
  v128.store(q, v128.and(i32x4.gt_s(r0, vminusKeep), vone));
  v128.store(q + stride, v128.and(i32x4.gt_s(r1, vminusKeep), vone));
  v128.store(q + stride * 2, v128.and(i32x4.gt_s(r2, vminusKeep), vone));
  v128.store(q + stride * 3, v128.and(i32x4.gt_s(r3, vminusKeep), vone));
}

/**
 * The M:N mask: 1 for the n - m weights kept in each group of n input channels, 0 elsewhere.
 * @param src     float32[spatial * cin * cout] weights, layout [spatial, in, out]
 * @param spatial product of the kernel's spatial dims (1 for a rank-2 weight)
 * @param cin     input channels (the grouped axis)
 * @param cout    output channels (the contiguous axis)
 * @param m       zeros per group (0 <= m < n)
 * @param n       group size (>= 1)
 * @param dst     float32[spatial * cin * cout] output mask, same layout
 */
export function f32_m_by_n_mask__simd128(src: usize, spatial: i32, cin: i32, cout: i32, m: i32, n: i32,
                                         dst: usize): void {
  const keep = n - m;
  const stride = <usize>cout << 2;  // bytes between neighbouring input channels
  const vabs = i32x4.splat(ABS_MASK);
  const vone = f32x4.splat(1);
  const vminusKeep = i32x4.splat(-keep);
  for (let s = 0; s < spatial; s++) {
    const base = <usize>s * <usize>cin * stride;
    for (let g0 = 0; g0 < cin; g0 += n) {
      const g = min(n, cin - g0);
      const p = src + base + <usize>g0 * stride, q = dst + base + <usize>g0 * stride;
      if (g <= keep) {
        // The whole (short) group survives.
        for (let j = 0; j < g; j++) {
          const row = q + <usize>j * stride;
          let o = 0;
          for (; o + 4 <= cout; o += 4) v128.store(row + (<usize>o << 2), vone);
          for (; o < cout; o++) store<f32>(row + (<usize>o << 2), 1);
        }
        continue;
      }
      let o = 0;
      if (g == 4) {
        for (; o + 4 <= cout; o += 4) keepOfFour(p + (<usize>o << 2), stride, keep, q + (<usize>o << 2));
      }
      for (; o + 4 <= cout; o += 4) {
        const at = <usize>o << 2;
        for (let j = 0; j < g; j++) {
          const kj = v128.and(v128.load(p + <usize>j * stride + at), vabs);
          // minusRank accumulates -1 (a true compare) per element that outranks j.
          let minusRank = i32x4.splat(0);
          for (let k = 0; k < j; k++) {
            minusRank = i32x4.add(minusRank, i32x4.ge_s(v128.and(v128.load(p + <usize>k * stride + at), vabs), kj));
          }
          for (let k = j + 1; k < g; k++) {
            minusRank = i32x4.add(minusRank, i32x4.gt_s(v128.and(v128.load(p + <usize>k * stride + at), vabs), kj));
          }
          v128.store(q + <usize>j * stride + at, v128.and(i32x4.gt_s(minusRank, vminusKeep), vone));
        }
      }
      for (; o < cout; o++) {
        const at = <usize>o << 2;
        for (let j = 0; j < g; j++) {
          const kj = load<i32>(p + <usize>j * stride + at) & ABS_MASK;
          let rank = 0;
          for (let k = 0; k < j; k++) rank += i32((load<i32>(p + <usize>k * stride + at) & ABS_MASK) >= kj);
          for (let k = j + 1; k < g; k++) rank += i32((load<i32>(p + <usize>k * stride + at) & ABS_MASK) > kj);
          store<f32>(q + <usize>j * stride + at, select<f32>(1, 0, rank < keep));
        }
      }
    }
  }
}
