/**
 * `blockSparseMatMul`: Y = X · W (+ bias) with a packed block-sparse W, dispatched per shape and
 * sparsity to our sparse kernels, our dense SIMD kernels, or `tf.matMul` itself, whichever the
 * benchmarks found fastest, so that packing a weight never makes a layer slower than `tf.matMul`.
 */
import {dispose, engine, fused, getBackend, matMul, reshape, Tensor, Tensor1D, Tensor2D, TensorLike} from '@tensorflow/tfjs-core';
import {DENSE_MATMUL, NO_GRADIENT_MESSAGE, SPMM_F32, SPMM_I8} from '../kernels/spmm';
import {checkRank, float32Arg} from '../kernels/validate';
import {BlockSparseMatrix} from './format';

/** Activations fused into the matmul. */
export type BlockSparseActivation = 'linear'|'relu';
export const VALID_BLOCK_SPARSE_ACTIVATIONS: BlockSparseActivation[] = ['linear', 'relu'];

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

/** The kernels the dispatcher picks from. */
export type BlockSparseKernel = 'sparse'|'dense'|'tfMatMul';
export const VALID_BLOCK_SPARSE_KERNELS: BlockSparseKernel[] = ['sparse', 'dense', 'tfMatMul'];

/** The dispatcher's choice for one call, with the reason (for benchmarks and users). */
export interface BlockSparseMatMulPlan {
  kernel: BlockSparseKernel;
  reason: string;
}

/**
 * The highest stored density (1 - sparsity) at which the sparse kernel is chosen, by weight dtype,
 * batch (one row, or more) and strip width (bw 16, 8, 4; 0 for the scalar kernel of other widths).
 * Every value comes from `node --import tsx bench/spmm.ts --thresholds` (wasm backend, hot,
 * shapes 1x1024x1024, 1x768x3072 and 32x1024x1024; BENCHMARKS.md, "Block-sparse matmul"): the
 * lowest density at which the sparse kernel beat tf.matMul by >= 10 % on every shape, so the
 * dispatcher stays above 0.95x of tf.matMul through the noise of a shared machine.
 */
const SPARSE_MAX_DENSITY: Record<'float32'|'int8', Record<'one'|'many', Record<16|8|4|0, number>>> = {
  float32: {
    // 1x16 at batch 1: 1.15x at 30 % sparsity on 768x3072, 0.97x at 20 % (perf-anchors §4.4: 30 %).
    // 1x8: 1.04-1.09x at 40 %, 1.15-1.46x at 50 %. 1x4: 1.08-1.19x at 60 %, 0.86-1.00x at 50 %.
    // Scalar (1x1, 2x2, ...): 1.00-1.20x at 90 %, 1.53-2.05x at 95 %.
    one: {16: 0.7, 8: 0.5, 4: 0.4, 0: 0.08},
    // 1x16 at batch 32: 1.01x fully dense, 1.34x at 20 %. 1x8: 0.79x dense, 1.20x at 20 %.
    // 1x4: 0.80x at 40 %, 1.63x at 50 %. Scalar: 0.57x at 80 %, 1.25x at 90 %.
    many: {16: 0.8, 8: 0.8, 4: 0.5, 0: 0.1},
  },
  int8: {
    // 1x16 at batch 1: 1.05-1.98x fully dense, 2.05x at 20 %. 1x8: 0.97-1.05x dense, 1.23-1.38x at
    // 20 %. 1x4: 0.78-1.18x at 40 %, 1.03-1.39x at 50 %, 1.56-1.61x at 60 %. Scalar: 1.07x at 90 %,
    // 1.97x at 95 %.
    one: {16: 0.9, 8: 0.8, 4: 0.4, 0: 0.06},
    // 1x16 at batch 32: 1.68x fully dense. 1x8: 0.95x dense, 1.44x at 20 %. 1x4: 0.60x dense,
    // >= 3.8x from 20 % (noisy; kept at 50 %). Scalar: not measured, f32's limit.
    many: {16: 1, 8: 0.8, 4: 0.5, 0: 0.1},
  },
};

function stripClass(bw: number): 16|8|4|0 {
  return bw === 16 || bw === 8 || bw === 4 ? bw : 0;
}

/** The sparse kernel's density limit for this weight and batch. */
function sparseLimit(rows: number, packed: BlockSparseMatrix): number {
  return SPARSE_MAX_DENSITY[packed.dtype][rows <= 1 ? 'one' : 'many'][stripClass(packed.blockSize[1])];
}

/**
 * The dense fallback. On `wasm` it is `tf.matMul` on the kept dense weight: XNNPACK beat our dense
 * 4x8 GEMM and row GEMV there (`bench/spmm.ts --dense`: 0.67-0.98x of tf.matMul), so our dense
 * kernels would only lose. On other backends (the `cpu` backend's matMul is plain JavaScript) our
 * dense SIMD kernels run.
 */
function chooseKernel(rows: number, packed: BlockSparseMatrix, backend: string): BlockSparseKernel {
  if (1 - packed.sparsity <= sparseLimit(rows, packed)) return 'sparse';
  return backend === 'wasm' ? 'tfMatMul' : 'dense';
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
  const limit = sparseLimit(rows, packed);
  const kernel = chooseKernel(rows, packed, backend);
  const what = `${packed.dtype} ${packed.blockSize.join('x')} blocks at density ${density.toFixed(3)}, ` +
      `${rows} row${rows === 1 ? '' : 's'}, ${backend} backend`;
  const reason = kernel === 'sparse' ? `${what}: sparse kernel (used up to density ${limit})` :
      kernel === 'tfMatMul' ? `${what}: above density ${limit}, tf.matMul on the dense weight (XNNPACK) is fastest` :
      `${what}: above density ${limit}, dense SIMD ${rows <= 1 ? 'GEMV' : '4x8 GEMM'}`;
  return {kernel, reason};
}

function checkPacked(packed: BlockSparseMatrix, op: string): void {
  if (!(packed instanceof BlockSparseMatrix)) {
    throw new Error(`Argument 'packed' passed to '${op}' must be a BlockSparseMatrix (from packBlockSparse), ` +
        `but got ${packed === null ? 'null' : typeof packed}`);
  }
  packed.checkLive(op);
}

/** True while a gradient tape records ops (inside tf.grad, variableGrads, a training step). */
function taping(): boolean {
  const state = engine().state;
  return state.gradientDepth > 0 && state.kernelDepth === 0;
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
 * int8 weights run int8 x int8 with activations quantized per row (see `src/kernels/spmm.ts`); their
 * dense fallbacks use the dequantized weight in f32. The dense fallbacks keep a dense copy of W in
 * `packed` (one tensor, freed by `packed.dispose()` or `packed.releaseDenseWeight()`). The sparse
 * kernels skip pruned blocks, so a NaN or ±Infinity in x reaches only the outputs of stored blocks
 * (a dense matmul would spread `Infinity · 0 = NaN` to every output).
 * @throws Error if `x` is not float32 of rank >= 2 with last dimension K, `bias` is not float32
 *   `[N]`, `activation` is unknown, `packed` is not a live `BlockSparseMatrix`, or a gradient tape
 *   is recording.
 */
export function blockSparseMatMul(x: Tensor|TensorLike, packed: BlockSparseMatrix,
                                  options: BlockSparseMatMulOptions = {}): Tensor {
  const op = 'blockSparseMatMul';
  checkPacked(packed, op);
  const activation = options.activation ?? 'linear';
  if (!VALID_BLOCK_SPARSE_ACTIVATIONS.includes(activation)) {
    throw new Error(`Argument 'activation' passed to '${op}' must be one of ` +
        `${VALID_BLOCK_SPARSE_ACTIVATIONS.join(', ')}, but got ${String(activation)}`);
  }
  if (options.kernel !== undefined && !VALID_BLOCK_SPARSE_KERNELS.includes(options.kernel)) {
    throw new Error(`Argument 'kernel' passed to '${op}' must be one of ` +
        `${VALID_BLOCK_SPARSE_KERNELS.join(', ')}, but got ${String(options.kernel)}`);
  }
  if (taping()) throw new Error(NO_GRADIENT_MESSAGE);
  const [K, N] = packed.shape;
  // No tidy: this op sits in inference loops, so only the tensors it converts are tracked.
  const made: Tensor[] = [];
  try {
    const $x = float32Arg(x, 'x', op);
    if ($x !== x) made.push($x);
    if ($x.rank < 2) {
      throw new Error(`Argument 'x' passed to '${op}' must have rank >= 2, but got rank ${$x.rank} (shape [${$x.shape}])`);
    }
    if ($x.shape[$x.rank - 1] !== K) {
      throw new Error(`Argument 'x' passed to '${op}' must have last dimension K = ${K} (the packed weight is ` +
          `[${K}, ${N}]), but got shape [${$x.shape}]`);
    }
    let $b: Tensor|undefined;
    if (options.bias !== undefined) {
      $b = float32Arg(options.bias, 'bias', op);
      if ($b !== options.bias) made.push($b);
      checkRank($b, [1], 'bias', op);
      if ($b.shape[0] !== N) {
        throw new Error(`Argument 'bias' passed to '${op}' must have shape [${N}], but got [${$b.shape}]`);
      }
    }
    let x2 = $x as Tensor2D;
    if ($x.rank !== 2) made.push(x2 = reshape($x, [-1, K]));
    const kernel = options.kernel ?? chooseKernel(x2.shape[0], packed, getBackend());
    const relu = activation === 'relu';
    let y: Tensor;
    if (kernel === 'tfMatMul') {
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
        y = engine().runKernel(scales ? SPMM_I8 : SPMM_F32, inputs, {n: N, bw: packed.blockSize[1], relu}) as Tensor;
      }
    }
    if ($x.rank === 2) return y;
    made.push(y);
    return reshape(y, [...$x.shape.slice(0, -1), N]);
  } finally {
    dispose(made);
  }
}
