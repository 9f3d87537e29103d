import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import {cholesky, inverseUpperCholesky, invertLower, quadraticTrace} from '../src/util/linalg';
import {normal} from './helpers';

/** A random symmetric positive definite n x n matrix: BᵀB / n + 0.1 I. */
export function spd(n: number, seed: number): Float64Array {
  const b = normal(n * n, seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += b[k * n + i] * b[k * n + j];
      a[i * n + j] = s / n + (i === j ? 0.1 : 0);
    }
  }
  return a;
}

function matMul(a: Float64Array, b: Float64Array, n: number, transposeA = false): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += (transposeA ? a[k * n + i] : a[i * n + k]) * b[k * n + j];
      c[i * n + j] = s;
    }
  }
  return c;
}

function assertClose(actual: Float64Array, expected: Float64Array, tol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])))) {
      assert.unreachable(`${what}: at ${i} got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

const identity = (n: number) => Float64Array.from({length: n * n}, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
const SIZES = [1, 2, 3, 8, 17, 64];

const chol = suite('cholesky');

chol('cholesky(a) is lower triangular with L Lᵀ = a, for sizes 1..64', () => {
  for (const n of SIZES) {
    const a = spd(n, n);
    const l = cholesky(a, n)!;
    assert.ok(l, `n=${n} factors`);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) assert.is(l[i * n + j], 0);
    const llt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += l[i * n + k] * l[j * n + k];
        llt[i * n + j] = s;
      }
    }
    assertClose(llt, a, 1e-10, `n=${n}`);
  }
});

chol('cholesky returns null for a matrix that is not positive definite, or holds NaN', () => {
  assert.is(cholesky(Float64Array.of(1, 2, 2, 1), 2), null);
  assert.is(cholesky(Float64Array.of(0), 1), null);
  assert.is(cholesky(Float64Array.of(NaN), 1), null);
});

chol.run();

// ---

const inv = suite('invertLower and inverseUpperCholesky');

inv('invertLower(l) · l = I', () => {
  for (const n of SIZES) {
    const l = cholesky(spd(n, 100 + n), n)!;
    assertClose(matMul(invertLower(l, n), l, n), identity(n), 1e-9, `n=${n}`);
  }
});

inv('inverseUpperCholesky(a) is upper triangular U with Uᵀ U a = I', () => {
  for (const n of SIZES) {
    const a = spd(n, 200 + n);
    const u = inverseUpperCholesky(a, n)!;
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) assert.is(u[i * n + j], 0, `n=${n} (${i},${j})`);
    assertClose(matMul(matMul(u, u, n, true), a, n), identity(n), 1e-8, `n=${n}`);
  }
  assert.is(inverseUpperCholesky(Float64Array.of(1, 3, 3, 1), 2), null);
});

inv.run();

// ---

const trace = suite('quadraticTrace');

trace('quadraticTrace(a, g) = tr(Aᵀ G A), against the plain triple loop', () => {
  for (const [k, m] of [[1, 1], [3, 5], [16, 7]]) {
    const a = Float64Array.from(normal(k * m, k * 31 + m));
    const g = spd(k, k + m);
    let expected = 0;
    for (let c = 0; c < m; c++) {
      for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) expected += a[i * m + c] * g[i * k + j] * a[j * m + c];
    }
    const got = quadraticTrace(a, g, k, m);
    assert.ok(Math.abs(got - expected) <= 1e-9 * Math.abs(expected), `${k}x${m}: ${got} vs ${expected}`);
  }
});

trace.run();
