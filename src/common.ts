/**
 * Everything tfjs-sparsity exports that runs in browsers and Node alike. `index.ts` (Node) adds the
 * parts that write files; `browser.ts` is exactly this.
 */
export * from './ops/index';
export * from './sparse/index';
export {ConstantSparsity, deserializeSchedule, PolynomialDecay, PruningSchedule, serializeSchedule} from './pruning/schedules';
export type {ConstantSparsityArgs, PolynomialDecayArgs, SerializedSchedule} from './pruning/schedules';
export {BLOCK_RANK_ERROR_MSG, GlobalPruningGroup, M_BY_N_THRESHOLD, Pruning, VALID_BLOCK_POOLING_TYPES}
  from './pruning/pruning';
export type {BlockPoolingType, PruningArgs, PruningVar} from './pruning/pruning';
export {checkPrunable, getPrunableWeights, isPrunableLayer, supportsPruning} from './pruning/registry';
export type {PrunableLayer} from './pruning/registry';
export {PRUNE_CALLBACK_ERROR_MSG, PruneLowMagnitude} from './pruning/wrapper';
export {collectPrunableLayers, kerasCompatibleTopology, linkGlobalPruning} from './pruning/model_wrappers';
export type {PruneLowMagnitudeArgs} from './pruning/wrapper';
export {cloneModel} from './model/clone';
export {getModelSparsity, pruneLowMagnitude, pruneScope, stripPruning} from './pruning/prune';
export type {PruneLowMagnitudeOptions} from './pruning/prune';
export {UpdatePruningStep} from './pruning/callbacks';
export {PruneForSparseKernels, PruningPolicy} from './pruning/policy';
export {pruneForBenchmark} from './pruning/tools';
export {ChannelPruning, ChannelPruningGroup, channelPrunedWeights, linkChannelPruning, VALID_CHANNEL_ALLOCATIONS,
  VALID_CHANNEL_SCORES, VALID_PRUNING_STRUCTURES} from './pruning/channels';
export type {ChannelAllocation, ChannelScore, PruningStructure} from './pruning/channels';
export type {ChannelStop} from './model/channel_units';
export {shrinkModel} from './pruning/shrink_model';
export type {ShrinkLayerReport, ShrinkReport} from './model/shrink';
export type {ShrinkModelOptions, ShrinkResult} from './pruning/shrink_model';
export type {PruneForBenchmarkArgs, PrunedWeightReport} from './pruning/tools';
export {disableFastTraining, enableFastTraining, isFastTrainingEnabled} from './training/enable';
export {FAST_DENSE_ACTIVATIONS, fastDenseCall, maskedDense} from './training/fast_dense';
export type {FastDenseActivation} from './training/fast_dense';
export {pruneGraphWeights} from './pruning/graph_prune';
export type {GraphNodeSet, PrunedGraphWeight, PruneGraphWeightsOptions, PruneGraphWeightsResult} from './pruning/graph_prune';
export {pruneOneShot} from './pruning/one_shot';
export type {OneShotResult, PruneOneShotOptions} from './pruning/one_shot';
export type {OneShotLayerReport, OneShotOptions, OneShotReport} from './pruning/one_shot_run';
export {pruneGraphOneShot} from './pruning/graph_one_shot';
export type {GraphOneShotResult, PruneGraphOneShotOptions} from './pruning/graph_one_shot';
export {analyzeGraphSensitivity} from './pruning/graph_sensitivity';
export type {AnalyzeGraphSensitivityOptions} from './pruning/graph_sensitivity';
export {analyzeSensitivity, outputDivergence, VALID_SENSITIVITY_METRICS} from './pruning/sensitivity';
export type {AnalyzeSensitivityOptions, LayerSensitivity, SensitivityMetric, SensitivityResult} from './pruning/sensitivity';
export {erkSparsities, sensitivitySparsities, VALID_ALLOCATIONS} from './pruning/allocation';
export type {Allocation, AllocationLayer, SensitivityCurve} from './pruning/allocation';
export {recalibrateBatchNorm} from './pruning/batch_norm';
export type {RecalibrateBatchNormOptions} from './pruning/batch_norm';
export {solveLayer, VALID_ONE_SHOT_METHODS} from './pruning/layer_solve';
export type {LayerProblem, LayerStatistics, OneShotMethod, SolveOptions, SolveResult, SparsityPattern}
  from './pruning/layer_solve';
export type {CalibrationData, DatasetLike} from './pruning/calibration';
export type {OneShotProgress} from './pruning/one_shot_options';
export {pruneLowMagnitudeByLayer, pruneLowMagnitudeFromOneShot} from './pruning/fine_tune';
export type {LayerPruningOptions} from './pruning/fine_tune';
export {copyModel} from './model/copy_model';
