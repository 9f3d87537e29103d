/** Registers every kernel on the `wasm` and `cpu` backends: one list, one loop. */
import {registerKernel} from '@tensorflow/tfjs-core';
import {KernelDef, kernelConfigs} from './bridge';
import {applyMaskKernel, countNonzeroKernel, maskFromThresholdKernel} from './mask';

const KERNELS: KernelDef[] = [
  maskFromThresholdKernel,
  applyMaskKernel,
  countNonzeroKernel,
];

for (const def of KERNELS) {
  for (const config of kernelConfigs(def)) registerKernel(config);
}
