/**
 * `channelMajorSparseMatMul`: a 1x1 convolution of channel-major activations by an unstructured
 * sparse weight, on the pixel-vectorized kernels (`assembly/spmm_nchw_f32.ts`).
 */
import {engine, reshape, Tensor, Tensor1D, TensorLike} from '@tensorflow/tfjs-core';
import {checkOutputBytes} from '../kernels/heap_limit';
import {SPMM_NCHW, SpmmNchwAttrs} from '../kernels/spmm_nchw';
import {describeValue, vectorArg} from '../util/validate';
import {clampOf, FusedActivation, fusedActivationArg} from './activation';
import {inferenceOp} from './inference_only';
import {PixelSparseMatrix} from './pixel_format';
import {threadsFor} from '../kernels/threads_for';

/** Options of `channelMajorSparseMatMul`. */
export interface ChannelMajorSparseMatMulOptions {
  /** float32 `[N]`, added per output channel. */
  bias?: Tensor1D|TensorLike;
  /** Default 'linear'. */
  activation?: FusedActivation;
}

/** Runs the kernel on a checked `[B, K, P]` (or, `rowMajor`, `[M, K]`) float32 tensor. */
export function runPixelKernel(x: Tensor, packed: PixelSparseMatrix, bias: Tensor|undefined,
                               activation: FusedActivation, rowMajor: boolean): Tensor {
  const {rowPtr, ics, values, scales} = packed.tensors;
  const inputs: Record<string, Tensor> = {x, rowptr: rowPtr, ics, vals: values};
  if (scales) inputs.scales = scales;
  if (bias) inputs.bias = bias;
  const [K, N] = packed.shape;
  const pixels = x.size / K;
  const perExample = rowMajor ? x.shape[0] : x.shape[x.rank - 1];
  const attrs: SpmmNchwAttrs = {n: N, ...clampOf(activation), rowMajor,
    threads: threadsFor({macs: packed.nnz * pixels, bytes: 4 * (K + N) * pixels, pixels: perExample})};
  return engine().runKernel(SPMM_NCHW, inputs, attrs as unknown as Record<string, number>) as Tensor;
}

/**
 * Y = activation(Wᵀ · X + bias) per example, for channel-major X `[..., K, P]` (K input channels of
 * P pixels each) and a packed `[K, N]` weight: Y is `[..., N, P]`. This is a 1x1 convolution in
 * NCHW layout, each nonzero weight broadcast against 32 pixels at a time, so unstructured sparsity
 * pays. Inference only.
 * ```js
 * const packed = PixelSparseMatrix.fromDense(kernel1x1, [inC, outC]);
 * const y = channelMajorSparseMatMul(xNchw, packed, {bias, activation: 'relu6'});
 * ```
 * @throws Error if `x` is not float32 of rank >= 2 with K rows, `bias` is not float32 `[N]`, the
 *   activation is unknown, `packed` is disposed, or a gradient tape is recording.
 */
export function channelMajorSparseMatMul(x: Tensor|TensorLike, packed: PixelSparseMatrix,
                                         options: ChannelMajorSparseMatMulOptions = {}): Tensor {
  const op = 'channelMajorSparseMatMul';
  if (!(packed instanceof PixelSparseMatrix)) {
    throw new Error(`Argument 'packed' passed to '${op}' must be a PixelSparseMatrix, but got ${describeValue(packed, 'type')}`);
  }
  packed.checkLive(op);
  const activation = fusedActivationArg(options.activation, op);
  const [K, N] = packed.shape;
  return inferenceOp(x, op, ($x, made) => {
    if ($x.rank < 2 || $x.shape[$x.rank - 2] !== K) {
      throw new Error(`Argument 'x' passed to '${op}' must have shape [..., ${K}, pixels] (K = ${K} input channels), ` +
          `but got [${$x.shape}]`);
    }
    const P = $x.shape[$x.rank - 1];
    checkOutputBytes([...$x.shape.slice(0, -2), N, P], op, `the shapes of 'x' and 'packed'`);
    const $b = vectorArg(options.bias, N, 'bias', op, made);
    const x3 = $x.rank === 3 ? $x : reshape($x, [-1, K, P]);
    if (x3 !== $x) made.push(x3);
    const y = runPixelKernel(x3, packed, $b, activation, false);
    if ($x.rank === 3) return y;
    made.push(y);
    return reshape(y, [...$x.shape.slice(0, -2), N, P]);
  });
}
