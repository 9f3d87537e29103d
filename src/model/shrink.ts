/**
 * `shrinkModel`: a channel-pruned (or pretrained) layers model becomes a smaller plain one. The
 * removed channels go with their kernel slices and biases, their BatchNormalization parameters,
 * their depthwise channels and the next layers' input rows (through Flatten and Reshape into Dense
 * features, across residual Add/Multiply branches and Concatenate offsets); see
 * `model/channel_graph.ts` for what ties them and where removal stops.
 */
import {dispose, Tensor, tensor} from '@tensorflow/tfjs-core';
import {LayersModel, layers, LayerVariable} from '@tensorflow/tfjs-layers';
import {checkChoice, checkSparsity} from '../util/validate';
import {cloneModel, stripPruning} from '../pruning/prune';
import {ChannelAllocation, ChannelScore, ScoreSource, scoreSource, unitScores, unitsToRemove,
  VALID_CHANNEL_ALLOCATIONS, VALID_CHANNEL_SCORES} from '../pruning/channels';
import {collectPrunableLayers, deserializeLayer} from '../pruning/wrapper';
import {analyseChannels, ChannelGraph, depthMultiplier, ChannelStop, LayerChannelSpec, maskedZeroReader, maskSide, valueZeroReader,
  weightOf} from './channel_graph';

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

/** What `shrinkModel` did to one layer with weights. */
export interface ShrinkLayerReport {
  name: string;
  className: string;
  /** Channels of its (first) input, before and after. */
  inputChannels: [number, number];
  /** Channels of its output, before and after. */
  outputChannels: [number, number];
  paramsBefore: number;
  paramsAfter: number;
}

/** What `shrinkModel` did. */
export interface ShrinkReport {
  /** One entry per layer with weights whose channels could be followed, in model order. */
  layers: ShrinkLayerReport[];
  /** Where channel removal stops and why (layers it cannot follow, model outputs, activations that do not keep zeros). */
  stops: ChannelStop[];
  /** Removed channels, counting each group of tied channels once. */
  removedChannels: number;
  /** Channels that could be removed (each group of tied channels once). */
  removableChannels: number;
  paramsBefore: number;
  paramsAfter: number;
}

/** Result of `shrinkModel`. */
export interface ShrinkResult {
  model: LayersModel;
  report: ShrinkReport;
}

function checkOptions(options: ShrinkModelOptions): Required<ShrinkModelOptions> {
  const op = 'shrinkModel';
  if (options == null || typeof options !== 'object') {
    throw new Error(`${op} options must be an object {${OPTION_NAMES.join(', ')}}, but got ${String(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_NAMES.includes(key)) {
      throw new Error(`${op} got an unknown option '${key}'; valid options are ${OPTION_NAMES.join(', ')}`);
    }
  }
  const sparsity = options.sparsity ?? 0;
  checkSparsity(sparsity, op);
  return {
    sparsity,
    channelScore: checkChoice(options.channelScore ?? 'l1', VALID_CHANNEL_SCORES, 'channelScore', op),
    allocation: checkChoice(options.allocation ?? 'uniform', VALID_CHANNEL_ALLOCATIONS, 'allocation', op),
  };
}

function paramCount(layer: Layer): number {
  return layer.weights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}

/** Indices `c·m + j` for every kept channel c (a depthwise layer's entries per input channel). */
function expandIndices(keep: readonly number[], m: number): number[] {
  return keep.flatMap(c => Array.from({length: m}, (_, j) => c * m + j));
}

/** `values` of `shape` with only the entries at `keep` along `axis`. */
function gatherAxis(values: Float32Array, shape: number[], axis: number, keep: readonly number[]): Float32Array {
  const inner = shape.slice(axis + 1).reduce((x, y) => x * y, 1);
  const outer = shape.slice(0, axis).reduce((x, y) => x * y, 1);
  const dim = shape[axis];
  const out = new Float32Array(outer * keep.length * inner);
  for (let o = 0; o < outer; o++) {
    keep.forEach((k, i) => out.set(values.subarray((o * dim + k) * inner, (o * dim + k + 1) * inner),
                                   (o * keep.length + i) * inner));
  }
  return out;
}

/**
 * `w` with only the kept channels along each of its channel axes, as a new tensor. Sliced on the
 * host: tfjs-wasm's gather leaves its flattened shape on the output's data, which its fused
 * convolution then rejects as a bias.
 */
function sliceWeight(w: LayerVariable, values: Float32Array, spec: LayerChannelSpec, layer: Layer, keepIn: number[],
                     keepOut: number[]): Tensor {
  const weight = spec.weights.find(x => weightOf(layer, x.property) === w);
  const m = depthMultiplier(layer);
  const shape = w.shape.slice() as number[];
  let data = values;
  for (const a of weight?.axes ?? []) {
    const axis = a.axis < 0 ? shape.length + a.axis : a.axis;
    const keep = a.side === 'out' ? keepOut : a.expand ? expandIndices(keepIn, m) : keepIn;
    if (keep.length === shape[axis]) continue;
    data = gatherAxis(data, shape, axis, keep);
    shape[axis] = keep.length;
  }
  return tensor(data === values ? values.slice() : data, shape, w.dtype);
}

/** Which channels of each tensor survive when `removed` units go (never all of a tensor's channels). */
function keptChannels(graph: ChannelGraph, removed: Set<number>, stops: ChannelStop[]): number[][] {
  const keepOf = (t: number) => Array.from({length: graph.tensors[t].channels}, (_, c) => c)
      .filter(c => !removed.has(graph.unitOfTensor(t, c)));
  for (const t of graph.tensors) {
    if (t.channels > 0 && keepOf(t.index).length === 0) {
      // An all-zero tensor: keep one channel so the layers around it still have a width.
      removed.delete(graph.unitOfTensor(t.index, 0));
      const producer = t.producer >= 0 ? graph.nodes[t.producer].layer : null;
      stops.push({layer: producer?.name ?? '', className: producer?.getClassName() ?? '', channels: 1,
                  reason: 'every channel of its output is zero: one is kept so the layers after it keep an input'});
    }
  }
  return graph.tensors.map(t => keepOf(t.index));
}

/** The units of `graph` to remove: those already zero, and with `sparsity` the lowest scored others. */
function unitsToShrink(graph: ChannelGraph, values: Map<LayerVariable, Float32Array>, options: Required<ShrinkModelOptions>,
                       report: ShrinkReport): Set<number> {
  const units = graph.units();
  const possible = graph.zeros(maskedZeroReader(() => true));
  const candidates = graph.removableUnits(possible, units);
  report.stops.push(...graph.stops(possible, units));
  report.removableChannels += candidates.size;
  const removed = graph.removableUnits(graph.zeros(valueZeroReader(values)), units);
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
    for (const u of unitsToRemove(scores, graph.populations(candidates), options.sparsity, options.allocation)) {
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
  const keep = keptChannels(graph, removed, report.stops);
  report.removedChannels += removed.size;

  const pending: Array<{layer: Layer; values: Tensor[]}> = [];
  const replace = (layer: Layer): Layer => {
    const made = nested.get(layer);
    if (made != null) return made;
    const node = graph.layerNodes.get(layer)?.[0];
    const config = layer.getConfig();
    if (node == null) {
      const copy = deserializeLayer({className: layer.getClassName(), config});
      pending.push({layer: copy, values: layer.weights.map(w => w.read().clone())});
      const seen = graph.nodes.find(n => n.layer === layer);
      if (seen != null && layer.weights.length > 0) {
        const [inC, outC] = [graph.tensors[seen.inputs[0]]?.channels ?? 0, graph.tensors[seen.outputs[0]]?.channels ?? 0];
        report.layers.push({name: layer.name, className: layer.getClassName(), inputChannels: [inC, inC],
                            outputChannels: [outC, outC], paramsBefore: paramCount(layer), paramsAfter: paramCount(layer)});
      }
      return copy;
    }
    const spec = node.spec as LayerChannelSpec;
    const keepIn = keep[node.inputs[0]], keepOut = keep[node.outputs[0]];
    if (spec.sizeKey) config[spec.sizeKey] = keepOut.length;
    if (layer.getClassName() === 'Reshape') {
      // The last axis was a known multiple of the channels (else the analysis stops there).
      const target = (config.targetShape as number[]).slice();
      target[target.length - 1] = keepOut.length;
      config.targetShape = target;
    }
    const copy = deserializeLayer({className: layer.getClassName(), config});
    const sliced = layer.weights.map(w => sliceWeight(w, values.get(w) as Float32Array, spec, layer, keepIn, keepOut));
    pending.push({layer: copy, values: sliced});
    if (layer.weights.length > 0) {
      report.layers.push({
        name: layer.name, className: layer.getClassName(),
        inputChannels: [graph.tensors[node.inputs[0]].channels, keepIn.length],
        outputChannels: [graph.tensors[node.outputs[0]].channels, keepOut.length],
        paramsBefore: paramCount(layer), paramsAfter: sliced.reduce((n, t) => n + t.size, 0),
      });
    }
    return copy;
  };
  let out: LayersModel;
  try {
    out = cloneModel(model, replace);
    for (const {layer, values: v} of pending) layer.setWeights(v);
  } finally {
    for (const {values: v} of pending) dispose(v);
  }
  return out;
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
    throw new Error(`Argument 'model' passed to 'shrinkModel' must be a tf.LayersModel, but got ` +
        `${model === null ? 'null' : (model as object)?.constructor?.name ?? typeof model}`);
  }
  const checked = checkOptions(options);
  const source = collectPrunableLayers(model).length > 0 ? stripPruning(model) : model;
  const report: ShrinkReport = {layers: [], stops: [], removedChannels: 0, removableChannels: 0,
                                paramsBefore: 0, paramsAfter: 0};
  const out = await shrinkGraph(source, checked, report);
  report.paramsBefore = source.countParams();
  report.paramsAfter = out.countParams();
  return {model: out, report};
}
