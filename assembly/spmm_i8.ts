// Block-sparse int8 x int8 matmul with i32 accumulation (perf-anchors §3, "int8×int8 in a 1x16-block
// SpMM"): Y[M, N] = (Xq[M, K] · Wq) · sw[n] · sx[m] (+ bias), optional relu.
//
// Same strip layout as spmm_f32.ts, with two changes:
// - the strips of a column block come in PAIRS (a zero strip pads an odd count), and a pair's
//   weights are interleaved byte by byte: q(ka, 0), q(kb, 0), q(ka, 1), q(kb, 1), ... Sign-extending
//   them to i16 gives lanes (q(ka, j), q(kb, j)) that one `i32x4.dot_i16x8_s` against the splat
//   pair (xq[ka], xq[kb]) turns into 4 outputs: 4 dots per 32 MACs for a 16-wide pair.
// - rowoff[s] is k·2, the byte offset of xq[k] in an i16 activation row.
// Activations are quantized per row by `i8_quantize_rows__simd128` (int8 values stored as i16).
import {storeTail} from './spmm_f32';

// @ts-ignore: decorator
@inline function pairSplat(xrow: usize, rowoff: usize, s: i32): v128 {
  const p = rowoff + (<usize>s << 2);
  return i32x4.splat(<i32>load<u16>(xrow + <usize>load<i32>(p)) | (<i32>load<u16>(xrow + <usize>load<i32>(p, 4)) << 16));
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

// @ts-ignore: decorator
@inline function spmmI8(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize, vals: usize,
    sw: usize, n: i32, bias: usize, relu: bool, y: usize, tmp: usize, V: i32): void {
  const W = V << 2;
  const ncb = (n + W - 1) / W;
  const xstride = <usize>k << 1, ystride = <usize>n << 2, pstride = <usize>W << 1;
  const zero = i32x4.splat(0);
  for (let cb = 0; cb < ncb; cb++) {
    const s0 = load<i32>(colptr + (<usize>cb << 2));
    const s1 = load<i32>(colptr + (<usize>cb << 2), 4);
    const n0 = cb * W;
    const nv = min(W, n - n0);
    let i = 0;
    for (; i + 2 <= m; i += 2) {
      const xa = xq + <usize>i * xstride, xb = xa + xstride;
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      let b0 = zero, b1 = zero, b2 = zero, b3 = zero;
      for (let s = s0; s < s1; s += 2) {
        const w = vals + <usize>(s >> 1) * pstride;
        const pa = pairSplat(xa, rowoff, s), pb = pairSplat(xb, rowoff, s);
        // v128.load8x8_s sign-extends 8 weights to i16 in the load (one x86 pmovsxbw).
        const w0 = v128.load8x8_s(w);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(w0, pa));
        b0 = i32x4.add(b0, i32x4.dot_i16x8_s(w0, pb));
        if (V >= 2) {
          const w1 = v128.load8x8_s(w, 8);
          a1 = i32x4.add(a1, i32x4.dot_i16x8_s(w1, pa));
          b1 = i32x4.add(b1, i32x4.dot_i16x8_s(w1, pb));
        }
        if (V >= 4) {
          const w2 = v128.load8x8_s(w, 16), w3 = v128.load8x8_s(w, 24);
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(w2, pa));
          b2 = i32x4.add(b2, i32x4.dot_i16x8_s(w2, pb));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(w3, pa));
          b3 = i32x4.add(b3, i32x4.dot_i16x8_s(w3, pb));
        }
      }
      const ya = y + <usize>i * ystride;
      scaleStore(ya, n0, nv, V, sw, load<f32>(sx + (<usize>i << 2)), bias, relu, tmp, a0, a1, a2, a3);
      scaleStore(ya + ystride, n0, nv, V, sw, load<f32>(sx + (<usize>i << 2), 4), bias, relu, tmp, b0, b1, b2, b3);
    }
    if (i < m) {
      const xa = xq + <usize>i * xstride;
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      for (let s = s0; s < s1; s += 2) {
        const w = vals + <usize>(s >> 1) * pstride;
        const pa = pairSplat(xa, rowoff, s);
        a0 = i32x4.add(a0, i32x4.dot_i16x8_s(v128.load8x8_s(w), pa));
        if (V >= 2) a1 = i32x4.add(a1, i32x4.dot_i16x8_s(v128.load8x8_s(w, 8), pa));
        if (V >= 4) {
          a2 = i32x4.add(a2, i32x4.dot_i16x8_s(v128.load8x8_s(w, 16), pa));
          a3 = i32x4.add(a3, i32x4.dot_i16x8_s(v128.load8x8_s(w, 24), pa));
        }
      }
      scaleStore(y + <usize>i * ystride, n0, nv, V, sw, load<f32>(sx + (<usize>i << 2)), bias, relu, tmp,
          a0, a1, a2, a3);
    }
  }
}

/**
 * Block-sparse int8 x int8 matmul for strips 16 wide, 2x16 tile.
 * @param xq     i16[m·k] quantized activations (int8 values), from `i8_quantize_rows__simd128`
 * @param sx     float32[m] activation scale per row
 * @param m      rows
 * @param k      columns of x
 * @param colptr int32[ceil(n/16) + 1] strip ranges per column block (even counts)
 * @param rowoff int32[strips] k·2 per strip
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
  spmmI8(xq, sx, m, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 4);
}

/** As `i8_spmm_2x16__simd128` for strips 8 wide. */
export function i8_spmm_2x8__simd128(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmI8(xq, sx, m, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 2);
}

/** As `i8_spmm_2x16__simd128` for strips 4 wide. */
export function i8_spmm_2x4__simd128(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmI8(xq, sx, m, k, colptr, rowoff, vals, sw, n, bias, relu != 0, y, tmp, 1);
}

/**
 * Block-sparse int8 x int8 matmul for strips of any width `bw`: scalar, one row at a time. Same
 * layout and arguments as `i8_spmm_2x16__simd128`, plus `bw`.
 */
export function i8_spmm_1xw__scalar(xq: usize, sx: usize, m: i32, k: i32, colptr: usize, rowoff: usize,
    vals: usize, sw: usize, bw: i32, n: i32, bias: usize, relu: i32, y: usize): void {
  const ncb = (n + bw - 1) / bw;
  const xstride = <usize>k << 1, ystride = <usize>n << 2, pstride = <usize>bw << 1;
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
 * Quantizes each activation row symmetrically to int8 values, stored as i16:
 * sx[i] = max|x[i, :]| / 127, xq[i, j] = round(x[i, j] · 127 / max|x[i, :]|) (ties to even).
 * A row of zeros (or of magnitudes below 3.8e-37) gets sx = 0 and xq = 0; a row holding NaN or ±Infinity gets sx = NaN, so its outputs are NaN
 * rather than silently wrong.
 * @param x  float32[m·k]
 * @param m  rows
 * @param k  columns
 * @param xq i16[m·k] output
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
    const qrow = xq + (<usize>i * <usize>k << 1);
    // max |x| on bit patterns: integer order is |x| order, and NaN sorts above +Infinity.
    let vmax = i32x4.splat(0);
    let j = 0;
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
    j = 0;
    for (; j + 8 <= k; j += 8) {
      const p = row + (<usize>j << 2);
      const q0 = i32x4.sub(f32x4.add(f32x4.mul(v128.load(p), vinv), magic), magicBits);
      const q1 = i32x4.sub(f32x4.add(f32x4.mul(v128.load(p, 16), vinv), magic), magicBits);
      v128.store(qrow + (<usize>j << 1), i16x8.narrow_i32x4_s(q0, q1));
    }
    for (; j < k; j++) {
      const v = load<f32>(row + (<usize>j << 2)) * inv;
      store<i16>(qrow + (<usize>j << 1), <i16>(inv != 0 ? <i32>nearest(v) : 0));
    }
  }
}
