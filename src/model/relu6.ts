/**
 * tfjs-layers applies a layer's `relu6` activation as `minimum(6, relu(x))` after the layer's own
 * kernel, never fused, and tfjs-wasm broadcasts the scalar 6 on its slow generic path: 1.3 ms after
 * the 112x112x32 stem convolution of a MobileNetV2, three times the convolution (bench/threads.ts
 * --profile). A ReLU layer with maxValue 6 clips instead (`clipByValue`, 0.05 ms there). Folding a
 * BatchNorm + ReLU6 into a convolution makes exactly such a layer, so the layers that tfjs runs
 * themselves get their ReLU6 back as a ReLU layer; our own layers fuse relu6 in their kernels.
 */
import {LayersModel, layers, SymbolicTensor} from '@tensorflow/tfjs-layers';
import {layerLike, modelGraph, rebuildModel} from './graph';

/** tfjs-layers' layers whose `activation` runs through tfjs-layers' activation classes. */
const UNFUSED_RELU6 = new Set(['Dense', 'Conv1D', 'Conv2D', 'Conv3D', 'DepthwiseConv2D', 'SeparableConv2D',
  'Conv2DTranspose', 'Activation']);
/** Those that fuse a relu into their kernel (tfjs-layers' `mapActivationToFusedKernel`). */
const FUSES_RELU = new Set(['Dense', 'Conv2D']);

/** A layer whose relu6 activation became the ReLU layer `relu` after it. */
export interface ClippedRelu6 {
  layer: string;
  relu: string;
}

/**
 * `model` with every tfjs-layers layer whose activation is relu6 followed by a ReLU layer with
 * maxValue 6 instead (the layer keeps a fused relu where tfjs fuses one, else it becomes linear;
 * an Activation('relu6') layer becomes the ReLU layer itself). `names` gives the new ReLU layers'
 * names by layer name (default `<layer>_relu6`). `model` itself when there is nothing to change.
 * Outputs are equal: both clip to [0, 6].
 */
export function clipRelu6(model: LayersModel, names: ReadonlyMap<string, string> = new Map()):
    {model: LayersModel; clipped: ClippedRelu6[]} {
  const graph = modelGraph(model);
  if (typeof graph === 'string') return {model, clipped: []};
  const targets = new Set(graph.nodes.filter(n => !n.isInput && UNFUSED_RELU6.has(n.layer.getClassName()) &&
      n.layer.getConfig().activation === 'relu6'));
  if (targets.size === 0) return {model, clipped: []};
  const taken = new Set(model.layers.map(l => l.name));
  const clipped: ClippedRelu6[] = [];
  const rebuilt = rebuildModel(model, graph, (node, inputs, copy, pending) => {
    if (!targets.has(node)) return copy();
    const layer = node.layer;
    const isActivation = layer.getClassName() === 'Activation';
    let name = isActivation ? layer.name : names.get(layer.name) ?? `${layer.name}_relu6`;
    while (!isActivation && taken.has(name)) name += '_';
    taken.add(name);
    let x = inputs[0];
    if (!isActivation) {
      const inner = layerLike(layer, {...layer.getConfig(), activation: FUSES_RELU.has(layer.getClassName()) ? 'relu' : 'linear'});
      x = inner.apply(x) as SymbolicTensor;
      pending.push({layer: inner, values: layer.weights.map(w => w.read()), made: []});
    }
    clipped.push({layer: layer.name, relu: name});
    return layers.reLU({maxValue: 6, name}).apply(x) as SymbolicTensor;
  });
  return {model: rebuilt, clipped};
}
