/**
 * Queries over a channel analysis (`channel_graph.ts`): which channels are exactly zero given which
 * weights are (`channelZeros`, through a `ZeroReader`), the units channel pruning could remove
 * (`channelUnits`, `removableUnits`), where removal stops and why (`channelStops`), and which units
 * are ranked together (`unitPopulations`).
 */
import {layers, LayerVariable} from '@tensorflow/tfjs-layers';
import {ChannelGraph, ChannelNode, sideSize} from './channel_graph';
import {activationName, axisOn, ChannelWeightSpec, depthMultiplier, labelOf, LayerChannelSpec, maskSide, perChannelSums,
  weightOf, ZERO_KEEPING_ACTIVATIONS} from './channel_specs';

type Layer = layers.Layer;

/** Answers whether a weight of a layer is zero on a channel (by its values, or by assumption). */
export interface ZeroReader {
  /** Whether `property` of `node.layer` is zero on every entry of channel `c` of its axis on `side`. */
  isZero(node: ChannelNode, weight: ChannelWeightSpec, side: 'in'|'out', c: number): boolean;
}

/**
 * Which channels of every tensor are exactly zero, node by node in topological order, given
 * which weights are zero on which channels (`reader`).
 * @returns one 0/1 array per tensor (1: exactly zero).
 */
export function channelZeros(graph: ChannelGraph, reader: ZeroReader): Uint8Array[] {
  const zero = graph.tensors.map(t => new Uint8Array(t.channels));
  for (const node of graph.nodes) {
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
        if (axis === -1 || axis === graph.tensors[node.outputs[0]].shape.length - 1) {
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
export function channelUnits(graph: ChannelGraph): Map<number, UnitInfo> {
  const units = new Map<number, UnitInfo>();
  const get = (root: number): UnitInfo => {
    let u = units.get(root);
    if (u == null) units.set(root, u = {unit: root, maskedSlots: [], reads: []});
    return u;
  };
  for (const [layer, nodes] of graph.layerNodes) {
    const spec = nodes[0].spec as LayerChannelSpec;
    if (!spec.weights.some(x => x.masked)) continue;
    const side = maskSide(spec);
    const n = sideSize(nodes[0], graph.tensors, side);
    for (let c = 0; c < n; c++) get(graph.unitOfSlot(layer, side, c)).maskedSlots.push({layer, c});
  }
  for (const node of graph.nodes) {
    if (node.spec?.role !== 'producer') continue;
    for (const t of node.inputs) {
      for (let c = 0; c < graph.tensors[t].channels; c++) {
        const u = units.get(graph.unitOfTensor(t, c));
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
export function removableUnits(graph: ChannelGraph, zero: Uint8Array[], units = channelUnits(graph)): Set<number> {
  const out = new Set<number>();
  for (const u of units.values()) {
    if (graph.frozenReason(u.unit) != null) continue;
    if (u.reads.every(r => zero[r.tensor][r.c] === 1)) out.add(u.unit);
  }
  return out;
}

/**
 * Where and why channel removal stops, for units with masked slots that `removableUnits` leaves:
 * one entry per layer and reason, with the number of units it keeps.
 */
export function channelStops(graph: ChannelGraph, zero: Uint8Array[], units = channelUnits(graph)): ChannelStop[] {
  const found = new Map<string, ChannelStop>();
  for (const node of graph.nodes) {
    // A layer with weights that cannot be followed keeps its own channels too.
    if (node.stop == null || node.layer.weights.length === 0 || node.outputs.length === 0) continue;
    const reason = `channels stop at ${labelOf(node.layer)}: ${node.stop}`;
    found.set(`${node.layer.name}\u0000${reason}`, {layer: node.layer.name, className: node.layer.getClassName(), reason,
                                                      channels: graph.tensors[node.outputs[0]].channels});
  }
  for (const u of units.values()) {
    let where = graph.frozenReason(u.unit);
    if (where == null) {
      const read = u.reads.find(r => zero[r.tensor][r.c] === 0);
      if (read == null) continue;
      const source = nonzeroSource(graph, zero, read.tensor, read.c);
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
export function unitPopulations(graph: ChannelGraph, units: Iterable<number>): Map<number, number> {
  const wanted = new Set(units);
  const parent = new Map<number, number>();
  const find = (a: number): number => {
    while (parent.get(a) !== a) a = parent.get(a) as number;
    return a;
  };
  for (const u of wanted) parent.set(u, u);
  for (const [layer, nodes] of graph.layerNodes) {
    const spec = nodes[0].spec as LayerChannelSpec;
    if (!spec.weights.some(x => x.masked)) continue;
    const side = maskSide(spec);
    let first = -1;
    for (let c = 0; c < sideSize(nodes[0], graph.tensors, side); c++) {
      const u = graph.unitOfSlot(layer, side, c);
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
function nonzeroSource(graph: ChannelGraph, zero: Uint8Array[], t: number, c: number): Layer|null {
  for (;;) {
    const producer = graph.tensors[t].producer;
    if (producer < 0) return null;
    const node = graph.nodes[producer];
    const role = node.spec?.role;
    let next: [number, number]|null = null;
    if (role === 'channelwise' || role === 'reshape') {
      next = [node.inputs[0], c % graph.tensors[node.inputs[0]].channels];
    } else if (role === 'depthwise') {
      next = [node.inputs[0], Math.floor(c / depthMultiplier(node.layer))];
    } else if (role === 'merge' || role === 'concat') {
      let offset = 0;
      const onChannels = role === 'concat' &&
          [-1, graph.tensors[t].shape.length - 1].includes(Number(node.layer.getConfig().axis ?? -1));
      for (const i of node.inputs) {
        const n = graph.tensors[i].channels;
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
