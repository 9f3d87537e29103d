/**
 * Plain TypeScript versions of every kernel: typed arrays and shapes in, typed arrays out, no
 * tensors, no cleverness. The tests use them as the oracle.
 */

/** The magnitude key of a float32: |w| as an ordered integer; NaN sorts above +Infinity. */
export function magnitudeKey(w: number): number {
  const bits = new Int32Array(new Float32Array([w]).buffer)[0];
  return bits & 0x7fffffff;
}

/** 1 where |w| >= threshold (NaN weights always kept), else 0. */
export function maskFromThreshold(w: Float32Array, threshold: number): Float32Array {
  const t = Math.fround(threshold);
  const out = new Float32Array(w.length);
  for (let i = 0; i < w.length; i++) {
    out[i] = Number.isNaN(w[i]) ? 1 : Number.isNaN(t) ? 0 : Math.abs(w[i]) >= t ? 1 : 0;
  }
  return out;
}

/** The number of entries that are not ±0. */
export function countNonzero(w: Float32Array): number {
  let c = 0;
  for (let i = 0; i < w.length; i++) if (w[i] !== 0) c++;
  return c;
}
