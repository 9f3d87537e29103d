/**
 * Inference folding: a BatchNormalization after a Conv2D or DepthwiseConv2D is folded into the
 * convolution's kernel and bias, a ReLU / ReLU6 after it becomes the convolution's activation, a
 * ZeroPadding2D before a 'valid' convolution that pads exactly as 'same' would becomes its 'same'
 * padding, and Dropout (the identity at inference) is dropped. Outputs stay within float32 rounding of the
 * original model's; the layers that do the work get fewer and larger, which is what the sparse and
 * channel-major kernels need (a MobileNetV2's BatchNormalization layers cost more than its 1x1
 * convolutions on tfjs-wasm, bench/mobilenet.ts).
 */
import {Tensor, tensor} from '@tensorflow/tfjs-core';
import {LayersModel, layers, SymbolicTensor} from '@tensorflow/tfjs-layers';
import {GraphNode, layerLike, ModelGraph, modelGraph, rebuildModel} from './graph';
import {clipRelu6} from './relu6';

type Layer = layers.Layer;

/** One layer folded away, and the convolution it went into (null for a dropped Dropout). */
export interface FoldedLayer {
  name: string;
  className: string;
  into: string|null;
}

/**
 * The activation layers of `folded` by the convolution they went into: the names `clipRelu6` gives
 * back to the ReLU6s that tfjs runs unfused.
 */
export function foldedActivationNames(folded: readonly FoldedLayer[]): Map<string, string> {
  return new Map(folded.filter(f => f.into && (f.className === 'ReLU' || f.className === 'Activation')).map(f => [f.into!, f.name]));
}

/** The activations a convolution can take over from a following layer. */
function fusedActivationOf(layer: Layer): 'relu'|'relu6'|'linear'|null {
  const c = layer.getConfig();
  if (layer.getClassName() === 'ReLU') {
    if (c.maxValue == null) return 'relu';
    return c.maxValue === 6 ? 'relu6' : null;
  }
  if (layer.getClassName() === 'Activation') {
    return c.activation === 'relu' || c.activation === 'relu6' || c.activation === 'linear' ? c.activation : null;
  }
  return null;
}

function isChannelsLastConv(layer: Layer): boolean {
  const name = layer.getClassName();
  return (name === 'Conv2D' || name === 'DepthwiseConv2D') && (layer.getConfig().dataFormat ?? 'channelsLast') === 'channelsLast';
}

/** The padding 'same' gives along one axis of `size` (TensorFlow's rule: the odd pixel after). */
function samePadding(size: number, kernel: number, stride: number): [number, number] {
  const total = Math.max((Math.ceil(size / stride) - 1) * stride + kernel - size, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

/**
 * Whether `pad`, a ZeroPadding2D feeding only `conv`, pads its (fully known) input exactly as
 * 'same' padding of `conv` would: MobileNets pad this way before each stride-2 convolution, and
 * tfjs-wasm's PadV2 costs more than the convolution's own padding (0.5 ms on a 224x224x3 image).
 */
function padsAsSame(pad: GraphNode, conv: GraphNode, graph: ModelGraph): boolean {
  const c = conv.layer.getConfig();
  const p = pad.layer.getConfig();
  if (pad.layer.getClassName() !== 'ZeroPadding2D' || onlyConsumer(pad, graph) !== conv || c.padding !== 'valid' ||
      (p.dataFormat ?? 'channelsLast') !== 'channelsLast' || (c.dilationRate as number[]).some(d => d !== 1)) return false;
  const shape = (pad.layer.input as SymbolicTensor).shape;
  const padding = p.padding as [[number, number], [number, number]];
  const kernel = c.kernelSize as number[], strides = c.strides as number[];
  return [0, 1].every(axis => {
    const size = shape[axis + 1];
    if (typeof size !== 'number') return false;
    const [before, after] = samePadding(size, kernel[axis], strides[axis]);
    return padding[axis][0] === before && padding[axis][1] === after;
  });
}

function isFoldableBatchNorm(layer: Layer): boolean {
  const axis = layer.getConfig().axis;
  return layer.getClassName() === 'BatchNormalization' && (axis === -1 || axis === 3);
}

/** The values of a BatchNormalization layer's weights by role. */
function batchNormParams(layer: Layer): {gamma?: Float32Array; beta?: Float32Array; mean: Float32Array; variance: Float32Array} {
  const byRole: Record<string, Float32Array> = {};
  for (const w of layer.weights) {
    const role = ['gamma', 'beta', 'moving_mean', 'moving_variance'].find(r => w.originalName.endsWith(r));
    if (role) byRole[role] = w.read().dataSync() as Float32Array;
  }
  return {gamma: byRole.gamma, beta: byRole.beta, mean: byRole.moving_mean, variance: byRole.moving_variance};
}

interface Fold {
  conv: GraphNode;
  pad: GraphNode|null;
  batchNorm: GraphNode|null;
  activation: GraphNode|null;
  /** The convolution's activation after the fold (its own when nothing after it folds). */
  fused: string;
}

/** The single consumer of `node` when `node` is not a model output, else null. */
function onlyConsumer(node: GraphNode, graph: ModelGraph): GraphNode|null {
  return node.consumers.length === 1 && !graph.outputs.includes(node) ? node.consumers[0] : null;
}

function planFolds(graph: ModelGraph): Fold[] {
  const folds: Fold[] = [];
  for (const conv of graph.nodes) {
    if (conv.isInput || !isChannelsLastConv(conv.layer)) continue;
    const pad = conv.inputs.length === 1 && !conv.inputs[0].isInput && padsAsSame(conv.inputs[0], conv, graph) ? conv.inputs[0] : null;
    const own = conv.layer.getConfig().activation as string;
    let batchNorm: GraphNode|null = null, activation: GraphNode|null = null, fused: string|null = null;
    if (own === 'linear') {
      let next = onlyConsumer(conv, graph);
      batchNorm = next && isFoldableBatchNorm(next.layer) ? next : null;
      if (batchNorm) next = onlyConsumer(batchNorm, graph);
      fused = next ? fusedActivationOf(next.layer) : null;
      activation = fused ? next : null;
    }
    if (pad || batchNorm || activation) folds.push({conv, pad, batchNorm, activation, fused: fused ?? own});
  }
  return folds;
}

/** Kernel and bias of a convolution with the BatchNormalization folded in (float64, rounded once). */
function foldedWeights(fold: Fold): Tensor[] {
  const conv = fold.conv.layer;
  const kernel = conv.weights[0].read();
  const k = kernel.dataSync() as Float32Array;
  const out = kernel.shape[kernel.shape.length - 2]! * kernel.shape[kernel.shape.length - 1]!;
  const outChannels = conv.getClassName() === 'Conv2D' ? kernel.shape[kernel.shape.length - 1]! : out;
  const bias = conv.weights.length > 1 ? conv.weights[1].read().dataSync() as Float32Array : new Float32Array(outChannels);
  const scale = new Float64Array(outChannels).fill(1);
  const shift = Float64Array.from(bias);
  if (fold.batchNorm) {
    const {gamma, beta, mean, variance} = batchNormParams(fold.batchNorm.layer);
    const eps = fold.batchNorm.layer.getConfig().epsilon as number;
    for (let c = 0; c < outChannels; c++) {
      scale[c] = (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + eps);
      shift[c] = (bias[c] - mean[c]) * scale[c] + (beta ? beta[c] : 0);
    }
  }
  // The output channel is the last axis of a Conv2D kernel [kh, kw, in, out], and the last two of
  // a depthwise kernel [kh, kw, C, multiplier] (channel c·multiplier + m).
  const folded = Float32Array.from(k, (v, i) => v * scale[i % outChannels]);
  return [tensor(folded, kernel.shape, 'float32'), tensor(Float32Array.from(shift), [outChannels], 'float32')];
}

/**
 * `model` with its BatchNormalization, ReLU, ZeroPadding2D and Dropout layers folded as described
 * above, and the list of layers folded away; `model` itself when there is nothing to fold or its
 * graph cannot be rewritten (then `folded` is empty and `reason` says why). A ReLU6 folded into a
 * convolution that tfjs runs itself comes back as a ReLU layer after it (see `relu6.ts`): only our
 * sparse layers fuse relu6, and `toSparse` folds with `foldLayers` before it converts.
 */
export function foldForInference(model: LayersModel): {model: LayersModel; folded: FoldedLayer[]; reason?: string} {
  const result = foldLayers(model);
  if (result.model === model) return result;
  const {model: clipped, clipped: list} = clipRelu6(result.model, foldedActivationNames(result.folded));
  if (clipped === result.model) return result;
  result.model.dispose();
  const kept = new Set(list.map(c => c.relu));
  return {model: clipped, folded: result.folded.filter(f => !kept.has(f.name))};
}

/** `foldForInference` without giving ReLU6 back (for `toSparse`, whose layers fuse it). */
export function foldLayers(model: LayersModel): {model: LayersModel; folded: FoldedLayer[]; reason?: string} {
  const graph = modelGraph(model);
  if (typeof graph === 'string') return {model, folded: [], reason: graph};
  const folds = planFolds(graph);
  const dropouts = graph.nodes.filter(n => n.layer.getClassName() === 'Dropout' && n.inputs.length === 1);
  if (folds.length === 0 && dropouts.length === 0) return {model, folded: [], reason: 'nothing to fold'};
  const byConv = new Map(folds.map(f => [f.conv, f]));
  const absorbed = new Set<GraphNode>([...dropouts, ...folds.flatMap(f => [f.pad, f.batchNorm, f.activation].filter(n => n !== null))]);
  const folded: FoldedLayer[] = [];
  for (const f of folds) {
    for (const n of [f.pad, f.batchNorm, f.activation]) {
      if (n) folded.push({name: n.layer.name, className: n.layer.getClassName(), into: f.conv.layer.name});
    }
  }
  for (const d of dropouts) folded.push({name: d.layer.name, className: 'Dropout', into: null});
  const rebuilt = rebuildModel(model, graph, (node, inputs, copy, pending) => {
    if (absorbed.has(node)) return inputs[0];
    const fold = byConv.get(node);
    if (!fold) return copy();
    const reweighted = fold.batchNorm !== null || fold.activation !== null;
    const config = {...node.layer.getConfig(), activation: fold.fused, ...(fold.pad ? {padding: 'same'} : {}),
      ...(reweighted ? {useBias: true} : {})};
    const layer = layerLike(node.layer, config);
    const y = layer.apply(inputs[0]) as SymbolicTensor;
    const made = reweighted ? foldedWeights(fold) : [];
    pending.push({layer, values: reweighted ? made : node.layer.weights.map(w => w.read()), made});
    return y;
  });
  return {model: rebuilt, folded};
}
