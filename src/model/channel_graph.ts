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
 * weights are zero (`channel_units.ts`). The layer classes it follows are in `channel_specs.ts`.
 */
import {LayersModel, layers, SymbolicTensor} from '@tensorflow/tfjs-layers';
import {activationName, CHANNEL_LAYERS, depthMultiplier, labelOf, LayerChannelSpec} from './channel_specs';

type Layer = layers.Layer;

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
  /** The layer that computes (a wrapper's inner layer, see `analyseChannels`). */
  layer: Layer;
  /** The layer wrapping `layer` in the model (a pruning wrapper), if any. */
  wrapper: Layer|null;
  /** The spec of the layer's class, or null when its channels cannot be followed. */
  spec: LayerChannelSpec|null;
  /** Why the channels stop at this layer (null when they are followed). */
  stop: string|null;
  inputs: number[];
  outputs: number[];
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

/** The number of channel slots of a layer on a side, given its first node's tensors. */
export function sideSize(node: ChannelNode, tensors: ChannelTensor[], side: 'in'|'out'): number {
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

  constructor(model: LayersModel, private readonly unwrap: (layer: Layer) => Layer|null) {
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
      const inner = this.unwrap(source);
      const wrapper = inner == null ? null : source;
      const layer = inner ?? source;
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
}

/**
 * The channel-flow analysis of `model`. `unwrap` gives the layer a wrapper computes with (channel
 * pruning looks through its `PruneLowMagnitude` wrappers), or null for a layer that is not one.
 */
export function analyseChannels(model: LayersModel, unwrap: (layer: Layer) => Layer|null = () => null): ChannelGraph {
  return new ChannelGraph(model, unwrap);
}
