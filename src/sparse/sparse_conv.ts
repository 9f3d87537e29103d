/**
 * `sparseConv2dChannelsLast`: a channels-last Conv2D (dilation 1) by a packed block-sparse kernel,
 * on the block-sparse matmul or `tf.conv2d`, whichever the dispatcher's measurements favour. Shared
 * by `SparseConv2D` and the sparse nodes of graph models.
 */
import {fused, reshape, stridedSlice, Tensor, Tensor1D, Tensor4D} from '@tensorflow/tfjs-core';
import {BlockSparseMatrix} from './format';
import {convOutputLength, extractPatches, PatchPadding} from './im2col';
import {blockSparseMatMul, chooseKernel} from './matmul';

/**
 * The narrowest patch row (kh·kw·C) that a k×k convolution multiplies on the sparse kernel: in
 * narrower ones the patch copy and the per-row costs outweigh the skipped weights (the demo CNN's
 * first layer, 3x3 on one channel, ran 1.8x slower than tf.conv2d at batch 32 even 90 % sparse);
 * from 3x3 on 16 channels up the sparse path won (bench/conv.ts).
 */
const MIN_PATCH_K = 128;

/**
 * The most patch rows an int8 k×k convolution multiplies on the sparse kernel: beyond them each
 * row's quantization and activation tables (8 bytes per entry) cost more than the weights saved
 * (bench/conv.ts, 50 % sparse: 1.43-2.22x of tf.conv2d up to 1024 rows, 0.84x at 2048; 90 %, 3x3 on
 * 16 channels: 0.83-0.96x at 6272 rows, 0.47-0.72x at 25088).
 */
const MAX_INT8_PATCH_ROWS = 1024;

/** The geometry of a convolution. */
export interface ConvGeometry {
  kernelSize: [number, number];
  strides: [number, number];
  padding: PatchPadding;
}

/**
 * activation(conv2d(x, W) + bias) for channels-last `x` `[B, H, W, C]` and `packed` the kernel
 * `[kh, kw, C, F]` flattened to `[kh·kw·C, F]`. A 1x1 kernel is a matmul of the (strided) pixels; a
 * k×k one multiplies its patches on the block-sparse matmul, or runs `tf.conv2d` on the dense
 * kernel wherever the matmul's dispatcher would run neither a strip kernel nor the pixel kernel for
 * the patch matrix (a dense matmul of patches only adds the patch copies to `tf.conv2d`'s work), the
 * patches are narrower than MIN_PATCH_K, or an int8 kernel meets more than MAX_INT8_PATCH_ROWS patch
 * rows on the strip kernels.
 */
export function sparseConv2dChannelsLast(x: Tensor4D, packed: BlockSparseMatrix, geometry: ConvGeometry,
                                         bias: Tensor1D|undefined, activation: 'relu'|'linear'): Tensor {
  const {kernelSize: [kh, kw], strides: [sh, sw], padding} = geometry;
  const [K, N] = packed.shape;
  if (kh === 1 && kw === 1) {
    const xs = sh > 1 || sw > 1 ? stridedSlice(x, [0, 0, 0, 0], x.shape, [1, sh, sw, 1]) as Tensor4D : x;
    return blockSparseMatMul(xs, packed, {bias, activation});
  }
  const [b, h, w] = x.shape;
  const rows = b * convOutputLength(h, kh, sh, padding).length * convOutputLength(w, kw, sw, padding).length;
  // The pixel kernel keeps activations in f32: the int8 row limit is the strip kernels' own.
  const kernel = chooseKernel(rows, packed);
  const sparse = K >= MIN_PATCH_K && (kernel === 'pixel' ||
      (kernel === 'sparse' && (packed.dtype !== 'int8' || rows <= MAX_INT8_PATCH_ROWS)));
  if (sparse) {
    return blockSparseMatMul(extractPatches(x, geometry), packed, {bias, activation});
  }
  return fused.conv2d({
    x, filter: reshape(packed.denseWeight(), [kh, kw, K / (kh * kw), N]) as Tensor4D,
    strides: [sh, sw], pad: padding, bias, activation,
  });
}
