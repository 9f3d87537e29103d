/**
 * Small dense linear algebra on row-major Float64Arrays, for the layer-wise solves of one-shot
 * pruning (Gram matrices of a few thousand features at most). tfjs has no Cholesky and computes in
 * float32, which loses the inverse of an ill-conditioned Gram matrix; these loops keep float64.
 */

/**
 * The lower Cholesky factor L of a symmetric positive definite `a` (n x n), `a = L Lᵀ`, written into
 * a new array (upper triangle zero). Only the lower triangle of `a` is read.
 * @returns null when `a` is not positive definite (a pivot <= 0 or not finite), so callers can name
 *     what they were factoring in their error.
 */
export function cholesky(a: Float64Array, n: number): Float64Array|null {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let sum = a[ri + j];
      // Row-times-row dot products keep both operands contiguous (Cholesky–Crout order).
      for (let k = 0; k < j; k++) sum -= l[ri + k] * l[rj + k];
      if (i === j) {
        if (!(sum > 0) || !Number.isFinite(sum)) return null;
        l[ri + i] = Math.sqrt(sum);
      } else {
        l[ri + j] = sum / l[rj + j];
      }
    }
  }
  return l;
}

/** The inverse of a lower triangular `l` (n x n, nonzero diagonal), lower triangular too. */
export function invertLower(l: Float64Array, n: number): Float64Array {
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    inv[ri + i] = 1 / l[ri + i];
    // Row i of L⁻¹ from rows j < i: (L⁻¹)[i][j] = -(Σ_{j<=k<i} L[i][k] (L⁻¹)[k][j]) / L[i][i].
    const acc = new Float64Array(i);
    for (let k = 0; k < i; k++) {
      const lik = l[ri + k];
      if (lik === 0) continue;
      const rk = k * n;
      for (let j = 0; j <= k; j++) acc[j] += lik * inv[rk + j];
    }
    const d = l[ri + i];
    for (let j = 0; j < i; j++) inv[ri + j] = -acc[j] / d;
  }
  return inv;
}

/**
 * The upper triangular U with `a⁻¹ = Uᵀ U` for a symmetric positive definite `a`: the factor
 * SparseGPT walks row by row. Computed from one Cholesky factorization of `a` with its indices
 * reversed (if `P a P = L̂ L̂ᵀ` with P the reversal, then `a⁻¹ = (P L̂⁻¹ P)ᵀ (P L̂⁻¹ P)` and
 * `P L̂⁻¹ P` is upper triangular), which halves the work of inverting and factoring again.
 * @returns null when `a` is not positive definite.
 */
export function inverseUpperCholesky(a: Float64Array, n: number): Float64Array|null {
  const reversed = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) reversed[(n - 1 - i) * n + (n - 1 - j)] = a[i * n + j];
  }
  const l = cholesky(reversed, n);
  if (l == null) return null;
  const linv = invertLower(l, n);
  const u = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) u[i * n + j] = linv[(n - 1 - i) * n + (n - 1 - j)];
  }
  return u;
}

/** `tr(Aᵀ G A)` for `a` [k, m] row-major and a symmetric `g` [k, k]: the energy of `xA` over x with Gram G. */
export function quadraticTrace(a: Float64Array|Float32Array, g: Float64Array, k: number, m: number): number {
  // Σ_ij G[i][j] <A[i,:], A[j,:]>, one row pair at a time (both rows contiguous), using symmetry.
  let total = 0;
  for (let i = 0; i < k; i++) {
    const ri = i * m;
    for (let j = 0; j <= i; j++) {
      const gij = g[i * k + j];
      if (gij === 0) continue;
      const rj = j * m;
      let dot = 0;
      for (let c = 0; c < m; c++) dot += a[ri + c] * a[rj + c];
      total += (i === j ? 1 : 2) * gij * dot;
    }
  }
  return total;
}

/** `tr(Aᵀ C B)` for `a`, `b` [k, m] row-major and any `c` [k, k]. */
export function bilinearTrace(a: Float64Array|Float32Array, c: Float64Array, b: Float64Array|Float32Array,
                              k: number, m: number): number {
  let total = 0;
  for (let i = 0; i < k; i++) {
    const ri = i * m;
    for (let j = 0; j < k; j++) {
      const cij = c[i * k + j];
      if (cij === 0) continue;
      const rj = j * m;
      let dot = 0;
      for (let col = 0; col < m; col++) dot += a[ri + col] * b[rj + col];
      total += cij * dot;
    }
  }
  return total;
}
