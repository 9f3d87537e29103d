/**
 * Channel-major runs: the pixel-vectorized sparse kernels read activations channel-major (NCHW)
 * while tfjs is channels-last, so `toSparse` moves whole runs of layers to channel-major layout
 * between one transpose in and one out, as XNNPACK's sparse inference does (Elsen et al., "Fast
 * Sparse ConvNets"): sparse 1x1 convolutions that run the pixel kernel, 3x3 depthwise convolutions
 * (our channel-major kernel, with a preceding ZeroPadding2D folded into its padding), and the
 * layout-free layers between them (Add, ReLU, elementwise activations, Dropout). A run is moved
 * only when it holds at least one pixel-kernel convolution; everything else stays as it was.
 *
 * Why runs and not a transpose around each 1x1 convolution: on nsfwjs's MobileNetV2 at 90 % the
 * per-layer transposes cost 4.5 ms and leave the depthwise layers on tfjs (1.6-2.5x the dense model),
 * against 0.4 ms for one transpose in and one out (4.9-6.7x; bench/mobilenet.ts, BENCHMARKS.md
 * "nsfwjs MobileNetV2 end to end", 2026-12-06).
 */
import {Tensor, transpose} from '@tensorflow/tfjs-core';
import {LayersModel, layers, SymbolicTensor} from '@tensorflow/tfjs-layers';
import {GraphNode, layerLike, ModelGraph, modelGraph, rebuildModel} from '../model/graph';
import {FusedActivation, VALID_FUSED_ACTIVATIONS} from './activation';
import {explicitPadding} from './depthwise_nchw';
import {DepthwiseConv2DChannelsFirst} from './depthwise_layer';
import {LayoutPermute} from './layout_permute';
import {choosePixelKernel} from './matmul';
import {SparseConv2D} from './sparse_conv2d';

type Layer = layers.Layer;

/** What a layer becomes in a channel-major run. */
export type ChannelMajorRole = 'pixelConv'|'depthwise'|'padding'|'elementwise';

/** Activations that act on each value alone (any layout); softmax and its kin do not. */
const ELEMENTWISE_ACTIVATIONS = ['linear', 'relu', 'relu6', 'elu', 'selu', 'sigmoid', 'hardSigmoid', 'tanh',
  'softplus', 'softsign', 'swish', 'mish', 'gelu', 'gelu_new'];

function staticShape(layer: Layer, which: 'input'|'output'): number[]|null {
  const t = (which === 'input' ? layer.input : layer.output) as SymbolicTensor;
  const shape = t.shape.slice(1);
  return shape.every(d => typeof d === 'number') ? shape as number[] : null;
}

function pair(v: unknown): [number, number] {
  return Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number];
}

/** The padding of a ZeroPadding2D as `[[top, bottom], [left, right]]`. */
function zeroPadding(layer: Layer): [[number, number], [number, number]] {
  const p = layer.getConfig().padding as unknown;
  if (typeof p === 'number') return [[p, p], [p, p]];
  const [h, w] = p as unknown[];
  return [pair(h), pair(w)];
}

/** Whether a DepthwiseConv2D maps onto `DepthwiseConv2DChannelsFirst`. */
function isChannelMajorDepthwise(layer: Layer): boolean {
  if (layer.getClassName() !== 'DepthwiseConv2D') return false;
  const c = layer.getConfig();
  const [kh, kw] = pair(c.kernelSize);
  const [sh, sw] = pair(c.strides ?? 1);
  const [dh, dw] = pair(c.dilationRate ?? 1);
  return kh === 3 && kw === 3 && sh === sw && (sh === 1 || sh === 2) && dh === 1 && dw === 1 &&
      (c.depthMultiplier ?? 1) === 1 && (c.dataFormat ?? 'channelsLast') === 'channelsLast' &&
      VALID_FUSED_ACTIVATIONS.includes(c.activation as FusedActivation) && staticShape(layer, 'input') !== null;
}

function isElementwise(layer: Layer): boolean {
  const name = layer.getClassName();
  if (name === 'Add' || name === 'Dropout') return true;
  if (name === 'ReLU') return true;
  return name === 'Activation' && ELEMENTWISE_ACTIVATIONS.includes(layer.getConfig().activation as string);
}

/** The padding a depthwise layer runs with: its own plus that of an absorbed ZeroPadding2D. */
function depthwisePadding(node: GraphNode, absorbed: GraphNode|null): [[number, number], [number, number]]|null {
  const c = node.layer.getConfig();
  const [h, w] = staticShape(node.layer, 'input')!;
  const stride = pair(c.strides ?? 1)[0];
  const own = explicitPadding(c.padding as 'same'|'valid', h, w, stride);
  if (!absorbed) return own;
  if (c.padding !== 'valid') return null;
  const p = zeroPadding(absorbed.layer);
  return p.flat().every(v => v <= 2) ? p : null;
}

/** Channel-major plan: the role of each node in a moved run. */
export interface ChannelMajorPlan {
  graph: ModelGraph;
  roles: Map<GraphNode, ChannelMajorRole>;
  /** Depthwise nodes and their explicit padding (ZeroPadding2D folded in). */
  padding: Map<GraphNode, [[number, number], [number, number]]>;
}

/** Which layers of `model` to move to channel-major layout, or the reason none can be. */
export function planChannelMajor(model: LayersModel): ChannelMajorPlan|string {
  const graph = modelGraph(model);
  if (typeof graph === 'string') return graph;
  const roles = new Map<GraphNode, ChannelMajorRole>();
  const padding = new Map<GraphNode, [[number, number], [number, number]]>();
  for (const node of graph.nodes) {
    if (node.isInput) continue;
    const layer = node.layer;
    if (layer instanceof SparseConv2D && layer.kernelSize[0] === 1 && layer.kernelSize[1] === 1 &&
        layer.dataFormat === 'channelsLast') {
      const out = staticShape(layer, 'output');
      if (out && choosePixelKernel(out[0] * out[1], layer.packedKernel())) roles.set(node, 'pixelConv');
    } else if (isChannelMajorDepthwise(layer)) {
      const producer = node.inputs[0];
      const absorb = producer.layer.getClassName() === 'ZeroPadding2D' && producer.consumers.length === 1 &&
          !graph.outputs.includes(producer) ? producer : null;
      const p = depthwisePadding(node, absorb);
      if (p) {
        roles.set(node, 'depthwise');
        padding.set(node, p);
        if (absorb) roles.set(absorb, 'padding');
      } else if (absorb) {
        const own = depthwisePadding(node, null);
        if (own) {
          roles.set(node, 'depthwise');
          padding.set(node, own);
        }
      }
    } else if (isElementwise(layer) && node.inputs.every(p => roles.has(p))) {
      roles.set(node, 'elementwise');
    }
  }
  keepPayingRuns(roles, n => n.inputs, 'pixelConv');
  return {graph, roles, padding};
}

/**
 * Runs are the connected parts of the nodes given a role (linked through `inputsOf`); drops from
 * `roles` every run without a node of role `pays` (moving it would add transposes and gain nothing).
 */
export function keepPayingRuns<N, R>(roles: Map<N, R>, inputsOf: (n: N) => N[], pays: R): void {
  const parent = new Map<N, N>();
  const find = (n: N): N => {
    let r = n;
    while (parent.get(r) !== r) r = parent.get(r)!;
    parent.set(n, r);
    return r;
  };
  for (const n of roles.keys()) parent.set(n, n);
  for (const n of roles.keys()) for (const p of inputsOf(n)) if (roles.has(p)) parent.set(find(p), find(n));
  const paying = new Set([...roles].filter(([, r]) => r === pays).map(([n]) => find(n)));
  for (const n of [...roles.keys()]) if (!paying.has(find(n))) roles.delete(n);
}

/**
 * `model` with the runs of `plan` in channel-major layout: `SparseConv2D` layers with
 * `dataFormat: 'channelsFirst'`, `DepthwiseConv2DChannelsFirst` layers, and `LayoutPermute` layers
 * (Keras Permutes on our threaded transpose) where a run is entered and left.
 */
export function toChannelMajor(model: LayersModel, plan: ChannelMajorPlan): LayersModel {
  const {graph, roles} = plan;
  const permuted = new Map<string, SymbolicTensor>();
  const permute = (t: SymbolicTensor, producer: GraphNode, toFirst: boolean) => {
    const key = `${producer.layer.name}:${toFirst}`;
    let p = permuted.get(key);
    if (!p) {
      const name = `${producer.layer.name}_to_channels_${toFirst ? 'first' : 'last'}`;
      p = new LayoutPermute({dims: toFirst ? [3, 1, 2] : [2, 3, 1], name}).apply(t) as SymbolicTensor;
      permuted.set(key, p);
    }
    return p;
  };
  return rebuildModel(model, graph, (node, inputs, copy, pending) => {
    const role = roles.get(node);
    // Each input in this node's layout.
    const args = inputs.map((t, i) => {
      const moved = roles.has(node.inputs[i]);
      if (role && !moved) return permute(t, node.inputs[i], true);
      if (!role && moved) return permute(t, node.inputs[i], false);
      return t;
    });
    let y: SymbolicTensor;
    if (!role || role === 'elementwise') {
      y = copy(args);
    } else if (role === 'padding') {
      y = args[0];
    } else if (role === 'pixelConv') {
      // A first layer's batchInputShape is channels-last: its input now comes through the transpose.
      const {batchInputShape: _, ...config} = node.layer.getConfig();
      const layer = layerLike(node.layer, {...config, dataFormat: 'channelsFirst'});
      y = layer.apply(args[0]) as SymbolicTensor;
      pending.push({layer, values: node.layer.weights.map(w => w.read()), made: []});
    } else {
      const c = node.layer.getConfig();
      const layer = new DepthwiseConv2DChannelsFirst({name: node.layer.name, channels: staticShape(node.layer, 'input')![2],
        strides: pair(c.strides ?? 1)[0] as 1|2, padding: plan.padding.get(node)!, activation: c.activation as FusedActivation,
        useBias: c.useBias as boolean});
      y = layer.apply(args[0]) as SymbolicTensor;
      const made: Tensor[] = [transpose(node.layer.weights[0].read(), [2, 3, 0, 1])];
      pending.push({layer, values: c.useBias ? [...made, node.layer.weights[1].read()] : made, made});
    }
    return y;
  }, (node, y) => roles.has(node) ? permute(y, node, false) : y);  // a model output leaves the run
}
