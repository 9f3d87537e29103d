/**
 * `sparseConv2dChannelsLast`: a channels-last Conv2D (dilation 1) by a packed block-sparse kernel,
 * on the block-sparse matmul or `tf.conv2d`, whichever the dispatcher's measurements favour. Shared
 * by `SparseConv2D` and the sparse nodes of graph models.
 */
import {fused, getBackend, reshape, stridedSlice, Tensor, Tensor1D, Tensor4D} from '@tensorflow/tfjs-core';
import {chooseMatMulKernel, patchesPay} from '../kernels/dispatch';
import {BlockSparseMatrix} from './format';
import {convOutputLength, extractPatches, PatchPadding} from '../ops/patches';
import {blockSparseMatMul, weightStats} from './matmul';

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
 * kernel wherever the dispatcher says the patches do not pay (`patchesPay`: the matmul's dispatcher
 * would run neither a strip kernel nor the pixel kernel for the patch matrix, where a dense matmul of
 * patches only adds the patch copies to `tf.conv2d`'s work; the patches are too narrow; or an int8
 * kernel meets too many patch rows on the strip kernels).
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
  const stats = weightStats(packed);
  if (patchesPay(rows, stats, chooseMatMulKernel(rows, stats, getBackend()))) {
    return blockSparseMatMul(extractPatches(x, geometry), packed, {bias, activation});
  }
  return fused.conv2d({
    x, filter: reshape(packed.denseWeight(), [kh, kw, K / (kh * kw), N]) as Tensor4D,
    strides: [sh, sw], pad: padding, bias, activation,
  });
}
