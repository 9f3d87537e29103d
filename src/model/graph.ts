/**
 * A layers model as a graph of single-output layer calls, and a rebuild of it into a new functional
 * model where each call may be replaced, dropped or wrapped: the ground for inference rewrites that
 * are not one layer for one layer (BatchNorm folded into the preceding convolution, runs of layers
 * moved to channel-major layout between inserted transposes).
 */
import {dispose, serialization, Tensor} from '@tensorflow/tfjs-core';
import {input, LayersModel, layers, model as functionalModel, SymbolicTensor} from '@tensorflow/tfjs-layers';

type Layer = layers.Layer;

/** One call of a layer: its producers (in argument order) and its consumers. */
export interface GraphNode {
  layer: Layer;
  inputs: GraphNode[];
  consumers: GraphNode[];
  /** True for the model's inputs (their `layer` is the InputLayer). */
  isInput: boolean;
}

/** A model's calls in topological order, and the nodes whose outputs are the model's outputs. */
export interface ModelGraph {
  nodes: GraphNode[];
  outputs: GraphNode[];
}

/**
 * The call graph of `model`, or the reason it cannot be rewritten: a layer called more than once,
 * a layer with several outputs, or a nested model.
 */
export function modelGraph(model: LayersModel): ModelGraph|string {
  const byLayer = new Map<Layer, GraphNode>();
  const nodes: GraphNode[] = [];
  const nodeOf = (layer: Layer): GraphNode|string => {
    const known = byLayer.get(layer);
    if (known) return known;
    if (layer instanceof LayersModel) return `nested model '${layer.name}'`;
    if (layer.getClassName() === 'InputLayer') {
      const node: GraphNode = {layer, inputs: [], consumers: [], isInput: true};
      byLayer.set(layer, node);
      nodes.push(node);
      return node;
    }
    if (layer.inboundNodes.length !== 1) return `layer '${layer.name}' is called ${layer.inboundNodes.length} times`;
    const inbound = layer.inboundNodes[0];
    if (inbound.outputTensors.length !== 1) return `layer '${layer.name}' has ${inbound.outputTensors.length} outputs`;
    const inputs: GraphNode[] = [];
    for (const producer of inbound.inboundLayers) {
      const p = nodeOf(producer);
      if (typeof p === 'string') return p;
      inputs.push(p);
    }
    const node: GraphNode = {layer, inputs, consumers: [], isInput: false};
    for (const p of inputs) p.consumers.push(node);
    byLayer.set(layer, node);
    nodes.push(node);
    return node;
  };
  const outputs: GraphNode[] = [];
  for (const out of model.outputs) {
    const node = nodeOf(out.sourceLayer as Layer);
    if (typeof node === 'string') return node;
    outputs.push(node);
  }
  if (model.inputs.some(t => !byLayer.has(t.sourceLayer as Layer))) return 'an input does not reach the outputs';
  return {nodes, outputs};
}

/** Weights to set on the rebuilt model's new layers once it is built. */
export interface PendingWeights {
  layer: Layer;
  values: Tensor[];
  /** Tensors made for `values`, disposed once they are set. */
  made: Tensor[];
}

/**
 * What a rewrite does with one call: given the rebuilt inputs, return the rebuilt output. `copy`
 * applies a copy of the original layer, with its weights, to `args` (default: the rebuilt inputs).
 */
export type NodeRewrite = (node: GraphNode, inputs: SymbolicTensor[], copy: (args?: SymbolicTensor[]) => SymbolicTensor,
                           pending: PendingWeights[]) => SymbolicTensor;

/**
 * A copy of a layer (same class, config and name), without weights. Built through the layer's own
 * class rather than the registry by class name: where two copies of a library are loaded (a bundle
 * and its sources), the registry holds whichever registered last.
 */
export function cloneLayer(layer: Layer): Layer {
  return layerLike(layer, layer.getConfig());
}

/** A new layer of `layer`'s own class (see `cloneLayer`) from `config`. */
export function layerLike(layer: Layer, config: serialization.ConfigDict): Layer {
  const cls = layer.constructor as unknown as serialization.SerializableConstructor<Layer> &
      {fromConfig(cls: unknown, config: serialization.ConfigDict): Layer};
  // fromConfig may consume its config (tfjs's wrappers delete keys): give it a copy.
  return cls.fromConfig(cls, structuredClone(config));
}

/**
 * Rebuilds `model` call by call through `rewrite` into a new functional model with fresh inputs
 * of the same names and shapes, and sets the new layers' weights. `output` maps a rebuilt output
 * node's tensor to the model output (default: itself).
 */
export function rebuildModel(model: LayersModel, graph: ModelGraph, rewrite: NodeRewrite,
                             output: (node: GraphNode, y: SymbolicTensor) => SymbolicTensor = (_, y) => y): LayersModel {
  const out = new Map<GraphNode, SymbolicTensor>();
  const pending: PendingWeights[] = [];
  const fresh = new Map<Layer, SymbolicTensor>();
  for (const node of graph.nodes) {
    if (node.isInput) {
      const source = model.inputs.find(t => t.sourceLayer === node.layer)!;
      const t = input({batchShape: source.shape, dtype: source.dtype, name: node.layer.name});
      fresh.set(node.layer, t);
      out.set(node, t);
      continue;
    }
    const inputs = node.inputs.map(p => out.get(p)!);
    const copy = (args = inputs) => {
      const clone = cloneLayer(node.layer);
      const y = clone.apply(args.length === 1 ? args[0] : args) as SymbolicTensor;
      pending.push({layer: clone, values: node.layer.weights.map(w => w.read()), made: []});
      return y;
    };
    out.set(node, rewrite(node, inputs, copy, pending));
  }
  const rebuilt = functionalModel({inputs: model.inputs.map(t => fresh.get(t.sourceLayer as Layer)!),
    outputs: graph.outputs.map(n => output(n, out.get(n)!)), name: model.name});
  for (const {layer, values, made} of pending) {
    try {
      layer.setWeights(values);
    } finally {
      dispose(made);
    }
  }
  return rebuilt;
}
