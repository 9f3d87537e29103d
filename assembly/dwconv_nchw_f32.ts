// Depthwise 3x3 convolution of channel-major (NCHW) planes, stride 1 or 2, any zero padding, fused
// bias and clamp (relu, relu6): the depthwise layers of a MobileNet between the sparse 1x1
// convolutions, so a whole run of layers stays channel-major (Elsen et al.; XNNPACK's
// f32-dwconv2d-chw does the same).
//
// Each plane is first copied into `scratch` with its zero padding laid out explicitly (for stride
// 2, each padded row then split into its even and odd columns), in vectors, so the compute loop has
// no edge cases:
// one output vector (4 pixels of a row) is 9 vector loads of the padded rows times the 9 weights,
// which stay splatted in registers for the whole plane. The copy reads each input once; the
// compute reads the (cached) padded rows.
import {f32x4_madd} from './madd';

import {transpose4x4} from './gemm_grad_f32';

// @ts-ignore: decorator
@inline function roundUp4(n: i32): i32 {
  return (n + 3) & ~3;
}

/**
 * The widest output for which 4 channels go through the lanes together (`dwconvQuad`): narrower
 * planes waste lanes and pay the per-plane setup on too few pixels. Against tf.depthwiseConv2d
 * (bench/pixel.ts --depthwise, 2026-12-06): 7x7x960 0.60x plane by plane, 1.41x in quads; 14x14x576
 * stride 2 0.46x / 1.02x; at 28 wide both ran 1.04-1.05x.
 */
// @ts-ignore: decorator
@inline const QUAD_MAX_OW = 16;

/**
 * dst[c] = row[c - padLeft] for c < len, 0 outside the row (padLeft <= 3): a zero vector for the
 * left padding, the row's w values in vectors (and a scalar tail), zero vectors from its end on.
 * dst has room for max(len, padLeft + w) + 3 entries.
 */
// @ts-ignore: decorator
@inline function padRow(row: usize, w: i32, padLeft: i32, dst: usize, len: i32): void {
  const zero = f32x4.splat(0);
  v128.store(dst, zero);
  const d = dst + (<usize>padLeft << 2);
  let i = 0;
  for (; i + 4 <= w; i += 4) v128.store(d + (<usize>i << 2), v128.load(row + (<usize>i << 2)));
  for (; i < w; i++) store<f32>(d + (<usize>i << 2), load<f32>(row + (<usize>i << 2)));
  for (let c = padLeft + w; c < len; c += 4) v128.store(dst + (<usize>c << 2), zero);
}

/** even[i] = padded[2i], odd[i] = padded[2i + 1] for i < len (rounded up to 4). */
// @ts-ignore: decorator
@inline function splitRow(padded: usize, even: usize, odd: usize, len: i32): void {
  for (let i = 0; i < len; i += 4) {
    const a = v128.load(padded + (<usize>i << 3)), b = v128.load(padded + (<usize>i << 3), 16);
    v128.store(even + (<usize>i << 2), v128.shuffle<f32>(a, b, 0, 2, 4, 6));
    v128.store(odd + (<usize>i << 2), v128.shuffle<f32>(a, b, 1, 3, 5, 7));
  }
}

/** acc + wa·[pa] + wb·[pb] + wc·[pc]: one row of 3 taps, added in tap order. */
// @ts-ignore: decorator
@inline function row3(acc: v128, wa: v128, wb: v128, wc: v128, pa: usize, pb: usize, pc: usize): v128 {
  acc = f32x4_madd(acc, wa, v128.load(pa));
  acc = f32x4_madd(acc, wb, v128.load(pb));
  return f32x4_madd(acc, wc, v128.load(pc));
}

/**
 * b + the 9 taps of rows r0, r1, r2 (each row's taps at +0, +d1, +d2). The baseline build adds them
 * in tap order; the relaxed build sums each row into its own accumulator, since fused multiply-adds
 * chained 9 deep wait on each other's latency (0.64-0.85x of the baseline, bench/relaxed.ts).
 */
// @ts-ignore: decorator
@inline function taps9(b: v128, w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128,
    w8: v128, r0: usize, r1: usize, r2: usize, d1: usize, d2: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const zero = f32x4.splat(0);
    const s0 = row3(b, w0, w1, w2, r0, r0 + d1, r0 + d2);
    const s1 = row3(zero, w3, w4, w5, r1, r1 + d1, r1 + d2);
    const s2 = row3(zero, w6, w7, w8, r2, r2 + d1, r2 + d2);
    return f32x4.add(f32x4.add(s0, s1), s2);
  }
  let acc = row3(b, w0, w1, w2, r0, r0 + d1, r0 + d2);
  acc = row3(acc, w3, w4, w5, r1, r1 + d1, r1 + d2);
  return row3(acc, w6, w7, w8, r2, r2 + d1, r2 + d2);
}

/** Stores the first n (1..3) lanes of v. */
// @ts-ignore: decorator
@inline function storePartial(p: usize, v: v128, n: i32): void {
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (n > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (n > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/** Planes [pl0, pl1) one at a time, pixels in the lanes. */
// @ts-ignore: decorator
@inline function dwconvPlanes(x: usize, pl0: i32, pl1: i32, channels: i32, h: i32, w: i32, oh: i32, ow: i32,
    padTop: i32, padLeft: i32, weights: usize, bias: usize, vmin: f32, vmax: f32, y: usize, scratch: usize,
    S: i32): void {
  // Padded rows are `pitch` floats (per half for stride 2), enough for the last vector's reads;
  // stride 2 pads each row into `wide` first, then splits it.
  const pitch = roundUp4(ow) + 4;
  const rowBytes = <usize>pitch << 2;
  const rowsNeeded = (oh - 1) * S + 3;
  const srow = S == 1 ? rowBytes : rowBytes << 1;
  const wide = scratch + <usize>rowsNeeded * srow;
  const lo = f32x4.splat(vmin), hi = f32x4.splat(vmax);
  const inPlane = <usize>h * <usize>w << 2, outPlane = <usize>oh * <usize>ow << 2;
  for (let pl = pl0; pl < pl1; pl++) {
    const src = x + <usize>pl * inPlane;
    // Lay out the padded plane: only the columns that valid output lanes read (the lanes past ow
    // of the last vector read what the row holds beyond them, in bounds, and are not stored).
    for (let r = 0; r < rowsNeeded; r++) {
      const iy = r - padTop;
      const dst = scratch + <usize>r * srow;
      const row = src + <usize>iy * (<usize>w << 2);
      if (S == 1) {
        padRow(row, iy < 0 || iy >= h ? 0 : w, padLeft, dst, ow + 2);
      } else {
        padRow(row, iy < 0 || iy >= h ? 0 : w, padLeft, wide, 2 * ow + 2);
        splitRow(wide, dst, dst + rowBytes, ow + 1);
      }
    }
    const c = pl % channels;
    const wp = weights + <usize>c * 36;
    const w0 = v128.load32_splat(wp), w1 = v128.load32_splat(wp, 4), w2 = v128.load32_splat(wp, 8);
    const w3 = v128.load32_splat(wp, 12), w4 = v128.load32_splat(wp, 16), w5 = v128.load32_splat(wp, 20);
    const w6 = v128.load32_splat(wp, 24), w7 = v128.load32_splat(wp, 28), w8 = v128.load32_splat(wp, 32);
    const b = bias != 0 ? v128.load32_splat(bias + (<usize>c << 2)) : f32x4.splat(0);
    const dstPlane = y + <usize>pl * outPlane;
    for (let oy = 0; oy < oh; oy++) {
      const r0 = scratch + <usize>(oy * S) * srow, r1 = r0 + srow, r2 = r1 + srow;
      const out = dstPlane + <usize>oy * (<usize>ow << 2);
      for (let ox = 0; ox < ow; ox += 4) {
        const o = <usize>ox << 2;
        // Stride 2: row halves, even columns at r and odd at r + rowBytes; taps 0, 1, 2 of a row
        // are even[ox], odd[ox], even[ox + 1].
        const b1: usize = S == 1 ? <usize>4 : rowBytes, b2: usize = S == 1 ? 8 : 4;
        let acc = taps9(b, w0, w1, w2, w3, w4, w5, w6, w7, w8, r0 + o, r1 + o, r2 + o, b1, b2);
        acc = f32x4.pmin(f32x4.pmax(acc, lo), hi);
        if (ox + 4 <= ow) v128.store(out + o, acc);
        else storePartial(out + o, acc, ow - ox);
      }
    }
  }
}

/**
 * Four consecutive channels (planes at x, x + inPlane, ...) with the channels in the lanes: the
 * padded input is laid out as one vector of 4 channels per pixel (4x4 transposes in), each output
 * pixel is 9 vector loads times the 9 per-tap weight vectors, and each 4 output pixels go back to
 * their planes through one transpose. The same sums in the same order as `dwconvPlanes`.
 * Scratch: 64 bytes of output staging, 144 of weights, then the padded pixels.
 */
// @ts-ignore: decorator
@inline function dwconvQuad(x: usize, h: i32, w: i32, oh: i32, ow: i32, padTop: i32, padLeft: i32, wp: usize,
    bias: usize, vmin: f32, vmax: f32, y: usize, scratch: usize, S: i32): void {
  const rows = (oh - 1) * S + 3, cols = (ow - 1) * S + 3;
  const inPlane = <usize>h * <usize>w << 2, outPlane = <usize>oh * <usize>ow << 2;
  const tmp = scratch, wbuf = scratch + 64, pad = scratch + 208, rowBytes = <usize>cols << 4;
  const zero = f32x4.splat(0);
  for (let i = 0; i < rows * cols; i++) v128.store(pad + (<usize>i << 4), zero);
  for (let iy = 0; iy < h && iy + padTop < rows; iy++) {
    const dst = pad + <usize>(iy + padTop) * rowBytes + (<usize>padLeft << 4);
    const src = x + (<usize>(iy * w) << 2);
    const used = min(w, cols - padLeft);
    let ix = 0;
    for (; ix + 4 <= used; ix += 4) transpose4x4(src + (<usize>ix << 2), inPlane, dst + (<usize>ix << 4), 16);
    for (; ix < used; ix++) {
      for (let ch = 0; ch < 4; ch++) {
        store<f32>(dst + (<usize>ix << 4) + (<usize>ch << 2), load<f32>(src + <usize>ch * inPlane + (<usize>ix << 2)));
      }
    }
  }
  // Tap t of the 4 channels (weights [C, 9]: a channel every 36 bytes) as one vector.
  for (let ch = 0; ch < 4; ch++) {
    for (let t = 0; t < 9; t++) store<f32>(wbuf + (<usize>t << 4) + (<usize>ch << 2), load<f32>(wp + <usize>ch * 36 + (<usize>t << 2)));
  }
  const w0 = v128.load(wbuf), w1 = v128.load(wbuf, 16), w2 = v128.load(wbuf, 32);
  const w3 = v128.load(wbuf, 48), w4 = v128.load(wbuf, 64), w5 = v128.load(wbuf, 80);
  const w6 = v128.load(wbuf, 96), w7 = v128.load(wbuf, 112), w8 = v128.load(wbuf, 128);
  const b = bias != 0 ? v128.load(bias) : zero;
  const lo = f32x4.splat(vmin), hi = f32x4.splat(vmax);
  const step = <usize>S << 4;
  for (let oy = 0; oy < oh; oy++) {
    const r0 = pad + <usize>(oy * S) * rowBytes, r1 = r0 + rowBytes, r2 = r1 + rowBytes;
    const out = y + (<usize>(oy * ow) << 2);
    for (let ox = 0; ox < ow; ox += 4) {
      const n = min(4, ow - ox);
      for (let j = 0; j < n; j++) {
        const o = <usize>(ox + j) * step;
        let acc = taps9(b, w0, w1, w2, w3, w4, w5, w6, w7, w8, r0 + o, r1 + o, r2 + o, 16, 32);
        v128.store(tmp + (<usize>j << 4), f32x4.pmin(f32x4.pmax(acc, lo), hi));
      }
      if (n == 4) {
        transpose4x4(tmp, 16, out + (<usize>ox << 2), outPlane);
      } else {
        for (let j = 0; j < n; j++) {
          for (let ch = 0; ch < 4; ch++) {
            store<f32>(out + <usize>ch * outPlane + (<usize>(ox + j) << 2), load<f32>(tmp + (<usize>j << 4) + (<usize>ch << 2)));
          }
        }
      }
    }
  }
}

// @ts-ignore: decorator
@inline function dwconv3x3(x: usize, batch: i32, channels: i32, c0: i32, c1: i32, h: i32, w: i32, oh: i32, ow: i32,
    padTop: i32, padLeft: i32, weights: usize, bias: usize, vmin: f32, vmax: f32, y: usize, scratch: usize,
    S: i32): void {
  const inPlane = <usize>h * <usize>w << 2, outPlane = <usize>oh * <usize>ow << 2;
  for (let b = 0; b < batch; b++) {
    const base = b * channels;
    let c = c0;
    if (ow <= QUAD_MAX_OW) {
      for (; c + 4 <= c1; c += 4) {
        const pl = <usize>(base + c);
        dwconvQuad(x + pl * inPlane, h, w, oh, ow, padTop, padLeft, weights + <usize>c * 36,
            bias != 0 ? bias + (<usize>c << 2) : 0, vmin, vmax, y + pl * outPlane, scratch, S);
      }
    }
    if (c < c1) {
      dwconvPlanes(x, base + c, base + c1, channels, h, w, oh, ow, padTop, padLeft, weights, bias, vmin, vmax, y,
          scratch, S);
    }
  }
}

/**
 * y = clamp(depthwise3x3(x) + bias), stride 1, for the channels [c0, c1) of every image (a range, so
 * a caller can split the work across threads).
 * @param x        float32 [batch, channels, h, w]
 * @param batch    images
 * @param channels channels (weights and bias are per channel)
 * @param c0       first channel to compute
 * @param c1       one past the last
 * @param h        input height
 * @param w        input width
 * @param oh       output height (rows of zeros beyond the padded input are read as padding)
 * @param ow       output width
 * @param padTop   zero rows above the input
 * @param padLeft  zero columns left of the input
 * @param weights  float32 [channels, 9]: the 3x3 taps of each channel, row-major
 * @param bias     float32 [channels] or 0 for none
 * @param vmin     lower clamp (-Infinity for none)
 * @param vmax     upper clamp (Infinity for none)
 * @param y        float32 [batch, channels, oh, ow] output (only the range is written)
 * @param scratch  16-byte-aligned scratch of `f32_dwconv2d_nchw_scratch_bytes` bytes
 */
export function f32_dwconv2d_nchw_3x3s1__simd128(x: usize, batch: i32, channels: i32, c0: i32, c1: i32, h: i32,
    w: i32, oh: i32, ow: i32, padTop: i32, padLeft: i32, weights: usize, bias: usize, vmin: f32, vmax: f32,
    y: usize, scratch: usize): void {
  dwconv3x3(x, batch, channels, c0, c1, h, w, oh, ow, padTop, padLeft, weights, bias, vmin, vmax, y, scratch, 1);
}

/** As `f32_dwconv2d_nchw_3x3s1__simd128` with stride 2. */
export function f32_dwconv2d_nchw_3x3s2__simd128(x: usize, batch: i32, channels: i32, c0: i32, c1: i32, h: i32,
    w: i32, oh: i32, ow: i32, padTop: i32, padLeft: i32, weights: usize, bias: usize, vmin: f32, vmax: f32,
    y: usize, scratch: usize): void {
  dwconv3x3(x, batch, channels, c0, c1, h, w, oh, ow, padTop, padLeft, weights, bias, vmin, vmax, y, scratch, 2);
}

/** Scratch bytes the 3x3 depthwise kernels need for an output of oh x ow at stride s. */
export function f32_dwconv2d_nchw_scratch_bytes(oh: i32, ow: i32, s: i32): i32 {
  const plane = ((oh - 1) * s + 3) * (roundUp4(ow) + 4) * 4 * s;
  const planes = s == 1 ? plane : plane + (2 * roundUp4(ow) + 16) * 4;
  const quad = 208 + ((oh - 1) * s + 3) * ((ow - 1) * s + 3) * 16;
  return ow <= QUAD_MAX_OW ? max(planes, quad) : planes;
}
