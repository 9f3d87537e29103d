// Dense f32 matmul Y[M, N] = X[M, K] · W[K, N] (+ bias), optional relu: the fallback of the
// block-sparse dispatcher at low sparsity. A 4x8 register tile (8 accumulators, 2 weight vectors,
// 1 splat: inside V8's 15 live v128, perf-anchors §3) for batches, and a row-streaming GEMV for
// one row (y stays in L1 while 4 rows of W stream past, perf-anchors §4.3 `gemvRows`).
import {storeRowF32, storeTail} from './spmm_f32';
import {f32x4_madd} from './madd';


/** Scalar dot products for the last n % 8 columns of one row. */
// @ts-ignore: decorator
@inline function tailColumns(xrow: usize, k: i32, w: usize, n: i32, j0: i32, yrow: usize, bias: usize,
    relu: bool, tmp: usize): void {
  const wstride = <usize>n << 2;
  for (let j = j0; j < n; j++) {
    let a: f32 = 0;
    for (let kk = 0; kk < k; kk++) a += load<f32>(xrow + (<usize>kk << 2)) * load<f32>(w + <usize>kk * wstride + (<usize>j << 2));
    store<f32>(tmp + (<usize>(j - j0) << 2), a);
  }
  storeTail(yrow + (<usize>j0 << 2), tmp, n - j0, bias != 0 ? bias + (<usize>j0 << 2) : 0, relu);
}

/**
 * Dense f32 GEMM with a 4x8 tile. Each 8-column panel of W is first copied to contiguous scratch
 * (row-major W read down a column hits one cache set per 4 KB of stride), then reused from L1/L2 by
 * every row tile.
 * @param x    float32[m·k]
 * @param m    rows
 * @param k    columns of x, rows of W
 * @param w    float32[k·n]
 * @param n    columns
 * @param bias float32[n] or 0
 * @param relu 1 to apply relu
 * @param y    float32[m·n] output
 * @param tmp  64 + k·32 bytes of 16-byte-aligned scratch (tail buffer, then the packed panel)
 */
export function f32_gemm_4x8__simd128(x: usize, m: i32, k: i32, w: usize, n: i32, bias: usize, relu: i32,
    y: usize, tmp: usize): void {
  const panel = tmp + 64;
  const xstride = <usize>k << 2, ystride = <usize>n << 2, wstride = <usize>n << 2;
  const zero = f32x4.splat(0);
  const r = relu != 0;
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    const src = w + (<usize>j << 2);
    for (let kk = 0; kk < k; kk++) {
      const q = src + <usize>kk * wstride, d = panel + (<usize>kk << 5);
      v128.store(d, v128.load(q));
      v128.store(d, v128.load(q, 16), 16);
    }
    const wp = panel;
    let i = 0;
    for (; i + 4 <= m; i += 4) {
      const x0 = x + <usize>i * xstride, x1 = x0 + xstride, x2 = x1 + xstride, x3 = x2 + xstride;
      let c00 = zero, c01 = zero, c10 = zero, c11 = zero, c20 = zero, c21 = zero, c30 = zero, c31 = zero;
      let p = wp;
      for (let kk = 0; kk < k; kk++) {
        const o = <usize>kk << 2;
        const b0 = v128.load(p), b1 = v128.load(p, 16);
        let a = v128.load32_splat(x0 + o);
        c00 = f32x4_madd(c00, a, b0); c01 = f32x4_madd(c01, a, b1);
        a = v128.load32_splat(x1 + o);
        c10 = f32x4_madd(c10, a, b0); c11 = f32x4_madd(c11, a, b1);
        a = v128.load32_splat(x2 + o);
        c20 = f32x4_madd(c20, a, b0); c21 = f32x4_madd(c21, a, b1);
        a = v128.load32_splat(x3 + o);
        c30 = f32x4_madd(c30, a, b0); c31 = f32x4_madd(c31, a, b1);
        p += 32;
      }
      const y0 = y + <usize>i * ystride;
      storeRowF32(y0, j, 8, 2, bias, r, tmp, c00, c01, zero, zero);
      storeRowF32(y0 + ystride, j, 8, 2, bias, r, tmp, c10, c11, zero, zero);
      storeRowF32(y0 + 2 * ystride, j, 8, 2, bias, r, tmp, c20, c21, zero, zero);
      storeRowF32(y0 + 3 * ystride, j, 8, 2, bias, r, tmp, c30, c31, zero, zero);
    }
    for (; i < m; i++) {
      const x0 = x + <usize>i * xstride;
      let c00 = zero, c01 = zero;
      let p = wp;
      for (let kk = 0; kk < k; kk++) {
        const a = v128.load32_splat(x0 + (<usize>kk << 2));
        c00 = f32x4_madd(c00, a, v128.load(p));
        c01 = f32x4_madd(c01, a, v128.load(p, 16));
        p += 32;
      }
      storeRowF32(y + <usize>i * ystride, j, 8, 2, bias, r, tmp, c00, c01, zero, zero);
    }
  }
  if (j < n) {
    for (let i = 0; i < m; i++) tailColumns(x + <usize>i * xstride, k, w, n, j, y + <usize>i * ystride, bias, r, tmp);
  }
}

/**
 * Dense f32 GEMV (one row of x), streaming W row by row, 4 rows at a time, into y.
 * @param x    float32[k]
 * @param k    rows of W
 * @param w    float32[k·n]
 * @param n    columns
 * @param bias float32[n] or 0
 * @param relu 1 to apply relu
 * @param y    float32[n] output (used as the accumulator)
 */
export function f32_gemv_rows__simd128(x: usize, k: i32, w: usize, n: i32, bias: usize, relu: i32, y: usize): void {
  const wstride = <usize>n << 2;
  const n16 = n & ~15;
  memory.fill(y, 0, wstride);
  let kk = 0;
  for (; kk + 4 <= k; kk += 4) {
    const o = <usize>kk << 2;
    const x0 = v128.load32_splat(x + o), x1 = v128.load32_splat(x + o, 4);
    const x2 = v128.load32_splat(x + o, 8), x3 = v128.load32_splat(x + o, 12);
    const w0 = w + <usize>kk * wstride, w1 = w0 + wstride, w2 = w1 + wstride, w3 = w2 + wstride;
    let j = 0;
    for (; j < n16; j += 16) {
      const c = <usize>j << 2;
      const yp = y + c;
      let y0 = v128.load(yp), y1 = v128.load(yp, 16), y2 = v128.load(yp, 32), y3 = v128.load(yp, 48);
      y0 = f32x4_madd(f32x4_madd(f32x4_madd(f32x4_madd(y0, x0, v128.load(w0 + c)), x1, v128.load(w1 + c)), x2, v128.load(w2 + c)), x3, v128.load(w3 + c));
      y1 = f32x4_madd(f32x4_madd(f32x4_madd(f32x4_madd(y1, x0, v128.load(w0 + c, 16)), x1, v128.load(w1 + c, 16)), x2, v128.load(w2 + c, 16)), x3, v128.load(w3 + c, 16));
      y2 = f32x4_madd(f32x4_madd(f32x4_madd(f32x4_madd(y2, x0, v128.load(w0 + c, 32)), x1, v128.load(w1 + c, 32)), x2, v128.load(w2 + c, 32)), x3, v128.load(w3 + c, 32));
      y3 = f32x4_madd(f32x4_madd(f32x4_madd(f32x4_madd(y3, x0, v128.load(w0 + c, 48)), x1, v128.load(w1 + c, 48)), x2, v128.load(w2 + c, 48)), x3, v128.load(w3 + c, 48));
      v128.store(yp, y0); v128.store(yp, y1, 16); v128.store(yp, y2, 32); v128.store(yp, y3, 48);
    }
    const s0 = f32x4.extract_lane(x0, 0), s1 = f32x4.extract_lane(x1, 0);
    const s2 = f32x4.extract_lane(x2, 0), s3 = f32x4.extract_lane(x3, 0);
    for (; j < n; j++) {
      const c = <usize>j << 2;
      store<f32>(y + c, load<f32>(y + c) + s0 * load<f32>(w0 + c) + s1 * load<f32>(w1 + c) +
          s2 * load<f32>(w2 + c) + s3 * load<f32>(w3 + c));
    }
  }
  for (; kk < k; kk++) {
    const s = load<f32>(x + (<usize>kk << 2));
    const w0 = w + <usize>kk * wstride;
    for (let j = 0; j < n; j++) {
      const c = <usize>j << 2;
      store<f32>(y + c, load<f32>(y + c) + s * load<f32>(w0 + c));
    }
  }
  if (bias != 0 || relu != 0) {
    for (let j = 0; j < n; j++) {
      const c = <usize>j << 2;
      let v = load<f32>(y + c);
      if (bias != 0) v += load<f32>(bias + c);
      if (relu != 0) v = select<f32>(0, v, v < 0);
      store<f32>(y + c, v);
    }
  }
}
