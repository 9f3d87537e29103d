/**
 * Channel pruning: whole output channels (Conv and Dense filters and units, depthwise channels with
 * their multiplier) scored by the L1 or L2 norm of their weights or by their BatchNormalization
 * scale (Network Slimming), and masked as units that `model/channel_graph.ts` ties across
 * BatchNormalization, depthwise layers and residual branches, so `shrinkModel` can remove them
 * exactly. Used in training by `PruneLowMagnitude` with `structure: 'channels'` (a
 * `ChannelPruning` per wrapper, linked into one `ChannelPruningGroup` per population of tied
 * channels by `linkChannelPruning`), and one-shot by `shrinkModel`. tfmot has no channel pruning:
 * this is our extension.
 */
import {dispose, scalar, tensor} from '@tensorflow/tfjs-core';
import {LayersModel, layers, LayerVariable} from '@tensorflow/tfjs-layers';
import {keepCount} from '../ops/threshold';
import {analyseChannels, ChannelGraph} from '../model/channel_graph';
import {axisOn, CHANNEL_LAYERS, ChannelAxis, channelMaskValues, depthMultiplier, LayerChannelSpec, maskSide, perChannelSums,
  weightOf} from '../model/channel_specs';
import {channelZeros, maskedZeroReader, removableUnits, unitPopulations} from '../model/channel_units';
import {Pruning, PruningArgs, PruningGroup, scheduleKey} from './pruning';

type Layer = layers.Layer;

/** What `PruneLowMagnitude` removes: single weights (or blocks of them), or whole output channels. */
export type PruningStructure = 'weights'|'channels';
/** The valid `PruningStructure` values, for runtime checks. */
export const VALID_PRUNING_STRUCTURES: readonly PruningStructure[] = ['weights', 'channels'];

/**
 * How channels are scored: the L1 or L2 norm of their kernel slices, or the magnitude of the
 * BatchNormalization scale (gamma) applied to them (Network Slimming; channels without a
 * BatchNormalization are scored by L1).
 */
export type ChannelScore = 'l1'|'l2'|'batchNormScale';
/** The valid `ChannelScore` values, for runtime checks. */
export const VALID_CHANNEL_SCORES: readonly ChannelScore[] = ['l1', 'l2', 'batchNormScale'];

/**
 * How a one-shot channel fraction is spread: 'uniform' removes it from every group of tied
 * channels; 'global' ranks all channels of the model together (scores normalized by their layer's
 * mean), so layers lose different fractions, each keeping at least one channel.
 */
export type ChannelAllocation = 'uniform'|'global';
/** The valid `ChannelAllocation` values, for runtime checks. */
export const VALID_CHANNEL_ALLOCATIONS: readonly ChannelAllocation[] = ['uniform', 'global'];

/**
 * Accepts a channel score as written or as tfjs's saving changes string values ('L1', 'l_1',
 * 'batch_norm_scale').
 */
export function normaliseChannelScore(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const key = value.replace(/_/g, '').toLowerCase();
  return VALID_CHANNEL_SCORES.find(s => s.toLowerCase() === key) ?? value;
}

/** A masked weight of a layer: its variable, the axis that indexes the pruned channels, and the multiplier. */
export interface ChannelPrunedWeight {
  variable: LayerVariable;
  axis: ChannelAxis;
  multiplier: number;
}

/** The spec of a layer for channel pruning, or null when it has no channel weights. */
function maskedSpec(layer: Layer): LayerChannelSpec|null {
  const spec = CHANNEL_LAYERS[layer.getClassName()];
  return spec != null && spec.weights.some(w => w.masked) ? spec : null;
}

/**
 * The weights channel pruning masks in `layer` (after build): a producer's kernel and bias along
 * its output channels, a DepthwiseConv2D's kernel and bias, a BatchNormalization's gamma and beta;
 * none for other layers.
 */
export function channelPrunedWeights(layer: Layer): ChannelPrunedWeight[] {
  const spec = maskedSpec(layer);
  if (spec == null) return [];
  const side = maskSide(spec);
  const multiplier = depthMultiplier(layer);
  return spec.weights.flatMap(w => {
    const variable = weightOf(layer, w.property);
    return w.masked && variable != null ? [{variable, axis: axisOn(w, side) as ChannelAxis, multiplier}] : [];
  });
}

/**
 * Raw per-channel scores of a layer's pruned channels from its current weights: kernel norms, or
 * |gamma| for 'batchNormScale' (null when the layer has no weight of that kind).
 */
export function layerChannelScores(layer: Layer, score: ChannelScore,
                                   read: (v: LayerVariable) => ArrayLike<number>): Float64Array|null {
  const spec = maskedSpec(layer);
  if (spec == null) return null;
  const kind = score === 'batchNormScale' ? 'scale' : 'norm';
  const weight = spec.weights.find(w => w.score === kind);
  const variable = weight ? weightOf(layer, weight.property) : null;
  if (weight == null || variable == null) return null;
  const multiplier = depthMultiplier(layer);
  const sums = perChannelSums(read(variable), variable.shape as number[], axisOn(weight, maskSide(spec)) as ChannelAxis,
                              multiplier, score === 'l2' ? 'l2' : 'l1');
  if (score === 'l2') for (let c = 0; c < sums.length; c++) sums[c] = Math.sqrt(sums[c]);
  return sums;
}

/** One layer's contribution to unit scores: its raw scores by kind and the unit of each channel (-1: none). */
export interface ScoreSource {
  norm: Float64Array|null;
  scale: Float64Array|null;
  units: ArrayLike<number>;
}

/**
 * A layer's scores for `unitScores` from its weights (`read` gives a variable's values): kernel
 * norms ('l2' for 'l2', else 'l1'), and with 'batchNormScale' its |gamma| too.
 */
export function scoreSource(layer: Layer, score: ChannelScore, read: (v: LayerVariable) => ArrayLike<number>,
                            units: ArrayLike<number>): ScoreSource {
  return {
    norm: layerChannelScores(layer, score === 'l2' ? 'l2' : 'l1', read),
    scale: score === 'batchNormScale' ? layerChannelScores(layer, score, read) : null,
    units,
  };
}

/**
 * The score of each unit: the mean, over the layers whose channels it ties, of each layer's channel
 * score divided by that layer's mean score (so layers of different widths and scales compare).
 * 'batchNormScale' uses BatchNormalization scales where a unit has any, kernel L1 norms elsewhere.
 * A channel with a NaN weight scores +Infinity: like a NaN weight in magnitude pruning, it is never
 * pruned silently.
 */
export function unitScores(sources: ScoreSource[], score: ChannelScore): Map<number, number> {
  const add = (acc: Map<number, [number, number]>, values: Float64Array|null, units: ArrayLike<number>) => {
    if (values == null) return;
    let mean = 0, finite = 0;
    for (const v of values) {
      if (Number.isFinite(v)) {
        mean += v;
        finite++;
      }
    }
    mean /= Math.max(finite, 1);
    for (let c = 0; c < values.length; c++) {
      if (units[c] < 0) continue;
      const e = acc.get(units[c]) ?? [0, 0];
      e[0] += Number.isNaN(values[c]) ? Infinity : mean > 0 ? values[c] / mean : 0;
      e[1]++;
      acc.set(units[c], e);
    }
  };
  const norms = new Map<number, [number, number]>(), scales = new Map<number, [number, number]>();
  for (const s of sources) {
    add(norms, s.norm, s.units);
    if (score === 'batchNormScale') add(scales, s.scale, s.units);
  }
  const out = new Map<number, number>();
  for (const [u, [sum, n]] of norms) out.set(u, sum / n);
  for (const [u, [sum, n]] of scales) out.set(u, sum / n);
  return out;
}

/** The k-th largest of `values` (k >= 1). */
function kthLargest(values: number[], k: number): number {
  return [...values].sort((a, b) => b - a)[Math.min(k, values.length) - 1];
}

/**
 * The units to keep out of one population at `sparsity`: the `keepCount(n, sparsity)` best scored
 * (ties at the threshold all kept, as the magnitude rule keeps ties).
 * @returns the kept units and the score threshold.
 */
export function keepBestUnits(scores: ReadonlyMap<number, number>, sparsity: number): {kept: Set<number>; threshold: number} {
  const values = [...scores.values()];
  if (values.length === 0) return {kept: new Set(), threshold: 0};
  const threshold = kthLargest(values, keepCount(values.length, sparsity));
  return {kept: new Set([...scores].filter(([, v]) => v >= threshold).map(([u]) => u)), threshold};
}

/**
 * The units to remove from `scores` (the removable units of a model) at `sparsity`, by population
 * ('uniform') or over all of them ('global', each population keeping its best unit).
 */
export function unitsToRemove(scores: ReadonlyMap<number, number>, population: ReadonlyMap<number, number>,
                              sparsity: number, allocation: ChannelAllocation): Set<number> {
  const removed = new Set<number>();
  if (allocation === 'global') {
    const {kept} = keepBestUnits(scores, sparsity);
    const best = new Map<number, [number, number]>();
    for (const [u, v] of scores) {
      const p = population.get(u) as number;
      const b = best.get(p);
      if (b == null || v > b[1]) best.set(p, [u, v]);
    }
    for (const [u] of best.values()) kept.add(u);
    for (const u of scores.keys()) if (!kept.has(u)) removed.add(u);
    return removed;
  }
  const byPopulation = new Map<number, Map<number, number>>();
  for (const [u, v] of scores) {
    const p = population.get(u) as number;
    let m = byPopulation.get(p);
    if (m == null) byPopulation.set(p, m = new Map());
    m.set(u, v);
  }
  for (const m of byPopulation.values()) {
    const {kept} = keepBestUnits(m, sparsity);
    for (const u of m.keys()) if (!kept.has(u)) removed.add(u);
  }
  return removed;
}

/**
 * The units of `graph` that channel pruning may remove when the masked weights of the layers for
 * which `masked(node)` holds are zeroed: not frozen, and zero wherever a layer reads them.
 */
function prunableUnits(graph: ChannelGraph, masked: Parameters<typeof maskedZeroReader>[0]): Set<number> {
  return removableUnits(graph, channelZeros(graph, maskedZeroReader(masked)));
}

/** Arguments of `ChannelPruning`. */
export interface ChannelPruningArgs extends Omit<PruningArgs, 'pruningVars'> {
  /** The layer whose channels are pruned (a wrapper's inner layer); its masked weights get `masks`. */
  layer: Layer;
  /** One mask and one threshold variable per weight of `channelPrunedWeights(layer)`. */
  masks: LayerVariable[];
  thresholds: LayerVariable[];
  channelScore: ChannelScore;
}

/**
 * The channel mask math of one layer: masks whole channels of its `channelPrunedWeights`. Its
 * decisions come from the `ChannelPruningGroup` it is linked into (`linkChannelPruning`), since
 * tied layers must drop the same channels.
 */
export class ChannelPruning extends Pruning {
  readonly layer: Layer;
  readonly channelScore: ChannelScore;
  readonly weights: readonly ChannelPrunedWeight[];
  /** The unit of each pruned channel (-1: never pruned); null until linked. */
  units: Int32Array|null = null;
  /** The group deciding this layer's channels; null when none of them can be pruned. */
  group: ChannelPruningGroup|null = null;

  constructor(args: ChannelPruningArgs) {
    const weights = channelPrunedWeights(args.layer);
    super({...args, pruningVars: weights.map((w, i) =>
      ({weight: w.variable, mask: args.masks[i], threshold: args.thresholds[i]}))});
    this.layer = args.layer;
    this.channelScore = args.channelScore;
    this.weights = weights;
  }

  /** The number of channels this layer prunes (its outputs, or its inputs for per-channel layers). */
  get channels(): number {
    const w = this.weights[0];
    if (w == null) return 0;
    const a = w.axis.axis < 0 ? w.variable.shape.length + w.axis.axis : w.axis.axis;
    return (w.variable.shape[a] as number) / (w.axis.expand ? w.multiplier : 1);
  }

  /**
   * Asks the group whether to update the masks in `step`.
   * @throws Error if the layer was never linked (`UpdatePruningStep` links at train begin).
   */
  override conditionalMaskUpdate(step: number): boolean {
    if (this.units == null) {
      throw new Error(`Layer ${this.layer.name} prunes channels but is not linked to its model: UpdatePruningStep ` +
          'links channel-pruned layers at train begin (call its onTrainBegin in a custom training loop).');
    }
    return this.group?.conditionalMaskUpdate(step) ?? false;
  }

  /** Recomputes the masks of the whole group at `sparsity` (nothing when no channel may be pruned). */
  override updateMasks(sparsity: number): void {
    this.group?.updateMasks(sparsity);
  }

  /** Writes the masks that keep the channels flagged in `keep`, and the score threshold. */
  applyKeep(keep: Uint8Array, threshold: number): void {
    this.pruningVars.forEach((v, i) => {
      const w = this.weights[i];
      const shape = w.variable.shape as number[];
      const mask = tensor(channelMaskValues(keep, shape, w.axis, w.multiplier), shape);
      const t = scalar(threshold);
      v.mask.write(mask);
      v.threshold.write(t);
      dispose([mask, t]);
    });
  }
}

/**
 * Layers whose channels are tied (one layer's outputs with its BatchNormalization and depthwise
 * layers; residual branches), pruned together: one schedule, and in each pruning step the
 * `keepCount(n, s)` best scored of the n units kept in every member.
 */
export class ChannelPruningGroup extends PruningGroup<ChannelPruning> {
  /** @throws Error if members differ in schedule or channel score. */
  constructor(members: ChannelPruning[]) {
    const first = members[0];
    const schedule = scheduleKey(first.schedule);
    for (const m of members) {
      if (scheduleKey(m.schedule) !== schedule || m.channelScore !== first.channelScore) {
        throw new Error(`Layers ${first.layer.name} and ${m.layer.name} have tied channels (pruned together) ` +
            'but different pruning schedules or channel scores: give them the same.');
      }
    }
    super(members);
  }

  /** Scores the units from the members' current weights and masks all but the best at `sparsity`. */
  updateMasks(sparsity: number): void {
    const score = this.members[0].channelScore;
    const scores = unitScores(this.members.map(m =>
      scoreSource(m.layer, score, v => v.read().dataSync(), m.units as Int32Array)), score);
    const {kept, threshold} = keepBestUnits(scores, sparsity);
    for (const m of this.members) {
      const units = m.units as Int32Array;
      m.applyKeep(Uint8Array.from(units, u => (u < 0 || kept.has(u) ? 1 : 0)), threshold);
    }
  }
}

/**
 * What channel pruning reads of a `PruneLowMagnitude` wrapper. Wrappers are recognised by class
 * name, as `isPruneLowMagnitude` does (a loaded model's wrappers are of the class registered last,
 * maybe another copy of this library's); importing `wrapper.ts` here would close an import cycle.
 */
interface ChannelWrapper {layer: Layer; structure: string; pruningObj: Pruning|null}

/** The layer a `PruneLowMagnitude` wraps, or null for any other layer. */
function unwrapPruning(layer: Layer): Layer|null {
  return layer.getClassName() === 'PruneLowMagnitude' ? (layer as unknown as ChannelWrapper).layer : null;
}

/** Whether `layer` is a built wrapper with `structure: 'channels'`. */
function isChannelWrapper(layer: Layer|null): boolean {
  if (layer == null || unwrapPruning(layer) == null) return false;
  const w = layer as unknown as ChannelWrapper;
  return w.structure === 'channels' && w.pruningObj != null;
}

/**
 * Links the built channel-pruning wrappers of `model` (nested models each on their own): finds the
 * channels that may be pruned (`model/channel_graph.ts`: not reaching a model input or output or a
 * layer it cannot follow, and zero where read once masked), ties them into one
 * `ChannelPruningGroup` per population, and marks the others never pruned. Called by
 * `pruneLowMagnitude` and `UpdatePruningStep.onTrainBegin`.
 * @throws Error if tied layers differ in schedule or channel score.
 */
export function linkChannelPruning(model: LayersModel): void {
  for (const layer of model.layers) if (layer instanceof LayersModel) linkChannelPruning(layer);
  if (!model.layers.some(isChannelWrapper)) return;
  const graph = analyseChannels(model, unwrapPruning);
  const wrapped = graph.nodes.filter(n => isChannelWrapper(n.wrapper));
  if (wrapped.length === 0) return;
  const candidates = prunableUnits(graph, n => isChannelWrapper(n.wrapper));
  const population = unitPopulations(graph, candidates);
  const groups = new Map<number, ChannelPruning[]>();
  const seen = new Set<ChannelPruning>();
  for (const node of wrapped) {
    const pruning = (node.wrapper as unknown as ChannelWrapper).pruningObj as ChannelPruning;
    if (seen.has(pruning)) continue;  // a shared layer: its slots tie all its nodes
    seen.add(pruning);
    const spec = node.spec;
    const units = new Int32Array(pruning.channels).fill(-1);
    if (spec != null && pruning.weights.length > 0) {
      for (let c = 0; c < units.length; c++) {
        const u = graph.unitOfSlot(node.layer, maskSide(spec), c);
        if (candidates.has(u)) units[c] = u;
      }
    }
    pruning.units = units;
    pruning.group = null;
    const first = units.find(u => u >= 0);
    if (first == null) continue;
    const p = population.get(first) as number;
    const list = groups.get(p);
    if (list) list.push(pruning);
    else groups.set(p, [pruning]);
  }
  for (const members of groups.values()) {
    const group = new ChannelPruningGroup(members);
    for (const m of members) m.group = group;
  }
}
