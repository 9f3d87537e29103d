/**
 * The layer-wise half of one-shot pruning: given one weight as a matrix (rows = input features,
 * columns = outputs) and statistics of its inputs, choose a mask and, for 'obc', update the kept
 * weights to cancel the error. It knows nothing of layers or models: activations may come from a
 * layers model, a graph model or anything else that fills `LayerStatistics`.
 *
 * Masks are always chosen by the project's mask ops (`pruneMask`, `mByNMask`) applied to a score
 * tensor of the weight's shape, so block and M:N patterns mean exactly what they mean in
 * `pruneLowMagnitude`.
 */
import {dispose, Tensor, tensor, tidy} from '@tensorflow/tfjs-core';
import {mByNMask} from '../ops/m_by_n';
import {pruneMask} from '../ops/prune_mask';
import {keepCount} from '../ops/threshold';
import {BlockPoolingType} from './pruning';
import {bilinearTrace, inverseUpperCholesky, quadraticTrace} from '../util/linalg';

/** One-shot pruning methods. */
export type OneShotMethod = 'magnitude'|'wanda'|'obc';
/** The valid `OneShotMethod` values, for runtime checks. */
export const VALID_ONE_SHOT_METHODS: readonly OneShotMethod[] = ['magnitude', 'wanda', 'obc'];

/** Which weights may be pruned together (as `pruneLowMagnitude`'s options). */
export interface SparsityPattern {
  /** `[height, width]` blocks of a rank-2 weight `[in, out]`; default `[1, 1]`. */
  blockSize?: [number, number];
  /** Pooling of a block's scores: 'AVG' (default) or 'MAX'. */
  blockPoolingType?: BlockPoolingType;
  /** `[m, n]`: m zeros in every n consecutive weights along input channels; the sparsity is then m/n. */
  sparsityMByN?: [number, number]|null;
}

/**
 * Streamed statistics of the inputs of one weight, each input row `x` (length K = the weight's
 * rows) counted once: a sample of a Dense layer, a patch of a convolution.
 */
export interface LayerStatistics {
  /** Rows seen. */
  count: number;
  /** `Σ x_j²` per input feature (length K): Wanda's feature norms. */
  sumSquares: Float64Array;
  /** `XᵀX` (K x K, row-major), collected for 'obc'. */
  gram: Float64Array|null;
  /**
   * `XᵀX_dense` (K x K) when the rows X come from a model whose earlier layers are already pruned
   * and `X_dense` are the same samples' rows in the dense model: the refit then aims at the dense
   * outputs `X_dense W` rather than at `X W`, so errors of earlier layers are corrected, not kept.
   */
  cross?: Float64Array|null;
  /** `X_denseᵀX_dense` (K x K), collected with `cross`: the energy of the dense outputs. */
  denseGram?: Float64Array|null;
}

/** A layer-wise problem: the weight, its shape, and the statistics of its inputs. */
export interface LayerProblem {
  /** Names the weight in errors (e.g. `'hidden/kernel'`). */
  name: string;
  /** The weight in its own layout, whose row-major order is `[K, N]` (Dense `[in, out]`, Conv2D `[kh, kw, in, out]`). */
  weight: Float32Array;
  shape: number[];
  stats: LayerStatistics|null;
}

/** Options of `solveLayer`. */
export interface SolveOptions extends SparsityPattern {
  method: OneShotMethod;
  /** Target fraction of zeros in [0, 1) (ignored with `sparsityMByN`). */
  sparsity: number;
  /**
   * 'obc': `H + dampening · mean(diag H) · I` replaces the Gram matrix H; default 0.1 (SparseGPT
   * uses 0.01 on large layers; with a few hundred samples and more features than samples, 0.1
   * measured best on the MNIST MLP, see BENCHMARKS.md).
   */
  dampening?: number;
  /** 'obc': rows (input features) whose mask is chosen together, from the weights updated so far; default 128. */
  blockRows?: number;
  /** 'obc': Gauss–Seidel sweeps of the final least-squares refit of the kept weights; default 20, 0 for plain SparseGPT. */
  refitSweeps?: number;
}

/** What `solveLayer` produced. */
export interface SolveResult {
  /** The pruned (and, for 'obc', updated) weight, in the input's layout. */
  weight: Float32Array;
  /** The fraction of zeros reached. */
  sparsity: number;
  /**
   * `‖XŴ - X_t W‖² / ‖X_t W‖²` over the calibration rows (X_t the dense model's rows when a cross
   * term was collected, else X): the relative error of the layer's outputs, when a Gram matrix was
   * collected; null otherwise.
   */
  relativeError: number|null;
}

const DEFAULT_BLOCK_ROWS = 128;
const DEFAULT_DAMPENING = 0.1;
const DEFAULT_REFIT_SWEEPS = 20;
/** The largest sparsity the mask ops accept (they need [0, 1)); one weight is kept regardless. */
const MAX_SPARSITY = 1 - 2 ** -24;

/** Rows and columns of a weight seen as `[K, N]`. */
export function matrixShape(shape: readonly number[]): [number, number] {
  const cols = shape[shape.length - 1];
  return [shape.reduce((a, b) => a * b, 1) / cols, cols];
}

/**
 * Prunes one weight: 'magnitude' ranks `|w|` over the whole weight (as `pruneLowMagnitude`);
 * 'wanda' ranks `|w_ij| · ‖x_i‖` within each output (Sun et al., 2023), or over the weight with
 * block and M:N patterns; 'obc' is SparseGPT (Frantar & Alistarh, 2023): it walks the input rows
 * with the upper Cholesky factor U of the damped inverse Gram matrix, chooses the mask of each
 * block of rows by the OBS saliency `w² / U_ii²` of the weights updated so far, and spreads each
 * pruned weight's error over the rows not yet visited; then the kept weights of each output are
 * refit by least squares to the dense outputs (`refitSweeps`).
 * @throws Error naming the weight when the statistics are missing, not finite, of the wrong size,
 *     or (for 'obc') the damped Gram matrix is not positive definite.
 */
export function solveLayer(problem: LayerProblem, options: SolveOptions): SolveResult {
  const {name, weight, shape, stats} = problem;
  const [k, n] = matrixShape(shape);
  if (weight.length !== k * n) {
    throw new Error(`solveLayer: weight '${name}' has ${weight.length} values, but its shape [${shape}] needs ${k * n}`);
  }
  if (options.method !== 'magnitude') checkStatistics(name, stats, k, options.method);
  let pruned: Float32Array;
  if (options.method === 'obc') {
    pruned = sparseGpt(problem, k, n, options);
  } else {
    const scores = options.method === 'magnitude' ? weight.map(Math.abs) : wandaScores(weight, stats!, k, n);
    const mask = options.method === 'wanda' && isUnstructured(options) ?
        perOutputMask(scores, k, n, options.sparsity) : patternMask(scores, shape, options);
    pruned = weight.map((w, i) => mask[i] ? w : 0);
  }
  let zeros = 0;
  for (let i = 0; i < pruned.length; i++) if (pruned[i] === 0) zeros++;
  return {weight: pruned, sparsity: zeros / pruned.length, relativeError: relativeError(weight, pruned, stats, k, n)};
}

function checkStatistics(name: string, stats: LayerStatistics|null, k: number, method: OneShotMethod): void {
  if (stats == null || stats.count === 0) {
    throw new Error(`solveLayer: method '${method}' needs statistics of the inputs of '${name}', but none were collected`);
  }
  if (stats.sumSquares.length !== k) {
    throw new Error(`solveLayer: the statistics of '${name}' have ${stats.sumSquares.length} input features, ` +
        `but the weight has ${k} rows`);
  }
  if (method === 'obc' && (stats.gram == null || stats.gram.length !== k * k)) {
    throw new Error(`solveLayer: method 'obc' needs the ${k}x${k} Gram matrix of the inputs of '${name}'`);
  }
  const finite = (a: Float64Array) => a.every(Number.isFinite);
  if (!finite(stats.sumSquares) || (stats.gram != null && !finite(stats.gram))) {
    throw new Error(`solveLayer: the input statistics of '${name}' are not finite (NaN or Infinity activations)`);
  }
}

function isUnstructured(p: SparsityPattern): boolean {
  return p.sparsityMByN == null && (p.blockSize == null || (p.blockSize[0] === 1 && p.blockSize[1] === 1));
}

/** `|w_ij| · ‖x_i‖`; a tiny floor on the norm keeps the magnitude order among features that never fire. */
function wandaScores(weight: Float32Array, stats: LayerStatistics, k: number, n: number): Float32Array {
  const scores = new Float32Array(k * n);
  for (let i = 0; i < k; i++) {
    const norm = Math.sqrt(stats.sumSquares[i]) + 1e-30;
    for (let j = 0; j < n; j++) scores[i * n + j] = Math.abs(weight[i * n + j]) * norm;
  }
  return scores;
}

/**
 * Keeps the largest scores in each column (Wanda's per-output comparison): `keepCount(k · n,
 * sparsity)` in all, as evenly as the columns allow, so the layer reaches the target as exactly as
 * a per-layer mask does.
 */
function perOutputMask(scores: Float32Array, k: number, n: number, sparsity: number): Uint8Array {
  const mask = new Uint8Array(k * n);
  const total = keepCount(k * n, sparsity);
  const base = Math.floor(total / n), extra = total - base * n;
  const order = new Int32Array(k);
  const column = new Float32Array(k);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < k; i++) {
      column[i] = scores[i * n + j];
      order[i] = i;
    }
    order.sort((a, b) => column[b] - column[a] || a - b);
    const keep = Math.min(base + (j < extra ? 1 : 0), k);
    for (let r = 0; r < keep; r++) mask[order[r] * n + j] = 1;
  }
  return mask;
}

/**
 * The mask of `scores` (non-negative, in the weight's layout `shape`) by `pruneMask` (unstructured
 * or blocks) or `mByNMask`.
 */
function patternMask(scores: Float32Array, shape: number[], p: SolveOptions): Uint8Array {
  const mask = tidy(() => {
    const s = tensor(scores, shape, 'float32');
    if (p.sparsityMByN != null) return mByNMask(s, p.sparsityMByN);
    const result = pruneMask(s, p.sparsity, {blockSize: p.blockSize ?? [1, 1], blockPoolingType: p.blockPoolingType});
    return result.mask;
  });
  const values = mask.dataSync();
  dispose(mask as Tensor);
  return Uint8Array.from(values, v => (v !== 0 ? 1 : 0));
}

/**
 * Rows per mask decision, aligned with the pattern: whole blocks, whole M:N groups, and for a
 * convolution with M:N whole spatial positions (groups run along input channels within each).
 */
function alignedBlockRows(shape: number[], p: SolveOptions): number {
  const wanted = p.blockRows ?? DEFAULT_BLOCK_ROWS;
  let unit = 1;
  if (p.sparsityMByN != null) unit = shape.length === 4 ? shape[2] : p.sparsityMByN[1];
  else if (p.blockSize != null) unit = p.blockSize[0];
  return unit * Math.max(1, Math.round(wanted / unit));
}

/**
 * The shape a block of `rows` rows of the weight takes for the mask ops: a convolution's own layout
 * for M:N (groups run along its input channels; such blocks hold whole taps), else `[rows, N]`.
 */
function blockShape(shape: number[], rows: number, n: number, p: SparsityPattern): number[] {
  return shape.length === 4 && p.sparsityMByN != null ? [rows / shape[2], 1, shape[2], n] : [rows, n];
}

/** The damped Gram matrix and its inverse's upper Cholesky factor, with the features that never fire. */
interface Factorization {
  dampening: number;
  /** The absolute damping added to the diagonal: `dampening · mean(diag H)`. */
  damp: number;
  h: Float64Array;
  u: Float64Array;
  dead: Uint8Array;
}

/** Factorizations by Gram matrix: sensitivity analysis solves one layer at many sparsities. */
const factorizations = new WeakMap<Float64Array, Factorization>();

function factorize(name: string, gram: Float64Array, k: number, dampening: number): Factorization {
  const cached = factorizations.get(gram);
  if (cached != null && cached.dampening === dampening) return cached;
  const h = Float64Array.from(gram);
  const dead = new Uint8Array(k);
  let meanDiag = 0;
  for (let i = 0; i < k; i++) meanDiag += h[i * k + i] / k;
  const damp = dampening * (meanDiag > 0 ? meanDiag : 1);
  for (let i = 0; i < k; i++) {
    if (h[i * k + i] === 0) {
      h[i * k + i] = 1;
      dead[i] = 1;
    }
    h[i * k + i] += damp;
  }
  const u = inverseUpperCholesky(h, k);
  if (u == null) {
    throw new Error(`solveLayer: the damped Gram matrix of the inputs of '${name}' is not positive definite; ` +
        `raise 'dampening' (now ${dampening})`);
  }
  const result = {dampening, damp, h, u, dead};
  factorizations.set(gram, result);
  return result;
}

function sparseGpt(problem: LayerProblem, k: number, n: number, p: SolveOptions): Float32Array {
  const {name, shape} = problem;
  const {h, u, dead, damp} = factorize(name, problem.stats!.gram!, k, p.dampening ?? DEFAULT_DAMPENING);
  const w = Float64Array.from(problem.weight);
  // A feature that never fires carries nothing: its weights go (they rank first to prune anyway).
  for (let i = 0; i < k; i++) if (dead[i]) w.fill(0, i * n, (i + 1) * n);
  const step = alignedBlockRows(shape, p);
  const err = new Float64Array(n);
  // Unstructured and block masks share one budget over the layer: each block of rows is decided
  // with the rows still to come, at the sparsity that meets the layer's target (SparseGPT fixes
  // each block at the target, which over-prunes layers with dead inputs such as MNIST's borders).
  const budget = p.sparsityMByN == null ? keepCount(k * n, p.sparsity) : 0;
  let kept = 0;
  for (let start = 0; start < k; start += step) {
    const rows = Math.min(step, k - start);
    const scored = p.sparsityMByN == null ? k - start : rows;
    const scores = new Float32Array(scored * n);
    for (let r = 0; r < scored; r++) {
      const i = start + r, d = u[i * k + i];
      for (let j = 0; j < n; j++) scores[r * n + j] = (w[i * n + j] * w[i * n + j]) / (d * d);
    }
    const left = Math.min(Math.max(budget - kept, 0), scored * n);
    const sparsity = Math.min(1 - left / (scored * n), MAX_SPARSITY);
    const mask = patternMask(scores, blockShape(shape, scored, n, p), {...p, sparsity});
    for (let i = 0; i < rows * n; i++) kept += mask[i];
    for (let r = 0; r < rows; r++) {
      const i = start + r, d = u[i * k + i];
      const row = i * n;
      let any = false;
      for (let j = 0; j < n; j++) {
        if (mask[r * n + j]) {
          err[j] = 0;
        } else {
          err[j] = w[row + j] / d;
          w[row + j] = 0;
          any = true;
        }
      }
      if (!any) continue;
      // Spread the error over the rows not yet visited: W[l, :] -= U[i][l] · err.
      for (let l = i + 1; l < k; l++) {
        const uil = u[i * k + l];
        if (uil === 0) continue;
        const rl = l * n;
        for (let j = 0; j < n; j++) w[rl + j] -= uil * err[j];
      }
    }
  }
  const sweeps = p.refitSweeps ?? DEFAULT_REFIT_SWEEPS;
  if (sweeps > 0) refit(h, problem.stats!.cross ?? null, damp, problem.weight, w, k, n, sweeps);
  return Float32Array.from(w);
}

/**
 * Refits the kept weights of each output for the fixed mask: minimises
 * `‖X ŵ - X_t w0‖² + λ‖ŵ - w0‖²` over the kept entries (X_t = X, or X_dense with a cross term;
 * λ the damping, a ridge pulling towards the dense weights) by Gauss–Seidel sweeps on the normal
 * equations `H_d ŵ = b`, `b = (XᵀX_t + λI) w0`, which converge for a positive definite H_d.
 * SparseGPT's single pass only approximates this optimum; the refit is where most of the accuracy
 * at high sparsity comes back on small layers.
 */
function refit(h: Float64Array, cross: Float64Array|null, damp: number, w0: Float32Array, w: Float64Array,
               k: number, n: number, sweeps: number): void {
  const kept = new Int32Array(k);
  const g = new Float64Array(k);
  for (let j = 0; j < n; j++) {
    let count = 0;
    for (let i = 0; i < k; i++) if (w[i * n + j] !== 0) kept[count++] = i;
    // g = b - H_d ŵ on the kept entries; each coordinate step keeps it current.
    for (let a = 0; a < count; a++) {
      const ri = kept[a] * k;
      let acc = 0;
      for (let l = 0; l < k; l++) {
        const target = cross == null ? h[ri + l] : cross[ri + l];
        acc += target * w0[l * n + j] - h[ri + l] * w[l * n + j];
      }
      // H_d w0 holds the ridge term λ w0 already; with a cross term it is added here.
      g[a] = acc + (cross == null ? 0 : damp * w0[kept[a] * n + j]);
    }
    for (let sweep = 0; sweep < sweeps; sweep++) {
      for (let a = 0; a < count; a++) {
        const i = kept[a], ri = i * k;
        const delta = g[a] / h[ri + i];
        w[i * n + j] += delta;
        for (let b = 0; b < count; b++) g[b] -= delta * h[ri + kept[b]];
      }
    }
  }
}

function relativeError(before: Float32Array, after: Float32Array, stats: LayerStatistics|null,
                       k: number, n: number): number|null {
  const gram = stats?.gram;
  if (gram == null || gram.length !== k * k) return null;
  // ‖X Ŵ - X_t W‖² = tr(ŴᵀHŴ) - 2 tr(Ŵᵀ C W) + tr(Wᵀ H_t W), with X_t = X unless a cross term was collected.
  const cross = stats!.cross ?? gram, target = stats!.cross != null ? stats!.denseGram ?? gram : gram;
  const total = quadraticTrace(before, target, k, n);
  const error = quadraticTrace(after, gram, k, n) - 2 * bilinearTrace(after, cross, before, k, n) + total;
  return total > 0 ? Math.max(error, 0) / total : 0;
}
