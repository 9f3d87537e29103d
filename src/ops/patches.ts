/**
 * `extractPatches`: the im2col step that turns a k×k convolution into a matmul, so that
 * `SparseConv2D` runs any kernel size on the block-sparse matmul and one-shot pruning reads a
 * convolution's inputs as the rows its kernel multiplies (`pruning/layers_source.ts`). One wasm kernel
 * (`assembly/im2col_f32.ts`) on the `wasm` and `cpu` backends: built from tfjs ops (pad, kh·kw
 * strided slices, a concat) it was 5-20x slower than the convolution it feeds.
 */
import {engine, Tensor, Tensor4D} from '@tensorflow/tfjs-core';
import {IM2COL, Im2ColAttrs} from '../kernels/im2col';
import {checkChoice, checkOptions, float32Arg, positiveIntPair} from '../util/validate';

/** Padding modes of `extractPatches` (Keras's names). */
export type PatchPadding = 'valid'|'same';
export const VALID_PATCH_PADDINGS: PatchPadding[] = ['valid', 'same'];

/** The most values a patch tensor may hold: 2 GiB of float32, half of a 32-bit wasm heap. */
const MAX_PATCH_VALUES = 2 ** 29;

const PATCH_OPTIONS = ['kernelSize', 'strides', 'padding'];

/** Options of `extractPatches`. */
export interface PatchOptions {
  /** `[kh, kw]`. */
  kernelSize: [number, number];
  /** `[sh, sw]`, default `[1, 1]`. */
  strides?: [number, number];
  /** Default 'valid'. */
  padding?: PatchPadding;
}

/**
 * The output length along one axis and the padding before it, as Keras/TensorFlow compute them:
 * 'same' gives ceil(size / stride) and splits the padding with the odd one after; 'valid' gives
 * floor((size - kernel) / stride) + 1 (zero when the kernel does not fit).
 */
export function convOutputLength(size: number, kernel: number, stride: number,
                                 padding: PatchPadding): {length: number; before: number; after: number} {
  if (padding === 'same') {
    const length = Math.ceil(size / stride);
    const total = Math.max((length - 1) * stride + kernel - size, 0);
    return {length, before: Math.floor(total / 2), after: total - Math.floor(total / 2)};
  }
  return {length: size < kernel ? 0 : Math.floor((size - kernel) / stride) + 1, before: 0, after: 0};
}

/**
 * The kh×kw patches of a channels-last batch `x` [B, H, W, C], as [B, OH, OW, kh·kw·C] with patch
 * entries in (row, column, channel) order: the order of a Keras Conv2D kernel [kh, kw, C, F]
 * flattened to [kh·kw·C, F], so `patches · kernel` is the convolution (dilation 1).
 * ```js
 * const p = extractPatches(x, {kernelSize: [3, 3], padding: 'same'});
 * const y = tf.matMul(p.reshape([-1, 9 * C]), kernel.reshape([9 * C, F]));
 * ```
 * @throws Error if `x` is not a float32 rank-4 tensor, an option is invalid, the kernel does not fit a
 *   'valid' input, or the patches would exceed 2^29 values.
 */
export function extractPatches(x: Tensor4D, options: PatchOptions): Tensor4D {
  if (!(x instanceof Tensor) || x.rank !== 4) {
    throw new Error(`Argument 'x' passed to 'extractPatches' must be a rank-4 channels-last tensor [B, H, W, C], ` +
        `but got ${x instanceof Tensor ? `shape [${x.shape}]` : typeof x}`);
  }
  if (options === undefined) {
    throw new Error(`Argument 'options' passed to 'extractPatches' must be {kernelSize, strides, padding}, but got undefined`);
  }
  checkOptions(options, PATCH_OPTIONS, 'extractPatches');
  const [kh, kw] = positiveIntPair(options.kernelSize, 'kernelSize', 'extractPatches');
  const [sh, sw] = positiveIntPair(options.strides ?? [1, 1], 'strides', 'extractPatches');
  const padding = checkChoice(options.padding ?? 'valid', VALID_PATCH_PADDINGS, 'padding', 'extractPatches');
  const [b, h, w, c] = x.shape;
  const rows = convOutputLength(h, kh, sh, padding), cols = convOutputLength(w, kw, sw, padding);
  if (h === 0 || w === 0) {
    throw new Error(`Argument 'x' passed to 'extractPatches' must have a nonzero height and width, but got shape [${x.shape}]`);
  }
  if (rows.length === 0 || cols.length === 0) {
    throw new Error(`extractPatches: a ${kh}x${kw} kernel does not fit a ${h}x${w} input with '${padding}' padding`);
  }
  const count = b * rows.length * cols.length * kh * kw * c;
  if (count > MAX_PATCH_VALUES) {
    throw new Error(`extractPatches: the ${kh}x${kw} patches of a [${x.shape}] input would hold ${count} values, ` +
        `more than the ${MAX_PATCH_VALUES} (2 GiB of float32) a wasm heap can address`);
  }
  float32Arg(x, 'x', 'extractPatches');
  const attrs: Im2ColAttrs = {kh, kw, sh, sw, top: rows.before, left: cols.before, oh: rows.length, ow: cols.length};
  return engine().runKernel(IM2COL, {x}, attrs as unknown as Record<string, number>) as Tensor4D;
}
