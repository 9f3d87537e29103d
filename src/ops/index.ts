/**
 * The pruning ops, each a function over the kernels of `src/kernels/` (as tfjs splits its ops and
 * kernels). Importing this module registers the kernels on the `wasm` and `cpu` backends.
 */
import '../kernels/register';

export {ready} from '../kernels/startup';
export {kernelBuild} from '../kernels/module';
export {VALID_KERNEL_BUILDS} from '../kernels/builds';
export type {KernelBuild, KernelBuildChoice} from '../kernels/builds';
export {getThreads, setThreads} from '../kernels/threads';
export {kernelInfo} from '../kernels/info';
export type {KernelInfo} from '../kernels/info';
export {applyMask, countNonzero, maskFromThreshold} from './mask';
export {blockPool, expandBlockMask, POOLING_TYPES} from './pool';
export type {PoolingType} from './pool';
export {mByNMask} from './m_by_n';
export {pruneMask} from './prune_mask';
export type {PruneMaskOptions, PruneMaskResult} from './prune_mask';
export {keepCount, kthLargestMagnitude, magnitudeThreshold} from './threshold';
export {fastMatMul} from './fast_matmul';
export {extractPatches, VALID_PATCH_PADDINGS} from './patches';
export type {PatchOptions, PatchPadding} from './patches';
