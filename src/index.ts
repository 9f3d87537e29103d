/**
 * tfjs-sparsity: the Keras pruning API of tfmot for TensorFlow.js, with WebAssembly SIMD kernels.
 * Importing the package registers its kernels on the `wasm` and `cpu` backends.
 */
export * from './kernels/index';
export * from './sparse/index';
export {ConstantSparsity, deserializeSchedule, PolynomialDecay, PruningSchedule, serializeSchedule} from './schedules';
export type {ConstantSparsityArgs, PolynomialDecayArgs, SerializedSchedule} from './schedules';
export {BLOCK_RANK_ERROR_MSG, GlobalPruningGroup, M_BY_N_THRESHOLD, Pruning, VALID_BLOCK_POOLING_TYPES}
  from './pruning';
export type {BlockPoolingType, PruningArgs, PruningVar} from './pruning';
export {checkPrunable, getPrunableWeights, isPrunableLayer, supportsPruning} from './registry';
export type {PrunableLayer} from './registry';
export {collectPrunableLayers, linkGlobalPruning, PRUNE_CALLBACK_ERROR_MSG, PruneLowMagnitude} from './wrapper';
export type {PruneLowMagnitudeArgs} from './wrapper';
export {cloneModel, getModelSparsity, pruneLowMagnitude, pruneScope, stripPruning} from './prune';
export type {PruneLowMagnitudeOptions} from './prune';
export {PruningSummaries, UpdatePruningStep} from './callbacks';
export type {PruningSummariesArgs, UpdateFreq} from './callbacks';
export {PruneForSparseKernels, PruningPolicy} from './policy';
export {decodeEventFile, histogramOf, readEventFile, SummaryWriter} from './tensorboard';
export type {Histogram, SummaryValue, TensorBoardEvent} from './tensorboard';
export {fileSystem, NodeFileSystem} from './io/file';
export {disableFastTraining, enableFastTraining, isFastTrainingEnabled} from './training/enable';
export {FAST_DENSE_ACTIVATIONS, fastDenseCall, maskedDense} from './training/fast_dense';
export type {FastDenseActivation} from './training/fast_dense';
