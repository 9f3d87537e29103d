/**
 * What the channel analysis (`channel_graph.ts`) knows about each layer class: how its output
 * channels relate to its input channels, and which axes of which weights index them; and the
 * per-channel arithmetic on weights that channel pruning and `shrinkModel` share.
 */
import {layers, LayerVariable} from '@tensorflow/tfjs-layers';

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
export const ZERO_KEEPING_ACTIVATIONS = new Set(['linear', 'relu', 'relu6', 'elu', 'selu', 'tanh', 'softsign', 'swish',
  'mish', 'gelu', 'gelunew']);

/** A layer config's activation as ZERO_KEEPING_ACTIVATIONS names it. */
export function activationName(config: Record<string, unknown>): string {
  return String(config.activation ?? 'linear').replace(/_/g, '').toLowerCase();
}

/** A layer as messages name it: `'name' (Class)`. */
export function labelOf(layer: Layer): string {
  return `'${layer.name}' (${layer.getClassName()})`;
}

/** A layer's depth multiplier (1 for layers without one). */
export function depthMultiplier(layer: Layer): number {
  return Number(layer.getConfig().depthMultiplier ?? 1);
}

/** The side whose channels a layer's masked weights index: outputs for producers, else inputs. */
export function maskSide(spec: LayerChannelSpec): 'in'|'out' {
  return spec.role === 'producer' ? 'out' : 'in';
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
