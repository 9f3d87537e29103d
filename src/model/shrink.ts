/**
 * Channel removal: a layers model rebuilt without a given set of channel units (`channel_graph.ts`).
 * The removed channels go with their kernel slices and biases, their BatchNormalization parameters,
 * their depthwise channels and the next layers' input rows (through Flatten and Reshape into Dense
 * features, across residual Add/Multiply branches and Concatenate offsets). Which channels to remove
 * is channel pruning's choice (`shrinkModel`, `pruning/shrink_model.ts`).
 */
import {dispose, Tensor, tensor} from '@tensorflow/tfjs-core';
import {LayersModel, layers, LayerVariable} from '@tensorflow/tfjs-layers';
import {cloneModel, deserializeLayer} from './clone';
import {ChannelGraph} from './channel_graph';
import {depthMultiplier, LayerChannelSpec, weightOf} from './channel_specs';
import {ChannelStop} from './channel_units';

type Layer = layers.Layer;

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

/**
 * `model` without the channel units `removed` of its analysis `graph` (one channel of a tensor whose
 * every channel would go is kept, and recorded in `report.stops`): a new model sharing no weights
 * with `model`. `values` holds the weights' values by variable; `nested` the already shrunk copies of
 * nested models, which replace them. Appends to `report.layers` and counts `report.removedChannels`.
 */
export function removeChannels(model: LayersModel, graph: ChannelGraph, values: ReadonlyMap<LayerVariable, Float32Array>,
                               removed: Set<number>, nested: ReadonlyMap<Layer, LayersModel>, report: ShrinkReport): LayersModel {
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
