/**
 * `analyzeGraphSensitivity`: `analyzeSensitivity` for a tfjs-converter graph model: each prunable
 * node pruned alone at several sparsities, the outputs compared with the dense model's. The model
 * is rebuilt for every measured point (a loaded graph model's weights cannot be replaced), so a
 * curve costs one rebuild and one pass over the data per sparsity.
 */
import type {GraphModel} from '@tensorflow/tfjs-converter';
import {checkChoice} from '../util/validate';
import {checkGraphModel} from '../model/graph_artifacts';
import {CalibrationData, DataLabel} from './calibration';
import {GraphNodeSet, VALID_NODE_SETS} from './graph_prune';
import {checkGraphSamples, GraphActivationSource, openGraph} from './graph_source';
import {checkOneShotOptions, selectTargets, TargetNoun} from './one_shot_options';
import {AnalyzeSensitivityOptions, checkSensitivityOptions, measureSensitivity, predictOne, SensitivityResult} from './sensitivity';

/** Options of `analyzeGraphSensitivity`: those of `analyzeSensitivity` (`layers` names nodes), and `nodes`. */
export interface AnalyzeGraphSensitivityOptions extends AnalyzeSensitivityOptions {
  /** Without `layers`: 'pointwise' (default: 1x1 convolutions and matmuls) or 'all' (every Conv2D and MatMul). */
  nodes?: GraphNodeSet;
}

/** What graph-model errors call their targets. */
export const GRAPH_NODES: TargetNoun = {noun: 'node', kinds: 'Conv2D or MatMul with a constant float32 weight'};

const OPTION_NAMES = ['sparsities', 'metric', 'method', 'layers', 'nodes', 'batchSize', 'dampening', 'onProgress',
  'blockSize', 'blockPoolingType'];

/**
 * Measures, for each prunable node and each sparsity, how far the graph model's (first) output
 * moves when only that node is pruned with `method`. The model is not changed.
 * ```js
 * const curves = await analyzeGraphSensitivity(graphModel, images, {sparsities: [0.5, 0.8], metric: 'mse'});
 * ```
 * @param model a GraphModel with one input.
 * @param data calibration samples (see `CalibrationData`); a graph built for batch 1 runs them one by one.
 * @throws Error naming the argument for bad options or data (wrong shape or dtype, fewer than 16
 *     samples), unknown nodes, and nodes 'wanda'/'obc' cannot score.
 */
export async function analyzeGraphSensitivity(model: GraphModel, data: CalibrationData,
                                              options: AnalyzeGraphSensitivityOptions = {}): Promise<SensitivityResult> {
  const op = 'analyzeGraphSensitivity';
  await checkGraphModel(model, op);
  const common = checkOneShotOptions(options, OPTION_NAMES, op);
  const checked = checkSensitivityOptions(options, op);
  const nodes = checkChoice(options.nodes ?? 'pointwise', VALID_NODE_SETS, 'nodes', op);
  const graph = await openGraph(model, op, options.layers != null ? 'all' : nodes);
  try {
    const targets = selectTargets(graph.targets, options.layers ?? graph.targets.map(t => t.name), checked.method, op,
                                  'layers', GRAPH_NODES);
    const batchSize = graph.fixedBatch ?? common.batchSize;
    const label: DataLabel = {op, arg: 'data'};
    await checkGraphSamples(data, graph, batchSize, label, checked.method);
    const source = new GraphActivationSource(graph.weights, graph.inputName, data, graph.spec, batchSize, label);
    return await measureSensitivity({...common, ...checked, batchSize, targets, source, data, spec: graph.spec, label,
                                     dampening: options.dampening, onProgress: options.onProgress}, async () => {
      const current = await graph.weights.current();
      return x => predictOne({predict: input => current.execute(input)}, x);
    });
  } finally {
    graph.weights.dispose();
  }
}
