/**
 * `depthwiseConv2dChannelsFirst`: a 3x3 depthwise convolution of channel-major activations on our
 * kernel (`assembly/dwconv_nchw_f32.ts`), with bias and activation fused, so the depthwise layers
 * of a MobileNet run between sparse 1x1 convolutions without leaving channel-major layout.
 */
import {engine, Tensor, Tensor1D, Tensor4D, TensorLike} from '@tensorflow/tfjs-core';
import {DWCONV_NCHW, DwConvNchwAttrs} from '../kernels/dwconv_nchw';
import {checkOutputBytes} from '../kernels/heap_limit';
import {checkRank, float32Arg, vectorArg} from '../util/validate';
import {clampOf, FusedActivation, fusedActivationArg} from './activation';
import {inferenceOp} from './inference_only';
import {threadsFor} from '../kernels/threads_for';

/** Zero padding as `[[top, bottom], [left, right]]`, or Keras's 'same' / 'valid'. */
export type DepthwisePadding = 'same'|'valid'|[[number, number], [number, number]];

/** Options of `depthwiseConv2dChannelsFirst`. */
export interface DepthwiseChannelsFirstOptions {
  /** 1 (default) or 2, along both axes. */
  strides?: 1|2;
  /** Default 'valid'. */
  padding?: DepthwisePadding;
  /** float32 `[C]`. */
  bias?: Tensor1D|TensorLike;
  /** Default 'linear'. */
  activation?: FusedActivation;
}

/** Explicit padding `[[top, bottom], [left, right]]` for a 3x3 kernel, as Keras/TensorFlow pad. */
export function explicitPadding(padding: DepthwisePadding, h: number, w: number, stride: number): [[number, number], [number, number]] {
  if (padding === 'valid') return [[0, 0], [0, 0]];
  if (padding === 'same') {
    const pad = (size: number) => {
      const total = Math.max((Math.ceil(size / stride) - 1) * stride + 3 - size, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)] as [number, number];
    };
    return [pad(h), pad(w)];
  }
  return padding;
}

function isPadding(p: unknown): p is DepthwisePadding {
  if (p === 'same' || p === 'valid') return true;
  return Array.isArray(p) && p.length === 2 && p.every(a => Array.isArray(a) && a.length === 2 &&
      a.every(v => Number.isInteger(v) && v >= 0 && v <= 2));
}

/**
 * y = activation(depthwise3x3(x) + bias) for channel-major `x` `[B, C, H, W]` and `filter`
 * `[C, 1, 3, 3]` (one 3x3 filter per channel, channel multiplier 1): y is `[B, C, OH, OW]`.
 * ```js
 * const y = depthwiseConv2dChannelsFirst(x, filter, {strides: 2, padding: [[0, 1], [0, 1]], activation: 'relu6'});
 * ```
 * @throws Error for a bad shape, a stride other than 1 or 2, padding other than 'same', 'valid' or
 *   `[[t, b], [l, r]]` with entries in 0..2, an output of no pixels, an unknown activation, or a
 *   recording gradient tape.
 */
export function depthwiseConv2dChannelsFirst(x: Tensor4D|TensorLike, filter: Tensor|TensorLike,
                                             options: DepthwiseChannelsFirstOptions = {}): Tensor4D {
  const op = 'depthwiseConv2dChannelsFirst';
  const strides = options.strides ?? 1;
  if (strides !== 1 && strides !== 2) throw new Error(`Argument 'strides' passed to '${op}' must be 1 or 2, but got ${String(strides)}`);
  const padding = options.padding ?? 'valid';
  if (!isPadding(padding)) {
    throw new Error(`Argument 'padding' passed to '${op}' must be 'same', 'valid' or [[top, bottom], [left, right]] ` +
        `with entries in 0..2, but got ${JSON.stringify(padding)}`);
  }
  const activation = fusedActivationArg(options.activation, op);
  return inferenceOp(x, op, ($x, made) => {
    checkRank($x, [4], 'x', op);
    const [, C, H, W] = $x.shape;
    const $f = float32Arg(filter, 'filter', op);
    if ($f !== filter) made.push($f);
    if ($f.rank !== 4 || $f.shape[0] !== C || $f.shape[1] !== 1 || $f.shape[2] !== 3 || $f.shape[3] !== 3) {
      throw new Error(`Argument 'filter' passed to '${op}' must have shape [${C}, 1, 3, 3], but got [${$f.shape}]`);
    }
    const $b = vectorArg(options.bias, C, 'bias', op, made);
    const [[top, bottom], [left, right]] = explicitPadding(padding, H, W, strides);
    const oh = Math.floor((H + top + bottom - 3) / strides) + 1, ow = Math.floor((W + left + right - 3) / strides) + 1;
    if (!(oh > 0 && ow > 0)) {
      throw new Error(`${op}: a 3x3 kernel does not fit a ${H}x${W} input with padding ${JSON.stringify(padding)}`);
    }
    checkOutputBytes([$x.shape[0], C, oh, ow], op, `the shape of 'x' and the padding`);
    const inputs: Record<string, Tensor> = {x: $x, weights: $f};
    if ($b) inputs.bias = $b;
    const outPixels = $x.shape[0] * C * oh * ow;
    const attrs: DwConvNchwAttrs = {stride: strides, padTop: top, padLeft: left, oh, ow, ...clampOf(activation),
      threads: threadsFor({macs: 9 * outPixels, bytes: 4 * ($x.size + outPixels)})};
    return engine().runKernel(DWCONV_NCHW, inputs, attrs as unknown as Record<string, number>) as Tensor4D;
  });
}
