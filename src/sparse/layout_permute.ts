/**
 * The layout changes around a channel-major run: `changeLayout` moves `[B, H, W, C]` activations to
 * `[B, C, H, W]` or back on our threaded SIMD transpose (tfjs-wasm's Transpose runs on one thread
 * and took 0.3-0.44 ms of a MobileNetV2's 4-6 ms, BENCHMARKS.md "Threads"), and `LayoutPermute` is
 * the Permute layer `toSparse` puts at each end of a run, running it. Registered for serialization.
 */
import {engine, serialization, Tensor, Tensor4D, tidy} from '@tensorflow/tfjs-core';
import {layers} from '@tensorflow/tfjs-layers';
import '../kernels/register';
import {LAYOUT_TRANSPOSE, LayoutTransposeAttrs} from '../kernels/layout_transpose';
import {threadsFor} from '../kernels/threads_for';
import {checkChoice, checkRank} from '../util/validate';
import {inferenceOp} from './inference_only';

/** Where `changeLayout` moves the channels. */
export type ChannelsPosition = 'channelsFirst'|'channelsLast';
export const VALID_CHANNELS_POSITIONS: ChannelsPosition[] = ['channelsFirst', 'channelsLast'];

/**
 * float32 `x` `[B, H, W, C]` as `[B, C, H, W]` (`to` 'channelsFirst'), or `[B, C, H, W]` as
 * `[B, H, W, C]` ('channelsLast'): `tf.transpose(x, [0, 3, 1, 2])` or `[0, 2, 3, 1]`, on our kernel
 * split over threads. Inference only.
 * ```js
 * const xNchw = changeLayout(image, 'channelsFirst');
 * ```
 * @throws Error if `x` is not a float32 tensor of rank 4, or `to` is neither position.
 */
export function changeLayout(x: Tensor4D, to: ChannelsPosition): Tensor4D {
  const op = 'changeLayout';
  checkChoice(to, VALID_CHANNELS_POSITIONS, 'to', op);
  return inferenceOp(x, op, ($x) => {
    checkRank($x, [4], 'x', op);
    const attrs: LayoutTransposeAttrs = {toChannelsFirst: to === 'channelsFirst',
      threads: threadsFor({macs: $x.size, bytes: 8 * $x.size})};
    return engine().runKernel(LAYOUT_TRANSPOSE, {x: $x}, attrs as unknown as Record<string, number>) as Tensor4D;
  });
}

type LayerArgs = NonNullable<ConstructorParameters<typeof layers.Layer>[0]>;
type Kwargs = Parameters<layers.Layer['call']>[1];
type Shape = Parameters<layers.Layer['build']>[0];

/** Constructor arguments (and config) of `LayoutPermute`: Keras Permute's `dims`, one of the two layout changes. */
export interface LayoutPermuteArgs extends LayerArgs {
  /** `[3, 1, 2]` (to channels first) or `[2, 3, 1]` (to channels last), as Keras's Permute counts axes. */
  dims: [number, number, number];
}

const DIMS: Record<string, ChannelsPosition> = {'3,1,2': 'channelsFirst', '2,3,1': 'channelsLast'};

/** A Keras Permute of rank-4 activations between channels-last and channels-first, run by `changeLayout`. */
export class LayoutPermute extends layers.Layer {
  /** @nocollapse */
  static className = 'LayoutPermute';
  readonly dims: [number, number, number];
  private readonly to: ChannelsPosition;

  constructor(args: LayoutPermuteArgs) {
    super(args);
    const to = Array.isArray(args.dims) ? DIMS[args.dims.join(',')] : undefined;
    if (!to) {
      throw new Error(`LayoutPermute '${this.name}': invalid config: dims must be [3, 1, 2] or [2, 3, 1], but got ` +
          `${JSON.stringify(args.dims)}`);
    }
    this.dims = [args.dims[0], args.dims[1], args.dims[2]];
    this.to = to;
    this.inputSpec = [{ndim: 4}];
  }

  override computeOutputShape(inputShape: Shape): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    return [shape[0], ...this.dims.map(d => shape[d])];
  }

  override call(inputs: Tensor|Tensor[], kwargs: Kwargs): Tensor {
    return tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return changeLayout((Array.isArray(inputs) ? inputs[0] : inputs) as Tensor4D, this.to);
    });
  }

  override getConfig(): serialization.ConfigDict {
    return {dims: [...this.dims], ...super.getConfig()};
  }
}
serialization.registerClass(LayoutPermute);
