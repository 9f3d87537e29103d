/** Block-sparse inference: the packed weight format and the dispatched matmul. */
export {BlockSparseMatrix, unpackBlockSparse, validateBlockSparseArrays, VALID_BLOCK_SPARSE_DTYPES} from './format';
export type {BlockSparseArrays, BlockSparseDtype} from './format';
export {packBlockSparse} from './pack';
export type {PackOptions} from './pack';
export {INT8_MAX_K, VALID_STORED_DTYPES} from './quantize';
export type {StoredDtype} from './quantize';
export {blockSparseMatMul, planBlockSparseMatMul, VALID_BLOCK_SPARSE_ACTIVATIONS,
  VALID_BLOCK_SPARSE_KERNELS} from './matmul';
export type {BlockSparseActivation, BlockSparseKernel, BlockSparseMatMulOptions, BlockSparseMatMulPlan} from './matmul';
export {extractPatches, VALID_PATCH_PADDINGS} from './im2col';
export type {PatchOptions, PatchPadding} from './im2col';
export {SparseConv2D, SparseDense, VALID_SPARSE_CONV_DATA_FORMATS} from './sparse_dense';
export type {SparseConv2DArgs, SparseConvDataFormat, SparseDenseArgs} from './sparse_dense';
export {chooseKernelBlockWidth, toSparse, VALID_TO_SPARSE_LAYOUTS} from './convert';
export type {SparseLayerReport, ToSparseLayout, ToSparseOptions, ToSparseResult} from './convert';
export {PixelSparseMatrix} from './pixel_format';
export {channelMajorSparseMatMul} from './pixel_matmul';
export type {ChannelMajorSparseMatMulOptions} from './pixel_matmul';
export {depthwiseConv2dChannelsFirst} from './depthwise_nchw';
export type {DepthwiseChannelsFirstOptions, DepthwisePadding} from './depthwise_nchw';
export {DepthwiseConv2DChannelsFirst} from './depthwise_layer';
export type {DepthwiseConv2DChannelsFirstArgs} from './depthwise_layer';
export {VALID_FUSED_ACTIVATIONS} from './activation';
export type {FusedActivation} from './activation';
export {foldForInference} from '../model/fold';
export type {FoldedLayer} from '../model/fold';
export {chooseBlockSize, decodePositions, decodeWeight, encodeWeight, StorageError, VALID_POSITION_CODINGS} from './storage';
export type {PositionCoding, StorageLayout, StoredWeight} from './storage';
/** Graph models (tfjs-converter, an optional peer dependency loaded on first use). */
export {graphModelArtifacts} from '../model/graph_artifacts';
export {loadSparseGraphModel, sparsifyGraphModel} from './graph_model';
export type {SparsifyGraphModelOptions, SparsifyGraphModelResult} from './graph_model';
export type {GraphNodeReport} from './graph_plan';
export {graphWeightSparsity} from './graph_weights';
export type {GraphWeightSparsity} from './graph_weights';
export {GRAPH_OPS} from './graph_ops';
