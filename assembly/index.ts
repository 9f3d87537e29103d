// The kernel module's exports: one line per kernel family (DESIGN §1).
export * from './mask';
export * from './pool';
export * from './nm';
export * from './select';
export * from './conv2d_grad_f32';
export {f32_spmm_2x16__simd128, f32_spmm_2x8__simd128, f32_spmm_2x4__simd128, f32_spmm_1x16__simd128,
  f32_spmm_1x8__simd128, f32_spmm_1x4__simd128, f32_spmm_2xw__scalar} from './spmm_f32';
export {i8_spmm_2x16__simd128, i8_spmm_2x8__simd128, i8_spmm_2x4__simd128, i8_spmm_1x16__simd128,
  i8_spmm_1x8__simd128, i8_spmm_1x4__simd128, i8_spmm_1xw__scalar, i8_quantize_rows__simd128} from './spmm_i8';
export {f32_gemm_4x8__simd128, f32_gemv_rows__simd128} from './gemm_f32';
export * from './gemm_grad_f32';
export * from './unpack';
export * from './im2col_f32';
export {f32_spmm_nchw_16x1__simd128, f32_spmm_nchw_32x1__simd128, f32_spmm_nchw_8x1__simd128} from './spmm_nchw_f32';
export {i8_spmm_nchw_16x1__simd128} from './spmm_nchw_i8';
export * from './dwconv_nchw_f32';
