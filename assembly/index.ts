// The kernel module's exports: one line per kernel family (DESIGN §1), each export named, so that a
// helper another file imports (gemm_grad_f32's transpose4x4) never becomes a module export. Their
// TypeScript signatures are src/kernels/module.ts's `KernelExports`, which test/module.test.ts holds
// against these.
export {f32_mask_from_threshold__simd128, f32_apply_mask__simd128, f32_count_nonzero__simd128} from './mask';
export {f32_block_pool_avg__simd128, f32_block_pool_max__simd128, f32_expand_block_mask__simd128} from './pool';
export {f32_m_by_n_mask__simd128} from './nm';
export {f32_sample_keys__simd128, f32_magnitude_band__simd128, i32_kth_largest_in_range__radix,
  f32_kth_largest_magnitude_in_range__radix} from './select';
export {f32_conv2d_backprop_filter_nhwc__simd128} from './conv2d_grad_f32';
export {f32_spmm_2x16__simd128, f32_spmm_2x8__simd128, f32_spmm_2x4__simd128, f32_spmm_1x16__simd128,
  f32_spmm_1x8__simd128, f32_spmm_1x4__simd128, f32_spmm_2xw__scalar} from './spmm_f32';
export {i8_spmm_2x16__simd128, i8_spmm_2x8__simd128, i8_spmm_2x4__simd128, i8_spmm_1x16__simd128,
  i8_spmm_1x8__simd128, i8_spmm_1x4__simd128, i8_spmm_1xw__scalar, i8_quantize_rows__simd128} from './spmm_i8';
export {f32_gemm_4x8__simd128, f32_gemv_rows__simd128} from './gemm_f32';
export {f32_gemm_tn_4x8__simd128, x32_transpose__simd128, x32_transpose_strided__simd128, f32_gemm_nt_dot_1x4__simd128,
  f32_spmm_t_1x32__simd128, f32_transpose_bias_relu__simd128} from './gemm_grad_f32';
export {f32_unpack_strips__scalar, i8_unpack_strips__scalar} from './unpack';
export {f32_im2col_nhwc__scalar} from './im2col_f32';
export {f32_spmm_nchw_16x1__simd128, f32_spmm_nchw_32x1__simd128, f32_spmm_nchw_8x1__simd128} from './spmm_nchw_f32';
export {i8_spmm_nchw_16x1__simd128} from './spmm_nchw_i8';
export {f32_dwconv2d_nchw_3x3s1__simd128, f32_dwconv2d_nchw_3x3s2__simd128, f32_dwconv2d_nchw_scratch_bytes}
  from './dwconv_nchw_f32';
