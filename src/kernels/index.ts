/** The kernel ops. Importing this module registers the kernels on the `wasm` and `cpu` backends. */
import './register';

export {ready} from './startup';
export {kernelBuild, VALID_KERNEL_BUILDS} from './module';
export type {KernelBuild, KernelBuildChoice} from './module';
export {getThreads, setThreads} from './threads';
export {kernelInfo} from './info';
export type {KernelInfo} from './info';
export {applyMask, countNonzero, maskFromThreshold} from './mask';
export {blockPool, expandBlockMask, POOLING_TYPES} from './pool';
export type {PoolingType} from './pool';
export {mByNMask} from './nm';
export {pruneMask} from './prune_mask';
export type {PruneMaskOptions, PruneMaskResult} from './prune_mask';
export {keepCount, kthLargestMagnitude, magnitudeThreshold} from './select';
export {fastMatMul} from './gemm_grad';
