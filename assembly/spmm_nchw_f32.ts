// Pixel-vectorized sparse matmul for channel-major (NCHW) activations, after XNNPACK's f32-spmm
// microkernels (Elsen et al., "Fast Sparse ConvNets", CVPR 2020):
//   Y[oc, p] = clamp(bias[oc] + Σ_j W[oc, ic_j] · X[ic_j, p], vmin, vmax)
// for a 1x1 convolution (or a batched Dense layer transposed): W is [outC, inC] in compressed rows
// by output channel, X is [inC, pixels] and Y is [outC, pixels], both with a row stride in bytes.
//   rowptr[oc] .. rowptr[oc + 1]  the nonzeros of output channel oc,
//   ics[j]                        their input channel,
//   vals[j]                       their weight (spmm_nchw_i8.ts dequantizes int8 weights into
//                                 this form).
// No structure in W is needed: each nonzero is one splat multiplied into MR consecutive pixels of
// its input channel (MR/4 vector loads, multiplies and adds), so the pixels are the SIMD lanes. The
// pixel tile is the outer loop and the output channels the inner one, so the tile's activations
// (MR · inC floats) stay in cache while the weights stream past. MR = 16 (4 accumulators) is the
// dispatched tile: with 8 accumulators (MR = 32, XNNPACK's choice on x86) V8 spills. Pixel tails
// are peeled largest first (16, 8, 4, then scalar), as XNNPACK does. The output-channel range [oc0, oc1) and the pixel range
// (x, y and pixels) are arguments, so a caller can split the work across threads.
import {f32x4_madd} from './madd';

/** Clamps a vector to [vmin, vmax]; pmax/pmin keep a NaN (and are one instruction each on x86). */
// @ts-ignore: decorator
@inline export function clamp4(v: v128, lo: v128, hi: v128): v128 {
  return f32x4.pmin(f32x4.pmax(v, lo), hi);
}

// @ts-ignore: decorator
@inline export function clamp1(v: f32, lo: f32, hi: f32): f32 {
  const a = select<f32>(lo, v, v < lo);
  return select<f32>(hi, a, hi < a);
}

/** One tile of 4·V pixels for output channels [oc0, oc1). */
// @ts-ignore: decorator
@inline function spmmNchwTile(x: usize, xstride: usize, rowptr: usize, ics: usize, vals: usize,
    oc0: i32, oc1: i32, bias: usize, vmin: f32, vmax: f32, y: usize, ystride: usize, V: i32): void {
  let j = load<i32>(rowptr + (<usize>oc0 << 2));
  let ip = ics + (<usize>j << 2);
  let wp = vals + (<usize>j << 2);
  let yp = y + <usize>oc0 * ystride;
  for (let oc = oc0; oc < oc1; oc++, yp += ystride) {
    const ipEnd = ics + (<usize>load<i32>(rowptr + (<usize>oc << 2), 4) << 2);
    const b = bias != 0 ? f32x4.splat(load<f32>(bias + (<usize>oc << 2))) : f32x4.splat(0);
    let a0 = b, a1 = b, a2 = b, a3 = b, a4 = b, a5 = b, a6 = b, a7 = b;
    if (ASC_FEATURE_RELAXED_SIMD && V <= 4) {
      // A fused multiply-add has a longer latency than an add (4 cycles against 3 on x86), and each
      // accumulator is one chain through the nonzeros: fused, the tile got slower (0.85-0.93x,
      // bench/relaxed.ts). So the relaxed build takes nonzeros in pairs, the second of each pair
      // into its own accumulators (a4..a7, free below 32 pixels), added in at the end.
      const zero = f32x4.splat(0);
      a4 = zero; a5 = zero; a6 = zero; a7 = zero;
      for (; ip + 4 < ipEnd; ip += 8) {
        const w = v128.load32_splat(wp), u = v128.load32_splat(wp, 4);
        wp += 8;
        const xp = x + <usize>load<i32>(ip) * xstride, xq = x + <usize>load<i32>(ip, 4) * xstride;
        a0 = f32x4_madd(a0, w, v128.load(xp));
        a4 = f32x4_madd(a4, u, v128.load(xq));
        if (V >= 2) {
          a1 = f32x4_madd(a1, w, v128.load(xp, 16));
          a5 = f32x4_madd(a5, u, v128.load(xq, 16));
        }
        if (V >= 4) {
          a2 = f32x4_madd(a2, w, v128.load(xp, 32));
          a6 = f32x4_madd(a6, u, v128.load(xq, 32));
          a3 = f32x4_madd(a3, w, v128.load(xp, 48));
          a7 = f32x4_madd(a7, u, v128.load(xq, 48));
        }
      }
    }
    for (; ip < ipEnd; ip += 4) {
      const w = v128.load32_splat(wp);
      wp += 4;
      const xp = x + <usize>load<i32>(ip) * xstride;
      a0 = f32x4_madd(a0, w, v128.load(xp));
      if (V >= 2) a1 = f32x4_madd(a1, w, v128.load(xp, 16));
      if (V >= 4) {
        a2 = f32x4_madd(a2, w, v128.load(xp, 32));
        a3 = f32x4_madd(a3, w, v128.load(xp, 48));
      }
      if (V >= 8) {
        a4 = f32x4_madd(a4, w, v128.load(xp, 64));
        a5 = f32x4_madd(a5, w, v128.load(xp, 80));
        a6 = f32x4_madd(a6, w, v128.load(xp, 96));
        a7 = f32x4_madd(a7, w, v128.load(xp, 112));
      }
    }
    if (ASC_FEATURE_RELAXED_SIMD && V <= 4) {
      a0 = f32x4.add(a0, a4);
      a1 = f32x4.add(a1, a5);
      a2 = f32x4.add(a2, a6);
      a3 = f32x4.add(a3, a7);
    }
    // The clamp bounds are splatted here, not kept live across the loop (register pressure).
    const lo = f32x4.splat(vmin), hi = f32x4.splat(vmax);
    v128.store(yp, clamp4(a0, lo, hi));
    if (V >= 2) v128.store(yp, clamp4(a1, lo, hi), 16);
    if (V >= 4) {
      v128.store(yp, clamp4(a2, lo, hi), 32);
      v128.store(yp, clamp4(a3, lo, hi), 48);
    }
    if (V >= 8) {
      v128.store(yp, clamp4(a4, lo, hi), 64);
      v128.store(yp, clamp4(a5, lo, hi), 80);
      v128.store(yp, clamp4(a6, lo, hi), 96);
      v128.store(yp, clamp4(a7, lo, hi), 112);
    }
  }
}

/** The last 1..3 pixels, one at a time, in the tile's summation order. */
// @ts-ignore: decorator
@inline function spmmNchwScalar(x: usize, xstride: usize, pixels: i32, rowptr: usize, ics: usize,
    vals: usize, oc0: i32, oc1: i32, bias: usize, vmin: f32, vmax: f32, y: usize, ystride: usize): void {
  for (let p = 0; p < pixels; p++) {
    const po = <usize>p << 2;
    let j = load<i32>(rowptr + (<usize>oc0 << 2));
    for (let oc = oc0; oc < oc1; oc++) {
      const end = load<i32>(rowptr + (<usize>oc << 2), 4);
      let a: f32 = bias != 0 ? load<f32>(bias + (<usize>oc << 2)) : 0;
      for (; j < end; j++) {
        a += load<f32>(vals + (<usize>j << 2)) * load<f32>(x + <usize>load<i32>(ics + (<usize>j << 2)) * xstride + po);
      }
      store<f32>(y + <usize>oc * ystride + po, clamp1(a, vmin, vmax));
    }
  }
}

/** Copies the MR = 4·V pixels at x of each of k rows into consecutive 16·V-byte rows at dst. */
// @ts-ignore: decorator
@inline function packTile(x: usize, xstride: usize, k: i32, dst: usize, V: i32): void {
  for (let i = 0; i < k; i++, x += xstride, dst += <usize>V << 4) {
    v128.store(dst, v128.load(x));
    if (V >= 2) v128.store(dst, v128.load(x, 16), 16);
    if (V >= 4) {
      v128.store(dst, v128.load(x, 32), 32);
      v128.store(dst, v128.load(x, 48), 48);
    }
    if (V >= 8) {
      v128.store(dst, v128.load(x, 64), 64);
      v128.store(dst, v128.load(x, 80), 80);
      v128.store(dst, v128.load(x, 96), 96);
      v128.store(dst, v128.load(x, 112), 112);
    }
  }
}

/**
 * Every pixel of the range: tiles of MR = 4·V pixels, then the 16/8/4 tails, then scalar. With
 * `pack` (k·16·V bytes of scratch), each full tile's pixels of the k input rows are first copied
 * together: rows of a long pixel dimension lie a multiple of 4 KiB apart (or nearly), the tile's k
 * lines then fall into a few L1 sets and evict each other on every nonzero (3136 pixels, 512 ->
 * 512 channels, 80 %: 18 GFLOP/s on the nonzeros unpacked, bench/pixel.ts).
 */
// @ts-ignore: decorator
@inline export function spmmNchw(x: usize, xstride: usize, pixels: i32, rowptr: usize, ics: usize, vals: usize,
    oc0: i32, oc1: i32, bias: usize, vmin: f32, vmax: f32, y: usize, ystride: usize, V: i32, k: i32,
    pack: usize): void {
  const mr = V << 2;
  let p = 0;
  for (; p + mr <= pixels; p += mr) {
    const o = <usize>p << 2;
    if (pack != 0) {
      packTile(x + o, xstride, k, pack, V);
      spmmNchwTile(pack, <usize>V << 4, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y + o, ystride, V);
    } else {
      spmmNchwTile(x + o, xstride, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y + o, ystride, V);
    }
  }
  if (V > 4 && (pixels - p) & 16) {
    const o = <usize>p << 2;
    spmmNchwTile(x + o, xstride, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y + o, ystride, 4);
    p += 16;
  }
  if (V > 2 && (pixels - p) & 8) {
    const o = <usize>p << 2;
    spmmNchwTile(x + o, xstride, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y + o, ystride, 2);
    p += 8;
  }
  if (V > 1 && (pixels - p) & 4) {
    const o = <usize>p << 2;
    spmmNchwTile(x + o, xstride, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y + o, ystride, 1);
    p += 4;
  }
  if (p < pixels) {
    const o = <usize>p << 2;
    spmmNchwScalar(x + o, xstride, pixels - p, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y + o, ystride);
  }
}

/**
 * Y = clamp(W · X + bias) for f32 weights in compressed rows, 16 pixels per tile: the fastest tile
 * in V8 (784 pixels, 256 -> 256 channels, 80 % sparse: 34 GFLOP/s on the nonzeros, against 23-24
 * for 32 pixels, whose 8 accumulators V8 spills, and 28 for 8; bench/pixel.ts --tiles).
 * @param x       float32 activations [inC rows of xstride bytes], at the first pixel of the range
 * @param xstride bytes from one input channel's pixels to the next's
 * @param pixels  pixels in the range
 * @param rowptr  int32[outC + 1] nonzero ranges per output channel
 * @param ics     int32[nnz] input channel of each nonzero
 * @param vals    float32[nnz] weights
 * @param oc0     first output channel to compute
 * @param oc1     one past the last
 * @param bias    float32[outC] or 0 for none
 * @param vmin    lower clamp (-Infinity for none, 0 for relu)
 * @param vmax    upper clamp (Infinity for none, 6 for relu6)
 * @param y       float32 output [outC rows of ystride bytes], at the first pixel of the range
 * @param ystride bytes from one output channel's pixels to the next's
 * @param k       input channels (rows of x)
 * @param pack    0, or 16-byte-aligned scratch of k·64 bytes to copy each 16-pixel tile into first
 */
export function f32_spmm_nchw_16x1__simd128(x: usize, xstride: usize, pixels: i32, rowptr: usize, ics: usize,
    vals: usize, oc0: i32, oc1: i32, bias: usize, vmin: f32, vmax: f32, y: usize, ystride: usize, k: i32,
    pack: usize): void {
  spmmNchw(x, xstride, pixels, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y, ystride, 4, k, pack);
}

/** As `f32_spmm_nchw_16x1__simd128` with 8-pixel tiles (measured, not dispatched; `pack` k·32 bytes). */
export function f32_spmm_nchw_8x1__simd128(x: usize, xstride: usize, pixels: i32, rowptr: usize, ics: usize,
    vals: usize, oc0: i32, oc1: i32, bias: usize, vmin: f32, vmax: f32, y: usize, ystride: usize, k: i32,
    pack: usize): void {
  spmmNchw(x, xstride, pixels, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y, ystride, 2, k, pack);
}

/** As `f32_spmm_nchw_16x1__simd128` with 32-pixel tiles (measured, not dispatched; `pack` k·128 bytes). */
export function f32_spmm_nchw_32x1__simd128(x: usize, xstride: usize, pixels: i32, rowptr: usize, ics: usize,
    vals: usize, oc0: i32, oc1: i32, bias: usize, vmin: f32, vmax: f32, y: usize, ystride: usize, k: i32,
    pack: usize): void {
  spmmNchw(x, xstride, pixels, rowptr, ics, vals, oc0, oc1, bias, vmin, vmax, y, ystride, 8, k, pack);
}

