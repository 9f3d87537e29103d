// The f32 products of training a (masked) Dense layer, where tfjs-wasm runs the transposed ones as
// scalar loops (0.9–3.6 GFLOP/s, tfjs-facts §8):
//   dW = Xᵀ·dY  computed directly from packed panels of both operands with a 4x8 register tile
//               (8 accumulators, 2 vectors of dY, 1 splat of X: within V8's ~15 live v128,
//               perf-anchors §3), no transpose at all;
//   dX = dY·Wᵀ  through a strip transpose of W followed by the 4x8 GEMM of gemm_f32.ts, or, for
//               fewer than 4 rows, as row-by-row dot products (transposing W would cost as much as
//               the product itself);
//   sparse      for a sparse 0/1 mask, the forward product and dX visit only the kept weights
//               (f32_spmm_t_1x32__simd128, on transposed activations).
import {f32x4_madd} from './madd';

// @ts-ignore: decorator
@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/**
 * C[k, n] = A[m, k]ᵀ · B[m, n], all row-major. Both operands are read down their columns, whose
 * row stride (often 4 KiB) would map every row to the same L1 set, so the operands are first packed:
 * A once into panels of 4 columns (one 16-byte row per i), B per 8-column panel (32 bytes per i).
 * Column panels of 8 are outer (B's packed panel stays in L1), tiles of 4 rows of C inner.
 * @param a       float32[m·k]
 * @param m       rows of A and B (the summed dimension)
 * @param k       columns of A, rows of C
 * @param b       float32[m·n]
 * @param n       columns of B and C
 * @param c       float32[k·n] output (overwritten)
 * @param scratch 16-byte-aligned scratch of m·(k & ~3)·4 + m·32 bytes
 */
export function f32_gemm_tn_4x8__simd128(a: usize, m: i32, k: i32, b: usize, n: i32, c: usize, scratch: usize): void {
  const astride = <usize>k << 2, bstride = <usize>n << 2, cstride = <usize>n << 2;
  const k4 = k & ~3;
  const apanels = scratch;                                  // [k4 / 4][m][4]
  const bpanel = scratch + (<usize>m * <usize>k4 << 2);     // [m][8]
  const apanelBytes = <usize>m << 4;
  for (let r = 0; r < k4; r += 4) {
    let src = a + (<usize>r << 2), dst = apanels + (<usize>(r >> 2)) * apanelBytes;
    for (let i = 0; i < m; i++, src += astride, dst += 16) v128.store(dst, v128.load(src));
  }
  const zero = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    let src = b + (<usize>j << 2), dst = bpanel;
    for (let i = 0; i < m; i++, src += bstride, dst += 32) {
      v128.store(dst, v128.load(src));
      v128.store(dst, v128.load(src, 16), 16);
    }
    const cp = c + (<usize>j << 2);
    let r = 0;
    for (; r < k4; r += 4) {
      let ap = apanels + (<usize>(r >> 2)) * apanelBytes, p = bpanel;
      let c00 = zero, c01 = zero, c10 = zero, c11 = zero, c20 = zero, c21 = zero, c30 = zero, c31 = zero;
      for (let i = 0; i < m; i++) {
        const b0 = v128.load(p), b1 = v128.load(p, 16);
        let s = v128.load32_splat(ap);
        c00 = f32x4_madd(c00, s, b0); c01 = f32x4_madd(c01, s, b1);
        s = v128.load32_splat(ap, 4);
        c10 = f32x4_madd(c10, s, b0); c11 = f32x4_madd(c11, s, b1);
        s = v128.load32_splat(ap, 8);
        c20 = f32x4_madd(c20, s, b0); c21 = f32x4_madd(c21, s, b1);
        s = v128.load32_splat(ap, 12);
        c30 = f32x4_madd(c30, s, b0); c31 = f32x4_madd(c31, s, b1);
        ap += 16;
        p += 32;
      }
      const c0 = cp + <usize>r * cstride;
      v128.store(c0, c00); v128.store(c0, c01, 16);
      v128.store(c0 + cstride, c10); v128.store(c0 + cstride, c11, 16);
      v128.store(c0 + 2 * cstride, c20); v128.store(c0 + 2 * cstride, c21, 16);
      v128.store(c0 + 3 * cstride, c30); v128.store(c0 + 3 * cstride, c31, 16);
    }
    // The last k % 4 rows of C, from A as stored.
    for (; r < k; r++) {
      let ap = a + (<usize>r << 2), p = bpanel;
      let c00 = zero, c01 = zero;
      for (let i = 0; i < m; i++) {
        const s = v128.load32_splat(ap);
        c00 = f32x4_madd(c00, s, v128.load(p));
        c01 = f32x4_madd(c01, s, v128.load(p, 16));
        ap += astride;
        p += 32;
      }
      const c0 = cp + <usize>r * cstride;
      v128.store(c0, c00); v128.store(c0, c01, 16);
    }
  }
  // The last n % 8 columns, scalar.
  for (let r = 0; r < k; r++) {
    for (let jj = j; jj < n; jj++) {
      let ap = a + (<usize>r << 2), p = b + (<usize>jj << 2);
      let acc: f32 = 0;
      for (let i = 0; i < m; i++) {
        acc += load<f32>(ap) * load<f32>(p);
        ap += astride;
        p += bstride;
      }
      store<f32>(c + <usize>r * cstride + (<usize>jj << 2), acc);
    }
  }
}

// @ts-ignore: decorator
@inline const TRANSPOSE_TILE = 8;  // source columns per strip (measured: 4 / 8 / 16 -> 1.05 / 0.49 / 0.74 ms for 1024²)

/** Transposes one 4x4 block: rows at src (stride ss bytes) to rows at dst (stride ds bytes). */
// @ts-ignore: decorator
@inline export function transpose4x4(src: usize, ss: usize, dst: usize, ds: usize): void {
  const r0 = v128.load(src), r1 = v128.load(src + ss), r2 = v128.load(src + 2 * ss), r3 = v128.load(src + 3 * ss);
  const t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7);
  const t2 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5), t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i64>(t0, t2, 0, 2));
  v128.store(dst + ds, v128.shuffle<i64>(t0, t2, 1, 3));
  v128.store(dst + 2 * ds, v128.shuffle<i64>(t1, t3, 0, 2));
  v128.store(dst + 3 * ds, v128.shuffle<i64>(t1, t3, 1, 3));
}

/**
 * dst[cols, rows] = src[rows, cols]ᵀ (32-bit elements) in 4x4 SIMD blocks, one strip of
 * TRANSPOSE_TILE source columns at a time, down all rows: each destination row is then written
 * sequentially, and the few rows of the strip's source lines stay cached. (Square tiles over
 * power-of-two strides map every row to the same cache set and ran 8x slower.) The last rows % 4
 * rows and cols % 4 columns are copied one element at a time. Row strides are in elements, so a
 * thread can transpose a band of source rows into the matching band of destination columns.
 * @param src       32-bit, rows of `srcStride` elements
 * @param rows      rows of src
 * @param cols      columns of src
 * @param srcStride elements from one src row to the next (>= cols)
 * @param dst       32-bit output, rows of `dstStride` elements (must not overlap src)
 * @param dstStride elements from one dst row to the next (>= rows)
 */
export function x32_transpose_strided__simd128(src: usize, rows: i32, cols: i32, srcStride: i32, dst: usize,
                                               dstStride: i32): void {
  const ss = <usize>srcStride << 2, ds = <usize>dstStride << 2;
  const rows4 = rows & ~3, cols4 = cols & ~3;
  for (let cb = 0; cb < cols4; cb += TRANSPOSE_TILE) {
    const ce = min(cb + TRANSPOSE_TILE, cols4);
    for (let r = 0; r < rows4; r += 4) {
      for (let c = cb; c < ce; c += 4) {
        transpose4x4(src + <usize>r * ss + (<usize>c << 2), ss, dst + <usize>c * ds + (<usize>r << 2), ds);
      }
    }
  }
  for (let r = 0; r < rows; r++) {
    for (let c = r < rows4 ? cols4 : 0; c < cols; c++) {
      store<u32>(dst + <usize>c * ds + (<usize>r << 2), load<u32>(src + <usize>r * ss + (<usize>c << 2)));
    }
  }
}

/** `x32_transpose_strided__simd128` of a whole, densely stored matrix: dst[cols, rows] = src[rows, cols]ᵀ. */
export function x32_transpose__simd128(src: usize, rows: i32, cols: i32, dst: usize): void {
  x32_transpose_strided__simd128(src, rows, cols, cols, dst, rows);
}

/**
 * C[m, k] = A[m, n] · B[k, n]ᵀ as dot products of rows, 4 rows of B at a time: for few rows of A,
 * where transposing B first would cost as much as the product.
 * @param a float32[m·n]
 * @param m rows of A and C
 * @param n columns of A and B (the summed dimension)
 * @param b float32[k·n]
 * @param k rows of B, columns of C
 * @param c float32[m·k] output (overwritten)
 */
export function f32_gemm_nt_dot_1x4__simd128(a: usize, m: i32, n: i32, b: usize, k: i32, c: usize): void {
  const stride = <usize>n << 2;
  const n4 = n & ~3;
  const zero = f32x4.splat(0);
  for (let i = 0; i < m; i++) {
    const ar = a + <usize>i * stride;
    const cr = c + <usize>i * (<usize>k << 2);
    let r = 0;
    for (; r + 4 <= k; r += 4) {
      const b0 = b + <usize>r * stride, b1 = b0 + stride, b2 = b1 + stride, b3 = b2 + stride;
      let s0 = zero, s1 = zero, s2 = zero, s3 = zero;
      let t = 0;
      for (; t < n4; t += 4) {
        const o = <usize>t << 2;
        const av = v128.load(ar + o);
        s0 = f32x4_madd(s0, av, v128.load(b0 + o));
        s1 = f32x4_madd(s1, av, v128.load(b1 + o));
        s2 = f32x4_madd(s2, av, v128.load(b2 + o));
        s3 = f32x4_madd(s3, av, v128.load(b3 + o));
      }
      let d0 = hsum(s0), d1 = hsum(s1), d2 = hsum(s2), d3 = hsum(s3);
      for (; t < n; t++) {
        const o = <usize>t << 2;
        const x = load<f32>(ar + o);
        d0 += x * load<f32>(b0 + o);
        d1 += x * load<f32>(b1 + o);
        d2 += x * load<f32>(b2 + o);
        d3 += x * load<f32>(b3 + o);
      }
      const co = cr + (<usize>r << 2);
      store<f32>(co, d0); store<f32>(co, d1, 4); store<f32>(co, d2, 8); store<f32>(co, d3, 12);
    }
    for (; r < k; r++) {
      const br = b + <usize>r * stride;
      let s = zero;
      let t = 0;
      for (; t < n4; t += 4) s = f32x4_madd(s, v128.load(ar + (<usize>t << 2)), v128.load(br + (<usize>t << 2)));
      let d = hsum(s);
      for (; t < n; t++) d += load<f32>(ar + (<usize>t << 2)) * load<f32>(br + (<usize>t << 2));
      store<f32>(cr + (<usize>r << 2), d);
    }
  }
}

/**
 * OUTᵀ[r, 0:m] = Σ_p w[idx[p]·sIdx + r·sR] · INᵀ[idx[p], 0:m] for p in ptr[r] .. ptr[r + 1]: a
 * masked weight matrix, kept positions listed per row r, times transposed activations (XNNPACK's
 * spmm scheme: one splat of a weight per 8 vectors of activations). The weights are read in place
 * from the dense kernel, so only the index depends on the mask and is reused until the mask changes.
 * The forward pass Yᵀ = (W⊙M)ᵀ·Xᵀ lists kept k per column n and reads Wᵀ (sIdx = 1, sR = K);
 * dXᵀ = (W⊙M)·dYᵀ lists kept n per row k and reads W (sIdx = 1, sR = N).
 * @param w     float32 dense kernel [K·N]
 * @param sIdx  element stride of w per listed index
 * @param sR    element stride of w per output row r
 * @param ptr   int32[rows + 1] start of each row's list in idx
 * @param idx   int32[nnz] listed indices (rows of INᵀ)
 * @param rows  rows of OUTᵀ
 * @param inT   float32 INᵀ [·, m]
 * @param m     columns of INᵀ and OUTᵀ (the batch)
 * @param outT  float32 OUTᵀ [rows·m] output (overwritten)
 */
export function f32_spmm_t_1x32__simd128(w: usize, sIdx: i32, sR: i32, ptr: usize, idx: usize, rows: i32, inT: usize,
    m: i32, outT: usize): void {
  const rowBytes = <usize>m << 2;
  const m32 = m & ~31, m4 = m & ~3;
  const zero = f32x4.splat(0);
  for (let r = 0; r < rows; r++) {
    const p0 = load<i32>(ptr + (<usize>r << 2)), p1 = load<i32>(ptr + (<usize>r << 2), 4);
    const wr = w + (<usize>(r * sR) << 2);
    const out = outT + <usize>r * rowBytes;
    let c = 0;
    for (; c < m32; c += 32) {
      let a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero;
      const col = <usize>c << 2;
      for (let p = p0; p < p1; p++) {
        const i = load<i32>(idx + (<usize>p << 2));
        const s = v128.load32_splat(wr + (<usize>(i * sIdx) << 2));
        const src = inT + <usize>i * rowBytes + col;
        a0 = f32x4_madd(a0, s, v128.load(src)); a1 = f32x4_madd(a1, s, v128.load(src, 16));
        a2 = f32x4_madd(a2, s, v128.load(src, 32)); a3 = f32x4_madd(a3, s, v128.load(src, 48));
        a4 = f32x4_madd(a4, s, v128.load(src, 64)); a5 = f32x4_madd(a5, s, v128.load(src, 80));
        a6 = f32x4_madd(a6, s, v128.load(src, 96)); a7 = f32x4_madd(a7, s, v128.load(src, 112));
      }
      const d = out + col;
      v128.store(d, a0); v128.store(d, a1, 16); v128.store(d, a2, 32); v128.store(d, a3, 48);
      v128.store(d, a4, 64); v128.store(d, a5, 80); v128.store(d, a6, 96); v128.store(d, a7, 112);
    }
    for (; c < m4; c += 4) {
      let a0 = zero;
      const col = <usize>c << 2;
      for (let p = p0; p < p1; p++) {
        const i = load<i32>(idx + (<usize>p << 2));
        a0 = f32x4_madd(a0, v128.load32_splat(wr + (<usize>(i * sIdx) << 2)), v128.load(inT + <usize>i * rowBytes + col));
      }
      v128.store(out + col, a0);
    }
    for (; c < m; c++) {
      const col = <usize>c << 2;
      let a: f32 = 0;
      for (let p = p0; p < p1; p++) {
        const i = load<i32>(idx + (<usize>p << 2));
        a += load<f32>(wr + (<usize>(i * sIdx) << 2)) * load<f32>(inT + <usize>i * rowBytes + col);
      }
      store<f32>(out + col, a);
    }
  }
}

/**
 * y[m, n] = act(OUTᵀ[n, m]ᵀ + bias): the transpose back of the sparse forward product, with the
 * bias and relu of the Dense layer folded in.
 * @param outT float32 [n·m]
 * @param n    rows of outT (units)
 * @param m    columns of outT (batch)
 * @param bias float32[n] or 0
 * @param relu 1 to apply relu
 * @param y    float32 [m·n] output
 */
export function f32_transpose_bias_relu__simd128(outT: usize, n: i32, m: i32, bias: usize, relu: i32, y: usize): void {
  x32_transpose__simd128(outT, n, m, y);
  if (bias == 0 && relu == 0) return;
  const n4 = n & ~3;
  const zero = f32x4.splat(0);
  for (let i = 0; i < m; i++) {
    const row = y + (<usize>i * <usize>n << 2);
    let j = 0;
    for (; j < n4; j += 4) {
      const o = <usize>j << 2;
      let v = v128.load(row + o);
      if (bias != 0) v = f32x4.add(v, v128.load(bias + o));
      if (relu != 0) v = f32x4.pmax(v, zero);
      v128.store(row + o, v);
    }
    for (; j < n; j++) {
      const o = <usize>j << 2;
      let v = load<f32>(row + o);
      if (bias != 0) v += load<f32>(bias + o);
      if (relu != 0) v = select<f32>(0, v, v < 0);
      store<f32>(row + o, v);
    }
  }
}
