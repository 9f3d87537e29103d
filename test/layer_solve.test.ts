import {suite} from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs-core';
import {keepCount, pruneMask, solveLayer} from '../src/index';
import type {LayerStatistics, SolveOptions} from '../src/index';
import {normal, useBackend} from './helpers';

/** Statistics of `rows` correlated input rows of k features (X = Z B, a few dead features). */
function statistics(k: number, rows: number, seed: number, dead: number[] = []): {stats: LayerStatistics; x: Float64Array} {
  const z = normal(rows * k, seed), b = normal(k * k, seed + 1, 0.5);
  const x = new Float64Array(rows * k);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) {
      let s = z[r * k + j];
      for (let i = 0; i < k; i++) s += z[r * k + i] * b[i * k + j];
      x[r * k + j] = dead.includes(j) ? 0 : s;
    }
  }
  const gram = new Float64Array(k * k), sumSquares = new Float64Array(k);
  for (let r = 0; r < rows; r++) {
    for (let i = 0; i < k; i++) {
      sumSquares[i] += x[r * k + i] ** 2;
      for (let j = 0; j < k; j++) gram[i * k + j] += x[r * k + i] * x[r * k + j];
    }
  }
  return {stats: {count: rows, sumSquares, gram}, x};
}

/** Plain Gauss–Jordan inverse. */
function inverse(a: Float64Array, n: number): Float64Array {
  const m = Float64Array.from(a), inv = Float64Array.from({length: n * n}, (_, i) => (i % (n + 1) === 0 ? 1 : 0));
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r * n + c]) > Math.abs(m[p * n + c])) p = r;
    for (let j = 0; j < n; j++) {
      [m[c * n + j], m[p * n + j]] = [m[p * n + j], m[c * n + j]];
      [inv[c * n + j], inv[p * n + j]] = [inv[p * n + j], inv[c * n + j]];
    }
    const d = m[c * n + c];
    for (let j = 0; j < n; j++) { m[c * n + j] /= d; inv[c * n + j] /= d; }
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r * n + c];
      for (let j = 0; j < n; j++) { m[r * n + j] -= f * m[c * n + j]; inv[r * n + j] -= f * inv[c * n + j]; }
    }
  }
  return inv;
}

/** Damped Gram matrix as the solver builds it: dead features get 1 on the diagonal, all get damp · mean diag. */
function damped(gram: Float64Array, k: number, dampening: number): Float64Array {
  const h = Float64Array.from(gram);
  let mean = 0;
  for (let i = 0; i < k; i++) mean += gram[i * k + i] / k;
  for (let i = 0; i < k; i++) h[i * k + i] = (h[i * k + i] === 0 ? 1 : h[i * k + i]) + dampening * mean;
  return h;
}

/**
 * SparseGPT written plainly: U from an explicit inverse and an upper Cholesky factorization of it,
 * masks by sorting the OBS saliencies of the rows still to come at each block, no refit.
 */
function referenceSparseGpt(w0: Float32Array, gram: Float64Array, k: number, n: number, sparsity: number,
                            blockRows: number, dampening: number): Float32Array {
  const hinv = inverse(damped(gram, k, dampening), k);
  // Upper Cholesky: hinv = Uᵀ U, row by row.
  const u = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    let d = hinv[i * k + i];
    for (let p = 0; p < i; p++) d -= u[p * k + i] ** 2;
    u[i * k + i] = Math.sqrt(d);
    for (let j = i + 1; j < k; j++) {
      let s = hinv[i * k + j];
      for (let p = 0; p < i; p++) s -= u[p * k + i] * u[p * k + j];
      u[i * k + j] = s / u[i * k + i];
    }
  }
  const w = Float64Array.from(w0);
  for (let i = 0; i < k; i++) if (gram[i * k + i] === 0) for (let j = 0; j < n; j++) w[i * n + j] = 0;
  const budget = keepCount(k * n, sparsity);
  let kept = 0;
  for (let start = 0; start < k; start += blockRows) {
    const scored = k - start;
    const entries: Array<[number, number]> = [];
    for (let i = start; i < k; i++) {
      for (let j = 0; j < n; j++) entries.push([Math.fround(w[i * n + j] ** 2 / u[i * k + i] ** 2), (i - start) * n + j]);
    }
    const left = Math.min(Math.max(budget - kept, 0), scored * n);
    const keep = keepCount(scored * n, Math.min(1 - left / (scored * n), 1 - 2 ** -24));
    entries.sort((a, b) => b[0] - a[0]);
    const mask = new Uint8Array(scored * n);
    for (let e = 0; e < keep; e++) mask[entries[e][1]] = 1;
    const rows = Math.min(blockRows, scored);
    for (let r = 0; r < rows; r++) {
      const i = start + r;
      const err = new Float64Array(n);
      for (let j = 0; j < n; j++) {
        if (mask[r * n + j]) { kept++; continue; }
        err[j] = w[i * n + j] / u[i * k + i];
        w[i * n + j] = 0;
      }
      for (let l = i + 1; l < k; l++) for (let j = 0; j < n; j++) w[l * n + j] -= u[i * k + l] * err[j];
    }
  }
  return Float32Array.from(w);
}

function assertClose(actual: Float32Array, expected: Float32Array, tol: number, what: string): void {
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])))) {
      assert.unreachable(`${what}: at ${i} got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

const solve = (w: Float32Array, shape: number[], stats: LayerStatistics|null, o: SolveOptions) =>
  solveLayer({name: 'layer/kernel', weight: w, shape, stats}, o);

const obc = suite('solveLayer obc');
obc.before(() => useBackend('wasm'));

obc('obc without refit equals a plain SparseGPT, over shapes, sparsities and blocks of rows', () => {
  for (const [k, n, blockRows, sparsity, dead] of [
    [6, 3, 128, 0.5, []], [24, 5, 4, 0.7, [3, 10]], [40, 9, 8, 0.9, [0, 1, 2]], [33, 1, 5, 0.3, []],
  ] as Array<[number, number, number, number, number[]]>) {
    const {stats} = statistics(k, 3 * k, k + n, dead);
    const w = normal(k * n, k * n + 5);
    const before = tf.memory().numTensors;
    const got = solve(w, [k, n], stats, {method: 'obc', sparsity, blockRows, refitSweeps: 0, dampening: 0.05});
    assert.is(tf.memory().numTensors, before, 'no tensors leak');
    const expected = referenceSparseGpt(w, stats.gram!, k, n, sparsity, blockRows, 0.05);
    assertClose(got.weight, expected, 1e-4, `k=${k} n=${n} block=${blockRows}`);
    const zeros = got.weight.filter(v => v === 0).length;
    assert.is(got.sparsity, zeros / (k * n));
    assert.ok(zeros >= k * n - keepCount(k * n, sparsity), `reaches the target: ${zeros} zeros`);
  }
});

obc('obc prunes convolution kernels with blocks of rows that cut through taps', () => {
  const {stats} = statistics(2 * 2 * 12, 100, 31);
  const w = normal(48 * 5, 32);
  const before = tf.memory().numTensors;
  for (const shape of [[2, 2, 12, 5], [1, 1, 48, 5]]) {
    const got = solve(w, shape, stats, {method: 'obc', sparsity: 0.6, blockRows: 7});
    assert.ok(Math.abs(got.sparsity - 0.6) < 0.01, `${shape}: ${got.sparsity}`);
    assert.ok(got.relativeError! < 0.5, `${shape}: ${got.relativeError}`);
  }
  assert.is(tf.memory().numTensors, before);
});

obc('the refit converges to the exact least-squares weights on the kept entries', () => {
  const [k, n] = [20, 4];
  const {stats} = statistics(k, 60, 9);
  const w0 = normal(k * n, 10);
  const masked = solve(w0, [k, n], stats, {method: 'obc', sparsity: 0.6, refitSweeps: 0}).weight;
  const refit = solve(w0, [k, n], stats, {method: 'obc', sparsity: 0.6, refitSweeps: 400}).weight;
  const h = damped(stats.gram!, k, 0.1);
  for (let j = 0; j < n; j++) {
    const kept = [...Array(k).keys()].filter(i => masked[i * n + j] !== 0);
    // Solve H_SS w_S = (H w0)_S plainly.
    const m = kept.length;
    const a = new Float64Array(m * m), rhs = new Float64Array(m);
    kept.forEach((i, p) => {
      kept.forEach((l, q) => (a[p * m + q] = h[i * k + l]));
      for (let l = 0; l < k; l++) rhs[p] += h[i * k + l] * w0[l * n + j];
    });
    const ainv = inverse(a, m);
    kept.forEach((i, p) => {
      let x = 0;
      for (let q = 0; q < m; q++) x += ainv[p * m + q] * rhs[q];
      assert.ok(Math.abs(refit[i * n + j] - x) < 1e-4 * (1 + Math.abs(x)), `output ${j} row ${i}: ${refit[i * n + j]} vs ${x}`);
    });
    for (let i = 0; i < k; i++) if (!kept.includes(i)) assert.is(refit[i * n + j], 0);
  }
});

obc('obc reconstructs the layer outputs better than wanda and magnitude', () => {
  const [k, n] = [32, 8];
  const {stats} = statistics(k, 128, 21);
  const w = normal(k * n, 22);
  for (const sparsity of [0.5, 0.8]) {
    const errors = (['magnitude', 'wanda', 'obc'] as const).map(method =>
      solve(w, [k, n], stats, {method, sparsity}).relativeError!);
    assert.ok(errors[2] < errors[0] && errors[2] < errors[1], `at ${sparsity}: ${errors}`);
    assert.ok(errors.every(e => e > 0 && e < 1.5), `${errors}`);
  }
  assert.is(solve(w, [k, n], stats, {method: 'obc', sparsity: 0}).relativeError, 0);
});

obc('obc throws naming the weight for missing or non-finite statistics and wrong sizes', () => {
  const w = normal(12, 1);
  const {stats} = statistics(4, 8, 2);
  assert.throws(() => solve(w, [4, 3], null, {method: 'obc', sparsity: 0.5}), /statistics of the inputs of 'layer\/kernel'/);
  assert.throws(() => solve(w, [4, 3], {...stats, gram: null}, {method: 'obc', sparsity: 0.5}), /4x4 Gram matrix/);
  const nan = {...stats, gram: stats.gram!.map((v, i) => (i === 5 ? NaN : v))};
  assert.throws(() => solve(w, [4, 3], nan, {method: 'obc', sparsity: 0.5}), /'layer\/kernel' are not finite/);
  assert.throws(() => solve(w, [6, 3], stats, {method: 'wanda', sparsity: 0.5}), /has 12 values, but its shape \[6,3\] needs 18/);
  assert.throws(() => solve(normal(18, 1), [6, 3], stats, {method: 'wanda', sparsity: 0.5}), /4 input features, but the weight has 6 rows/);
});

obc.run();

// ---

const scores = suite('solveLayer magnitude and wanda');
scores.before(() => useBackend('wasm'));

scores('magnitude keeps what pruneMask keeps on |w|', () => {
  const w = normal(30 * 7, 3);
  const got = solve(w, [30, 7], null, {method: 'magnitude', sparsity: 0.65});
  const {mask, threshold} = pruneMask(tf.tensor(w, [30, 7]), 0.65);
  const m = mask.dataSync();
  tf.dispose([mask, threshold]);
  w.forEach((v, i) => assert.is(got.weight[i], m[i] ? v : 0, `at ${i}`));
  assert.is(got.relativeError, null);
});

scores('wanda keeps, in each output, the largest |w| · ‖x‖: keepCount(k · n) in all, spread evenly', () => {
  const [k, n] = [25, 6];
  const {stats} = statistics(k, 40, 4, [2]);
  const w = normal(k * n, 5);
  const got = solve(w, [k, n], {...stats, gram: null}, {method: 'wanda', sparsity: 0.7});
  const total = keepCount(k * n, 0.7);
  for (let j = 0; j < n; j++) {
    const keep = Math.floor(total / n) + (j < total % n ? 1 : 0);
    const order = [...Array(k).keys()].sort((a, b) =>
      Math.abs(w[b * n + j]) * Math.sqrt(stats.sumSquares[b]) - Math.abs(w[a * n + j]) * Math.sqrt(stats.sumSquares[a]));
    order.forEach((i, rank) => assert.is(got.weight[i * n + j], rank < keep ? w[i * n + j] : 0, `output ${j} rank ${rank}`));
  }
});

scores('block and M:N patterns hold for every method, on Dense and Conv2D layouts', () => {
  const {stats: dense} = statistics(16, 64, 6);
  const w = normal(16 * 8, 7);
  for (const method of ['magnitude', 'wanda', 'obc'] as const) {
    const blocks = solve(w, [16, 8], dense, {method, sparsity: 0.5, blockSize: [2, 4]}).weight;
    for (let r = 0; r < 16; r += 2) {
      for (let c = 0; c < 8; c += 4) {
        const cells = [0, 1].flatMap(dr => [0, 1, 2, 3].map(dc => blocks[(r + dr) * 8 + c + dc]));
        assert.ok(cells.every(v => v === 0) || cells.every(v => v !== 0), `${method}: block (${r},${c}) whole: ${cells}`);
      }
    }
    const nm = solve(w, [16, 8], dense, {method, sparsity: 0, sparsityMByN: [2, 4]}).weight;
    for (let c = 0; c < 8; c++) {
      for (let g = 0; g < 16; g += 4) {
        const zeros = [0, 1, 2, 3].filter(d => nm[(g + d) * 8 + c] === 0).length;
        assert.ok(zeros >= 2, `${method}: 2:4 group ${g} of output ${c} has ${zeros} zeros`);
      }
    }
    // A 2x2 convolution with 8 input channels: groups of 4 run along the channels of each tap.
    const {stats: conv} = statistics(32, 96, 8);
    const wc = normal(32 * 3, 9);
    const nmConv = solve(wc, [2, 2, 8, 3], conv, {method, sparsity: 0, sparsityMByN: [2, 4], blockRows: 16}).weight;
    for (let tap = 0; tap < 4; tap++) {
      for (let g = 0; g < 8; g += 4) {
        for (let c = 0; c < 3; c++) {
          const zeros = [0, 1, 2, 3].filter(d => nmConv[(tap * 8 + g + d) * 3 + c] === 0).length;
          assert.ok(zeros >= 2, `${method}: conv tap ${tap} group ${g} output ${c}: ${zeros} zeros`);
        }
      }
    }
  }
});

scores('wanda throws without statistics', () => {
  assert.throws(() => solve(normal(4, 1), [2, 2], null, {method: 'wanda', sparsity: 0.5}), /'wanda' needs statistics/);
});

scores.run();
