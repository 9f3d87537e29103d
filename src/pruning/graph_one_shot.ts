/**
 * `pruneGraphOneShot`: one-shot pruning of a tfjs-converter graph model's Conv2D / MatMul weights
 * with calibration data (Wanda's scores, or the SparseGPT/OBC reconstruction), the graph twin of
 * `pruneOneShot` (which hands graph models here). The caller's model is never changed: the result
 * is a new GraphModel.
 */
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {booleanOption, checkChoice} from '../util/validate';
import {checkGraphModel} from '../model/graph_artifacts';
import {VALID_ALLOCATIONS} from './allocation';
import {DataLabel} from './calibration';
import {GraphNodeSet, VALID_NODE_SETS} from './graph_prune';
import {analyzeGraphSensitivity, GRAPH_NODES} from './graph_sensitivity';
import {checkGraphSamples, GraphActivationSource, openGraph} from './graph_source';
import {checkOneShotOptions, selectTargets} from './one_shot_options';
import {
  allocateSparsities, checkSensitivityCurves, checkSparsityOption, OneShotLayerReport, OneShotOptions, OneShotReport,
  overallSparsity, solveTargets,
} from './one_shot_run';
import {DEFAULT_SENSITIVITY_SPARSITIES} from './sensitivity';

/** Options of `pruneGraphOneShot` (and of `pruneOneShot` given a graph model). */
export interface PruneGraphOneShotOptions extends Omit<OneShotOptions, 'sparsity'> {
  /**
   * The target fraction of zeros: one number for the nodes `nodes` selects (spread by `allocation`),
   * or a map `{nodeName: sparsity}` naming any Conv2D / MatMul node (others stay dense).
   */
  sparsity?: number|Record<string, number>;
  /**
   * With a numeric `sparsity`: 'pointwise' (default, as `pruneGraphWeights`: 1x1 convolutions and
   * matmuls, the weights the sparse kernels speed up) or 'all' (every Conv2D and MatMul).
   */
  nodes?: GraphNodeSet;
}

/** The result of `pruneGraphOneShot`: the new model and one report per pruned node (`layer` is the node's name). */
export interface GraphOneShotResult extends OneShotReport {
  /** The pruned model (the caller owns it). */
  model: GraphModel;
}

const OPTION_NAMES = ['sparsity', 'method', 'calibration', 'allocation', 'sensitivity', 'nodes', 'sequential', 'dampening',
  'refitSweeps', 'batchSize', 'onProgress', 'blockSize', 'blockPoolingType', 'sparsityMByN'];

/**
 * Prunes a graph model's Conv2D / MatMul weights in one shot: by magnitude, Wanda (|w| · input
 * norm) or 'obc' (SparseGPT with a refit of the kept weights), each node's inputs read by executing
 * the model up to it on the calibration data (a convolution's as patches, through `extractPatches`).
 * Sequential mode (the default) reads each node's inputs from the model pruned so far and, for
 * 'obc', aims at the dense model's outputs; it rebuilds the model once per node and runs one pass per
 * node, so `sequential: false` (one pass from the dense model) is much faster on large graphs.
 * Allocation 'sensitivity' measures curves with `analyzeGraphSensitivity` unless `sensitivity` gives them.
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
  const allocation = checkChoice(options.allocation ?? 'uniform', VALID_ALLOCATIONS, 'allocation', op);
  const nodes = checkChoice(options.nodes ?? 'pointwise', VALID_NODE_SETS, 'nodes', op);
  checkSparsityOption(sparsity, common.pattern, allocation, op, 'node');
  booleanOption(options.sequential, 'sequential', op);
  checkSensitivityCurves(options.sensitivity, allocation, op);
  const needsData = method !== 'magnitude' || allocation === 'sensitivity';
  if (needsData && calibration == null) {
    const why = method !== 'magnitude' ? `method '${method}'` : "allocation 'sensitivity'";
    throw new Error(`Argument 'calibration' passed to '${op}' is required by ${why}: give 128-512 samples`);
  }
  const named = typeof sparsity === 'object';
  const graph = await openGraph(model, op, named ? 'all' : nodes);
  try {
    const targets = selectTargets(graph.targets, named ? Object.keys(sparsity) : graph.targets.map(t => t.name), method,
                                  op, 'sparsity', GRAPH_NODES);
    const batchSize = graph.fixedBatch ?? common.batchSize;
    const label: DataLabel = {op, arg: 'calibration'};
    if (needsData) await checkGraphSamples(calibration!, graph, batchSize, label, method);
    const sparsities = await allocateSparsities(targets, sparsity, common.pattern, allocation, op, async () =>
      options.sensitivity ?? analyzeGraphSensitivity(model, calibration!, {
        method, batchSize, dampening: options.dampening, layers: targets.map(t => t.name), onProgress: options.onProgress,
        blockSize: options.blockSize, blockPoolingType: options.blockPoolingType, sparsities: DEFAULT_SENSITIVITY_SPARSITIES,
      }));
    const source = method === 'magnitude' ? null :
        new GraphActivationSource(graph.weights, graph.inputName, calibration!, graph.spec, batchSize, label);
    const layers: OneShotLayerReport[] = await solveTargets({
      ...common.pattern, targets, sparsities, method, source, sequential: options.sequential ?? true, reference: model,
      dampening: options.dampening, refitSweeps: options.refitSweeps, onProgress: options.onProgress,
    });
    return {model: await graph.weights.build(), method, allocation, layers, sparsity: overallSparsity(layers)};
  } finally {
    graph.weights.dispose();
  }
}
