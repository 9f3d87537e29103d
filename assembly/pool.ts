// Block pooling of |w| over bh x bw blocks (AVG and MAX) and expansion of a block mask back to the
// weight's shape. Blocks are aligned at (0, 0); partial edge blocks pool over their valid cells.
//
// A block row is pooled in two stages: the bh rows are first reduced column by column (SIMD across
// columns, into a caller's scratch row; skipped when bh == 1), then each run of bw reduced columns
// is reduced to one value. For bw = 4, 8, 16 the second stage handles four blocks at once with a
// 4x4 lane transpose, so every lane of the result belongs to one block. For bw = 4 and bh > 1 the
// stages are fused (no scratch round trip) over all but the last cols % 16 columns.
//
// AVG reproduces tfmot's float32 values bit for bit: each column of a block is summed over its
// rows in order and divided by the row count, then the column means are summed in order and
// divided by the column count (DESIGN §3). A NaN in a block makes its AVG NaN.
//
// MAX compares the integer keys `bits & 0x7fffffff` with a signed max (one instruction, and exact:
// the order of the keys is the order of |w|, with every NaN above +Infinity, see keys.ts), so a
// block holding a NaN pools to NaN and is kept. `f32x4.pmax` would be as cheap but can drop a NaN
// (pmax(a, b) is `a < b ? b : a`), and `f32x4.max` costs ~3x in V8.

import {ABS_MASK} from './keys';

// --- 4x4 lane transposes: lanes of a, b, c, d become the lanes of blocks 0..3 ------------------

/** [a0 b0 a1 b1] */
// @ts-ignore: decorator
@inline function zipLo(a: v128, b: v128): v128 { return v128.shuffle<i32>(a, b, 0, 4, 1, 5); }
/** [a2 b2 a3 b3] */
// @ts-ignore: decorator
@inline function zipHi(a: v128, b: v128): v128 { return v128.shuffle<i32>(a, b, 2, 6, 3, 7); }
/** [x01 y01] */
// @ts-ignore: decorator
@inline function halfLo(x: v128, y: v128): v128 { return v128.shuffle<i64>(x, y, 0, 2); }
/** [x23 y23] */
// @ts-ignore: decorator
@inline function halfHi(x: v128, y: v128): v128 { return v128.shuffle<i64>(x, y, 1, 3); }

/**
 * acc + a_k + b_k ... in order: lane i of the result adds, in order, lanes 0..3 of the i-th of
 * (a, b, c, d) to lane i of acc. That is the in-order float32 sum of four consecutive elements of
 * four blocks at once.
 */
// @ts-ignore: decorator
@inline function addTransposed(acc: v128, a: v128, b: v128, c: v128, d: v128): v128 {
  const t0 = zipLo(a, b), t1 = zipHi(a, b), t2 = zipLo(c, d), t3 = zipHi(c, d);
  acc = f32x4.add(acc, halfLo(t0, t2));
  acc = f32x4.add(acc, halfHi(t0, t2));
  acc = f32x4.add(acc, halfLo(t1, t3));
  return f32x4.add(acc, halfHi(t1, t3));
}

/** [max lanes of a, max lanes of b, max lanes of c, max lanes of d], on integer keys. */
// @ts-ignore: decorator
@inline function maxTransposed(a: v128, b: v128, c: v128, d: v128): v128 {
  const x = i32x4.max_s(zipLo(a, b), zipHi(a, b));  // [a02 b02 a13 b13]
  const y = i32x4.max_s(zipLo(c, d), zipHi(c, d));  // [c02 d02 c13 d13]
  return i32x4.max_s(halfLo(x, y), halfHi(x, y));
}

/** Four 1x4 blocks (16 floats at s) to their four means at o. */
// @ts-ignore: decorator
@inline function meanOfFour1x4(s: usize, o: usize, vinv: v128): void {
  const vabs = i32x4.splat(ABS_MASK);
  const acc = addTransposed(f32x4.splat(0), v128.and(v128.load(s), vabs), v128.and(v128.load(s, 16), vabs),
      v128.and(v128.load(s, 32), vabs), v128.and(v128.load(s, 48), vabs));
  v128.store(o, f32x4.mul(acc, vinv));
}

/** Four 1x4 blocks (16 floats at s) to their four maximal magnitudes at o. */
// @ts-ignore: decorator
@inline function maxOfFour1x4(s: usize, o: usize): void {
  const vabs = i32x4.splat(ABS_MASK);
  v128.store(o, maxTransposed(v128.and(v128.load(s), vabs), v128.and(v128.load(s, 16), vabs),
      v128.and(v128.load(s, 32), vabs), v128.and(v128.load(s, 48), vabs)));
}

// --- stage 1: reduce the rows of one block row, column by column --------------------------------
// With `fuse4` (a compile-time constant; bw == 4), each 16 reduced columns go straight through the
// stage-2 step for four 1x4 runs into the output, with the same operations in the same order, and
// the function stops before the last cols % 16 columns (the caller finishes them unfused).

/**
 * t[c] = (|w[r0][c]| + ... + |w[r0+h-1][c]|) / h, summed in row order; or, fused, the output of
 * four blocks per 16 columns. Returns the number of columns done.
 * @param p      address of w[r0][c0]
 * @param h      rows in this block row (>= 2)
 * @param cols   columns to reduce
 * @param stride bytes per row of w
 * @param t      float32[cols] output (fused: float32[cols / 4] block means)
 */
// @ts-ignore: decorator
@inline function columnMeans(p: usize, h: i32, cols: i32, stride: usize, t: usize, fuse4: bool): i32 {
  const vabs = i32x4.splat(ABS_MASK);
  const vh = f32x4.splat(<f32>h);
  let c = 0;
  for (; c + 16 <= cols; c += 16) {
    let q = p + (<usize>c << 2);
    let s0 = v128.and(v128.load(q), vabs), s1 = v128.and(v128.load(q, 16), vabs);
    let s2 = v128.and(v128.load(q, 32), vabs), s3 = v128.and(v128.load(q, 48), vabs);
    for (let r = 1; r < h; r++) {
      q += stride;
      s0 = f32x4.add(s0, v128.and(v128.load(q), vabs));
      s1 = f32x4.add(s1, v128.and(v128.load(q, 16), vabs));
      s2 = f32x4.add(s2, v128.and(v128.load(q, 32), vabs));
      s3 = f32x4.add(s3, v128.and(v128.load(q, 48), vabs));
    }
    s0 = f32x4.div(s0, vh); s1 = f32x4.div(s1, vh); s2 = f32x4.div(s2, vh); s3 = f32x4.div(s3, vh);
    if (fuse4) {
      v128.store(t + <usize>c, f32x4.mul(addTransposed(f32x4.splat(0), s0, s1, s2, s3), f32x4.splat(0.25)));
    } else {
      const o = t + (<usize>c << 2);
      v128.store(o, s0);
      v128.store(o, s1, 16);
      v128.store(o, s2, 32);
      v128.store(o, s3, 48);
    }
  }
  if (fuse4) return c;
  for (; c < cols; c++) {
    let q = p + (<usize>c << 2);
    let s = abs<f32>(load<f32>(q));
    for (let r = 1; r < h; r++) {
      q += stride;
      s += abs<f32>(load<f32>(q));
    }
    store<f32>(t + (<usize>c << 2), s / <f32>h);
  }
  return c;
}

/**
 * t[c] = max over the h rows of the key of w[r][c]; or, fused, the maxima of four blocks per 16
 * columns. Returns the number of columns done.
 * @param p      address of w[r0][c0]
 * @param h      rows in this block row (>= 2)
 * @param cols   columns to reduce
 * @param stride bytes per row of w
 * @param t      int32[cols] output keys, i.e. |w| as float32 bits (fused: [cols / 4] block maxima)
 */
// @ts-ignore: decorator
@inline function columnMaxima(p: usize, h: i32, cols: i32, stride: usize, t: usize, fuse4: bool): i32 {
  const vabs = i32x4.splat(ABS_MASK);
  let c = 0;
  for (; c + 16 <= cols; c += 16) {
    let q = p + (<usize>c << 2);
    let m0 = v128.and(v128.load(q), vabs), m1 = v128.and(v128.load(q, 16), vabs);
    let m2 = v128.and(v128.load(q, 32), vabs), m3 = v128.and(v128.load(q, 48), vabs);
    for (let r = 1; r < h; r++) {
      q += stride;
      m0 = i32x4.max_s(m0, v128.and(v128.load(q), vabs));
      m1 = i32x4.max_s(m1, v128.and(v128.load(q, 16), vabs));
      m2 = i32x4.max_s(m2, v128.and(v128.load(q, 32), vabs));
      m3 = i32x4.max_s(m3, v128.and(v128.load(q, 48), vabs));
    }
    if (fuse4) {
      v128.store(t + <usize>c, maxTransposed(m0, m1, m2, m3));
    } else {
      const o = t + (<usize>c << 2);
      v128.store(o, m0);
      v128.store(o, m1, 16);
      v128.store(o, m2, 32);
      v128.store(o, m3, 48);
    }
  }
  if (fuse4) return c;
  for (; c < cols; c++) {
    let q = p + (<usize>c << 2);
    let m = load<i32>(q) & ABS_MASK;
    for (let r = 1; r < h; r++) {
      q += stride;
      const k = load<i32>(q) & ABS_MASK;
      m = select<i32>(k, m, k > m);
    }
    store<i32>(t + (<usize>c << 2), m);
  }
  return c;
}

// --- stage 2: reduce runs of bw columns -----------------------------------------------------------
// `p` is a row of w (bh == 1) or the stage-1 row; |.| is applied again, which changes nothing on
// stage-1 values (they are >= 0 or NaN).

/**
 * q[j] = (|p[j*bw]| + ... + |p[j*bw + w - 1]|) / w for every block j, w its valid width.
 * @param p    float32[cols]
 * @param cols row length
 * @param bw   block width
 * @param q    float32[ceil(cols / bw)] output
 */
function rowMeans(p: usize, cols: i32, bw: i32, q: usize): void {
  const vabs = i32x4.splat(ABS_MASK);
  const vzero = f32x4.splat(0);
  // The fast paths have bw = 4, 8 or 16: a power of two, whose reciprocal is exact, so x * (1/bw)
  // rounds exactly as x / bw does.
  const vinv = f32x4.splat(<f32>1 / <f32>bw);
  const full = cols / bw;
  let j = 0;
  if (bw == 4) {
    // Sixteen blocks per iteration (four groups of four), then groups of four.
    for (; j + 16 <= full; j += 16) {
      const s = p + (<usize>j << 4), o = q + (<usize>j << 2);
      meanOfFour1x4(s, o, vinv);
      meanOfFour1x4(s + 64, o + 16, vinv);
      meanOfFour1x4(s + 128, o + 32, vinv);
      meanOfFour1x4(s + 192, o + 48, vinv);
    }
    for (; j + 4 <= full; j += 4) meanOfFour1x4(p + (<usize>j << 4), q + (<usize>j << 2), vinv);
  } else if (bw == 8) {
    for (; j + 4 <= full; j += 4) {
      const s = p + (<usize>j << 5);
      let acc = addTransposed(vzero, v128.and(v128.load(s), vabs), v128.and(v128.load(s, 32), vabs),
          v128.and(v128.load(s, 64), vabs), v128.and(v128.load(s, 96), vabs));
      acc = addTransposed(acc, v128.and(v128.load(s, 16), vabs), v128.and(v128.load(s, 48), vabs),
          v128.and(v128.load(s, 80), vabs), v128.and(v128.load(s, 112), vabs));
      v128.store(q + (<usize>j << 2), f32x4.mul(acc, vinv));
    }
  } else if (bw == 16) {
    for (; j + 4 <= full; j += 4) {
      const s = p + (<usize>j << 6);
      let acc = addTransposed(vzero, v128.and(v128.load(s), vabs), v128.and(v128.load(s, 64), vabs),
          v128.and(v128.load(s, 128), vabs), v128.and(v128.load(s, 192), vabs));
      acc = addTransposed(acc, v128.and(v128.load(s, 16), vabs), v128.and(v128.load(s, 80), vabs),
          v128.and(v128.load(s, 144), vabs), v128.and(v128.load(s, 208), vabs));
      acc = addTransposed(acc, v128.and(v128.load(s, 32), vabs), v128.and(v128.load(s, 96), vabs),
          v128.and(v128.load(s, 160), vabs), v128.and(v128.load(s, 224), vabs));
      acc = addTransposed(acc, v128.and(v128.load(s, 48), vabs), v128.and(v128.load(s, 112), vabs),
          v128.and(v128.load(s, 176), vabs), v128.and(v128.load(s, 240), vabs));
      v128.store(q + (<usize>j << 2), f32x4.mul(acc, vinv));
    }
  }
  const blocks = (cols + bw - 1) / bw;
  for (; j < blocks; j++) {
    const c0 = j * bw, c1 = min(c0 + bw, cols);
    let s: f32 = 0;
    for (let c = c0; c < c1; c++) s += abs<f32>(load<f32>(p + (<usize>c << 2)));
    store<f32>(q + (<usize>j << 2), s / <f32>(c1 - c0));
  }
}

/**
 * q[j] = max key over block j's valid columns of p, written as float32 bits (so |w| itself).
 * @param p    float32[cols] weights or int32[cols] stage-1 keys
 * @param cols row length
 * @param bw   block width
 * @param q    float32[ceil(cols / bw)] output
 */
function rowMaxima(p: usize, cols: i32, bw: i32, q: usize): void {
  const vabs = i32x4.splat(ABS_MASK);
  const full = cols / bw;
  let j = 0;
  if (bw == 4) {
    for (; j + 16 <= full; j += 16) {
      const s = p + (<usize>j << 4), o = q + (<usize>j << 2);
      maxOfFour1x4(s, o);
      maxOfFour1x4(s + 64, o + 16);
      maxOfFour1x4(s + 128, o + 32);
      maxOfFour1x4(s + 192, o + 48);
    }
    for (; j + 4 <= full; j += 4) maxOfFour1x4(p + (<usize>j << 4), q + (<usize>j << 2));
  } else if (bw == 8) {
    for (; j + 4 <= full; j += 4) {
      const s = p + (<usize>j << 5);
      const b0 = i32x4.max_s(v128.and(v128.load(s), vabs), v128.and(v128.load(s, 16), vabs));
      const b1 = i32x4.max_s(v128.and(v128.load(s, 32), vabs), v128.and(v128.load(s, 48), vabs));
      const b2 = i32x4.max_s(v128.and(v128.load(s, 64), vabs), v128.and(v128.load(s, 80), vabs));
      const b3 = i32x4.max_s(v128.and(v128.load(s, 96), vabs), v128.and(v128.load(s, 112), vabs));
      v128.store(q + (<usize>j << 2), maxTransposed(b0, b1, b2, b3));
    }
  } else if (bw == 16) {
    for (; j + 4 <= full; j += 4) {
      const s = p + (<usize>j << 6);
      const b0 = i32x4.max_s(
          i32x4.max_s(v128.and(v128.load(s), vabs), v128.and(v128.load(s, 16), vabs)),
          i32x4.max_s(v128.and(v128.load(s, 32), vabs), v128.and(v128.load(s, 48), vabs)));
      const b1 = i32x4.max_s(
          i32x4.max_s(v128.and(v128.load(s, 64), vabs), v128.and(v128.load(s, 80), vabs)),
          i32x4.max_s(v128.and(v128.load(s, 96), vabs), v128.and(v128.load(s, 112), vabs)));
      const b2 = i32x4.max_s(
          i32x4.max_s(v128.and(v128.load(s, 128), vabs), v128.and(v128.load(s, 144), vabs)),
          i32x4.max_s(v128.and(v128.load(s, 160), vabs), v128.and(v128.load(s, 176), vabs)));
      const b3 = i32x4.max_s(
          i32x4.max_s(v128.and(v128.load(s, 192), vabs), v128.and(v128.load(s, 208), vabs)),
          i32x4.max_s(v128.and(v128.load(s, 224), vabs), v128.and(v128.load(s, 240), vabs)));
      v128.store(q + (<usize>j << 2), maxTransposed(b0, b1, b2, b3));
    }
  }
  const blocks = (cols + bw - 1) / bw;
  for (; j < blocks; j++) {
    const c0 = j * bw, c1 = min(c0 + bw, cols);
    let m = 0;
    for (let c = c0; c < c1; c++) {
      const k = load<i32>(p + (<usize>c << 2)) & ABS_MASK;
      m = select<i32>(k, m, k > m);
    }
    store<i32>(q + (<usize>j << 2), m);
  }
}

// --- exports ---------------------------------------------------------------------------------------

/** Both poolings, one body: `isMax` is a compile-time constant at each call, so each export inlines its own branch. */
// @ts-ignore: decorator
@inline function blockPool(src: usize, rows: i32, cols: i32, bh: i32, bw: i32, scratch: usize, dst: usize,
                           isMax: bool): void {
  const outCols = (cols + bw - 1) / bw;
  const stride = <usize>cols << 2;
  for (let r0 = 0, br = 0; r0 < rows; r0 += bh, br++) {
    const h = min(bh, rows - r0);
    const row = src + (<usize>r0 * <usize>cols << 2);
    const out = dst + (<usize>br * <usize>outCols << 2);
    if (h == 1) {
      if (isMax) rowMaxima(row, cols, bw, out);
      else rowMeans(row, cols, bw, out);
      continue;
    }
    // Fused 4-wide blocks first, then the remaining columns (all of them unless bw == 4) in two stages.
    const done = bw != 4 ? 0 : isMax ? columnMaxima(row, h, cols, stride, out, true) :
        columnMeans(row, h, cols, stride, out, true);
    if (done < cols) {
      const rest = row + (<usize>done << 2), restOut = out + (<usize>(done / bw) << 2);
      if (isMax) {
        columnMaxima(rest, h, cols - done, stride, scratch, false);
        rowMaxima(scratch, cols - done, bw, restOut);
      } else {
        columnMeans(rest, h, cols - done, stride, scratch, false);
        rowMeans(scratch, cols - done, bw, restOut);
      }
    }
  }
}

/**
 * AVG block pooling of |w|.
 * @param src     float32[rows * cols] weights, row-major
 * @param rows    rows of w
 * @param cols    columns of w
 * @param bh      block height (>= 1)
 * @param bw      block width (>= 1)
 * @param scratch float32[cols], 16-byte aligned (unused when bh == 1)
 * @param dst     float32[ceil(rows / bh) * ceil(cols / bw)] output
 */
export function f32_block_pool_avg__simd128(src: usize, rows: i32, cols: i32, bh: i32, bw: i32,
                                            scratch: usize, dst: usize): void {
  blockPool(src, rows, cols, bh, bw, scratch, dst, false);
}

/**
 * MAX block pooling of |w| (a block holding NaN pools to NaN).
 * Arguments as for `f32_block_pool_avg__simd128`.
 */
export function f32_block_pool_max__simd128(src: usize, rows: i32, cols: i32, bh: i32, bw: i32,
                                            scratch: usize, dst: usize): void {
  blockPool(src, rows, cols, bh, bw, scratch, dst, true);
}

/**
 * dst[r][c] = mask[r / bh][c / bw] for r < rows, c < cols (each block value repeated over its
 * cells, the grid cropped to the weight's shape).
 * @param mask float32[ceil(rows / bh) * ceil(cols / bw)] block values, row-major
 * @param rows rows of the output
 * @param cols columns of the output
 * @param bh   block height (>= 1)
 * @param bw   block width (>= 1)
 * @param dst  float32[rows * cols] output
 */
export function f32_expand_block_mask__simd128(mask: usize, rows: i32, cols: i32, bh: i32, bw: i32,
                                               dst: usize): void {
  const maskCols = (cols + bw - 1) / bw;
  const rowBytes = <usize>cols << 2;
  for (let r0 = 0, br = 0; r0 < rows; r0 += bh, br++) {
    // Expand the block row into its first output row ...
    const first = dst + <usize>r0 * rowBytes;
    const m = mask + (<usize>br * <usize>maskCols << 2);
    for (let j = 0; j < maskCols; j++) {
      const bits = load<i32>(m + (<usize>j << 2));
      const v = i32x4.splat(bits);
      const c1 = min(j * bw + bw, cols);
      let c = j * bw;
      for (; c + 4 <= c1; c += 4) v128.store(first + (<usize>c << 2), v);
      for (; c < c1; c++) store<i32>(first + (<usize>c << 2), bits);
    }
    // ... and copy that row down over the block's other rows.
    const h = min(bh, rows - r0);
    for (let r = 1; r < h; r++) {
      const to = first + <usize>r * rowBytes;
      let b: usize = 0;
      for (; b + 64 <= rowBytes; b += 64) {
        v128.store(to + b, v128.load(first + b));
        v128.store(to + b, v128.load(first + b, 16), 16);
        v128.store(to + b, v128.load(first + b, 32), 32);
        v128.store(to + b, v128.load(first + b, 48), 48);
      }
      for (; b < rowBytes; b += 4) store<i32>(to + b, load<i32>(first + b));
    }
  }
}
