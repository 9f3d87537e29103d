/** Block-sparse inference: the packed weight format and the dispatched matmul. */
export {BlockSparseMatrix, INT8_MAX_K, packBlockSparse, unpackBlockSparse, validateBlockSparseArrays,
  VALID_BLOCK_SPARSE_DTYPES} from './format';
export type {BlockSparseArrays, BlockSparseDtype, PackOptions} from './format';
export {blockSparseMatMul, planBlockSparseMatMul, VALID_BLOCK_SPARSE_ACTIVATIONS,
  VALID_BLOCK_SPARSE_KERNELS} from './matmul';
export type {BlockSparseActivation, BlockSparseKernel, BlockSparseMatMulOptions, BlockSparseMatMulPlan} from './matmul';
export {extractPatches, VALID_PATCH_PADDINGS} from './im2col';
export type {PatchOptions, PatchPadding} from './im2col';
export {SparseConv2D, SparseDense, VALID_SPARSE_CONV_DATA_FORMATS} from './sparse_dense';
export type {SparseConv2DArgs, SparseConvDataFormat, SparseDenseArgs} from './sparse_dense';
export {chooseKernelBlockWidth, toSparse} from './convert';
export type {SparseLayerReport, ToSparseOptions, ToSparseResult} from './convert';
export {chooseBlockSize, decodePositions, decodeWeight, encodeWeight, StorageError, VALID_POSITION_CODINGS,
  VALID_STORED_DTYPES} from './storage';
export type {PositionCoding, StorageLayout, StoredDtype, StoredWeight} from './storage';
