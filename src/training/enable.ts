/**
 * Opt-in fast transposed matmuls for every model trained on the tfjs `wasm` backend, pruned or not.
 * tfjs-wasm 4.22 sends `BatchMatMul` to XNNPACK only without transposes; the two backward products
 * of every Dense layer (`matMul(dy, W, false, true)` and `matMul(x, dy, true, false)`, as tfjs-core's
 * gradients call them) fall to scalar loops 10–40x slower (tfjs-facts §8).
 */
import {backend_util, getKernel, KernelConfig, KernelFunc, registerKernel, TensorInfo,
  unregisterKernel} from '@tensorflow/tfjs-core';
import {kernelConfigs} from '../kernels/bridge';
import {fastMatMulDims, fastMatMulKernel} from '../kernels/fast_matmul';

const BATCH_MAT_MUL = 'BatchMatMul';
const TRANSPOSE = 'Transpose';
const BACKEND = 'wasm';

/** tfjs-wasm's own `BatchMatMul` config while ours is registered in its place; null when disabled. */
let original: KernelConfig|null = null;

interface BatchMatMulArgs {
  inputs: {a: TensorInfo; b: TensorInfo};
  backend: {disposeData(dataId: object): void};
  attrs: {transposeA: boolean; transposeB: boolean};
}

/** `x` with its last two dimensions swapped, through tfjs-wasm's own `Transpose` kernel. */
function swapLastTwo(transpose: KernelFunc, x: TensorInfo, backend: BatchMatMulArgs['backend']): TensorInfo {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return transpose({inputs: {x}, backend, attrs: {perm}}) as TensorInfo;
}

/**
 * Our `BatchMatMul` for the wasm backend: untransposed products go to tfjs-wasm's kernel unchanged
 * (XNNPACK); transposed unbatched float32 products to `SparsityFastMatMul`; transposed batched ones
 * are transposed explicitly and then run untransposed by tfjs-wasm's kernel.
 */
function fastBatchMatMul(orig: KernelConfig): KernelFunc {
  const fast = kernelConfigs(fastMatMulKernel).find(c => c.backendName === BACKEND)!.kernelFunc;
  return ((args: BatchMatMulArgs) => {
    const {inputs: {a, b}, backend, attrs: {transposeA, transposeB}} = args;
    if (!transposeA && !transposeB) return orig.kernelFunc(args as never);
    const innerA = a.shape[transposeA ? a.shape.length - 2 : a.shape.length - 1];
    const innerB = b.shape[transposeB ? b.shape.length - 1 : b.shape.length - 2];
    // Anything tfjs-wasm would reject, it should reject with its own message.
    if (innerA !== innerB || a.shape.length < 2 || b.shape.length < 2) return orig.kernelFunc(args as never);
    if (a.dtype === 'float32' && b.dtype === 'float32' &&
        fastMatMulDims(a.shape, b.shape, transposeA, transposeB) != null) {
      return fast(args as never);
    }
    backend_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const transpose = getKernel(TRANSPOSE, BACKEND)!.kernelFunc;
    const at = transposeA ? swapLastTwo(transpose, a, backend) : a;
    const bt = transposeB ? swapLastTwo(transpose, b, backend) : b;
    try {
      return orig.kernelFunc({inputs: {a: at, b: bt}, backend, attrs: {...args.attrs, transposeA: false, transposeB: false}} as never);
    } finally {
      if (at !== a) backend.disposeData(at.dataId);
      if (bt !== b) backend.disposeData(bt.dataId);
    }
  }) as KernelFunc;
}

/**
 * Makes transposed `tf.matMul` on the wasm backend fast, which makes training every Dense layer on
 * tfjs-wasm several times faster (a 784-1024-1024-10 MLP step: see BENCHMARKS.md "Training").
 * Pruned Dense layers (`PruneLowMagnitude`) are fast without this; this is for everything else.
 *
 * How: through tfjs's public kernel registry (`getKernel` / `unregisterKernel` / `registerKernel`),
 * it registers, for the `wasm` backend only, a `BatchMatMul` that keeps tfjs-wasm's own kernel
 * for untransposed products and sends transposed ones to our SIMD kernels (batched ones are
 * transposed explicitly, then run untransposed). No tfjs internals are patched; `disableFastTraining`
 * re-registers tfjs-wasm's original config object. Results differ from the stock kernel only by
 * float rounding (summation order). Off by default; calling it twice is harmless.
 *
 * @throws Error when the wasm backend's `BatchMatMul` is not registered (import
 *   '@tensorflow/tfjs-backend-wasm' first).
 */
export function enableFastTraining(): void {
  if (original != null) return;
  const orig = getKernel(BATCH_MAT_MUL, BACKEND);
  if (orig == null || getKernel(TRANSPOSE, BACKEND) == null) {
    throw new Error("enableFastTraining needs the tfjs wasm backend's kernels: import " +
        "'@tensorflow/tfjs-backend-wasm' before calling it");
  }
  unregisterKernel(BATCH_MAT_MUL, BACKEND);
  registerKernel({...orig, kernelFunc: fastBatchMatMul(orig)});
  original = orig;
}

/** Restores tfjs-wasm's own `BatchMatMul` kernel (undoes `enableFastTraining`; harmless when off). */
export function disableFastTraining(): void {
  if (original == null) return;
  unregisterKernel(BATCH_MAT_MUL, BACKEND);
  registerKernel(original);
  original = null;
}

/** Whether `enableFastTraining` is in effect. */
export function isFastTrainingEnabled(): boolean {
  return original != null;
}
