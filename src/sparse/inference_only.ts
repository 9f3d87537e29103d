/**
 * The sparse inference ops (`blockSparseMatMul`, `channelMajorSparseMatMul`,
 * `depthwiseConv2dChannelsFirst`) have no gradient: each refuses to run under a recording tape, and
 * the kernels they run get a gradient that throws (registered when this module loads), so a tape
 * that reaches one fails loudly instead of producing a zero or partial gradient.
 */
import {dispose, engine, NamedAttrMap, registerGradient, Tensor, TensorLike} from '@tensorflow/tfjs-core';
import {DENSE_MATMUL} from '../kernels/dense_matmul';
import {DWCONV_NCHW} from '../kernels/dwconv_nchw';
import {SPMM_F32} from '../kernels/spmm_f32';
import {SPMM_I8} from '../kernels/spmm_i8';
import {SPMM_NCHW} from '../kernels/spmm_nchw';
import {float32Arg} from '../util/validate';

/** True while a gradient tape records ops (inside tf.grad, variableGrads, a training step). */
export function taping(): boolean {
  const state = engine().state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
}

/** The message of the gradient guard, shared with the ops' own check. */
export const NO_GRADIENT_MESSAGE = 'blockSparseMatMul is inference-only: it has no gradient (nor have channelMajorSparseMatMul, ' +
    'depthwiseConv2dChannelsFirst and changeLayout). ' +
    'Train with the dense, masked weight (pruneLowMagnitude) and pack the weights for inference ' +
    'after stripping the pruning wrappers.';

/**
 * Runs the body of an inference op on its float32 input `x`: refuses a recording tape, and disposes
 * the tensors the body converts or makes on the way (pushed onto `made`), never its result. No tidy:
 * these ops sit in inference loops, so only the tensors they make are tracked.
 */
export function inferenceOp<T extends Tensor>(x: Tensor|TensorLike, op: string, body: ($x: Tensor, made: Tensor[]) => T): T {
  if (taping()) throw new Error(NO_GRADIENT_MESSAGE);
  const made: Tensor[] = [];
  try {
    const $x = float32Arg(x, 'x', op);
    if ($x !== x) made.push($x);
    return body($x, made);
  } finally {
    dispose(made);
  }
}

for (const kernelName of [SPMM_F32, SPMM_I8, DENSE_MATMUL, SPMM_NCHW, DWCONV_NCHW]) {
  registerGradient({
    kernelName,
    gradFunc: (_dy: Tensor|Tensor[], _saved: Tensor[], _attrs: NamedAttrMap): {[input: string]: () => Tensor} => {
      throw new Error(NO_GRADIENT_MESSAGE);
    },
  });
}
