/**
 * Fast training of (pruned) Dense layers. tfjs-wasm runs a Dense layer's forward product on
 * XNNPACK, but repacks the weights whenever they change (every training step), and runs both
 * backward products (`dX = dY · Wᵀ`, `dW = Xᵀ · dY`) as scalar loops at 0.9–3.6 GFLOP/s. Here all
 * three run on our SIMD kernels (`SparsityMaskedDense`, `SparsityMaskedDenseBackpropInput`,
 * `SparsityFastMatMul`, with a registered gradient), on the `wasm` and `cpu` backends; with a sparse
 * enough mask, the forward product and dX skip the masked weights.
 */
import {engine, getBackend, getKernel, mul, NamedAttrMap, NamedTensorMap, registerGradient, reshape, step, sum, Tensor,
  tidy, zerosLike} from '@tensorflow/tfjs-core';
import {layers} from '@tensorflow/tfjs-layers';
import {checkOutputBytes} from '../kernels/heap_limit';
import {MASKED_DENSE, MaskedDenseAttrs, maskedDenseInputs} from '../kernels/masked_dense';
import {MASKED_DENSE_DX} from '../kernels/masked_dense_dx';
import {fastMatMul} from '../ops/fast_matmul';
import {checkChoice, checkRank, checkSameShape, float32Arg} from '../util/validate';

/** The activations fused into `maskedDense`. */
export type FastDenseActivation = 'linear'|'relu';
export const FAST_DENSE_ACTIVATIONS: readonly FastDenseActivation[] = ['linear', 'relu'];

/**
 * `act(x · (kernel ⊙ mask) + bias)`, a Dense layer with a pruning mask, whose forward and backward
 * products run on SIMD kernels.
 *
 * Gradient semantics (tfmot's): the gradient with respect to `kernel` is `xᵀ · dy` at EVERY
 * position, kept or masked, as if `kernel ⊙ mask` were the variable. In tfmot the wrapper assigns
 * `kernel := kernel ⊙ mask` outside the tape before each call, so masked weights keep receiving
 * updates and may regrow at the next mask update; here the gradient treats the mask as a
 * straight-through gate to the same effect. (Computing the gradient only at kept positions would be
 * equivalent once the schedule has ended, but would freeze the mask earlier: we keep one semantics.)
 * `mask` receives no gradient. With `mask` null this is a plain fast Dense.
 *
 * Speed: with a 0/1 mask of density <= 0.25 (forward, from 32 rows of x) or <= 0.45 (dX, from 16
 * rows), the products visit only the kept weights, through an index of the mask built once per mask
 * tensor (so pass the same mask tensor until it changes, as the pruning wrapper's mask variable does).
 *
 * ```js
 * const y = maskedDense(x, kernel, mask, bias, 'relu');  // x [batch, in], kernel/mask [in, out]
 * ```
 * @param x float32 [..., in] (rank >= 2; leading dimensions are flattened as tfjs's Dense does).
 * @param kernel float32 [in, out].
 * @param mask float32 0/1 [in, out], or null for no mask.
 * @param bias float32 [out], or null.
 * @param activation 'linear' (default) or 'relu'.
 * @throws Error naming the argument when a dtype, rank, shape or activation is not allowed.
 */
export function maskedDense(x: Tensor, kernel: Tensor, mask: Tensor|null = null, bias: Tensor|null = null,
                            activation: FastDenseActivation = 'linear'): Tensor {
  const op = 'maskedDense';
  checkChoice(activation, FAST_DENSE_ACTIVATIONS, 'activation', op);
  const $x = float32Arg(x, 'x', op), $kernel = float32Arg(kernel, 'kernel', op);
  checkRank($kernel, [2], 'kernel', op);
  if ($x.rank < 2) throw new Error(`Argument 'x' passed to '${op}' must have rank >= 2, but got rank ${$x.rank} (shape [${$x.shape}])`);
  const [inDim, units] = $kernel.shape;
  if ($x.shape[$x.rank - 1] !== inDim) {
    throw new Error(`The last dimension of 'x' passed to '${op}' must equal the first dimension of 'kernel' ` +
        `(${inDim}), but got shapes [${$x.shape}] and [${$kernel.shape}]`);
  }
  const $mask = mask == null ? null : float32Arg(mask, 'mask', op);
  if ($mask != null) checkSameShape($kernel, $mask, 'kernel', 'mask', op);
  const $bias = bias == null ? null : float32Arg(bias, 'bias', op);
  if ($bias != null && ($bias.rank !== 1 || $bias.shape[0] !== units)) {
    throw new Error(`Argument 'bias' passed to '${op}' must have shape [${units}], but got [${$bias.shape}]`);
  }
  checkOutputBytes([...$x.shape.slice(0, -1), units], op, `the shapes of 'x' and 'kernel'`);
  const attrs: MaskedDenseAttrs = {masked: $mask != null, biased: $bias != null, relu: activation === 'relu'};
  if ($mask != null) attrs.maskDataId = $mask.dataId;
  return tidy(() => {
    const leading = $x.shape.slice(0, -1);
    const x2 = $x.rank > 2 ? reshape($x, [-1, inDim]) : $x;
    // A list, not a map: tfjs saves all inputs for the gradient only from a list.
    const inputs = [x2, $kernel, ...($mask ? [$mask] : []), ...($bias ? [$bias] : [])];
    const y = engine().runKernel(MASKED_DENSE, inputs as unknown as NamedTensorMap,
        attrs as unknown as NamedAttrMap) as Tensor;
    return $x.rank > 2 ? reshape(y, [...leading, units]) : y;
  });
}

/**
 * The gradient of `SparsityMaskedDense`, registered when this module loads. The kernel's gradient is
 * `xᵀ · dz` at every position, masked or not: tfmot's semantics, where the wrapper assigns
 * `kernel := kernel ⊙ mask` outside the tape, so masked weights keep receiving updates and can
 * regrow at the next mask update (`maskedDense` documents this choice). Each input's gradient is a
 * separate thunk, so a first layer never computes the unused `dx`.
 */
function registerMaskedDenseGradient(): void {
  registerGradient({
    kernelName: MASKED_DENSE,
    saveAllInputs: true,
    outputsToSave: [true],
    gradFunc: (dy: Tensor|Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const {masked, biased, relu, maskDataId} = attrs as unknown as MaskedDenseAttrs;
      const [x, kernel, mask] = maskedDenseInputs(saved, masked, biased);
      const y = saved[saved.length - 1];
      const dz = relu ? mul(dy as Tensor, step(y)) : dy as Tensor;
      // Keys are the input list's indices: [x, kernel, mask?, bias?].
      const grads: {[input: number]: () => Tensor} = {
        0: () => mask ? engine().runKernel(MASKED_DENSE_DX, {dy: dz, kernel, mask},
            {maskDataId} as unknown as NamedAttrMap) as Tensor :
            fastMatMul(dz, kernel, false, true),
        1: () => fastMatMul(x, dz, true, false),
      };
      if (mask) grads[2] = () => zerosLike(mask);
      if (biased) grads[masked ? 3 : 2] = () => sum(dz, 0);
      return grads;
    },
  });
}
registerMaskedDenseGradient();

/** The parts of tfjs-layers' Dense that a fast call reads (private in its typings, stable at runtime). */
interface DenseInternals {
  kernel: {read(): Tensor}|null;
  bias: {read(): Tensor}|null;
  activation: {getClassName(): string; apply(x: Tensor): Tensor};
}

/**
 * Runs a built tfjs-layers `Dense` layer (its call, with gradients) through `maskedDense`, or returns
 * null when it cannot: the layer is not exactly a `Dense`, the input is not float32, or the active
 * backend has no fast kernels (only `wasm` and `cpu` do). relu and linear are fused; any other
 * activation is applied afterwards by the layer's own activation. `PruneLowMagnitude` is meant to call
 * this for its inner Dense after masking the kernel, passing its mask variable's tensor so that
 * sparse masks take the sparse kernels:
 * `return fastDenseCall(this.layer, inputs, this.maskWeights[0].read()) ?? this.layer.call(inputs, kwargs);`
 *
 * @param layer any layer; only a built `Dense` is run.
 * @param inputs the layer's input (one tensor, or a one-element array).
 * @param mask optional 0/1 mask of the kernel's shape, applied in the forward pass.
 */
export function fastDenseCall(layer: layers.Layer, inputs: Tensor|Tensor[], mask: Tensor|null = null): Tensor|null {
  if (layer.getClassName() !== 'Dense' || !layer.built) return null;
  const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : null) : inputs;
  if (x == null || x.dtype !== 'float32' || x.rank < 2) return null;
  if (getKernel(MASKED_DENSE, getBackend()) == null) return null;
  const dense = layer as unknown as DenseInternals;
  if (dense.kernel == null) return null;
  const act = dense.activation.getClassName();
  const fused: FastDenseActivation|null = act === 'relu' ? 'relu' : act === 'linear' ? 'linear' : null;
  return tidy(() => {
    const y = maskedDense(x, dense.kernel!.read(), mask, dense.bias?.read() ?? null, fused ?? 'linear');
    return fused == null ? dense.activation.apply(y) : y;
  });
}
