/**
 * `shrinkModel`: a channel-pruned (or pretrained) layers model becomes a smaller plain one. This
 * module chooses the channels (those already zero, and with `sparsity` the lowest scored others);
 * `model/shrink.ts` removes them, with everything tied to them (see `model/channel_graph.ts`).
 */
import {LayersModel, layers, LayerVariable} from '@tensorflow/tfjs-layers';
import {analyseChannels, ChannelGraph} from '../model/channel_graph';
import {LayerChannelSpec, maskSide} from '../model/channel_specs';
import {channelStops, channelUnits, channelZeros, maskedZeroReader, removableUnits, unitPopulations, valueZeroReader}
  from '../model/channel_units';
import {removeChannels, ShrinkReport} from '../model/shrink';
import {checkChoice, checkOptions, checkSparsity, describeValue} from '../util/validate';
import {ChannelAllocation, ChannelScore, ScoreSource, scoreSource, unitScores, unitsToRemove, VALID_CHANNEL_ALLOCATIONS,
  VALID_CHANNEL_SCORES} from './channels';
import {stripPruning} from './prune';
import {collectPrunableLayers} from './model_wrappers';

type Layer = layers.Layer;

/** Options of `shrinkModel`. */
export interface ShrinkModelOptions {
  /**
   * One-shot channel pruning: also remove this fraction of the removable channels, lowest scored
   * first, in [0, 1) (default 0: remove only the channels that are already zero).
   */
  sparsity?: number;
  /** How channels are scored for `sparsity`: 'l1' (default), 'l2' or 'batchNormScale'. */
  channelScore?: ChannelScore;
  /** How `sparsity` is spread: 'uniform' (default, the fraction of each group of tied channels) or 'global'. */
  allocation?: ChannelAllocation;
}

const OPTION_NAMES = ['sparsity', 'channelScore', 'allocation'];

/** Result of `shrinkModel`. */
export interface ShrinkResult {
  model: LayersModel;
  report: ShrinkReport;
}

function shrinkOptions(options: ShrinkModelOptions): Required<ShrinkModelOptions> {
  const op = 'shrinkModel';
  checkOptions(options, OPTION_NAMES, op, true);
  const sparsity = options.sparsity ?? 0;
  checkSparsity(sparsity, op);
  return {
    sparsity,
    channelScore: checkChoice(options.channelScore ?? 'l1', VALID_CHANNEL_SCORES, 'channelScore', op),
    allocation: checkChoice(options.allocation ?? 'uniform', VALID_CHANNEL_ALLOCATIONS, 'allocation', op),
  };
}

/** The units of `graph` to remove: those already zero, and with `sparsity` the lowest scored others. */
function unitsToShrink(graph: ChannelGraph, values: Map<LayerVariable, Float32Array>, options: Required<ShrinkModelOptions>,
                       report: ShrinkReport): Set<number> {
  const units = channelUnits(graph);
  const possible = channelZeros(graph, maskedZeroReader(() => true));
  const candidates = removableUnits(graph, possible, units);
  report.stops.push(...channelStops(graph, possible, units));
  report.removableChannels += candidates.size;
  const removed = removableUnits(graph, channelZeros(graph, valueZeroReader(values)), units);
  if (options.sparsity > 0 && candidates.size > 0) {
    const read = (v: LayerVariable) => values.get(v) as Float32Array;
    const sources: ScoreSource[] = [];
    for (const [layer, [node]] of graph.layerNodes) {
      const spec = node.spec as LayerChannelSpec;
      if (!spec.weights.some(w => w.masked)) continue;
      const side = maskSide(spec);
      const n = side === 'out' ? graph.tensors[node.outputs[0]].channels : graph.tensors[node.inputs[0]].channels;
      const slotUnits = Int32Array.from({length: n}, (_, c) => {
        const u = graph.unitOfSlot(layer, side, c);
        return candidates.has(u) ? u : -1;
      });
      sources.push(scoreSource(layer, options.channelScore, read, slotUnits));
    }
    const scores = unitScores(sources, options.channelScore);
    for (const u of unitsToRemove(scores, unitPopulations(graph, candidates), options.sparsity, options.allocation)) {
      removed.add(u);
    }
  }
  return removed;
}

async function shrinkGraph(model: LayersModel, options: Required<ShrinkModelOptions>, report: ShrinkReport):
    Promise<LayersModel> {
  const nested = new Map<Layer, LayersModel>();
  for (const layer of model.layers) {
    if (layer instanceof LayersModel) nested.set(layer, await shrinkGraph(layer, options, report));
  }
  const graph = analyseChannels(model);
  const values = new Map<LayerVariable, Float32Array>();
  for (const layer of graph.layerNodes.keys()) {
    for (const w of layer.weights) values.set(w, await w.read().data() as Float32Array);
  }
  const removed = unitsToShrink(graph, values, options, report);
  return removeChannels(model, graph, values, removed, nested, report);
}

/**
 * Removes pruned channels from a model and returns a smaller plain tfjs-layers model that computes
 * what the channel-masked model computes (up to float summation order): each removable channel
 * whose weights are all zero (after training with `structure: 'channels'`), and with `sparsity`
 * the lowest scored fraction of the others (one-shot pruning of a pretrained model; fine-tune the
 * result with `fit` if accuracy drops). A channel goes with its kernel slice and bias, its
 * BatchNormalization parameters, its depthwise channel (with the multiplier's outputs), and the
 * next layers' input rows, through Flatten and Reshape into Dense features; the branches of a
 * residual Add or Multiply keep or lose a channel together, Concatenate shifts them. Channels that
 * reach a model input or output, a layer whose channels cannot be followed (custom layers, nested
 * models, LayerNormalization, channelsFirst data, ...), or a layer that does not output zero for a
 * masked channel (a sigmoid activation) are kept, and `report.stops` says where and why. Wrappers
 * are stripped first (`stripPruning`, which masks their weights in place). Nested models are
 * shrunk inside, their inputs and outputs kept.
 * ```ts
 * const {model: small, report} = await shrinkModel(pruned);              // after channel pruning
 * const {model: oneShot} = await shrinkModel(pretrained, {sparsity: 0.3}); // one-shot
 * await small.save('file://./small');  // a plain layers model: loads without this library
 * ```
 * @param model a Sequential or functional LayersModel, plain or with `PruneLowMagnitude` wrappers.
 * @param options sparsity, channelScore, allocation.
 * @returns a new model (sharing no weights with `model`) and the report.
 * @throws Error for a non-model, an unknown option, or a bad sparsity, channelScore or allocation.
 */
export async function shrinkModel(model: LayersModel, options: ShrinkModelOptions = {}): Promise<ShrinkResult> {
  if (!(model instanceof LayersModel)) {
    throw new Error(`Argument 'model' passed to 'shrinkModel' must be a tf.LayersModel, but got ${describeValue(model, 'type')}`);
  }
  const checked = shrinkOptions(options);
  const source = collectPrunableLayers(model).length > 0 ? stripPruning(model) : model;
  const report: ShrinkReport = {layers: [], stops: [], removedChannels: 0, removableChannels: 0,
                                paramsBefore: 0, paramsAfter: 0};
  const out = await shrinkGraph(source, checked, report);
  report.paramsBefore = source.countParams();
  report.paramsAfter = out.countParams();
  return {model: out, report};
}
