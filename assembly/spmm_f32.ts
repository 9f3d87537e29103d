// Block-sparse f32 matmul: Y[M, N] = X[M, K] · W (+ bias), optional relu.
//
// W is [K, N] (Keras [in, out]) stored as "strips": one strip is one input row k of one column block
// (bw consecutive outputs), so a bh x bw block is bh strips. Strips are grouped by column block:
//   colptr[cb] .. colptr[cb + 1]  the strips of column block cb (outputs cb·bw .. cb·bw + bw - 1),
//   rowoff[s]                     k·4, the byte offset of x[k] in an activation row,
//   vals[s·bw .. s·bw + bw]       the strip's weights (columns past N are zero padding).
// One strip is one splat of x[k] and bw/4 weight loads, with no horizontal reduction
// (perf-anchors §6.1). Rows go in pairs (a 2x16 tile is 8 accumulators: V8 keeps about 15 live
// v128, perf-anchors §3) with the column block outer, so its weights stay in L1 across rows.
import {f32x4_madd} from './madd';

// @ts-ignore: decorator
@inline function epilogue4(v: v128, bias: usize, col: usize, relu: bool): v128 {
  let r = bias != 0 ? f32x4.add(v, v128.load(bias + col)) : v;
  return relu ? f32x4.pmax(r, f32x4.splat(0)) : r;
}

/**
 * Writes one row of a column block's accumulators: vector stores for a full block, or through
 * `tmp` (16 floats) for the last, partial one. Shared by the f32 and dense kernels.
 */
// @ts-ignore: decorator
@inline export function storeRowF32(yrow: usize, n0: i32, nv: i32, V: i32, bias: usize, relu: bool,
    tmp: usize, a0: v128, a1: v128, a2: v128, a3: v128): void {
  const col = <usize>n0 << 2;
  if (nv == V << 2) {
    v128.store(yrow + col, epilogue4(a0, bias, col, relu));
    if (V >= 2) v128.store(yrow + col, epilogue4(a1, bias, col + 16, relu), 16);
    if (V >= 4) {
      v128.store(yrow + col, epilogue4(a2, bias, col + 32, relu), 32);
      v128.store(yrow + col, epilogue4(a3, bias, col + 48, relu), 48);
    }
  } else {
    v128.store(tmp, a0);
    if (V >= 2) v128.store(tmp, a1, 16);
    if (V >= 4) {
      v128.store(tmp, a2, 32);
      v128.store(tmp, a3, 48);
    }
    storeTail(yrow + col, tmp, nv, bias != 0 ? bias + col : 0, relu);
  }
}

/** Scalar tail store: y[t] = relu?(tmp[t] + bias[t]) for t < nv. */
// @ts-ignore: decorator
@inline export function storeTail(y: usize, tmp: usize, nv: i32, bias: usize, relu: bool): void {
  for (let t = 0; t < nv; t++) {
    const o = <usize>t << 2;
    let v = load<f32>(tmp + o);
    if (bias != 0) v += load<f32>(bias + o);
    if (relu) v = select<f32>(0, v, v < 0);
    store<f32>(y + o, v);
  }
}

// Pairs of rows (m even), column block outer so that a block's weights stay in L1 across rows.
// @ts-ignore: decorator
@inline function spmmF32Rows2(x: usize, m: i32, k: i32, colptr: usize, rowoff: usize, vals: usize, n: i32,
    bias: usize, relu: bool, y: usize, tmp: usize, V: i32): void {
  const W = V << 2;
  const ncb = (n + W - 1) / W;
  const xstride = <usize>k << 2, ystride = <usize>n << 2, sstride = <usize>W << 2;
  const zero = f32x4.splat(0);
  for (let cb = 0; cb < ncb; cb++) {
    const n0 = cb * W, nv = min(W, n - n0);
    const s0 = load<i32>(colptr + (<usize>cb << 2));
    // Pointers step through a column block's strips: V8 does not strength-reduce s·stride.
    const p0 = rowoff + (<usize>s0 << 2), pEnd = rowoff + (<usize>load<i32>(colptr + (<usize>cb << 2), 4) << 2);
    const w0 = vals + <usize>s0 * sstride;
    for (let i = 0; i < m; i += 2) {
      const xa = x + <usize>i * xstride, xb = xa + xstride;
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
      let b0 = zero, b1 = zero, b2 = zero, b3 = zero;
      for (let p = p0, w = w0; p < pEnd; p += 4, w += sstride) {
        const off = <usize>load<i32>(p);
        const va = v128.load32_splat(xa + off), vb = v128.load32_splat(xb + off);
        const w0 = v128.load(w);
        a0 = f32x4_madd(a0, va, w0);
        b0 = f32x4_madd(b0, vb, w0);
        if (V >= 2) {
          const w1 = v128.load(w, 16);
          a1 = f32x4_madd(a1, va, w1);
          b1 = f32x4_madd(b1, vb, w1);
        }
        if (V >= 4) {
          const w2 = v128.load(w, 32), w3 = v128.load(w, 48);
          a2 = f32x4_madd(a2, va, w2);
          b2 = f32x4_madd(b2, vb, w2);
          a3 = f32x4_madd(a3, va, w3);
          b3 = f32x4_madd(b3, vb, w3);
        }
      }
      const ya = y + <usize>i * ystride;
      storeRowF32(ya, n0, nv, V, bias, relu, tmp, a0, a1, a2, a3);
      storeRowF32(ya + ystride, n0, nv, V, bias, relu, tmp, b0, b1, b2, b3);
    }
  }
}

// One row (batch 1, and the odd last row): its own export, so that V8 allocates registers for this
// loop alone.
// @ts-ignore: decorator
@inline function spmmF32Row(x: usize, colptr: usize, rowoff: usize, vals: usize, n: i32, bias: usize,
    relu: bool, y: usize, tmp: usize, V: i32): void {
  const W = V << 2;
  const ncb = (n + W - 1) / W;
  const sstride = <usize>W << 2;
  const zero = f32x4.splat(0);
  let p = rowoff, w = vals;
  for (let cb = 0; cb < ncb; cb++) {
    const pEnd = rowoff + (<usize>load<i32>(colptr + (<usize>cb << 2), 4) << 2);
    let a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    if (ASC_FEATURE_RELAXED_SIMD) {
      // Fused, one accumulator chain per lane group runs at the fused multiply-add's latency (longer
      // than an add's): strips go in pairs, the second into its own accumulators (see
      // f32_spmm_nchw.ts), added in at the end.
      let c0 = zero, c1 = zero, c2 = zero, c3 = zero;
      for (; p + 4 < pEnd; p += 8, w += sstride << 1) {
        const va = v128.load32_splat(x + <usize>load<i32>(p)), vc = v128.load32_splat(x + <usize>load<i32>(p, 4));
        const u = w + sstride;
        a0 = f32x4_madd(a0, va, v128.load(w));
        c0 = f32x4_madd(c0, vc, v128.load(u));
        if (V >= 2) {
          a1 = f32x4_madd(a1, va, v128.load(w, 16));
          c1 = f32x4_madd(c1, vc, v128.load(u, 16));
        }
        if (V >= 4) {
          a2 = f32x4_madd(a2, va, v128.load(w, 32));
          c2 = f32x4_madd(c2, vc, v128.load(u, 32));
          a3 = f32x4_madd(a3, va, v128.load(w, 48));
          c3 = f32x4_madd(c3, vc, v128.load(u, 48));
        }
      }
      a0 = f32x4.add(a0, c0);
      a1 = f32x4.add(a1, c1);
      a2 = f32x4.add(a2, c2);
      a3 = f32x4.add(a3, c3);
    }
    // Column blocks are consecutive in rowoff and vals: p and w run on from the previous block.
    for (; p < pEnd; p += 4, w += sstride) {
      const va = v128.load32_splat(x + <usize>load<i32>(p));
      a0 = f32x4_madd(a0, va, v128.load(w));
      if (V >= 2) a1 = f32x4_madd(a1, va, v128.load(w, 16));
      if (V >= 4) {
        a2 = f32x4_madd(a2, va, v128.load(w, 32));
        a3 = f32x4_madd(a3, va, v128.load(w, 48));
      }
    }
    const n0 = cb * W;
    storeRowF32(y, n0, min(W, n - n0), V, bias, relu, tmp, a0, a1, a2, a3);
  }
}

/**
 * Block-sparse f32 matmul for strips 16 wide (1x16, 2x16, 4x16 ... blocks), 2x16 register tile,
 * for an even number of rows (an odd last row goes to `f32_spmm_1x16__simd128`).
 * @param x      float32[m·k] activations, row-major
 * @param m      rows of x, even
 * @param k      columns of x (rows of W)
 * @param colptr int32[ceil(n/16) + 1] strip ranges per column block
 * @param rowoff int32[strips] k·4 per strip
 * @param vals   float32[strips·16] strip weights
 * @param n      columns of W and y
 * @param bias   float32[n] or 0 for none
 * @param relu   1 to apply relu
 * @param y      float32[m·n] output
 * @param tmp    64 bytes of 16-byte-aligned scratch
 */
export function f32_spmm_2x16__simd128(x: usize, m: i32, k: i32, colptr: usize, rowoff: usize, vals: usize,
    n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmF32Rows2(x, m, k, colptr, rowoff, vals, n, bias, relu != 0, y, tmp, 4);
}

/** As `f32_spmm_2x16__simd128` for strips 8 wide. */
export function f32_spmm_2x8__simd128(x: usize, m: i32, k: i32, colptr: usize, rowoff: usize, vals: usize,
    n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmF32Rows2(x, m, k, colptr, rowoff, vals, n, bias, relu != 0, y, tmp, 2);
}

/** As `f32_spmm_2x16__simd128` for strips 4 wide. */
export function f32_spmm_2x4__simd128(x: usize, m: i32, k: i32, colptr: usize, rowoff: usize, vals: usize,
    n: i32, bias: usize, relu: i32, y: usize, tmp: usize): void {
  spmmF32Rows2(x, m, k, colptr, rowoff, vals, n, bias, relu != 0, y, tmp, 1);
}

/** As `f32_spmm_2x16__simd128` for one row: `x` and `y` point at that row. */
export function f32_spmm_1x16__simd128(x: usize, colptr: usize, rowoff: usize, vals: usize, n: i32, bias: usize,
    relu: i32, y: usize, tmp: usize): void {
  spmmF32Row(x, colptr, rowoff, vals, n, bias, relu != 0, y, tmp, 4);
}

/** As `f32_spmm_1x16__simd128` for strips 8 wide. */
export function f32_spmm_1x8__simd128(x: usize, colptr: usize, rowoff: usize, vals: usize, n: i32, bias: usize,
    relu: i32, y: usize, tmp: usize): void {
  spmmF32Row(x, colptr, rowoff, vals, n, bias, relu != 0, y, tmp, 2);
}

/** As `f32_spmm_1x16__simd128` for strips 4 wide. */
export function f32_spmm_1x4__simd128(x: usize, colptr: usize, rowoff: usize, vals: usize, n: i32, bias: usize,
    relu: i32, y: usize, tmp: usize): void {
  spmmF32Row(x, colptr, rowoff, vals, n, bias, relu != 0, y, tmp, 1);
}

/**
 * Block-sparse f32 matmul for strips of any width `bw` (1x1, 2x2, ... blocks): scalar, two rows at
 * a time. Same layout and arguments as `f32_spmm_2x16__simd128`, plus `bw`.
 */
export function f32_spmm_2xw__scalar(x: usize, m: i32, k: i32, colptr: usize, rowoff: usize, vals: usize,
    bw: i32, n: i32, bias: usize, relu: i32, y: usize): void {
  const ncb = (n + bw - 1) / bw;
  const xstride = <usize>k << 2, ystride = <usize>n << 2, sstride = <usize>bw << 2;
  for (let cb = 0; cb < ncb; cb++) {
    const s0 = load<i32>(colptr + (<usize>cb << 2));
    const s1 = load<i32>(colptr + (<usize>cb << 2), 4);
    const n0 = cb * bw;
    const nv = min(bw, n - n0);
    for (let j = 0; j < nv; j++) {
      const col = <usize>(n0 + j) << 2;
      const b: f32 = bias != 0 ? load<f32>(bias + col) : 0;
      const wj = vals + (<usize>j << 2);
      let i = 0;
      for (; i + 2 <= m; i += 2) {
        const xa = x + <usize>i * xstride, xb = xa + xstride;
        let a: f32 = 0, c: f32 = 0;
        for (let s = s0; s < s1; s++) {
          const off = <usize>load<i32>(rowoff + (<usize>s << 2));
          const w = load<f32>(wj + <usize>s * sstride);
          a += load<f32>(xa + off) * w;
          c += load<f32>(xb + off) * w;
        }
        if (bias != 0) { a += b; c += b; }
        if (relu != 0) { a = select<f32>(0, a, a < 0); c = select<f32>(0, c, c < 0); }
        const ya = y + <usize>i * ystride + col;
        store<f32>(ya, a);
        store<f32>(ya + ystride, c);
      }
      if (i < m) {
        const xa = x + <usize>i * xstride;
        let a: f32 = 0;
        for (let s = s0; s < s1; s++) {
          a += load<f32>(xa + <usize>load<i32>(rowoff + (<usize>s << 2))) * load<f32>(wj + <usize>s * sstride);
        }
        if (bias != 0) a += b;
        if (relu != 0) a = select<f32>(0, a, a < 0);
        store<f32>(y + <usize>i * ystride + col, a);
      }
    }
  }
}
