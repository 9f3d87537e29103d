/**
 * Inference folding: a BatchNormalization after a Conv2D or DepthwiseConv2D is folded into the
 * convolution's kernel and bias, a ReLU / ReLU6 after it becomes the convolution's activation, and
 * Dropout (the identity at inference) is dropped. Outputs stay within float32 rounding of the
 * original model's; the layers that do the work get fewer and larger, which is what the sparse and
 * channel-major kernels need (a MobileNetV2's BatchNormalization layers cost more than its 1x1
 * convolutions on tfjs-wasm, bench/mobilenet.ts).
 */
import {Tensor, tensor} from '@tensorflow/tfjs-core';
import {LayersModel, layers, SymbolicTensor} from '@tensorflow/tfjs-layers';
import {GraphNode, layerLike, ModelGraph, modelGraph, rebuildModel} from './graph';

type Layer = layers.Layer;

/** One layer folded away, and the convolution it went into (null for a dropped Dropout). */
export interface FoldedLayer {
  name: string;
  className: string;
  into: string|null;
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

function isFoldableConv(layer: Layer): boolean {
  const name = layer.getClassName();
  const c = layer.getConfig();
  return (name === 'Conv2D' || name === 'DepthwiseConv2D') && c.activation === 'linear' &&
      (c.dataFormat ?? 'channelsLast') === 'channelsLast';
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

interface Fold {conv: GraphNode; batchNorm: GraphNode|null; activation: GraphNode|null; fused: 'relu'|'relu6'|'linear'}

/** The single consumer of `node` when `node` is not a model output, else null. */
function onlyConsumer(node: GraphNode, graph: ModelGraph): GraphNode|null {
  return node.consumers.length === 1 && !graph.outputs.includes(node) ? node.consumers[0] : null;
}

function planFolds(graph: ModelGraph): Fold[] {
  const folds: Fold[] = [];
  for (const conv of graph.nodes) {
    if (conv.isInput || !isFoldableConv(conv.layer)) continue;
    let tail = conv;
    let next = onlyConsumer(tail, graph);
    const batchNorm = next && isFoldableBatchNorm(next.layer) ? next : null;
    if (batchNorm) {
      tail = batchNorm;
      next = onlyConsumer(tail, graph);
    }
    const fused = next ? fusedActivationOf(next.layer) : null;
    const activation = fused ? next : null;
    if (batchNorm || activation) folds.push({conv, batchNorm, activation, fused: fused ?? 'linear'});
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
 * `model` with its BatchNormalization, ReLU and Dropout layers folded as described above, and the
 * list of layers folded away; `model` itself when there is nothing to fold or its graph cannot be
 * rewritten (then `folded` is empty and `reason` says why).
 */
export function foldForInference(model: LayersModel): {model: LayersModel; folded: FoldedLayer[]; reason?: string} {
  const graph = modelGraph(model);
  if (typeof graph === 'string') return {model, folded: [], reason: graph};
  const folds = planFolds(graph);
  const dropouts = graph.nodes.filter(n => n.layer.getClassName() === 'Dropout' && n.inputs.length === 1);
  if (folds.length === 0 && dropouts.length === 0) return {model, folded: [], reason: 'nothing to fold'};
  const byConv = new Map(folds.map(f => [f.conv, f]));
  const absorbed = new Set<GraphNode>([...dropouts, ...folds.flatMap(f => [f.batchNorm, f.activation].filter(n => n !== null))]);
  const folded: FoldedLayer[] = [];
  for (const f of folds) {
    for (const n of [f.batchNorm, f.activation]) {
      if (n) folded.push({name: n.layer.name, className: n.layer.getClassName(), into: f.conv.layer.name});
    }
  }
  for (const d of dropouts) folded.push({name: d.layer.name, className: 'Dropout', into: null});
  const rebuilt = rebuildModel(model, graph, (node, inputs, copy, pending) => {
    if (absorbed.has(node)) return inputs[0];
    const fold = byConv.get(node);
    if (!fold) return copy();
    const config = {...node.layer.getConfig(), useBias: true, activation: fold.fused};
    const layer = layerLike(node.layer, config);
    const y = layer.apply(inputs[0]) as SymbolicTensor;
    const made = foldedWeights(fold);
    pending.push({layer, values: made, made});
    return y;
  });
  return {model: rebuilt, folded};
}
