/**
 * `pruneOneShot`: prune a trained layers model at once, with no training loop, optionally using
 * calibration data (Wanda's activation-aware scores, or a SparseGPT/OBC layer-wise reconstruction
 * that updates the kept weights), with uniform, ERK or sensitivity-based per-layer sparsities and
 * BatchNorm recalibration. The caller's model is never changed: a copy is pruned and returned.
 * Graph models are handed to `pruneGraphOneShot`.
 */
import {LayersModel} from '@tensorflow/tfjs-layers';
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {isGraphModel} from '../model/graph_artifacts';
import {booleanOption, checkChoice} from '../util/validate';
import {copyModel} from '../model/copy_model';
import {VALID_ALLOCATIONS} from './allocation';
import {recalibrateBatchNorm} from './batch_norm';
import {GraphOneShotResult, PruneGraphOneShotOptions, pruneGraphOneShot} from './graph_one_shot';
import {DataLabel, forEachBatch} from './calibration';
import {inputSpec, LayersActivationSource, layerTargets} from './layers_source';
import {
  allocateSparsities, checkSensitivityCurves, checkSparsityOption, OneShotOptions, OneShotReport, overallSparsity, solveTargets,
} from './one_shot_run';
import {checkCommonOptions, selectTargets} from './one_shot_options';
import {analyzeSensitivity, DEFAULT_SENSITIVITY_SPARSITIES, MIN_CALIBRATION_SAMPLES, tooFewSamples} from './sensitivity';

/** Options of `pruneOneShot`: the options both model kinds take, and BatchNorm recalibration. */
export interface PruneOneShotOptions extends OneShotOptions {
  /** Re-estimate BatchNormalization statistics on `calibration` after pruning; default false. */
  recalibrateBatchNorm?: boolean;
}

/** The result of `pruneOneShot`. */
export interface OneShotResult extends OneShotReport {
  /** The pruned copy (the caller owns it). */
  model: LayersModel;
  /** BatchNormalization layers recalibrated. */
  batchNorm: string[];
}

const OPTION_NAMES = ['sparsity', 'method', 'calibration', 'allocation', 'sensitivity', 'recalibrateBatchNorm',
  'sequential', 'dampening', 'refitSweeps', 'batchSize', 'onProgress', 'blockSize', 'blockPoolingType', 'sparsityMByN'];

/**
 * Prunes a trained layers model in one shot. Every prunable weight (Dense and Conv2D with
 * calibration methods; every registry weight with 'magnitude') reaches its sparsity with the
 * block or M:N pattern asked for, the same masks `pruneLowMagnitude` would use on the same
 * scores. Feed the result to `pruneLowMagnitudeFromOneShot` to fine-tune at these masks.
 * ```js
 * const {model: pruned, layers} = await pruneOneShot(model, {
 *   sparsity: 0.8, method: 'obc', calibration: xs.slice(0, 256), allocation: 'sensitivity',
 * });
 * ```
 * @param model a plain (not wrapped) layers model with one input, or a GraphModel (see
 *     `pruneGraphOneShot`); it is not changed.
 * @returns the pruned copy and a per-layer report.
 * @throws Error naming the argument (and the layer, where one is at fault) for bad options, calibration
 *     data of the wrong shape or dtype, fewer than 16 samples, NaN or infinite activations, or a layer the
 *     method cannot score; the caller's model is untouched in every case.
 */
export async function pruneOneShot(model: LayersModel, options: PruneOneShotOptions): Promise<OneShotResult>;
/** A graph model is pruned by `pruneGraphOneShot` (same options, plus `nodes`; no BatchNorm or sensitivity). */
export async function pruneOneShot(model: GraphModel, options: PruneGraphOneShotOptions): Promise<GraphOneShotResult>;
export async function pruneOneShot(model: LayersModel|GraphModel,
                                   options: PruneOneShotOptions|PruneGraphOneShotOptions): Promise<OneShotResult|GraphOneShotResult> {
  if (!(model instanceof LayersModel) && await isGraphModel(model)) {
    return pruneGraphOneShot(model as GraphModel, options as PruneGraphOneShotOptions);
  }
  return pruneLayersOneShot(model as LayersModel, options as PruneOneShotOptions);
}

async function pruneLayersOneShot(model: LayersModel, options: PruneOneShotOptions): Promise<OneShotResult> {
  const op = 'pruneOneShot';
  const common = checkCommonOptions(model, options ?? {}, OPTION_NAMES, op);
  const {calibration, sparsity} = options;
  const method = options.method ?? (calibration != null ? 'obc' : 'magnitude');
  const allocation = checkChoice(options.allocation ?? 'uniform', VALID_ALLOCATIONS, 'allocation', op);
  checkSparsityOption(sparsity, common.pattern, allocation, op);
  for (const flag of ['recalibrateBatchNorm', 'sequential'] as const) booleanOption(options[flag], flag, op);
  checkSensitivityCurves(options.sensitivity, allocation, op);
  const needsData = method !== 'magnitude' || allocation === 'sensitivity' || options.recalibrateBatchNorm === true;
  if (needsData && calibration == null) {
    const why = method !== 'magnitude' ? `method '${method}'` :
        allocation === 'sensitivity' ? "allocation 'sensitivity'" : 'recalibrateBatchNorm';
    throw new Error(`Argument 'calibration' passed to '${op}' is required by ${why}: give 128-512 samples`);
  }

  const work = await copyModel(model);
  // Sequential 'obc' aims each layer at the dense model's outputs, read from a second copy.
  let reference: LayersModel|null = null;
  try {
    const spec = inputSpec(work, op);
    const label: DataLabel = {op, arg: 'calibration'};
    const all = layerTargets(work, op);
    const names = typeof sparsity === 'object' ? Object.keys(sparsity) : all.map(t => t.name);
    const targets = selectTargets(all, names, method, op, 'sparsity');
    if (needsData) {
      const samples = await forEachBatch(calibration!, spec, common.batchSize, label, () => undefined);
      if (samples < MIN_CALIBRATION_SAMPLES) throw tooFewSamples(op, 'calibration', samples, method);
    }
    const measure = () => analyzeSensitivity(work, calibration!, {
      method, batchSize: common.batchSize, dampening: options.dampening, layers: targets.map(t => t.name),
      onProgress: options.onProgress, blockSize: options.blockSize, blockPoolingType: options.blockPoolingType,
      sparsities: DEFAULT_SENSITIVITY_SPARSITIES,
    });
    const sparsities = await allocateSparsities(targets, sparsity, common.pattern, allocation, op,
                                                async () => options.sensitivity ?? measure());
    const source = needsData ? new LayersActivationSource(work, calibration!, spec, common.batchSize, label) : null;
    const sequential = options.sequential ?? true;
    if (sequential && method === 'obc') reference = await copyModel(model);
    const reports = await solveTargets({
      ...common.pattern, targets, sparsities, method, source, sequential, reference, dampening: options.dampening,
      refitSweeps: options.refitSweeps, onProgress: options.onProgress,
    });
    const batchNorm = options.recalibrateBatchNorm ?
        await recalibrateBatchNorm(work, calibration!, {batchSize: common.batchSize, onProgress: options.onProgress}) : [];
    return {model: work, method, allocation, layers: reports, sparsity: overallSparsity(reports), batchNorm};
  } catch (e) {
    work.dispose();
    throw e;
  } finally {
    reference?.dispose();
  }
}
