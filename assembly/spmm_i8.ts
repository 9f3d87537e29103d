// Block-sparse int8 x int8 matmul with i32 accumulation (perf-anchors §3, "int8×int8 in a 1x16-block
// SpMM"): Y[M, N] = (Xq[M, K] · Wq) · sw[n] · sx[m] (+ bias), optional relu.
//
// Same strip layout as spmm_f32.ts, with two changes:
// - the strips of a column block come in PAIRS (a zero strip pads an odd count), and a pair's
//   weights are interleaved byte by byte: q(ka, 0), q(kb, 0), q(ka, 1), q(kb, 1), ... Sign-extending
//   them to i16 gives lanes (q(ka, j), q(kb, j)) that one `i32x4.dot_i16x8_s` against the splat
//   pair (xq[ka], xq[kb]) turns into 4 outputs: 4 dots per 32 MACs for a 16-wide pair.
// - activations are quantized per row by `i8_quantize_rows__simd128` into two i32 tables,
//   lo[k] = u16(q[k]) and hi[k] = q[k] << 16, so the splat pair (q[ka], q[kb]) is two
//   `load32_splat`s and an `or` (no scalar shuffling); rowoff[s] is k·4, as in spmm_f32.ts, and
//   indexes both tables. Measured at 1x1024x1024, 90 %: 1.25x faster than building the pair from
//   i16 loads in scalar registers.
import {storeTail} from './spmm_f32';

/** The splat pair (q[ka], q[kb]) of the strip pair at `p` (two rowoff entries), from a row's tables. */
// @ts-ignore: decorator
@inline function pairSplat(lo: usize, hi: usize, p: usize): v128 {
  return v128.or(v128.load32_splat(lo + <usize>load<i32>(p)), v128.load32_splat(hi + <usize>load<i32>(p, 4)));
}

// @ts-ignore: decorator
@inline function pairSplatScalar(lo: usize, hi: usize, p: usize): v128 {
  return i32x4.splat(load<i32>(lo + <usize>load<i32>(p)) | load<i32>(hi + <usize>load<i32>(p, 4)));
}

// @ts-ignore: decorator
@inline function scaleStore(yrow: usize, n0: i32, nv: i32, V: i32, sw: usize, sx: f32, bias: usize, relu: bool,
    tmp: usize, a0: v128, a1: v128, a2: v128, a3: v128): void {
  const col = <usize>n0 << 2;
  const vsx = f32x4.splat(sx);
  // y = f32(acc) · sw[n] · sx, in that order in both branches.
  if (nv == V << 2) {
    const zero = f32x4.splat(0);
    let r0 = f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(a0), v128.load(sw + col)), vsx);
    if (bias != 0) r0 = f32x4.add(r0, v128.load(bias + col));
    if (relu) r0 = f32x4.pmax(r0, zero);
    v128.store(yrow + col, r0);
    if (V >= 2) {
      let r1 = f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(a1), v128.load(sw + col, 16)), vsx);
      if (bias != 0) r1 = f32x4.add(r1, v128.load(bias + col, 16));
      if (relu) r1 = f32x4.pmax(r1, zero);
      v128.store(yrow + col, r1, 16);
    }
    if (V >= 4) {
      let r2 = f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(a2), v128.load(sw + col, 32)), vsx);
      let r3 = f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(a3), v128.load(sw + col, 48)), vsx);
      if (bias != 0) {
        r2 = f32x4.add(r2, v128.load(bias + col, 32));
        r3 = f32x4.add(r3, v128.load(bias + col, 48));
      }
      if (relu) {
        r2 = f32x4.pmax(r2, zero);
        r3 = f32x4.pmax(r3, zero);
      }
      v128.store(yrow + col, r2, 32);
      v128.store(yrow + col, r3, 48);
    }
  } else {
    v128.store(tmp, f32x4.convert_i32x4_s(a0));
    if (V >= 2) v128.store(tmp, f32x4.convert_i32x4_s(a1), 16);
    if (V >= 4) {
      v128.store(tmp, f32x4.convert_i32x4_s(a2), 32);
      v128.store(tmp, f32x4.convert_i32x4_s(a3), 48);
    }
    for (let t = 0; t < nv; t++) {
      const o = <usize>t << 2;
      store<f32>(tmp + o, load<f32>(tmp + o) * load<f32>(sw + col + o) * sx);
    }
    storeTail(yrow + col, tmp, nv, bias != 0 ? bias + col : 0, relu);
  }
}

// Pairs of rows (m even), column block outer so that a block's weights stay in L1 across rows.
// @ts-ignore: decorator
@inline function spmmI8Rows2(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize, vals: usize,
    sw: usize, n: i32, bias: usize, relu: bool, y: usize, tmp: usize, V: i32): void {
  const W = V << 2;
  const ncb = (n + W - 1) / W;
  const half = <usize>k << 2, xstride = half << 1, ystride = <usize>n << 2, pstride = <usize>W << 1;
  const zero = i32x4.splat(0);
    for (let cb = 0; cb < ncb; cb++) {
    const n0 = cb * W, nv = min(W, n - n0);
    const s0 = load<i32>(colptr + (<usize>cb << 2));
    // Pointers step through a column block's strip pairs: V8 does not strength-reduce s·stride.
    const p0 = rowoff + (<usize>s0 << 2), pEnd = rowoff + (<usize>load<i32>(colptr + (<usize>cb << 2), 4) << 2);
    const w0 = vals + <usize>(s0 >> 1) * pstride;
    for (let i = 0; i < m; i += 2) {
      const xa = xq + <usize>i * xstride, xb = xa + xstride;
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      let b0 = zero, b1 = zero, b2 = zero, b3 = zero;
      for (let p = p0, w = w0; p < pEnd; p += 8, w += pstride) {
        const pa = pairSplatScalar(xa, xa + half, p), pb = pairSplatScalar(xb, xb + half, p);
        // v128.load8x8_s sign-extends 8 weights to i16 in the load (one x86 pmovsxbw).
        const v0 = v128.load8x8_s(w);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v0, pa));
        b0 = i32x4.add(b0, i32x4.dot_i16x8_s(v0, pb));
        if (V >= 2) {
          const v1 = v128.load8x8_s(w, 8);
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v1, pa));
          b1 = i32x4.add(b1, i32x4.dot_i16x8_s(v1, pb));
        }
        if (V >= 4) {
          const v2 = v128.load8x8_s(w, 16), v3 = v128.load8x8_s(w, 24);
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v2, pa));
          b2 = i32x4.add(b2, i32x4.dot_i16x8_s(v2, pb));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v3, pa));
          b3 = i32x4.add(b3, i32x4.dot_i16x8_s(v3, pb));
        }
      }
      const ya = y + <usize>i * ystride;
      scaleStore(ya, n0, nv, V, sw, load<f32>(sx + (<usize>i << 2)), bias, relu, tmp, a0, a1, a2, a3);
      scaleStore(ya + ystride, n0, nv, V, sw, load<f32>(sx + (<usize>i << 2), 4), bias, relu, tmp, b0, b1, b2, b3);
    }
  }
}

// One row (batch 1, and the odd last row): its own export, so that V8 allocates registers for this
// loop alone (inside the two-row kernel it spilled and recomputed addresses: 10 % slower).
// @ts-ignore: decorator
@inline function spmmI8Row(xq: usize, sx: usize, k: i32, colptr: usize, rowoff: usize, vals: usize,
    sw: usize, n: i32, bias: usize, relu: bool, y: usize, tmp: usize, V: i32): void {
  const W = V << 2;
  const ncb = (n + W - 1) / W;
  const xh = xq + (<usize>k << 2), pstride = <usize>W << 1;
  const zero = i32x4.splat(0);
  const rsx = load<f32>(sx);
  let p = rowoff, w = vals;
  for (let cb = 0; cb < ncb; cb++) {
    const pEnd = rowoff + (<usize>load<i32>(colptr + (<usize>cb << 2), 4) << 2);
    let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    // Column blocks are consecutive in rowoff and vals: p and w run on from the previous block.
    for (; p < pEnd; p += 8, w += pstride) {
      const pa = pairSplat(xq, xh, p);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(w), pa));
      if (V >= 2) a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load8x8_s(w, 8), pa));
      if (V >= 4) {
        a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load8x8_s(w, 16), pa));
        a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load8x8_s(w, 24), pa));
      }
    }
    const n0 = cb * W;
    scaleStore(y, n0, min(W, n - n0), V, sw, rsx, bias, relu, tmp, a0, a1, a2, a3);
  }
}

/**
 * Block-sparse int8 x int8 matmul for strips 16 wide, 2x16 tile, for an even number of rows (an odd
 * last row goes to `i8_spmm_1x16__simd128`).
 * @param xq     i32[m·2k] quantized activation tables per row (lo then hi), from
 *               `i8_quantize_rows__simd128`
 * @param sx     float32[m] activation scale per row
 * @param m      rows, even
 * @param k      columns of x
 * @param colptr int32[ceil(n/16) + 1] strip ranges per column block (even counts)
 * @param rowoff int32[strips] k·4 per strip
 * @param vals   int8[strips·16] pair-interleaved weights
 * @param sw     float32[n] weight scale per output channel
 * @param n      columns of W and y
 * @param bias   float32[n] or 0 for none
 * @param relu   1 to apply relu
 * @param y      float32[m·n] output
 * @param tmp    64 bytes of 16-byte-aligned scratch
 */
export function i8_spmm_2x16__simd128(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmI8Rows2(xq, sx, m, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 4);
}

/** As `i8_spmm_2x16__simd128` for strips 8 wide. */
export function i8_spmm_2x8__simd128(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmI8Rows2(xq, sx, m, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 2);
}

/** As `i8_spmm_2x16__simd128` for strips 4 wide. */
export function i8_spmm_2x4__simd128(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmI8Rows2(xq, sx, m, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 1);
}

/**
 * As `i8_spmm_2x16__simd128` for one row: `xq`, `sx` and `y` point at that row's tables, scale and
 * outputs.
 */
export function i8_spmm_1x16__simd128(xq: usize, sx: usize, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmI8Row(xq, sx, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 4);
}

/** As `i8_spmm_1x16__simd128` for strips 8 wide. */
export function i8_spmm_1x8__simd128(xq: usize, sx: usize, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmI8Row(xq, sx, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 2);
}

/** As `i8_spmm_1x16__simd128` for strips 4 wide. */
export function i8_spmm_1x4__simd128(xq: usize, sx: usize, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmI8Row(xq, sx, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 1);
}

/**
 * Block-sparse int8 x int8 matmul for strips of any width `bw`: scalar, one row at a time. Same
 * layout and arguments as `i8_spmm_2x16__simd128`, plus `bw`.
 */
export function i8_spmm_1xw__scalar(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, bw: i32, n: i32, bias: usize, relu: i32, y: usize): void {
  const ncb = (n + bw - 1) / bw;
  const xstride = <usize>k << 3, ystride = <usize>n << 2, pstride = <usize>bw << 1;
  for (let cb = 0; cb < ncb; cb++) {
    const s0 = load<i32>(colptr + (<usize>cb << 2));
    const s1 = load<i32>(colptr + (<usize>cb << 2), 4);
    const n0 = cb * bw;
    const nv = min(bw, n - n0);
    for (let i = 0; i < m; i++) {
      const xa = xq + <usize>i * xstride;
      const rsx = load<f32>(sx + (<usize>i << 2));
      for (let j = 0; j < nv; j++) {
        let acc: i32 = 0;
        for (let s = s0; s < s1; s += 2) {
          const w = vals + <usize>(s >> 1) * pstride + (<usize>j << 1);
          const p = rowoff + (<usize>s << 2);
          // The low half of a lo-table entry is q[k] as i16 (little-endian).
          acc += <i32>load<i16>(xa + <usize>load<i32>(p)) * <i32>load<i8>(w) +
              <i32>load<i16>(xa + <usize>load<i32>(p, 4)) * <i32>load<i8>(w, 1);
        }
        const col = <usize>(n0 + j) << 2;
        let v = <f32>acc * load<f32>(sw + col) * rsx;
        if (bias != 0) v += load<f32>(bias + col);
        if (relu != 0) v = select<f32>(0, v, v < 0);
        store<f32>(y + <usize>i * ystride + col, v);
      }
    }
  }
}

/**
 * Quantizes each activation row symmetrically to int8 values q:
 * sx[i] = max|x[i, :]| / 127, q[i, j] = round(x[i, j] · 127 / max|x[i, :]|) (ties to even),
 * written as the row's two pair tables (see the top of this file): lo[j] = u16(q[i, j]) at
 * xq + 8k·i, hi[j] = q[i, j] << 16 right after it.
 * A row of zeros (or of magnitudes below 3.8e-37) gets sx = 0 and q = 0; a row holding NaN or
 * ±Infinity gets sx = NaN, so its outputs are NaN rather than silently wrong.
 * @param x  float32[m·k]
 * @param m  rows
 * @param k  columns
 * @param xq i32[m·2k] output
 * @param sx float32[m] output
 */
export function i8_quantize_rows__simd128(x: usize, m: i32, k: i32, xq: usize, sx: usize): void {
  const vabs = i32x4.splat(0x7fffffff);
  // Adding 1.5·2^23 rounds |v| < 2^22 to the nearest integer, ties to even (as `nearest`), and
  // leaves it in the low mantissa bits: cheaper than f32x4.nearest + i32x4.trunc_sat_f32x4_s in V8.
  const magic = f32x4.splat(12582912.0);
  const magicBits = i32x4.splat(0x4b400000);
  for (let i = 0; i < m; i++) {
    const row = x + (<usize>i * <usize>k << 2);
    const lo = xq + (<usize>i * <usize>k << 3), hi = lo + (<usize>k << 2);
    // max |x| on bit patterns: integer order is |x| order, and NaN sorts above +Infinity.
    let vmax = i32x4.splat(0), vmax1 = vmax;
    let j = 0;
    // Two accumulators: one i32x4.max_s chain is latency-bound.
    for (; j + 8 <= k; j += 8) {
      const p = row + (<usize>j << 2);
      vmax = i32x4.max_s(vmax, v128.and(v128.load(p), vabs));
      vmax1 = i32x4.max_s(vmax1, v128.and(v128.load(p, 16), vabs));
    }
    vmax = i32x4.max_s(vmax, vmax1);
    for (; j + 4 <= k; j += 4) vmax = i32x4.max_s(vmax, v128.and(v128.load(row + (<usize>j << 2)), vabs));
    let kmax = max(max(i32x4.extract_lane(vmax, 0), i32x4.extract_lane(vmax, 1)),
        max(i32x4.extract_lane(vmax, 2), i32x4.extract_lane(vmax, 3)));
    for (; j < k; j++) kmax = max(kmax, load<i32>(row + (<usize>j << 2)) & 0x7fffffff);
    const finite = kmax < 0x7f800000;
    const amax = reinterpret<f32>(kmax);
    // Rows too small to scale (127 / amax overflows, amax < 3.8e-37) quantize to zero, like zeros.
    let inv: f32 = finite && amax > 0 ? <f32>127 / amax : 0;
    if (inv - inv != 0) inv = 0;
    store<f32>(sx + (<usize>i << 2), !finite ? NaN : inv == 0 ? 0 : amax / 127);
    const vinv = f32x4.splat(inv);
    const low16 = i32x4.splat(0xffff);
    j = 0;
    for (; j + 4 <= k; j += 4) {
      const o = <usize>j << 2;
      const q = i32x4.sub(f32x4.add(f32x4.mul(v128.load(row + o), vinv), magic), magicBits);
      v128.store(lo + o, v128.and(q, low16));
      v128.store(hi + o, i32x4.shl(q, 16));
    }
    for (; j < k; j++) {
      const o = <usize>j << 2;
      const q = inv != 0 ? <i32>nearest(load<f32>(row + o) * inv) : 0;
      store<i32>(lo + o, q & 0xffff);
      store<i32>(hi + o, q << 16);
    }
  }
}
