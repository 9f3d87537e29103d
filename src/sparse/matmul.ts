/**
 * `blockSparseMatMul`: Y = X · W (+ bias) with a packed block-sparse W, dispatched per shape and
 * sparsity to our sparse kernels, our dense SIMD kernels, or `tf.matMul` itself, whichever the
 * benchmarks found fastest, so that packing a weight never makes a layer slower than `tf.matMul`.
 */
import {checkOptions} from '../util/options';
import {dispose, engine, fused, getBackend, matMul, reshape, Tensor, Tensor1D, Tensor2D, TensorLike} from '@tensorflow/tfjs-core';
import {checkOutputBytes, MAX_HEAP_BYTES} from '../kernels/heap_limit';
import {DENSE_MATMUL, NO_GRADIENT_MESSAGE, SPMM_F32, SPMM_I8, taping} from '../kernels/spmm';
import {float32Arg, vectorArg} from '../kernels/validate';
import {BlockSparseMatrix} from './format';
import {runPixelKernel} from './pixel_matmul';
import {threadsFor} from './threading';

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
export type BlockSparseKernel = 'sparse'|'pixel'|'dense'|'tfMatMul';
export const VALID_BLOCK_SPARSE_KERNELS: BlockSparseKernel[] = ['sparse', 'pixel', 'dense', 'tfMatMul'];

/** The dispatcher's choice for one call, with the reason (for benchmarks and users). */
export interface BlockSparseMatMulPlan {
  kernel: BlockSparseKernel;
  reason: string;
}

/** Which measured case of SPARSE_MAX_DENSITY a call falls in. */
type DispatchCase = 'one'|'streamed'|'many'|'large';

/**
 * Dense weights above this size come from DRAM on every batch-1 call (it exceeds the L3 share of
 * one core on most machines): there the sparse kernels' smaller reads pay off at other densities
 * than for a weight in cache (1x4096x4096, 64 MB: the scalar kernel 1.59x at 90 % sparsity, where it
 * loses in cache).
 */
const STREAMED_BYTES = 16 * 2 ** 20;

/**
 * Above this many rows the `large` limits apply: XNNPACK's GEMM tiles reuse each weight over more
 * rows than our two-row tiles, and the sparse kernels' per-row costs (the int8 activation
 * quantization, the splats) add up (1x8 int8 at 83 % density: 1.16-1.20x at 32 rows, 0.98-1.08x at
 * 512-1024).
 */
const LARGE_ROWS = 128;

/**
 * The highest stored density (1 - sparsity) at which the sparse kernel is chosen, by weight dtype,
 * case and strip width (bw 16, 8, 4; 0 for the scalar kernel of other widths). Cases: one row with
 * a dense weight that stays in cache (`one`), one row with a larger one (`streamed`, see
 * STREAMED_BYTES), up to LARGE_ROWS rows (`many`) and more (`large`: the patch rows of a
 * convolution, big batches). Every value comes from
 * `node --import tsx bench/spmm.ts --thresholds` (wasm backend, hot; shapes 1x1024x1024 and
 * 1x768x3072 for `one`, 1x4096x4096 for `streamed`, 32x1024x1024 and 32x768x3072 for `many`,
 * 1024x576x64 and 512x256x256 for `large`;
 * BENCHMARKS.md, "Dispatcher thresholds"): the highest density at which the sparse kernel beat
 * tf.matMul by >= 10 % on every shape, so the dispatcher stays above 0.95x of tf.matMul through the
 * noise of a shared machine. Ratios quoted as (first shape / second shape).
 */
const SPARSE_MAX_DENSITY: Record<'float32'|'int8', Record<DispatchCase, Record<16|8|4|0, number>>> = {
  float32: {
    // 1x16: 1.27x / 1.14x fully dense hot, but 0.75x-0.93x dense with weights from DRAM (the full
    // grid, cold and 1x4096x4096: strips read 6 % more bytes than the dense weight), 1.08x-1.28x
    // there at 30 %. 1x8: 0.96x / 0.94x dense, 1.22x / 1.21x at 20 % sparsity. 1x4: 0.96x / 1.00x
    // at 50 %, 1.28x / 1.22x at 60 %. Scalar: 0.95x at 90 %, 1.76x / 1.88x at 95 %.
    one: {16: 0.7, 8: 0.8, 4: 0.4, 0: 0.05},
    // 1x16: 1.06x dense, 1.15x at 30 %. 1x8: 0.94x at 20 %, 1.09x at 30 %, 1.18x at 40 %. 1x4: 1.09x
    // at 40 %, 1.25x at 50 %. Scalar: 0.79x at 80 %, 1.59x at 90 %.
    streamed: {16: 0.7, 8: 0.6, 4: 0.5, 0: 0.1},
    // 1x16: 1.33x / 1.20x dense. 1x8: 1.20x / 1.00x at 20 %, 1.33x / 1.14x at 30 %. 1x4: 1.12x /
    // 1.11x at 50 %, kept at 60 % (1.39x / 1.36x): a 4x4-pruned [2028, 256] weight ran 0.87x at 50 %
    // in the block-size harness. Scalar: 0.60x at 80 %, 1.15x / 1.16x at 90 %.
    many: {16: 1, 8: 0.7, 4: 0.4, 0: 0.1},
    // 1x16: 1.05x / 1.33x dense, 1.74x / 1.67x at 20 %. 1x8: 0.94x dense, 1.17x / 1.19x at 20 %.
    // 1x4: 1.03x / 1.04x at 40 %, 1.23x / 1.25x at 50 %. Scalar: 0.90x / 1.24x at 90 %, 1.26x at 95 %.
    large: {16: 0.8, 8: 0.8, 4: 0.5, 0: 0.05},
  },
  int8: {
    // 1x16: 1.75x / 1.71x dense. 1x8: 1.64x / 1.64x dense. 1x4: 0.97x / 0.98x dense, 1.43x / 1.18x
    // at 20 %. Scalar: 1.11x / 1.06x at 90 %, 2.08x / 2.02x at 95 %.
    one: {16: 1, 8: 1, 4: 0.8, 0: 0.05},
    // 1x16: 1.94x dense. 1x8: 1.60x dense. 1x4: 1.16x dense. Scalar: 0.83x at 80 %, 1.76x at 90 %.
    streamed: {16: 1, 8: 1, 4: 1, 0: 0.1},
    // 1x16: 1.36x / 1.21x dense. 1x8: 1.20x / 1.16x dense. 1x4: 1.02x / 1.03x at 40 %, 1.23x / 1.24x
    // at 50 %. Scalar: 0.66x / 0.64x at 90 %, 1.09x / 1.02x at 95 %: only from 97 %.
    many: {16: 1, 8: 1, 4: 0.5, 0: 0.03},
    // 1x16: 1.44x / 1.66x dense. 1x8: 0.98x / 1.08x dense, 1.14x / 1.24x at 20 %. 1x4: 1.10x / 1.20x
    // at 60 %, 1.27x / 1.50x at 70 %. Scalar: never (0.62x / 0.67x at 95 %).
    large: {16: 1, 8: 0.8, 4: 0.3, 0: 0},
  },
};

// --- Pixel-vectorized kernels (channel-major, unstructured; issue 16) ---------------------------
// `assembly/f32_spmm_nchw.ts` broadcasts each nonzero against 16 pixels (or Dense rows), so its cost
// follows the true nonzero count whatever the block structure; its limits count nonzeros, not
// stored strips. Every value below: `node --import tsx bench/pixel.ts --thresholds` (wasm backend,
// 2026-12-06; BENCHMARKS.md, "Dispatcher limits" under "Unstructured sparsity").

/**
 * The highest true density (nonzeros / entries) at which a channel-major 1x1 convolution runs the
 * pixel kernel. Against tf.conv2d on the same problem in NHWC: 1.31-1.47x at 70 % density (P x C =
 * 256x64, 784x256, 196x512, 3136x128), 1.51-1.56x at 60 %; the kernel runs 37-43 GFLOP/s on the
 * nonzeros and tf.conv2d 43-46, so it breaks even near 90 % density.
 */
const PIXEL_MAX_DENSITY = 0.7;

/** The fewest pixels (B·OH·OW) for the pixel kernel: fewer than one vector runs its scalar tail only. */
const PIXEL_MIN_PIXELS = 4;

/**
 * Dense layers: the fewest rows for the pixel kernel (rows transposed into pixels and back): 1.50x
 * tf.matMul at 16 rows, 50 % unstructured density, 1024x1024 (strips 1x16: 1.25x, 1x4: 0.64x).
 */
const PIXEL_MIN_ROWS = 16;

/** Dense layers: the highest true density for the pixel kernel (1.50-1.55x tf.matMul at 50 %, 16-128 rows). */
const PIXEL_ROWS_MAX_DENSITY = 0.5;

/**
 * Dense layers: the pixel kernel replaces the strip kernels only where the strips store more than this
 * many entries per nonzero (zeros padding unstructured strips): on nonzeros the strips' 2x16 tile runs
 * at 55-59 GFLOP/s at 32 rows (perf-anchors §4.4), the pixel kernel with its transposes at about 40,
 * so a weight pruned in 1x16 blocks stays on the strips (12x tf.matMul at 90 % against the pixel
 * kernel's 7x).
 */
const PIXEL_MIN_STRIP_PADDING = 1.5;

/** The strip kernels split rows between threads in pairs: fewer rows than this stay on one thread. */
const MIN_STRIP_THREAD_ROWS = 4;

/** Whether a channel-major 1x1 convolution of `pixels` pixels by `packed` runs the pixel kernel. */
export function choosePixelKernel(pixels: number, packed: BlockSparseMatrix): boolean {
  return pixelKernelPays(pixels, packed.nonzeros, packed.shape[0] * packed.shape[1]);
}

/** `choosePixelKernel` for a weight of `entries` entries with `nonzeros` nonzeros, before it is packed. */
export function pixelKernelPays(pixels: number, nonzeros: number, entries: number): boolean {
  return pixels >= PIXEL_MIN_PIXELS && nonzeros <= PIXEL_MAX_DENSITY * entries;
}

/**
 * Whether a Dense layer over `rows` rows by `packed` runs the pixel kernel (see the limits above).
 * Strips of a width with no SIMD kernel (1x1, 2x2, ... blocks) run the scalar kernel, which the
 * pixel kernel beats whatever the padding: 32x4096x4096 unstructured at 90 % packed in 1x1 blocks
 * took 42.8 ms on the scalar strips, 3.2 ms on the pixel kernel (bench/threads.ts, 2026-12-06).
 */
function pixelPaysForRows(rows: number, packed: BlockSparseMatrix): boolean {
  const entries = packed.shape[0] * packed.shape[1];
  const stored = (1 - packed.sparsity) * entries;
  return rows >= PIXEL_MIN_ROWS && packed.nonzeros <= PIXEL_ROWS_MAX_DENSITY * entries &&
      (stripClass(packed.blockSize[1]) === 0 || stored > PIXEL_MIN_STRIP_PADDING * packed.nonzeros);
}

function stripClass(bw: number): 16|8|4|0 {
  return bw === 16 || bw === 8 || bw === 4 ? bw : 0;
}

function dispatchCase(rows: number, packed: BlockSparseMatrix): DispatchCase {
  if (rows > LARGE_ROWS) return 'large';
  if (rows > 1) return 'many';
  return packed.shape[0] * packed.shape[1] * 4 > STREAMED_BYTES ? 'streamed' : 'one';
}

/** The sparse kernel's density limit for this weight and batch. */
function sparseLimit(rows: number, packed: BlockSparseMatrix): number {
  return SPARSE_MAX_DENSITY[packed.dtype][dispatchCase(rows, packed)][stripClass(packed.blockSize[1])];
}

/**
 * The dispatcher's kernel for `rows` rows, without `planBlockSparseMatMul`'s checks and reason: for
 * per-call use (`SparseConv2D`). The dense fallback: on `wasm` it is `tf.matMul` on the kept dense weight: XNNPACK beat our dense
 * 4x8 GEMM and row GEMV there (`bench/spmm.ts --dense`: 0.67-0.98x of tf.matMul), so our dense
 * kernels would only lose. On other backends (the `cpu` backend's matMul is plain JavaScript) our
 * dense SIMD kernels run.
 */
export function chooseKernel(rows: number, packed: BlockSparseMatrix, backend: string = getBackend()): BlockSparseKernel {
  if (pixelPaysForRows(rows, packed)) return 'pixel';
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
      `${rows} row${rows === 1 ? '' : 's'}` +
      `${dispatchCase(rows, packed) === 'streamed' ? ', dense weight over 16 MiB (streamed from memory)' : ''}, ` +
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
        `but got ${packed === null ? 'null' : typeof packed}`);
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
                                  options?: BlockSparseMatMulOptions): Tensor {
  const op = 'blockSparseMatMul';
  options = checkOptions(options, MATMUL_OPTIONS, op);
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
  } finally {
    dispose(made);
  }
}
