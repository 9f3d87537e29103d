/** Registers every kernel on the `wasm` and `cpu` backends: one list, one loop. */
import {registerKernel} from '@tensorflow/tfjs-core';
import {applyMaskKernel} from './apply_mask';
import {blockPoolKernel} from './block_pool';
import {KernelDef, kernelConfigs} from './bridge';
import {conv2dBackpropFilterKernel, wasmLacksConv2DBackpropFilter} from './conv2d_backprop_filter';
import {countNonzeroKernel} from './count_nonzero';
import {denseMatMulKernel} from './dense_matmul';
import {dwConvNchwKernel} from './dwconv_nchw';
import {expandBlockMaskKernel} from './expand_block_mask';
import {fastMatMulKernel} from './fast_matmul';
import {im2colKernel} from './im2col';
import {kthLargestMagnitudeKernel} from './kth_largest_magnitude';
import {layoutTransposeKernel} from './layout_transpose';
import {mByNMaskKernel} from './m_by_n_mask';
import {maskFromThresholdKernel} from './mask_from_threshold';
import {maskedDenseKernel} from './masked_dense';
import {maskedDenseDxKernel} from './masked_dense_dx';
import {spmmF32Kernel} from './spmm_f32';
import {spmmI8Kernel} from './spmm_i8';
import {spmmNchwKernel} from './spmm_nchw';
import {unpackF32Kernel} from './unpack_f32';
import {unpackI8Kernel} from './unpack_i8';

const KERNELS: KernelDef[] = [
  maskFromThresholdKernel,
  applyMaskKernel,
  countNonzeroKernel,
  blockPoolKernel,
  expandBlockMaskKernel,
  mByNMaskKernel,
  kthLargestMagnitudeKernel,
  spmmF32Kernel,
  spmmI8Kernel,
  denseMatMulKernel,
  unpackF32Kernel,
  unpackI8Kernel,
  fastMatMulKernel,
  maskedDenseKernel,
  maskedDenseDxKernel,
  im2colKernel,
  spmmNchwKernel,
  dwConvNchwKernel,
  layoutTransposeKernel,
];

// Fill tfjs-wasm's gap without replacing a kernel that a later tfjs-wasm may bring.
if (wasmLacksConv2DBackpropFilter()) KERNELS.push(conv2dBackpropFilterKernel);

for (const def of KERNELS) {
  for (const config of kernelConfigs(def)) registerKernel(config);
}
