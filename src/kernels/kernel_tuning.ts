/**
 * The performance decisions that single kernels make inside themselves, each with the benchmark and
 * date that set it: the exact magnitude threshold's sampling, `fastMatMul`'s path for `A · Bᵀ`, and
 * when the masked Dense kernels visit only the kept weights. The choices between kernels (which
 * kernel, threads, build) are `dispatch.ts`'s.
 *
 * Sources: BENCHMARKS.md sections (quoted by title), each produced by the command named beside it.
 * It imports nothing.
 */

// --- Exact magnitude threshold (kernels/kth_largest_magnitude.ts) --------------------------------
// BENCHMARKS.md "Magnitude threshold", `node --import tsx bench/select.ts`, 2026-11-28.

/**
 * Below this many weights the read-only radix selection (at most three passes over the weights)
 * answers directly, with no sample. No record of how it was set; measured 2026-12-06 (`node --import
 * tsx bench/dispatch.ts --select`, BENCHMARKS.md "Dispatch constants without an earlier record"): the
 * band method is 0.6-0.8x the radix selection at n = 2048-4096 and 2.3-3.7x at 8192-16384, so the
 * crossing lies between 4096 and 8192, below this limit. Both paths are exact (the same result);
 * lowering the limit to 8192 is left to a change of its own.
 */
export const SELECT_DIRECT_MAX_N = 1 << 14;

/**
 * Sample size about SELECT_SAMPLE_SCALE · n^(2/3) keys: it balances selecting in the sample against
 * selecting among the candidates (about n · 2 · margin / sample of them). Set with
 * SELECT_MARGIN_SD by CPU-time sweeps (scale 0.5–4, margin 2.5–3.5σ) of bench/select.ts's cases,
 * 2026-11-28, which resolve differences of about 20 % on the loaded machine.
 */
export const SELECT_SAMPLE_SCALE = 2;

/** Band half-width in standard deviations of the target's rank in the sample (same sweep). */
export const SELECT_MARGIN_SD = 3;

/**
 * The band's half-width floor, in sample ranks, added to SELECT_MARGIN_SD standard deviations. No
 * record of how it was set, and not a speed threshold: it keeps the band some ranks wide where 3σ is
 * only a few (targets near either end of the order, k/n close to 0 or 1), so that a band rarely
 * misses the target; a miss costs a whole extra pass.
 */
export const SELECT_MARGIN_MIN = 16;

/**
 * Candidate buffers stop growing at this fraction of the weights; beyond it the read-only radix
 * selection answers. Not a speed threshold: it bounds the kernel's scratch (about 1.2 n bytes in
 * all against the weights' 4 n, as the kernel's comment derives), which runs inside the tfjs-wasm heap.
 */
export const SELECT_MAX_CANDIDATE_FRACTION = 1 / 8;

/**
 * Candidate buffers are reserved at the band's expected share of the weights times this, so that a
 * band holding somewhat more keys than the sample predicts needs no second pass to grow its buffer.
 * No record of how it was set, and not a speed threshold: room over an estimate.
 */
export const SELECT_CANDIDATE_SLACK = 1.25;

// --- fastMatMul (kernels/fast_matmul.ts) ----------------------------------------------------------

/**
 * Below this many rows of A, `A · Bᵀ` runs as dot products (`f32_gemm_nt_dot_1x4__simd128`) instead
 * of transposing B and running the 4x8 GEMM. No record of how it was set; measured 2026-12-06
 * (`node --import tsx bench/dispatch.ts --nt`, BENCHMARKS.md "Dispatch constants without an earlier
 * record"): the dot products are faster at every row count up to 16 (14x at 1 row, 1.6x at 16 rows,
 * [m, 1024] · [1024, 1024]ᵀ; 1.3-8x with k = 256), even at 32 rows (1.0-1.2x), and slower from 64
 * (0.87-0.96x): the crossing is near 32 rows, above this limit. The two paths sum in different
 * orders (results differ in the last bits), so moving the limit is left to a change of its own.
 */
export const NT_DOT_MAX_ROWS = 4;

// --- Masked Dense training (kernels/masked_dense.ts, masked_dense_dx.ts) -------------------------

/** When a masked Dense product visits only the kept weights: mask density and rows of activations. */
export interface SparseIndexRule {maxDensity: number; minRows: number}

/**
 * Set from `node --import tsx bench/train.ts` "sparse vs dense masked products" and minimum-of-40
 * timings of [m, 1024] x [1024, 1024], 2026-11-28 (BENCHMARKS.md "Training"): the input gradient
 * reads W in row order and wins 1.4–8x up to density 0.4 from 16 rows; the forward product must
 * first transpose W (0.5 ms here) and wins 1.2–2.5x up to density 0.2 from 32 rows, losing from 0.3.
 */
export const SPARSE_FORWARD: SparseIndexRule = {maxDensity: 0.25, minRows: 32};
export const SPARSE_DX: SparseIndexRule = {maxDensity: 0.45, minRows: 16};
