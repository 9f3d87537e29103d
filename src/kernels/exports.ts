/**
 * The kernel module's exports as TypeScript sees them, a file of its own because both the build
 * choice (`builds.ts`, which self-tests a build) and the module loader (`module.ts`) use them.
 * `test/module.test.ts` checks them against the compiled module's exports.
 */

/** The kernel exports, pointer in / pointer out (see `assembly/`), by kernel family. */
export interface KernelExports {
  // conv2d_grad_f32.ts
  f32_conv2d_backprop_filter_nhwc__simd128(
      x: number, dy: number, dw: number, batch: number, inH: number, inW: number, inC: number,
      outH: number, outW: number, outC: number, fH: number, fW: number, strideH: number,
      strideW: number, padTop: number, padLeft: number): void;
  // gemm_grad_f32.ts
  f32_gemm_tn_4x8__simd128(a: number, m: number, k: number, b: number, n: number, c: number, scratch: number): void;
  x32_transpose__simd128(src: number, rows: number, cols: number, dst: number): void;
  x32_transpose_strided__simd128(src: number, rows: number, cols: number, srcStride: number, dst: number, dstStride: number): void;
  f32_gemm_nt_dot_1x4__simd128(a: number, m: number, n: number, b: number, k: number, c: number): void;
  f32_spmm_t_1x32__simd128(w: number, sIdx: number, sR: number, ptr: number, idx: number, rows: number,
      inT: number, m: number, outT: number): void;
  f32_transpose_bias_relu__simd128(outT: number, n: number, m: number, bias: number, relu: number, y: number): void;
  // mask.ts
  f32_mask_from_threshold__simd128(src: number, n: number, threshold: number, dst: number): void;
  f32_apply_mask__simd128(src: number, mask: number, n: number, dst: number): void;
  f32_count_nonzero__simd128(src: number, n: number): number;
  // nm.ts
  f32_m_by_n_mask__simd128(src: number, spatial: number, cin: number, cout: number, m: number, n: number,
                           dst: number): void;
  // pool.ts
  f32_block_pool_avg__simd128(src: number, rows: number, cols: number, bh: number, bw: number,
                              scratch: number, dst: number): void;
  f32_block_pool_max__simd128(src: number, rows: number, cols: number, bh: number, bw: number,
                              scratch: number, dst: number): void;
  f32_expand_block_mask__simd128(mask: number, rows: number, cols: number, bh: number, bw: number,
                                 dst: number): void;
  // select.ts
  f32_sample_keys__simd128(src: number, n: number, chunks: number, dst: number): void;
  f32_magnitude_band__simd128(src: number, n: number, lo: number, hi: number, dst: number, cap: number,
                              aboveOut: number): number;
  i32_kth_largest_in_range__radix(keys: number, m: number, k: number, lo: number, hi: number,
                                  hist: number): number;
  f32_kth_largest_magnitude_in_range__radix(src: number, n: number, k: number, lo: number, hi: number,
                                            hist: number): number;
  // spmm_f32.ts, spmm_i8.ts, gemm_f32.ts
  f32_spmm_2x16__simd128(x: number, m: number, k: number, colptr: number, rowoff: number, vals: number,
      n: number, bias: number, relu: number, y: number, tmp: number): void;
  f32_spmm_2x8__simd128(x: number, m: number, k: number, colptr: number, rowoff: number, vals: number,
      n: number, bias: number, relu: number, y: number, tmp: number): void;
  f32_spmm_2x4__simd128(x: number, m: number, k: number, colptr: number, rowoff: number, vals: number,
      n: number, bias: number, relu: number, y: number, tmp: number): void;
  f32_spmm_1x16__simd128(x: number, colptr: number, rowoff: number, vals: number, n: number, bias: number,
      relu: number, y: number, tmp: number): void;
  f32_spmm_1x8__simd128(x: number, colptr: number, rowoff: number, vals: number, n: number, bias: number,
      relu: number, y: number, tmp: number): void;
  f32_spmm_1x4__simd128(x: number, colptr: number, rowoff: number, vals: number, n: number, bias: number,
      relu: number, y: number, tmp: number): void;
  f32_spmm_2xw__scalar(x: number, m: number, k: number, colptr: number, rowoff: number, vals: number,
      bw: number, n: number, bias: number, relu: number, y: number): void;
  i8_spmm_2x16__simd128(xq: number, sx: number, m: number, k: number, colptr: number, rowoff: number,
      vals: number, sw: number, n: number, bias: number, relu: number, y: number, tmp: number): void;
  i8_spmm_2x8__simd128(xq: number, sx: number, m: number, k: number, colptr: number, rowoff: number,
      vals: number, sw: number, n: number, bias: number, relu: number, y: number, tmp: number): void;
  i8_spmm_2x4__simd128(xq: number, sx: number, m: number, k: number, colptr: number, rowoff: number,
      vals: number, sw: number, n: number, bias: number, relu: number, y: number, tmp: number): void;
  i8_spmm_1x16__simd128(xq: number, sx: number, k: number, colptr: number, rowoff: number, vals: number,
      sw: number, n: number, bias: number, relu: number, y: number, tmp: number): void;
  i8_spmm_1x8__simd128(xq: number, sx: number, k: number, colptr: number, rowoff: number, vals: number,
      sw: number, n: number, bias: number, relu: number, y: number, tmp: number): void;
  i8_spmm_1x4__simd128(xq: number, sx: number, k: number, colptr: number, rowoff: number, vals: number,
      sw: number, n: number, bias: number, relu: number, y: number, tmp: number): void;
  i8_spmm_1xw__scalar(xq: number, sx: number, m: number, k: number, colptr: number, rowoff: number,
      vals: number, sw: number, bw: number, n: number, bias: number, relu: number, y: number): void;
  i8_quantize_rows__simd128(x: number, m: number, k: number, xq: number, sx: number): void;
  f32_gemm_4x8__simd128(x: number, m: number, k: number, w: number, n: number, bias: number, relu: number,
      y: number, tmp: number): void;
  f32_gemv_rows__simd128(x: number, k: number, w: number, n: number, bias: number, relu: number, y: number): void;
  // spmm_nchw_f32.ts, spmm_nchw_i8.ts
  f32_spmm_nchw_32x1__simd128(x: number, xstride: number, pixels: number, rowptr: number, ics: number, vals: number,
      oc0: number, oc1: number, bias: number, vmin: number, vmax: number, y: number, ystride: number, k: number,
      pack: number): void;
  f32_spmm_nchw_16x1__simd128(x: number, xstride: number, pixels: number, rowptr: number, ics: number, vals: number,
      oc0: number, oc1: number, bias: number, vmin: number, vmax: number, y: number, ystride: number, k: number,
      pack: number): void;
  f32_spmm_nchw_8x1__simd128(x: number, xstride: number, pixels: number, rowptr: number, ics: number, vals: number,
      oc0: number, oc1: number, bias: number, vmin: number, vmax: number, y: number, ystride: number, k: number,
      pack: number): void;
  i8_spmm_nchw_16x1__simd128(x: number, xstride: number, pixels: number, rowptr: number, ics: number, vals: number,
      scales: number, oc0: number, oc1: number, bias: number, vmin: number, vmax: number, y: number, ystride: number,
      k: number, pack: number, scratch: number): void;
  // dwconv_nchw_f32.ts
  f32_dwconv2d_nchw_3x3s1__simd128(x: number, batch: number, channels: number, c0: number, c1: number, h: number,
      w: number, oh: number, ow: number, padTop: number, padLeft: number, weights: number, bias: number, vmin: number,
      vmax: number, y: number, scratch: number): void;
  f32_dwconv2d_nchw_3x3s2__simd128(x: number, batch: number, channels: number, c0: number, c1: number, h: number,
      w: number, oh: number, ow: number, padTop: number, padLeft: number, weights: number, bias: number, vmin: number,
      vmax: number, y: number, scratch: number): void;
  f32_dwconv2d_nchw_scratch_bytes(oh: number, ow: number, s: number): number;
  // im2col_f32.ts
  f32_im2col_nhwc__scalar(x: number, b: number, h: number, w: number, c: number, kh: number, kw: number, sh: number,
      sw: number, top: number, left: number, oh: number, ow: number, dst: number): void;
  // unpack.ts
  f32_unpack_strips__scalar(colptr: number, rowoff: number, vals: number, bw: number, k: number, n: number,
      dst: number): void;
  i8_unpack_strips__scalar(colptr: number, rowoff: number, vals: number, sw: number, bw: number, k: number, n: number,
      dst: number): void;
}
