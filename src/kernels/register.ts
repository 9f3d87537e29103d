/** Registers every kernel on the `wasm` and `cpu` backends: one list, one loop. */
import {registerKernel} from '@tensorflow/tfjs-core';
import {KernelDef, kernelConfigs} from './bridge';
import {conv2dBackpropFilterKernel, wasmLacksConv2DBackpropFilter} from './conv2d_grad';
import {fastMatMulKernel, maskedDenseDxKernel, maskedDenseKernel, registerMaskedDenseGradient} from './gemm_grad';
import {applyMaskKernel, countNonzeroKernel, maskFromThresholdKernel} from './mask';
import {im2colKernel} from './im2col';
import {dwConvNchwKernel} from './dwconv_nchw';
import {spmmNchwKernel} from './spmm_nchw';
import {mByNMaskKernel} from './nm';
import {blockPoolKernel, expandBlockMaskKernel} from './pool';
import {kthLargestMagnitudeKernel} from './select';
import {denseMatMulKernel, registerNoGradients, spmmF32Kernel, spmmI8Kernel, unpackF32Kernel, unpackI8Kernel} from './spmm';

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
];

// Fill tfjs-wasm's gap without replacing a kernel that a later tfjs-wasm may bring.
if (wasmLacksConv2DBackpropFilter()) KERNELS.push(conv2dBackpropFilterKernel);

for (const def of KERNELS) {
  for (const config of kernelConfigs(def)) registerKernel(config);
}
// Inference-only kernels: a tape that reaches one fails loudly (see spmm.ts).
registerNoGradients();
registerMaskedDenseGradient();
