/**
 * `blockSparseMatMul`: Y = X · W (+ bias) with a packed block-sparse W, dispatched per shape and
 * sparsity to our sparse kernels, our dense SIMD kernels, or `tf.matMul` itself, whichever the
 * benchmarks found fastest (`src/kernels/dispatch.ts`), so that packing a weight never makes a layer
 * slower than `tf.matMul`.
 */
import {engine, fused, getBackend, matMul, reshape, Tensor, Tensor1D, Tensor2D, TensorLike} from '@tensorflow/tfjs-core';
import {checkOutputBytes, MAX_HEAP_BYTES} from '../kernels/heap_limit';
import {DENSE_MATMUL} from '../kernels/dense_matmul';
import {BlockSparseKernel, chooseMatMulKernel, PackedWeightStats, pixelKernelPays, stripCase,
  stripDensityLimit} from '../kernels/dispatch';
import {MIN_STRIP_THREAD_ROWS} from '../kernels/thread_limits';
import {SPMM_F32} from '../kernels/spmm_f32';
import {SPMM_I8} from '../kernels/spmm_i8';
import {inferenceOp} from './inference_only';
import {checkChoice, checkOptions, describeValue, vectorArg} from '../util/validate';
import {BlockSparseMatrix} from './format';
import {runPixelKernel} from './pixel_matmul';
import {threadsFor} from '../kernels/threads_for';

/** Activations fused into the matmul. */
export type BlockSparseActivation = 'linear'|'relu';
export const VALID_BLOCK_SPARSE_ACTIVATIONS: BlockSparseActivation[] = ['linear', 'relu'];

const MATMUL_OPTIONS = ['bias', 'activation', 'kernel'];

/** Options of `blockSparseMatMul`. */
export interface BlockSparseMatMulOptions {
  /** float32 `[N]` added to every row. */
  bias?: Tensor1D|TensorLike;
  /** Default `'linear'`. */
  activation?: BlockSparseActivation;
  /**
   * Runs this kernel instead of the dispatcher's choice: for tests and benchmarks, or to skip the
   * dense copy of W that the dense paths keep (`'sparse'`).
   */
  kernel?: BlockSparseKernel;
}

/**
 * The kernels the dispatcher picks from: the strip kernels ('sparse'), the pixel-vectorized kernel
 * ('pixel': rows as pixels, unstructured sparsity), our dense SIMD kernels, tfjs's matMul.
 */
export type {BlockSparseKernel} from '../kernels/dispatch';
export const VALID_BLOCK_SPARSE_KERNELS: BlockSparseKernel[] = ['sparse', 'pixel', 'dense', 'tfMatMul'];

/** The dispatcher's choice for one call, with the reason (for benchmarks and users). */
export interface BlockSparseMatMulPlan {
  kernel: BlockSparseKernel;
  reason: string;
}

/** What the dispatcher (`src/kernels/dispatch.ts`) reads of a packed weight. */
export function weightStats(packed: BlockSparseMatrix): PackedWeightStats {
  return {dtype: packed.dtype, shape: packed.shape, stripWidth: packed.blockSize[1], storedDensity: 1 - packed.sparsity,
    nonzeros: packed.nonzeros};
}

/** Whether a channel-major 1x1 convolution of `pixels` pixels by `packed` runs the pixel kernel. */
export function choosePixelKernel(pixels: number, packed: BlockSparseMatrix): boolean {
  return pixelKernelPays(pixels, packed.nonzeros, packed.shape[0] * packed.shape[1]);
}

/**
 * The dispatcher's kernel for `rows` rows (`chooseMatMulKernel`), without `planBlockSparseMatMul`'s
 * checks and reason: for per-call use.
 */
function chooseKernel(rows: number, packed: BlockSparseMatrix, backend: string = getBackend()): BlockSparseKernel {
  return chooseMatMulKernel(rows, weightStats(packed), backend);
}

/**
 * Which kernel `blockSparseMatMul` runs for activations of shape `xShape` (rank >= 2, last dim K)
 * and `packed` on `backend` (default: the current one), and why.
 */
export function planBlockSparseMatMul(xShape: number[], packed: BlockSparseMatrix,
                                      backend: string = getBackend()): BlockSparseMatMulPlan {
  const op = 'planBlockSparseMatMul';
  checkPacked(packed, op);
  if (!Array.isArray(xShape) || xShape.length < 2 || xShape[xShape.length - 1] !== packed.shape[0]) {
    throw new Error(`Argument 'xShape' passed to '${op}' must be a shape of rank >= 2 ending in K = ` +
        `${packed.shape[0]}, but got ${JSON.stringify(xShape)}`);
  }
  const rows = xShape.slice(0, -1).reduce((a, b) => a * b, 1);
  const density = 1 - packed.sparsity;
  const stats = weightStats(packed);
  const limit = stripDensityLimit(rows, stats);
  const kernel = chooseMatMulKernel(rows, stats, backend);
  const what = `${packed.dtype} ${packed.blockSize.join('x')} blocks at density ${density.toFixed(3)}, ` +
      `${rows} row${rows === 1 ? '' : 's'}` +
      `${stripCase(rows, packed.shape) === 'streamed' ? ', dense weight over 16 MiB (streamed from memory)' : ''}, ` +
      `${backend} backend`;
  const reason = kernel === 'sparse' ? `${what}: sparse kernel (used up to density ${limit})` :
      kernel === 'pixel' ? `${what}: pixel-vectorized kernel (true density ${(packed.nonzeros / (packed.shape[0] * packed.shape[1])).toFixed(3)})` :
      kernel === 'tfMatMul' ? `${what}: above density ${limit}, tf.matMul on the dense weight (XNNPACK) is fastest` :
      `${what}: above density ${limit}, dense SIMD ${rows <= 1 ? 'GEMV' : '4x8 GEMM'}`;
  return {kernel, reason};
}

function checkPacked(packed: BlockSparseMatrix, op: string): void {
  if (!(packed instanceof BlockSparseMatrix)) {
    throw new Error(`Argument 'packed' passed to '${op}' must be a BlockSparseMatrix (from packBlockSparse), ` +
        `but got ${describeValue(packed, 'type')}`);
  }
  packed.checkLive(op);
}

/**
 * Y = X · W (+ bias), then the activation, for a packed weight W of shape `[K, N]`; X has shape
 * `[..., K]` and Y `[..., N]`. Inference only: under a gradient tape it throws.
 *
 * ```js
 * const packed = packBlockSparse(kernel, {blockSize: [1, 16]});
 * const y = blockSparseMatMul(x, packed, {bias, activation: 'relu'});
 * planBlockSparseMatMul(x.shape, packed);  // {kernel: 'sparse', reason: ...}
 * ```
 * int8 weights run int8 x int8 with activations quantized per row (see `src/kernels/spmm_i8.ts`); their
 * dense fallbacks use the dequantized weight in f32. The dense fallbacks keep a dense copy of W in
 * `packed` (one tensor, freed by `packed.dispose()` or `packed.releaseDenseWeight()`). The sparse
 * kernels skip pruned blocks, so a NaN or ±Infinity in x reaches only the outputs of stored blocks
 * (a dense matmul would spread `Infinity · 0 = NaN` to every output).
 * @throws Error if `x` is not float32 of rank >= 2 with last dimension K, `bias` is not float32
 *   `[N]`, `activation` is unknown, `packed` is not a live `BlockSparseMatrix`, or a gradient tape
 *   is recording.
 */
export function blockSparseMatMul(x: Tensor|TensorLike, packed: BlockSparseMatrix,
                                  options?: BlockSparseMatMulOptions): Tensor {
  const op = 'blockSparseMatMul';
  options = checkOptions(options, MATMUL_OPTIONS, op);
  checkPacked(packed, op);
  const activation = checkChoice(options.activation ?? 'linear', VALID_BLOCK_SPARSE_ACTIVATIONS, 'activation', op);
  if (options.kernel !== undefined) checkChoice(options.kernel, VALID_BLOCK_SPARSE_KERNELS, 'kernel', op);
  const [K, N] = packed.shape;
  return inferenceOp(x, op, ($x, made) => {
    if ($x.rank < 2) {
      throw new Error(`Argument 'x' passed to '${op}' must have rank >= 2, but got rank ${$x.rank} (shape [${$x.shape}])`);
    }
    if ($x.shape[$x.rank - 1] !== K) {
      throw new Error(`Argument 'x' passed to '${op}' must have last dimension K = ${K} (the packed weight is ` +
          `[${K}, ${N}]), but got shape [${$x.shape}]`);
    }
    // Checked without allocating on the way through: this op sits in inference loops.
    if ($x.size / K * N * 4 > MAX_HEAP_BYTES) checkOutputBytes([...$x.shape.slice(0, -1), N], op, `the shapes of 'x' and 'packed'`);
    const $b = vectorArg(options.bias, N, 'bias', op, made);
    let x2 = $x as Tensor2D;
    if ($x.rank !== 2) made.push(x2 = reshape($x, [-1, K]));
    const kernel = options.kernel ?? chooseKernel(x2.shape[0], packed);
    const relu = activation === 'relu';
    let y: Tensor;
    if (kernel === 'pixel') {
      y = runPixelKernel(x2, packed.pixelMatrix(), $b, activation, true);
    } else if (kernel === 'tfMatMul') {
      y = $b || relu ? fused.matMul({a: x2, b: packed.denseWeight(), bias: $b, activation}) :
          matMul(x2, packed.denseWeight());
    } else {
      const inputs: Record<string, Tensor> = {x: x2};
      if ($b) inputs.bias = $b;
      if (kernel === 'dense') {
        inputs.w = packed.denseWeight();
        y = engine().runKernel(DENSE_MATMUL, inputs, {relu}) as Tensor;
      } else {
        const {colPtr, rowOffsets, values, scales} = packed.tensors;
        Object.assign(inputs, {colptr: colPtr, rowoff: rowOffsets, vals: values});
        if (scales) inputs.scales = scales;
        const rows = x2.shape[0];
        const threads = rows < MIN_STRIP_THREAD_ROWS ? 1 : threadsFor({macs: (1 - packed.sparsity) * K * N * rows, bytes: 4 * (K + N) * rows});
        y = engine().runKernel(scales ? SPMM_I8 : SPMM_F32, inputs, {n: N, bw: packed.blockSize[1], relu, threads}) as Tensor;
      }
    }
    if ($x.rank === 2) return y;
    made.push(y);
    return reshape(y, [...$x.shape.slice(0, -1), N]);
  });
}
