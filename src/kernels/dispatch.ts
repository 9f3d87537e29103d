/**
 * Every performance decision between kernels, each with the benchmark and date that set it: which
 * kernel a call runs (sparse strips, pixel-vectorized, our dense SIMD kernels or tfjs's own), in
 * which build (relaxed SIMD or baseline), and what `toSparse` packs for them. On how many threads is
 * `thread_limits.ts`; the paths single kernels choose inside themselves are tuned in
 * `kernel_tuning.ts`; nothing else holds a speed threshold.
 *
 * It lives at the bottom of the layers (`src/kernels/`), not in `src/sparse/`: the kernels' own
 * machinery makes some of its decisions (how many threads a call gets, how the pixel kernel splits
 * its work, which build loads), and may import nothing above it. It imports nothing.
 *
 * Sources: BENCHMARKS.md sections (quoted by title), each produced by the command named beside it.
 * "Quiet" means nothing else ran on the machine; other runs were on the shared 2-core machine, where
 * ratios (ours against tfjs in the same process) are what counts.
 */

/** Value types of packed weights (the sparse layer's `StoredDtype`). */
type Dtype = 'float32'|'int8';

// --- blockSparseMatMul (sparse/matmul.ts): strip kernels, pixel kernel, dense ---------------------

/** The kernels `blockSparseMatMul` picks from (see `sparse/matmul.ts`). */
export type BlockSparseKernel = 'sparse'|'pixel'|'dense'|'tfMatMul';

/** Which measured case of SPARSE_MAX_DENSITY a call falls in. */
export type StripCase = 'one'|'streamed'|'many'|'large';

/**
 * Dense weights above this size come from DRAM on every batch-1 call (it exceeds the L3 share of
 * one core on most machines): there the sparse kernels' smaller reads pay off at other densities
 * than for a weight in cache (1x4096x4096, 64 MB: the scalar kernel 1.59x at 90 % sparsity, where it
 * loses in cache). `bench/spmm.ts --thresholds`, 2026-11-28 (BENCHMARKS.md "Block-sparse matmul",
 * "Dispatcher thresholds").
 */
const STREAMED_BYTES = 16 * 2 ** 20;

/**
 * Above this many rows the `large` limits apply: XNNPACK's GEMM tiles reuse each weight over more
 * rows than our two-row tiles, and the sparse kernels' per-row costs (the int8 activation
 * quantization, the splats) add up (1x8 int8 at 83 % density: 1.16-1.20x at 32 rows, 0.98-1.08x at
 * 512-1024). `bench/spmm.ts --thresholds`, 2026-11-28 10:30 UTC (BENCHMARKS.md "Dispatcher
 * thresholds": `many` measured at 32 rows, `large` at 512 and 1024). 128 itself is no measured
 * crossing: it lies between those row counts (git log: commit 0f558cc, which set it, records no run
 * in between).
 */
const LARGE_ROWS = 128;

/**
 * The highest stored density (1 - sparsity) at which the strip kernel is chosen, by weight dtype,
 * case and strip width (bw 16, 8, 4; 0 for the scalar kernel of other widths). Cases: one row with
 * a dense weight that stays in cache (`one`), one row with a larger one (`streamed`, see
 * STREAMED_BYTES), up to LARGE_ROWS rows (`many`) and more (`large`: the patch rows of a
 * convolution, big batches). Every value comes from
 * `node --import tsx bench/spmm.ts --thresholds` (wasm backend, hot; shapes 1x1024x1024 and
 * 1x768x3072 for `one`, 1x4096x4096 for `streamed`, 32x1024x1024 and 32x768x3072 for `many`,
 * 1024x576x64 and 512x256x256 for `large`; 2026-11-28, BENCHMARKS.md "Dispatcher thresholds"):
 * the highest density at which the sparse kernel beat tf.matMul by >= 10 % on every shape, so the
 * dispatcher stays above 0.95x of tf.matMul through the noise of a shared machine. Ratios quoted as
 * (first shape / second shape).
 */
const SPARSE_MAX_DENSITY: Record<Dtype, Record<StripCase, Record<16|8|4|0, number>>> = {
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

// Pixel-vectorized kernels (channel-major, unstructured; issue 16). `assembly/spmm_nchw_f32.ts`
// broadcasts each nonzero against 16 pixels (or Dense rows), so its cost follows the true nonzero
// count whatever the block structure; its limits count nonzeros, not stored strips. Every value
// below: `node --import tsx bench/pixel.ts --thresholds` (wasm backend, 2026-12-06; BENCHMARKS.md,
// "Dispatcher limits" under "Unstructured sparsity").

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

/** A packed weight as the matmul dispatcher sees it. */
export interface PackedWeightStats {
  dtype: Dtype;
  /** `[K, N]`. */
  shape: readonly [number, number];
  /** Strip width of the packed layout. */
  stripWidth: number;
  /** Entries inside stored strips, over K·N (what the strip kernels multiply). */
  storedDensity: number;
  /** Nonzero weights (what the pixel kernel multiplies). */
  nonzeros: number;
}

function stripClass(bw: number): 16|8|4|0 {
  return bw === 16 || bw === 8 || bw === 4 ? bw : 0;
}

/** The measured case of a call: `rows` activation rows by a `[K, N]` weight. */
export function stripCase(rows: number, shape: readonly [number, number]): StripCase {
  if (rows > LARGE_ROWS) return 'large';
  if (rows > 1) return 'many';
  return shape[0] * shape[1] * 4 > STREAMED_BYTES ? 'streamed' : 'one';
}

/** The strip kernel's density limit for this weight and number of rows. */
export function stripDensityLimit(rows: number, w: PackedWeightStats): number {
  return SPARSE_MAX_DENSITY[w.dtype][stripCase(rows, w.shape)][stripClass(w.stripWidth)];
}

/** Whether a channel-major 1x1 convolution over `pixels` pixels by a weight of `entries` entries, `nonzeros` of them nonzero, runs the pixel kernel. */
export function pixelKernelPays(pixels: number, nonzeros: number, entries: number): boolean {
  return pixels >= PIXEL_MIN_PIXELS && nonzeros <= PIXEL_MAX_DENSITY * entries;
}

/**
 * Whether a Dense layer over `rows` rows runs the pixel kernel (see the limits above). Strips of a
 * width with no SIMD kernel (1x1, 2x2, ... blocks) run the scalar kernel, which the pixel kernel
 * beats whatever the padding: 32x4096x4096 unstructured at 90 % packed in 1x1 blocks took 42.8 ms on
 * the scalar strips, 3.2 ms on the pixel kernel (`node --import tsx bench/threads.ts`, 2026-12-06).
 */
function pixelPaysForRows(rows: number, w: PackedWeightStats): boolean {
  const entries = w.shape[0] * w.shape[1];
  return rows >= PIXEL_MIN_ROWS && w.nonzeros <= PIXEL_ROWS_MAX_DENSITY * entries &&
      (stripClass(w.stripWidth) === 0 || w.storedDensity * entries > PIXEL_MIN_STRIP_PADDING * w.nonzeros);
}

/**
 * The kernel for `rows` rows by a packed weight on `backend`. The dense fallback: on `wasm` it is
 * `tf.matMul` on the kept dense weight: XNNPACK beat our dense 4x8 GEMM and row GEMV there
 * (`bench/spmm.ts --dense`, 2026-11-28: 0.67-0.98x of tf.matMul), so our dense kernels would only
 * lose. On other backends (the `cpu` backend's matMul is plain JavaScript) our dense SIMD kernels run.
 */
export function chooseMatMulKernel(rows: number, w: PackedWeightStats, backend: string): BlockSparseKernel {
  if (pixelPaysForRows(rows, w)) return 'pixel';
  if (w.storedDensity <= stripDensityLimit(rows, w)) return 'sparse';
  return backend === 'wasm' ? 'tfMatMul' : 'dense';
}

// --- The kernel build (kernels/builds.ts): relaxed SIMD or baseline SIMD128 -----------------------

/**
 * The relaxed build is chosen only where it runs at least this much faster than the baseline on
 * `relaxedSpeedup`'s probe. Fused multiply-adds save instructions but lengthen each accumulator's
 * dependency chain, and runtimes lower them differently: on this project's AMD EPYC machine the
 * relaxed kernels ran 0.95-1.16x the baseline in Chromium 156 and 0.52-1.07x in Node 22.23
 * (`node --import tsx bench/relaxed.ts`, and `--node` under Node 22, 2026-12-06; BENCHMARKS.md
 * "Relaxed SIMD").
 */
export const MIN_RELAXED_SPEEDUP = 1.05;

// --- k×k convolutions (sparse/sparse_conv2d.ts): patches or tf.conv2d -----------------------------
// `node --import tsx bench/conv.ts`, quiet machine, 2026-11-28 10:40 UTC (BENCHMARKS.md "k×k
// convolutions (`SparseConv2D`)").

/**
 * The narrowest patch row (kh·kw·C) that a k×k convolution multiplies on the sparse kernel: in
 * narrower ones the patch copy and the per-row costs outweigh the skipped weights (the demo CNN's
 * first layer, 3x3 on one channel, ran 1.8x slower than tf.conv2d at batch 32 even 90 % sparse);
 * from 3x3 on 16 channels up the sparse path won.
 */
const MIN_PATCH_K = 128;

/**
 * The most patch rows an int8 k×k convolution multiplies on the strip kernels: beyond them each
 * row's quantization and activation tables (8 bytes per entry) cost more than the weights saved
 * (50 % sparse: 1.43-2.22x of tf.conv2d up to 1024 rows, 0.84x at 2048; 90 %, 3x3 on 16 channels:
 * 0.83-0.96x at 6272 rows, 0.47-0.72x at 25088).
 */
const MAX_INT8_PATCH_ROWS = 1024;

/**
 * Whether a k×k convolution multiplies its `rows` patch rows of `w` on the kernel the matmul
 * dispatcher chose (`kernel`), rather than running `tf.conv2d` on the dense kernel. The pixel kernel
 * keeps activations in f32: the int8 row limit is the strip kernels' own.
 */
export function patchesPay(rows: number, w: PackedWeightStats, kernel: BlockSparseKernel): boolean {
  return w.shape[0] >= MIN_PATCH_K && (kernel === 'pixel' ||
      (kernel === 'sparse' && (w.dtype !== 'int8' || rows <= MAX_INT8_PATCH_ROWS)));
}

// --- toSparse and sparsifyGraphModel (sparse/to_sparse.ts, graph_model.ts) ------------------------

/**
 * Layers whose kernel has fewer zeros stay dense by default (`minSparsity`): below about 30 % the
 * sparse kernels stop paying at batch 1. `bench/spmm.ts`, quiet machine, 2026-11-28 (BENCHMARKS.md
 * "Block-sparse matmul", break-even: the 1x16 kernel from 30 %, 1.77x / 1.55x / 1.25x at 1024²,
 * 768x3072, 4096²; the dispatcher still guards every call).
 */
export const DEFAULT_MIN_SPARSITY = 0.3;

/**
 * The strip width of the kernel layout where nothing else decides (`packBlockSparse`'s default
 * `[1, 16]`, a sparse layer config saved without `kernelBlockSize`): the fastest strip kernel per
 * stored weight (perf-anchors §4.4; BENCHMARKS.md "Block-sparse matmul", 1x16 against 1x4 and 4x4 at
 * every sparsity, 2026-11-28). Clipped to the weight's width.
 */
export const DEFAULT_STRIP_WIDTH = 16;

/** The batch sizes the kernel layout is chosen for: one row (latency) and a batch of 32 (throughput). */
export const PLAN_BATCHES: readonly number[] = [1, 32];

/**
 * Relative cost per stored weight of the strip widths. float32: instructions per weight in the inner
 * loop of the 2-row tiles (`assembly/spmm_f32.ts`): one row offset, two splats, bw/4 weight loads
 * and bw/2 multiply-adds per strip of 16 (1.44), 8 (1.63) and 4 (2.0) weights; the scalar kernel
 * (bw = 1) does 8 scalar instructions for what one SIMD instruction does with 4 lanes. int8:
 * measured, since its per-pair splat weighs more on narrow strips (µs per stored weight at
 * [2028, 256], batch 1: 1x8 1.35x and 1x4 2.34x the 1x16 cost; `bench/spmm.ts`, 2026-11-28).
 */
const STRIP_COSTS: Record<Dtype, ReadonlyArray<[number, number]>> = {
  float32: [[16, 1.44], [8, 1.63], [4, 2], [1, 8]],
  int8: [[16, 1.44], [8, 1.95], [4, 3.37], [1, 8]],
};

/** What packing a weight at one strip width gives. */
export interface StripWidthTrial {
  /** How many of PLAN_BATCHES the dispatcher runs on the strip kernel. */
  sparseBatches: number;
  /** Stored strips, padding included. */
  strips: number;
}

/**
 * The strip width of the kernel layout for a `[K, N]` weight: the one for which the dispatcher runs
 * the sparse kernel at the most of PLAN_BATCHES; ties go to the least (stored strip entries,
 * padding included) x (cost per entry). `trial` packs the weight at a width and plans it.
 */
export function chooseStripWidth(dtype: Dtype, n: number, trial: (bw: number) => StripWidthTrial): number {
  let best = 1, bestSparse = -1, bestCost = Infinity;
  for (const [bw, cost] of STRIP_COSTS[dtype]) {
    if (bw > n) continue;
    const {sparseBatches, strips} = trial(bw);
    const total = strips * bw * cost;
    if (sparseBatches > bestSparse || (sparseBatches === bestSparse && total < bestCost)) {
      best = bw;
      bestSparse = sparseBatches;
      bestCost = total;
    }
  }
  return best;
}
