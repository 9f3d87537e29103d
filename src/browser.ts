/**
 * The browser entry of tfjs-sparsity (`dist/tfjs-sparsity.browser.mjs`): everything `index.ts`
 * exports except the Node-only parts (TensorBoard event files, file IO, the callbacks module that
 * writes summaries), re-exported from the same modules. The bundle imports only `@tensorflow/*`
 * packages (the build fails on anything else), so a page loads it through an import map with no
 * bundler; await `ready()` before the first op. `test/browser.test.ts` fails when `index.ts` gains
 * an export that is neither here nor in its `NODE_ONLY` list.
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
export {PruneForSparseKernels, PruningPolicy} from './policy';
export {disableFastTraining, enableFastTraining, isFastTrainingEnabled} from './training/enable';
export {FAST_DENSE_ACTIVATIONS, fastDenseCall, maskedDense} from './training/fast_dense';
export type {FastDenseActivation} from './training/fast_dense';
