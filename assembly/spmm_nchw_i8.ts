// Pixel-vectorized sparse matmul for channel-major activations with int8 weights:
//   Y[oc, p] = clamp(Σ_j (q[oc, ic_j] · scales[oc]) · X[ic_j, p] + bias[oc])
// Each nonzero is reused across every pixel tile, so the weight stream is small next to the
// activations: the weights are dequantized once per call into scratch (nnz multiplies) and the
// f32 loop of spmm_nchw_f32.ts runs on them. Converting in the inner loop instead (a scalar
// convert and splat per nonzero per tile) measured 0.88-0.97x of f32 (bench/scratch, 2026-12-06).
import {spmmNchw} from './spmm_nchw_f32';

/**
 * As `f32_spmm_nchw_16x1__simd128`, with `vals` int8[nnz] and `scales` float32[outC]
 * (w ≈ q · scale), and `scratch` float32[nnz] (16-byte aligned) for the dequantized weights.
 * Dequantizes the nonzeros of [oc0, oc1) only.
 */
export function i8_spmm_nchw_16x1__simd128(x: usize, xstride: usize, pixels: i32, rowptr: usize, ics: usize,
    vals: usize, scales: usize, oc0: i32, oc1: i32, bias: usize, vmin: f32, vmax: f32, y: usize,
    ystride: usize, k: i32, pack: usize, scratch: usize): void {
  for (let oc = oc0; oc < oc1; oc++) {
    const s = load<f32>(scales + (<usize>oc << 2));
    const end = load<i32>(rowptr + (<usize>oc << 2), 4);
    for (let j = load<i32>(rowptr + (<usize>oc << 2)); j < end; j++) {
      store<f32>(scratch + (<usize>j << 2), <f32>load<i8>(vals + <usize>j) * s);
    }
  }
  spmmNchw(x, xstride, pixels, rowptr, ics, scratch, oc0, oc1, bias, vmin, vmax, y, ystride, 4, k, pack);
}
