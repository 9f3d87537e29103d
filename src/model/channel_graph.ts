/**
 * How channels flow through a layers model, for channel pruning (`pruning/channels.ts`) and
 * `shrinkModel` (`model/shrink.ts`). Every channel of every tensor, and every channel slot of every
 * layer that has per-channel weights, is tied to the ones that must be kept or removed with it: a
 * Conv2D's output channel with the BatchNormalization parameters, the depthwise channel (with its
 * multiplier) and the next layer's input rows it feeds, the features a Flatten makes of it, and the
 * same channel of every other branch of a residual `Add`/`Multiply`. Such a tied set is a *unit*.
 * A unit that reaches a model input or output, or a layer this table cannot follow, is *frozen*.
 * Removing a unit is exact when every layer that multiplies it into new channels (a *reading*
 * layer: Dense, Conv, the pointwise half of SeparableConv2D) reads it as exact zeros: `zeros`
 * propagates which channels are exactly zero, from the weights or from the assumption that masked
 * weights are zero.
 */
import {LayersModel, layers, LayerVariable, SymbolicTensor} from '@tensorflow/tfjs-layers';
import type {PruneLowMagnitude} from '../pruning/wrapper';

type Layer = layers.Layer;

/**
 * How a layer relates its output channels to its input channels. `producer`: new output channels,
 * each reading every input channel (Dense, Conv, SeparableConv2D); `channelwise`: output channel c
 * from input channel c alone (BatchNormalization, activations, pooling, padding, dropout);
 * `depthwise`: output channels c·m .. c·m+m-1 from input channel c; `merge`: channel c of every
 * input makes channel c (Add, Multiply, ...); `concat`: the inputs' channels one after another;
 * `reshape`: the last axis becomes features f with channel f mod C (Flatten, a Reshape whose last
 * axis is a multiple of the channels).
 */
export type ChannelRole = 'producer'|'channelwise'|'depthwise'|'merge'|'concat'|'reshape';

/** One axis of a weight that indexes channels of the layer's input ('in') or output ('out'). */
export interface ChannelAxis {
  /** Axis, counted from the end when negative. */
  axis: number;
  side: 'in'|'out';
  /** Each input channel owns `depthMultiplier` consecutive entries (depthwise outputs). */
  expand?: boolean;
}

/** A weight of a layer class, by property, and how its axes index channels. */
export interface ChannelWeightSpec {
  /** The layer property holding the variable (`kernel`, `bias`, `gamma`, ...). */
  property: string;
  axes: ChannelAxis[];
  /** Channel pruning masks it: zero on a channel, it zeroes that output channel. */
  masked?: boolean;
  /** What its per-channel values score: 'norm' (a kernel) or 'scale' (BatchNormalization's gamma). */
  score?: 'norm'|'scale';
  /** Whether an absent weight acts as zero (a bias or beta) or not (gamma, which is then 1). */
  absentIsZero?: boolean;
}

/** What the analysis knows about a layer class. */
export interface LayerChannelSpec {
  role: ChannelRole;
  weights: readonly ChannelWeightSpec[];
  /** The config key holding the number of output channels (producers). */
  sizeKey?: 'units'|'filters';
}

const KERNEL_IN_OUT: ChannelWeightSpec[] = [
  {property: 'kernel', axes: [{axis: -2, side: 'in'}, {axis: -1, side: 'out'}], masked: true, score: 'norm'},
  {property: 'bias', axes: [{axis: 0, side: 'out'}], masked: true, absentIsZero: true},
];
const CHANNELWISE: LayerChannelSpec = {role: 'channelwise', weights: []};
const MERGE: LayerChannelSpec = {role: 'merge', weights: []};

/** The layer classes whose channels can be followed, by exact class name. */
export const CHANNEL_LAYERS: Readonly<Record<string, LayerChannelSpec>> = {
  Dense: {role: 'producer', weights: KERNEL_IN_OUT, sizeKey: 'units'},
  Conv1D: {role: 'producer', weights: KERNEL_IN_OUT, sizeKey: 'filters'},
  Conv2D: {role: 'producer', weights: KERNEL_IN_OUT, sizeKey: 'filters'},
  Conv3D: {role: 'producer', weights: KERNEL_IN_OUT, sizeKey: 'filters'},
  // tfjs keeps a transposed convolution's kernel as [kh, kw, out, in].
  Conv2DTranspose: {role: 'producer', sizeKey: 'filters', weights: [
    {property: 'kernel', axes: [{axis: -1, side: 'in'}, {axis: -2, side: 'out'}], masked: true, score: 'norm'},
    KERNEL_IN_OUT[1]]},
  SeparableConv2D: {role: 'producer', sizeKey: 'filters', weights: [
    {property: 'depthwiseKernel', axes: [{axis: -2, side: 'in'}]},
    {property: 'pointwiseKernel', axes: [{axis: -2, side: 'in', expand: true}, {axis: -1, side: 'out'}], masked: true,
     score: 'norm'},
    KERNEL_IN_OUT[1]]},
  DepthwiseConv2D: {role: 'depthwise', weights: [
    {property: 'depthwiseKernel', axes: [{axis: -2, side: 'in'}], masked: true, score: 'norm'},
    {property: 'bias', axes: [{axis: 0, side: 'in', expand: true}], masked: true, absentIsZero: true}]},
  BatchNormalization: {role: 'channelwise', weights: [
    {property: 'gamma', axes: [{axis: 0, side: 'in'}], masked: true, score: 'scale'},
    {property: 'beta', axes: [{axis: 0, side: 'in'}], masked: true, absentIsZero: true},
    {property: 'movingMean', axes: [{axis: 0, side: 'in'}]},
    {property: 'movingVariance', axes: [{axis: 0, side: 'in'}]}]},
  PReLU: {role: 'channelwise', weights: [{property: 'alpha', axes: [{axis: -1, side: 'in'}]}]},
  Activation: CHANNELWISE, ReLU: CHANNELWISE, LeakyReLU: CHANNELWISE, ELU: CHANNELWISE, ThresholdedReLU: CHANNELWISE,
  Dropout: CHANNELWISE, SpatialDropout1D: CHANNELWISE, GaussianNoise: CHANNELWISE, GaussianDropout: CHANNELWISE,
  AlphaDropout: CHANNELWISE, Rescaling: CHANNELWISE,
  MaxPooling1D: CHANNELWISE, MaxPooling2D: CHANNELWISE, MaxPooling3D: CHANNELWISE,
  AveragePooling1D: CHANNELWISE, AveragePooling2D: CHANNELWISE, AveragePooling3D: CHANNELWISE,
  GlobalMaxPooling1D: CHANNELWISE, GlobalMaxPooling2D: CHANNELWISE,
  GlobalAveragePooling1D: CHANNELWISE, GlobalAveragePooling2D: CHANNELWISE,
  ZeroPadding2D: CHANNELWISE, Cropping2D: CHANNELWISE, UpSampling2D: CHANNELWISE, RepeatVector: CHANNELWISE,
  Add: MERGE, Average: MERGE, Maximum: MERGE, Minimum: MERGE, Multiply: MERGE,
  Concatenate: {role: 'concat', weights: []},
  Flatten: {role: 'reshape', weights: []},
  Reshape: {role: 'reshape', weights: []},
};

/** Activations f with f(0) = 0 (names as tfjs serializes them, lower-cased, without '_'). */
const ZERO_KEEPING_ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'elu', 'selu', 'tanh', 'softsign', 'swish',
  'mish', 'gelu', 'gelunew']);

function activationName(config: Record<string, unknown>): string {
  return String(config.activation ?? 'linear').replace(/_/g, '').toLowerCase();
}

/** One tensor of the model: its channels are its last axis. */
export interface ChannelTensor {
  index: number;
  shape: Array<number|null>;
  /** Size of the last axis, or 0 when unknown. */
  channels: number;
  /** The node producing it, or -1 for a model input. */
  producer: number;
}

/** One call of a layer in the model. */
export interface ChannelNode {
  index: number;
  /** The layer that computes (a pruning wrapper's inner layer). */
  layer: Layer;
  /** The `PruneLowMagnitude` wrapping `layer` in the model, if any. */
  wrapper: PruneLowMagnitude|null;
  /** The spec of the layer's class, or null when its channels cannot be followed. */
  spec: LayerChannelSpec|null;
  /** Why the channels stop at this layer (null when they are followed). */
  stop: string|null;
  inputs: number[];
  outputs: number[];
}

/** Answers whether a weight of a layer is zero on a channel (by its values, or by assumption). */
export interface ZeroReader {
  /** Whether `property` of `node.layer` is zero on every entry of channel `c` of its axis on `side`. */
  isZero(node: ChannelNode, weight: ChannelWeightSpec, side: 'in'|'out', c: number): boolean;
}

interface GraphNode {
  inputTensors: SymbolicTensor[];
  outputTensors: SymbolicTensor[];
}

/** Union-find over channel keys. */
class UnionFind {
  private readonly parent: Int32Array;
  constructor(n: number) {
    this.parent = Int32Array.from({length: n}, (_, i) => i);
  }
  find(a: number): number {
    let r = a;
    while (this.parent[r] !== r) r = this.parent[r];
    while (this.parent[a] !== r) {
      const next = this.parent[a];
      this.parent[a] = r;
      a = next;
    }
    return r;
  }
  union(a: number, b: number): void {
    const ra = this.find(a), rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }
}

function labelOf(layer: Layer): string {
  return `'${layer.name}' (${layer.getClassName()})`;
}

/** A layer's depth multiplier (1 for layers without one). */
export function depthMultiplier(layer: Layer): number {
  return Number(layer.getConfig().depthMultiplier ?? 1);
}

/** The number of channel slots of a layer on a side, given its first node's tensors. */
function sideSize(node: ChannelNode, tensors: ChannelTensor[], side: 'in'|'out'): number {
  return side === 'in' ? tensors[node.inputs[0]].channels : tensors[node.outputs[0]].channels;
}

/**
 * The channel-flow analysis of one model (nested models are single layers here: their channels are
 * not followed). Build it with `analyseChannels`.
 */
export class ChannelGraph {
  readonly model: LayersModel;
  readonly tensors: ChannelTensor[] = [];
  /** In topological order. */
  readonly nodes: ChannelNode[] = [];
  /** Distinct layers with a spec, and their first node. */
  readonly layerNodes = new Map<Layer, ChannelNode[]>();
  private readonly tensorBase: number[] = [];
  private readonly slotBase = new Map<string, number>();
  private readonly uf: UnionFind;
  /** Why a unit (by root key) is frozen, with the layer where it stops. */
  private readonly frozen = new Map<number, {layer: Layer; reason: string}>();
  /** Our tensor index of each symbolic tensor id. */
  private readonly symbolicIndex = new Map<number, number>();
  private readonly layerIds = new Map<Layer, number>();

  constructor(model: LayersModel) {
    this.model = model;
    this.collect();
    let keys = 0;
    for (const t of this.tensors) {
      this.tensorBase.push(keys);
      keys += t.channels;
    }
    for (const [layer, nodes] of this.layerNodes) {
      // Slots tie the nodes of a shared layer; weightless layers need none (and may see any width).
      if (nodes[0].spec?.weights.length === 0) continue;
      for (const side of ['in', 'out'] as const) {
        this.slotBase.set(`${side}:${this.layerId(layer)}`, keys);
        keys += sideSize(nodes[0], this.tensors, side);
      }
    }
    this.uf = new UnionFind(keys);
    this.tie();
    this.freeze();
  }

  private layerId(layer: Layer): number {
    let id = this.layerIds.get(layer);
    if (id == null) this.layerIds.set(layer, id = this.layerIds.size);
    return id;
  }

  /** Walks back from the outputs: every node that computes them, inputs first. */
  private collect(): void {
    const nodeIndex = new Map<object, number>();
    const modelInputs = new Set(this.model.inputs.map(t => t.id));
    const addTensor = (t: SymbolicTensor, producer: number): number => {
      const shape = t.shape.slice();
      const last = shape[shape.length - 1];
      const index = this.tensors.length;
      this.tensors.push({index, shape, channels: shape.length >= 2 && typeof last === 'number' ? last : 0, producer});
      this.symbolicIndex.set(t.id, index);
      return index;
    };
    const visitTensor = (t: SymbolicTensor): number => {
      const known = this.symbolicIndex.get(t.id);
      if (known != null) return known;
      if (modelInputs.has(t.id)) return addTensor(t, -1);
      const source = t.sourceLayer as Layer;
      visitNode(source, source.inboundNodes[t.nodeIndex] as unknown as GraphNode);
      return this.symbolicIndex.get(t.id) as number;
    };
    const visitNode = (source: Layer, graphNode: GraphNode): void => {
      if (nodeIndex.has(graphNode)) return;
      const inputs = graphNode.inputTensors.map(visitTensor);
      const index = this.nodes.length;
      nodeIndex.set(graphNode, index);
      // By class name, as wrapper.ts's isPruneLowMagnitude (importing it would be an import cycle).
      const wrapper = source.getClassName() === 'PruneLowMagnitude' ? source as PruneLowMagnitude : null;
      const layer = wrapper ? wrapper.layer : source;
      const node: ChannelNode = {index, layer, wrapper, spec: null, stop: null, inputs,
                                 outputs: graphNode.outputTensors.map(t => addTensor(t, index))};
      this.nodes.push(node);
      node.stop = this.stopReason(node);
    };
    for (const out of this.model.outputs) visitTensor(out);
    // A shared layer is followed only if every call of it is: its weights serve them all.
    const stopped = new Map<Layer, string>();
    for (const node of this.nodes) if (node.stop != null && !stopped.has(node.layer)) stopped.set(node.layer, node.stop);
    for (const node of this.nodes) {
      const stop = stopped.get(node.layer);
      if (stop != null) {
        node.stop ??= `another call of this shared layer stops: ${stop}`;
        continue;
      }
      node.spec = CHANNEL_LAYERS[node.layer.getClassName()];
      const list = this.layerNodes.get(node.layer);
      if (list) list.push(node);
      else this.layerNodes.set(node.layer, [node]);
    }
  }

  /** Why the channels cannot be followed through a node, or null. */
  private stopReason(node: ChannelNode): string|null {
    const {layer} = node;
    if (layer instanceof LayersModel) return 'a nested model: its channels are not followed';
    const className = layer.getClassName();
    const spec = CHANNEL_LAYERS[className];
    if (spec == null) return `layer class ${className} is not one whose channels can be followed`;
    if (node.outputs.length !== 1) return 'a layer with several outputs';
    const config = layer.getConfig();
    const ins = node.inputs.map(i => this.tensors[i]);
    const out = this.tensors[node.outputs[0]];
    if (ins.some(t => t.channels === 0) || out.channels === 0) return 'a channel count is unknown';
    if (config.dataFormat === 'channelsFirst') return 'channelsFirst data format';
    if (className === 'BatchNormalization') {
      const axis = Number(config.axis ?? -1);
      if (axis !== -1 && axis !== ins[0].shape.length - 1) return `it normalizes axis ${axis}, not the channels`;
    }
    if (className === 'Activation' && activationName(config) === 'softmax') return 'softmax mixes the channels';
    if (className === 'Rescaling' && Number(config.offset ?? 0) !== 0) return 'a nonzero offset';
    if (spec.role === 'merge' && ins.some(t => t.channels !== out.channels)) return 'inputs broadcast along the channels';
    if (spec.role === 'channelwise' && ins[0].channels !== out.channels) return 'it changes the channel count';
    if (spec.role === 'depthwise' && out.channels !== ins[0].channels * depthMultiplier(layer)) {
      return 'its outputs are not input channels times the depth multiplier';
    }
    if (spec.role === 'concat') {
      const axis = Number(config.axis ?? -1);
      const rank = out.shape.length;
      if (axis !== -1 && axis !== rank - 1 && ins.some(t => t.channels !== out.channels)) {
        return `it concatenates axis ${axis} of inputs with different channel counts`;
      }
    }
    if (spec.role === 'reshape' && out.channels % ins[0].channels !== 0) {
      return `its last axis (${out.channels}) is not a multiple of the channels (${ins[0].channels})`;
    }
    return null;
  }

  /** The union-find key of channel `c` of tensor `t`. */
  private tensorKey(t: number, c: number): number {
    return this.tensorBase[t] + c;
  }

  /** The union-find key of channel slot `c` of a layer's side. */
  private slotKey(layer: Layer, side: 'in'|'out', c: number): number {
    return (this.slotBase.get(`${side}:${this.layerId(layer)}`) as number) + c;
  }

  /** The unit (root key) of channel `c` of tensor `t`. */
  unitOfTensor(t: number, c: number): number {
    return this.uf.find(this.tensorKey(t, c));
  }

  /** The unit (root key) of slot `c` of a layer's side. */
  unitOfSlot(layer: Layer, side: 'in'|'out', c: number): number {
    return this.uf.find(this.slotKey(layer, side, c));
  }

  /** Ties every channel to the slots and channels that must go with it. */
  private tie(): void {
    const uf = this.uf;
    for (const node of this.nodes) {
      const {spec, layer} = node;
      if (spec == null) continue;
      const ins = node.inputs, out = node.outputs[0];
      const inC = this.tensors[ins[0]].channels;
      const outC = this.tensors[out].channels;
      switch (spec.role) {
        case 'producer':
          for (const t of ins) for (let c = 0; c < inC; c++) uf.union(this.slotKey(layer, 'in', c), this.tensorKey(t, c));
          for (let c = 0; c < outC; c++) uf.union(this.slotKey(layer, 'out', c), this.tensorKey(out, c));
          break;
        case 'channelwise':
          for (let c = 0; c < inC; c++) {
            uf.union(this.tensorKey(ins[0], c), this.tensorKey(out, c));
            if (spec.weights.length > 0) uf.union(this.slotKey(layer, 'in', c), this.tensorKey(out, c));
          }
          break;
        case 'depthwise': {
          const m = depthMultiplier(layer);
          for (let c = 0; c < inC; c++) {
            uf.union(this.slotKey(layer, 'in', c), this.tensorKey(ins[0], c));
            for (let j = 0; j < m; j++) uf.union(this.slotKey(layer, 'in', c), this.tensorKey(out, c * m + j));
          }
          break;
        }
        case 'merge':
          for (const t of ins) for (let c = 0; c < outC; c++) uf.union(this.tensorKey(t, c), this.tensorKey(out, c));
          break;
        case 'concat': {
          const axis = Number(layer.getConfig().axis ?? -1);
          const onChannels = axis === -1 || axis === this.tensors[out].shape.length - 1;
          let offset = 0;
          for (const t of ins) {
            const n = this.tensors[t].channels;
            for (let c = 0; c < n; c++) uf.union(this.tensorKey(t, c), this.tensorKey(out, onChannels ? offset + c : c));
            if (onChannels) offset += n;
          }
          break;
        }
        case 'reshape':
          for (let f = 0; f < outC; f++) uf.union(this.tensorKey(out, f), this.tensorKey(ins[0], f % inC));
          break;
      }
    }
  }

  private freezeTensor(t: number, layer: Layer, reason: string): void {
    for (let c = 0; c < this.tensors[t].channels; c++) {
      const root = this.unitOfTensor(t, c);
      if (!this.frozen.has(root)) this.frozen.set(root, {layer, reason});
    }
  }

  /** Marks the units that reach model inputs and outputs and layers that cannot be followed. */
  private freeze(): void {
    for (const node of this.nodes) {
      if (node.stop != null) {
        for (const t of [...node.inputs, ...node.outputs]) {
          this.freezeTensor(t, node.layer, `channels stop at ${labelOf(node.layer)}: ${node.stop}`);
        }
      } else if (node.spec?.role === 'producer' && activationName(node.layer.getConfig()) === 'softmax') {
        this.freezeTensor(node.outputs[0], node.layer, `the softmax activation of ${labelOf(node.layer)} mixes its channels`);
      }
    }
    for (const out of this.model.outputs) {
      const t = this.symbolicIndex.get(out.id) as number;
      const producer = this.tensors[t].producer;
      const layer = producer >= 0 ? this.nodes[producer].layer : out.sourceLayer as Layer;
      this.freezeTensor(t, layer, `they are an output of the model (from ${labelOf(layer)})`);
    }
    for (const input of this.model.inputs) {
      const t = this.symbolicIndex.get(input.id);
      if (t != null) this.freezeTensor(t, input.sourceLayer as Layer, 'they are an input of the model');
    }
  }

  /** Why a unit is frozen and where, or null if it may be removed. */
  frozenReason(unit: number): {layer: Layer; reason: string}|null {
    return this.frozen.get(unit) ?? null;
  }

  /**
   * Which channels of every tensor are exactly zero, node by node in topological order, given
   * which weights are zero on which channels (`reader`).
   * @returns one 0/1 array per tensor (1: exactly zero).
   */
  zeros(reader: ZeroReader): Uint8Array[] {
    const zero = this.tensors.map(t => new Uint8Array(t.channels));
    for (const node of this.nodes) {
      const {spec, layer} = node;
      if (spec == null) continue;
      const out = zero[node.outputs[0]];
      const ins = node.inputs.map(t => zero[t]);
      const config = layer.getConfig();
      const keepsZero = ZERO_KEEPING_ACTIVATIONS.has(activationName(config));
      const w = (property: string) => spec.weights.find(x => x.property === property) as ChannelWeightSpec;
      const isZero = (property: string, side: 'in'|'out', c: number) => reader.isZero(node, w(property), side, c);
      switch (spec.role) {
        case 'producer': {
          if (!keepsZero) break;
          const masked = spec.weights.filter(x => x.masked);
          for (let o = 0; o < out.length; o++) out[o] = masked.every(x => reader.isZero(node, x, 'out', o)) ? 1 : 0;
          break;
        }
        case 'depthwise': {
          if (!keepsZero) break;
          const m = depthMultiplier(layer);
          for (let c = 0; c < ins[0].length; c++) {
            const z = isZero('bias', 'in', c) && (ins[0][c] === 1 || isZero('depthwiseKernel', 'in', c));
            for (let j = 0; j < m; j++) out[c * m + j] = z ? 1 : 0;
          }
          break;
        }
        case 'channelwise':
          for (let c = 0; c < out.length; c++) out[c] = channelwiseZero(node, ins[0][c] === 1, c, isZero) ? 1 : 0;
          break;
        case 'merge': {
          const any = layer.getClassName() === 'Multiply';
          for (let c = 0; c < out.length; c++) {
            out[c] = (any ? ins.some(z => z[c] === 1) : ins.every(z => z[c] === 1)) ? 1 : 0;
          }
          break;
        }
        case 'concat': {
          const axis = Number(config.axis ?? -1);
          if (axis === -1 || axis === this.tensors[node.outputs[0]].shape.length - 1) {
            let offset = 0;
            for (const z of ins) {
              out.set(z, offset);
              offset += z.length;
            }
          } else {
            for (let c = 0; c < out.length; c++) out[c] = ins.every(z => z[c] === 1) ? 1 : 0;
          }
          break;
        }
        case 'reshape':
          for (let f = 0; f < out.length; f++) out[f] = ins[0][f % ins[0].length];
          break;
      }
    }
    return zero;
  }

  /**
   * Every unit with at least one masked slot (a channel that channel pruning could remove), with
   * the channels layers read from it. Frozen units are listed too.
   */
  units(): Map<number, UnitInfo> {
    const units = new Map<number, UnitInfo>();
    const get = (root: number): UnitInfo => {
      let u = units.get(root);
      if (u == null) units.set(root, u = {unit: root, maskedSlots: [], reads: []});
      return u;
    };
    for (const [layer, nodes] of this.layerNodes) {
      const spec = nodes[0].spec as LayerChannelSpec;
      if (!spec.weights.some(x => x.masked)) continue;
      const side = maskSide(spec);
      const n = sideSize(nodes[0], this.tensors, side);
      for (let c = 0; c < n; c++) get(this.unitOfSlot(layer, side, c)).maskedSlots.push({layer, c});
    }
    for (const node of this.nodes) {
      if (node.spec?.role !== 'producer') continue;
      for (const t of node.inputs) {
        for (let c = 0; c < this.tensors[t].channels; c++) {
          const u = units.get(this.unitOfTensor(t, c));
          u?.reads.push({node, tensor: t, c});
        }
      }
    }
    return units;
  }

  /**
   * The units that may be removed given which channels are zero: not frozen, and read as exact
   * zeros wherever a layer reads them.
   */
  removableUnits(zero: Uint8Array[], units = this.units()): Set<number> {
    const out = new Set<number>();
    for (const u of units.values()) {
      if (this.frozen.has(u.unit)) continue;
      if (u.reads.every(r => zero[r.tensor][r.c] === 1)) out.add(u.unit);
    }
    return out;
  }

  /**
   * Where and why channel removal stops, for units with masked slots that `removableUnits` leaves:
   * one entry per layer and reason, with the number of units it keeps.
   */
  stops(zero: Uint8Array[], units = this.units()): ChannelStop[] {
    const found = new Map<string, ChannelStop>();
    for (const node of this.nodes) {
      // A layer with weights that cannot be followed keeps its own channels too.
      if (node.stop == null || node.layer.weights.length === 0 || node.outputs.length === 0) continue;
      const reason = `channels stop at ${labelOf(node.layer)}: ${node.stop}`;
      found.set(`${node.layer.name}\u0000${reason}`, {layer: node.layer.name, className: node.layer.getClassName(), reason,
                                                        channels: this.tensors[node.outputs[0]].channels});
    }
    for (const u of units.values()) {
      let where: {layer: Layer; reason: string}|null = this.frozen.get(u.unit) ?? null;
      if (where == null) {
        const read = u.reads.find(r => zero[r.tensor][r.c] === 0);
        if (read == null) continue;
        const source = this.nonzeroSource(zero, read.tensor, read.c);
        where = source == null ? {layer: read.node.layer, reason: `${labelOf(read.node.layer)} reads a nonzero channel`} :
            {layer: source, reason: `${labelOf(source)} does not output zero for a pruned channel (${
              zeroBreaker(source)}), so ${labelOf(read.node.layer)} reads it`};
      }
      const key = `${where.layer.name}\u0000${where.reason}`;
      const entry = found.get(key);
      if (entry) entry.channels++;
      else found.set(key, {layer: where.layer.name, className: where.layer.getClassName(), reason: where.reason, channels: 1});
    }
    return [...found.values()];
  }

  /**
   * Groups units into populations whose channels are ranked together: units sharing the masked
   * side of a layer (one layer's output channels, tied layers of a residual chain).
   * @returns the population of each given unit (its smallest unit id).
   */
  populations(units: Iterable<number>): Map<number, number> {
    const wanted = new Set(units);
    const parent = new Map<number, number>();
    const find = (a: number): number => {
      while (parent.get(a) !== a) a = parent.get(a) as number;
      return a;
    };
    for (const u of wanted) parent.set(u, u);
    for (const [layer, nodes] of this.layerNodes) {
      const spec = nodes[0].spec as LayerChannelSpec;
      if (!spec.weights.some(x => x.masked)) continue;
      const side = maskSide(spec);
      let first = -1;
      for (let c = 0; c < sideSize(nodes[0], this.tensors, side); c++) {
        const u = this.unitOfSlot(layer, side, c);
        if (!wanted.has(u)) continue;
        if (first < 0) first = u;
        const a = find(first), b = find(u);
        if (a !== b) parent.set(Math.max(a, b), Math.min(a, b));
      }
    }
    const out = new Map<number, number>();
    for (const u of wanted) out.set(u, find(u));
    return out;
  }

  /**
   * Why channel `c` of tensor `t` is not zero under `zero`: the layer that first makes it nonzero,
   * walking back through the layers that pass it on.
   */
  nonzeroSource(zero: Uint8Array[], t: number, c: number): Layer|null {
    for (;;) {
      const producer = this.tensors[t].producer;
      if (producer < 0) return null;
      const node = this.nodes[producer];
      const role = node.spec?.role;
      let next: [number, number]|null = null;
      if (role === 'channelwise' || role === 'reshape') {
        next = [node.inputs[0], c % this.tensors[node.inputs[0]].channels];
      } else if (role === 'depthwise') {
        next = [node.inputs[0], Math.floor(c / depthMultiplier(node.layer))];
      } else if (role === 'merge' || role === 'concat') {
        let offset = 0;
        const onChannels = role === 'concat' &&
            [-1, this.tensors[t].shape.length - 1].includes(Number(node.layer.getConfig().axis ?? -1));
        for (const i of node.inputs) {
          const n = this.tensors[i].channels;
          const ci = onChannels ? c - offset : c;
          if (ci >= 0 && ci < n && zero[i][ci] === 0) {
            next = [i, ci];
            break;
          }
          if (onChannels) offset += n;
        }
      }
      if (next == null || zero[next[0]][next[1]] === 1) return node.layer;
      [t, c] = next;
    }
  }
}

/** Where channel removal stops and why. */
export interface ChannelStop {
  /** The layer where the channels stop. */
  layer: string;
  className: string;
  reason: string;
  /** How many channels (units) stop there. */
  channels: number;
}

/** What keeps a layer from outputting zero on a channel whose weights are masked. */
function zeroBreaker(layer: Layer): string {
  const config = layer.getConfig();
  if (config.activation != null) return `activation '${String(config.activation)}'`;
  if (layer.getClassName() === 'BatchNormalization') return 'its beta or moving mean is not masked';
  return 'its weights on the channel are not masked';
}

/** A unit: the masked slots that channel pruning zeroes, and where layers read it. */
export interface UnitInfo {
  unit: number;
  maskedSlots: Array<{layer: Layer; c: number}>;
  reads: Array<{node: ChannelNode; tensor: number; c: number}>;
}

/** The side whose channels a layer's masked weights index: outputs for producers, else inputs. */
export function maskSide(spec: LayerChannelSpec): 'in'|'out' {
  return spec.role === 'producer' ? 'out' : 'in';
}

/** Whether a channelwise layer outputs zero on channel `c` (its input there is zero or not). */
function channelwiseZero(node: ChannelNode, inputZero: boolean, c: number,
                         isZero: (property: string, side: 'in'|'out', c: number) => boolean): boolean {
  const {layer} = node;
  const config = layer.getConfig();
  switch (layer.getClassName()) {
    case 'BatchNormalization':
      // (x - mean) * gamma / sqrt(var + eps) + beta: zero for any x when gamma = beta = 0.
      if (isZero('gamma', 'in', c) && isZero('beta', 'in', c)) return true;
      return inputZero && isZero('beta', 'in', c) && (isZero('movingMean', 'in', c) || isZero('gamma', 'in', c));
    case 'Activation':
      return inputZero && ZERO_KEEPING_ACTIVATIONS.has(activationName(config));
    default:
      return inputZero;
  }
}

/** The variable of a spec'd weight of a layer, or null when the layer has none (no bias, no gamma). */
export function weightOf(layer: Layer, property: string): LayerVariable|null {
  return (layer as unknown as Record<string, LayerVariable|null|undefined>)[property] ?? null;
}

/** An axis of a weight resolved against its shape: index, stride, channels and entries per channel. */
function resolveAxis(shape: readonly number[], axis: ChannelAxis, multiplier: number):
    {stride: number; dim: number; per: number} {
  const a = axis.axis < 0 ? shape.length + axis.axis : axis.axis;
  let stride = 1;
  for (let i = a + 1; i < shape.length; i++) stride *= shape[i];
  return {stride, dim: shape[a], per: axis.expand ? multiplier : 1};
}

/**
 * Per-channel sums over a weight's values along one of its channel axes: 'l1' sums |w|, 'l2' sums
 * w², so a channel is all zero exactly when its 'l1' sum is 0 (NaN counts as nonzero).
 * @param multiplier the depth multiplier, for axes whose channels own several entries.
 */
export function perChannelSums(values: ArrayLike<number>, shape: readonly number[], axis: ChannelAxis,
                               multiplier: number, op: 'l1'|'l2'): Float64Array {
  const {stride, dim, per} = resolveAxis(shape, axis, multiplier);
  const out = new Float64Array(dim / per);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(Math.floor(i / stride) % dim / per);
    const v = values[i];
    out[c] += op === 'l1' ? Math.abs(v) : v * v;
  }
  return out;
}

/**
 * A weight-shaped 0/1 mask that keeps the channels flagged in `keep` along one channel axis.
 * @param multiplier the depth multiplier, for axes whose channels own several entries.
 */
export function channelMaskValues(keep: ArrayLike<number>, shape: readonly number[], axis: ChannelAxis,
                                  multiplier: number): Float32Array {
  const {stride, dim, per} = resolveAxis(shape, axis, multiplier);
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = keep[Math.floor(Math.floor(i / stride) % dim / per)] ? 1 : 0;
  return out;
}

/** The axis of a weight that indexes the given side. */
export function axisOn(weight: ChannelWeightSpec, side: 'in'|'out'): ChannelAxis|undefined {
  return weight.axes.find(a => a.side === side);
}

/**
 * Reads zeros from weight values (fetched beforehand, by variable). A channel of a weight is zero
 * when every entry of it is exactly 0.
 */
export function valueZeroReader(values: ReadonlyMap<LayerVariable, ArrayLike<number>>): ZeroReader {
  const cache = new Map<string, Float64Array>();
  return {
    isZero(node, weight, side, c) {
      const v = weightOf(node.layer, weight.property);
      if (v == null) return weight.absentIsZero === true;
      const axis = axisOn(weight, side);
      if (axis == null) return false;
      const key = `${v.id}:${side}`;
      let sums = cache.get(key);
      if (sums == null) {
        const data = values.get(v);
        if (data == null) throw new Error(`The values of weight ${v.originalName} were not read`);
        cache.set(key, sums = perChannelSums(data, v.shape as number[], axis, depthMultiplier(node.layer), 'l1'));
      }
      return sums[c] === 0;
    },
  };
}

/**
 * Assumes every masked weight of the layers for which `masked(node)` holds is zero on every
 * channel (what channel pruning can make of them), and nothing else is.
 */
export function maskedZeroReader(masked: (node: ChannelNode) => boolean): ZeroReader {
  return {
    isZero(node, weight) {
      if (weightOf(node.layer, weight.property) == null) return weight.absentIsZero === true;
      return weight.masked === true && masked(node);
    },
  };
}

/** The channel-flow analysis of `model` (wrappers are looked through to the layers they wrap). */
export function analyseChannels(model: LayersModel): ChannelGraph {
  return new ChannelGraph(model);
}
