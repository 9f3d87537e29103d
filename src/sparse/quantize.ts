/**
 * The one int8 rule of the library: symmetric, per output channel. For a `[K, N]` weight (Keras
 * `[in, out]`), `scales[n] = max_k |w[k, n]| / 127` and `q[k, n] = round(w[k, n] / scales[n])`, in
 * [-127, 127] (0 in a column whose scale is 0), so `w ≈ q · scales[n]` within `scales[n] / 2` and
 * zeros stay exact. The stored form (`storage.ts`), the strip layout (`pack.ts`) and the pixel
 * kernels' layout (`pixel_format.ts`) all quantize through it, so the int8 kernels multiply the very
 * values that were saved.
 */

/** Value types of stored and packed weights: float32, or int8 with per-output-channel scales. */
export type StoredDtype = 'float32'|'int8';
export const VALID_STORED_DTYPES: StoredDtype[] = ['float32', 'int8'];

/** The largest |q|: symmetric, so -128 is never used. */
export const INT8_LIMIT = 127;

/** What every form of a sparse weight records: its shape, its blocks and its value type. */
export interface WeightBlocks {
  /** `[K, N]` (Keras `[in, out]`). */
  shape: [number, number];
  /** `[bh, bw]` of its blocks. */
  blockSize: [number, number];
  dtype: StoredDtype;
}

/** A dense `[K, N]` weight (row-major): float32 values, or int8 values with their per-output-channel scales. */
export type DenseWeight = {dtype: 'float32'; values: Float32Array} | {dtype: 'int8'; values: Int8Array; scales: Float32Array};

/** A `[K, N]` weight in int8: row-major values and one scale per output channel. */
export interface Int8Weight {
  q: Int8Array;
  scales: Float32Array;
}

/**
 * Quantizes a dense `[K, N]` float32 weight (row-major) by the rule above.
 * @param nonFinite the error for a NaN or ±Infinity entry, given as `w[k, n] = value` (each caller
 *     names its own argument).
 */
export function quantizeInt8(w: Float32Array, shape: readonly [number, number], nonFinite: (entry: string) => Error): Int8Weight {
  const [K, N] = shape;
  const amax = new Float64Array(N);
  for (let i = 0; i < K * N; i++) {
    if (!Number.isFinite(w[i])) throw nonFinite(`w[${Math.floor(i / N)}, ${i % N}] = ${w[i]}`);
    amax[i % N] = Math.max(amax[i % N], Math.abs(w[i]));
  }
  const scales = Float32Array.from(amax, v => v / INT8_LIMIT);
  const q = new Int8Array(K * N);
  for (let i = 0; i < K * N; i++) {
    const s = scales[i % N];
    q[i] = s === 0 ? 0 : Math.max(-INT8_LIMIT, Math.min(INT8_LIMIT, Math.round(w[i] / s)));
  }
  return {q, scales};
}

/** The float32 weight of a decoded one: int8 values times their scales (`q · scales[n]`). */
export function dequantize(w: DenseWeight): Float32Array {
  if (w.dtype === 'float32') return w.values;
  const n = w.scales.length;
  return Float32Array.from(w.values, (q, i) => q * w.scales[i % n]);
}

/**
 * The largest K of the int8 kernels: their i32 accumulators sum K products of magnitude at most
 * 127·127 and must stay below 2^31.
 */
export const INT8_MAX_K = Math.floor((2 ** 31 - 1) / (INT8_LIMIT * INT8_LIMIT));
