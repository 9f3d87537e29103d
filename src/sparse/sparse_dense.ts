/**
 * `SparseDense`: a Dense layer whose kernel is block-sparse, stored compactly (`stored_kernel.ts`)
 * and run on `blockSparseMatMul`. Made by `toSparse`; registered for serialization.
 */
import {serialization, Tensor, tidy} from '@tensorflow/tfjs-core';
import {layers} from '@tensorflow/tfjs-layers';
import {blockSparseMatMul} from './matmul';
import {StoredKernelArgs, StoredKernelLayer} from './stored_kernel';

type Kwargs = Parameters<layers.Layer['call']>[1];
type Shape = Parameters<layers.Layer['build']>[0];

/** Constructor arguments (and config) of `SparseDense`; `toSparse` fills them from a stored weight. */
export interface SparseDenseArgs extends StoredKernelArgs {}

/**
 * A Dense layer with a compactly stored block-sparse kernel, running on the block-sparse matmul
 * (whose dispatcher falls back to dense paths wherever they are faster). Inference only.
 *
 * Accuracy. float32: the Dense result up to summation order. int8: weights are quantized per
 * output channel (|Δw| <= s_w[n]/2, s_w[n] = max_k |w[k, n]| / 127; zeros stay exact) and, on the
 * sparse kernel, activations per row (|Δx| <= s_x/2, s_x = max_k |x[m, k]| / 127), products summed
 * exactly in int32, so each output is within
 *   s_w[n]/2 · Σ|x_k| + s_x/2 · Σ|w_kn| + nnz_n · s_x · s_w[n] / 4   (sums over stored w_kn)
 * of the float32 result, plus float32 rounding; slope-1 activations (relu, tanh) keep the bound.
 */
export class SparseDense extends StoredKernelLayer {
  /** @nocollapse */
  static className = 'SparseDense';

  /** @throws Error naming the layer and the field for a bad or unknown config value. */
  constructor(args: SparseDenseArgs) {
    super(args);
  }

  override build(inputShape: Shape): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    const last = shape[shape.length - 1];
    if (last !== this.inputDim) {
      throw this.error(`expects inputs with last dimension ${this.inputDim}, but got shape [${shape}]`);
    }
    this.addKernelWeights();
    this.inputSpec = [{minNDim: 2, axes: {[-1]: this.inputDim}}];
    this.built = true;
  }

  override computeOutputShape(inputShape: Shape): Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Array<number|null>;
    return [...shape.slice(0, -1), this.units];
  }

  override call(inputs: Tensor|Tensor[], kwargs: Kwargs): Tensor {
    return tidy(() => {
      this.invokeCallHook(inputs, kwargs);
      return this.applyKernel(this.singleInput(inputs));
    });
  }

  /** activation(x · W + b) along the last axis of `x`. */
  protected applyKernel(x: Tensor): Tensor {
    return this.activate(blockSparseMatMul(x, this.packedKernel(), {bias: this.biasValue(), activation: this.fusedActivation}));
  }
}
serialization.registerClass(SparseDense);
