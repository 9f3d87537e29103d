/**
 * `pruneGraphOneShot`: one-shot pruning of a tfjs-converter graph model's Conv2D / MatMul weights
 * with calibration data (Wanda's scores, or the SparseGPT/OBC reconstruction), the graph twin of
 * `pruneOneShot` (which hands graph models here). The caller's model is never changed: the result
 * is a new GraphModel.
 */
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {booleanOption, checkChoice} from '../util/validate';
import {capturedArtifacts, checkGraphModel, currentWeights} from '../model/graph_artifacts';
import {GraphDef} from '../model/graph_def';
import {Allocation, VALID_ALLOCATIONS} from './allocation';
import {DataLabel, forEachBatch, InputSpec} from './calibration';
import {GraphNodeSet, prunableGraphNodes, VALID_NODE_SETS} from './graph_prune';
import {GraphActivationSource, graphTargets, GraphWeights} from './graph_source';
import type {OneShotLayerReport, OneShotResult, PruneOneShotOptions} from './one_shot';
import {checkOneShotOptions, TargetNoun, selectTargets} from './one_shot_options';
import {allocateSparsities, checkSparsityOption, overallSparsity, solveTargets} from './one_shot_run';
import {MIN_CALIBRATION_SAMPLES, tooFewSamples} from './sensitivity';

/** Options of `pruneGraphOneShot` (and of `pruneOneShot` given a graph model). */
export interface PruneGraphOneShotOptions extends Omit<PruneOneShotOptions, 'sparsity'|'allocation'|'sensitivity'|'recalibrateBatchNorm'> {
  /**
   * The target fraction of zeros: one number for the nodes `nodes` selects (spread by `allocation`),
   * or a map `{nodeName: sparsity}` naming any Conv2D / MatMul node (others stay dense).
   */
  sparsity?: number|Record<string, number>;
  /** How a numeric `sparsity` is spread over nodes: 'uniform' (default) or 'erk'. */
  allocation?: Exclude<Allocation, 'sensitivity'>;
  /**
   * With a numeric `sparsity`: 'pointwise' (default, as `pruneGraphWeights`: 1x1 convolutions and
   * matmuls, the weights the sparse kernels speed up) or 'all' (every Conv2D and MatMul).
   */
  nodes?: GraphNodeSet;
}

/** The result of `pruneGraphOneShot`: the new model and one report per pruned node (`layer` is the node's name). */
export interface GraphOneShotResult extends Omit<OneShotResult, 'model'|'batchNorm'> {
  /** The pruned model (the caller owns it). */
  model: GraphModel;
}

const OPTION_NAMES = ['sparsity', 'method', 'calibration', 'allocation', 'nodes', 'sequential', 'dampening', 'refitSweeps',
  'batchSize', 'onProgress', 'blockSize', 'blockPoolingType', 'sparsityMByN'];
const GRAPH_ALLOCATIONS = VALID_ALLOCATIONS.filter(a => a !== 'sensitivity');
const NODES: TargetNoun = {noun: 'node', kinds: 'Conv2D or MatMul with a constant float32 weight'};

/**
 * Prunes a graph model's Conv2D / MatMul weights in one shot: by magnitude, Wanda (|w| · input
 * norm) or 'obc' (SparseGPT with a refit of the kept weights), each node's inputs read by executing
 * the model up to it on the calibration data (a convolution's as patches, through `extractPatches`).
 * Sequential mode (the default) reads each node's inputs from the model pruned so far and, for
 * 'obc', aims at the dense model's outputs; it rebuilds the model once per node and runs one pass per
 * node, so `sequential: false` (one pass from the dense model) is much faster on large graphs.
 * ```js
 * const {model: pruned, layers} = await pruneGraphOneShot(graphModel, {sparsity: 0.7, method: 'obc', calibration});
 * ```
 * @param model a GraphModel with one input; it is not changed.
 * @throws Error naming the argument (and the node) for bad options, calibration data of the wrong shape
 *     or dtype, fewer than 16 samples, NaN activations, or a node 'wanda'/'obc' cannot score (NCHW, dilated,
 *     explicitly padded or grouped convolutions, transposed matmul inputs, weights read by several nodes).
 */
export async function pruneGraphOneShot(model: GraphModel, options: PruneGraphOneShotOptions): Promise<GraphOneShotResult> {
  const op = 'pruneGraphOneShot';
  await checkGraphModel(model, op);
  const common = checkOneShotOptions(options ?? {}, OPTION_NAMES, op);
  const {calibration, sparsity} = options;
  const method = options.method ?? (calibration != null ? 'obc' : 'magnitude');
  const allocation = checkChoice(options.allocation ?? 'uniform', GRAPH_ALLOCATIONS, 'allocation', op);
  const nodes = checkChoice(options.nodes ?? 'pointwise', VALID_NODE_SETS, 'nodes', op);
  checkSparsityOption(sparsity, common.pattern, allocation, op, 'node');
  booleanOption(options.sequential, 'sequential', op);
  if (method !== 'magnitude' && calibration == null) {
    throw new Error(`Argument 'calibration' passed to '${op}' is required by method '${method}': give 128-512 samples`);
  }
  if (model.inputs.length !== 1) throw new Error(`'${op}' supports graph models with one input, but the model has ${model.inputs.length}`);
  const input = model.inputs[0];
  const spec: InputSpec = {shape: (input.shape ?? []).map((d, i) => (i === 0 || d < 0 ? null : d)), dtype: input.dtype};
  // A graph built for a fixed batch (MoveNet's [1, 192, 192, 3]) runs batches of exactly that size.
  const fixedBatch = input.shape != null && input.shape[0] > 0 ? input.shape[0] : null;
  const label: DataLabel = {op, arg: 'calibration'};

  const artifacts = await capturedArtifacts(model);
  const weights = new GraphWeights(model, artifacts, currentWeights(model));
  try {
    const named = typeof sparsity === 'object';
    const all = graphTargets(prunableGraphNodes(artifacts.modelTopology as GraphDef, currentWeights(model),
                                                named ? 'all' : nodes), weights);
    const targets = selectTargets(all, named ? Object.keys(sparsity) : all.map(t => t.name), method, op, 'sparsity', NODES);
    const batchSize = fixedBatch ?? common.batchSize;
    if (method !== 'magnitude') {
      const samples = await forEachBatch(calibration!, spec, batchSize, label, () => undefined);
      if (samples < MIN_CALIBRATION_SAMPLES) throw tooFewSamples(op, 'calibration', samples, method);
      if (fixedBatch != null && samples % fixedBatch !== 0) {
        throw new Error(`Argument 'calibration' passed to '${op}' has ${samples} samples, but the graph takes batches ` +
            `of exactly ${fixedBatch}: give a multiple of ${fixedBatch}`);
      }
    }
    const sparsities = await allocateSparsities(targets, sparsity, common.pattern, allocation, op);
    const source = method === 'magnitude' ? null :
        new GraphActivationSource(weights, input.name.split(':')[0], calibration!, spec, batchSize, label);
    const layers: OneShotLayerReport[] = await solveTargets({
      ...common.pattern, targets, sparsities, method, source, sequential: options.sequential ?? true, reference: model,
      dampening: options.dampening, refitSweeps: options.refitSweeps, onProgress: options.onProgress,
    });
    return {model: await weights.build(), method, allocation, layers, sparsity: overallSparsity(layers)};
  } finally {
    weights.dispose();
  }
}
