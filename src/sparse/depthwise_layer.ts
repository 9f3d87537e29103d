/**
 * `DepthwiseConv2DChannelsFirst`: a 3x3 depthwise convolution layer on channel-major input, running
 * our kernel (`depthwiseConv2dChannelsFirst`) with its zero padding, bias and activation fused. Made
 * by `toSparse` for the depthwise layers inside a channel-major run (with a preceding ZeroPadding2D
 * folded into its padding); registered for serialization.
 */
import {serialization, Tensor, Tensor1D, Tensor4D, tidy} from '@tensorflow/tfjs-core';
import {initializers, layers, LayerVariable} from '@tensorflow/tfjs-layers';
import '../kernels/register';
import {checkChoice} from '../util/validate';
import {FusedActivation, VALID_FUSED_ACTIVATIONS} from './activation';
import {depthwiseConv2dChannelsFirst} from './depthwise_nchw';

type LayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;
type Kwargs = Parameters<layers.Layer['call']>[1];
type Shape = Parameters<layers.Layer['build']>[0];

/** Constructor arguments (and config) of `DepthwiseConv2DChannelsFirst`. */
export interface DepthwiseConv2DChannelsFirstArgs extends LayerArgs {
  /** Input (and output) channels. */
  channels: number;
  /** 1 (default) or 2 along both axes. */
  strides?: 1|2;
  /** Zero padding `[[top, bottom], [left, right]]`, entries 0..2; default none. */
  padding?: [[number, number], [number, number]];
  /** Default 'linear'. */
  activation?: FusedActivation;
  /** Default true. */
  useBias?: boolean;
}

function isPadding(p: unknown): p is [[number, number], [number, number]] {
  return Array.isArray(p) && p.length === 2 && p.every(a => Array.isArray(a) && a.length === 2 &&
      a.every(v => Number.isInteger(v) && v >= 0 && v <= 2));
}

/**
 * A DepthwiseConv2D (3x3, channel multiplier 1, dilation 1) on `[B, C, H, W]` input. Its weights
 * are the filter `[C, 1, 3, 3]` (a Keras depthwise kernel `[3, 3, C, 1]` transposed) and the bias
 * `[C]`. Inference only.
 */
export class DepthwiseConv2DChannelsFirst extends layers.Layer {
  /** @nocollapse */
  static className = 'DepthwiseConv2DChannelsFirst';
  readonly channels: number;
  readonly strides: 1|2;
  readonly padding: [[number, number], [number, number]];
  readonly activation: FusedActivation;
  readonly useBias: boolean;
  private filter: LayerVariable|null = null;
  private bias: LayerVariable|null = null;

  constructor(args: DepthwiseConv2DChannelsFirstArgs) {
    super(args);
    const fail = (what: string): never => {
      throw new Error(`DepthwiseConv2DChannelsFirst '${this.name}': invalid config: ${what}`);
    };
    if (!Number.isInteger(args.channels) || args.channels < 1) fail(`channels must be a positive integer, but got ${String(args.channels)}`);
    const strides = args.strides ?? 1;
    if (strides !== 1 && strides !== 2) fail(`strides must be 1 or 2, but got ${String(strides)}`);
    const padding = args.padding ?? [[0, 0], [0, 0]];
    if (!isPadding(padding)) fail(`padding must be [[top, bottom], [left, right]] with entries in 0..2, but got ${JSON.stringify(padding)}`);
    const activation = checkChoice(args.activation ?? 'linear', VALID_FUSED_ACTIVATIONS,
        `DepthwiseConv2DChannelsFirst '${this.name}': invalid config: activation`);
    this.channels = args.channels;
    this.strides = strides;
    this.padding = [[padding[0][0], padding[0][1]], [padding[1][0], padding[1][1]]];
    this.activation = activation;
    this.useBias = args.useBias ?? true;
  }

  override build(inputShape: Shape): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    if (shape.length !== 4 || shape[1] !== this.channels) {
      throw new Error(`DepthwiseConv2DChannelsFirst '${this.name}': expects [batch, ${this.channels}, height, width] ` +
          `inputs, but got shape [${shape}]`);
    }
    this.filter = this.addWeight('depthwise_kernel', [this.channels, 1, 3, 3], 'float32', initializers.zeros(), undefined, false);
    if (this.useBias) this.bias = this.addWeight('bias', [this.channels], 'float32', initializers.zeros(), undefined, false);
    this.inputSpec = [{ndim: 4, axes: {1: this.channels}}];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    const [[t, b], [l, r]] = this.padding;
    const out = (size: number|null, before: number, after: number) =>
      size == null ? null : Math.floor((size + before + after - 3) / this.strides) + 1;
    return [shape[0], this.channels, out(shape[2], t, b), out(shape[3], l, r)];
  }

  override call(inputs: Tensor|Tensor[], kwargs: Kwargs): Tensor {
    return tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as Tensor4D;
      return depthwiseConv2dChannelsFirst(x, this.filter!.read(), {strides: this.strides, padding: this.padding,
        bias: this.bias ? this.bias.read() as Tensor1D : undefined, activation: this.activation});
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {channels: this.channels, strides: this.strides, padding: this.padding.map(p => [...p]),
      activation: this.activation, useBias: this.useBias, ...super.getConfig()};
  }
}
serialization.registerClass(DepthwiseConv2DChannelsFirst);
