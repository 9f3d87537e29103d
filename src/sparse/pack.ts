/**
 * Packing a dense weight into the block-sparse strip layout of `format.ts`: `packBlockSparse` for
 * users (float32, or int8 by the rule of `quantize.ts`), `packKept` for the sparse layers and graph
 * ops, which pack a kernel decoded from storage once and keep it.
 */
import {keep, Tensor, TensorLike, tidy} from '@tensorflow/tfjs-core';
import {DEFAULT_STRIP_WIDTH} from '../kernels/dispatch';
import {checkChoice, checkOptions, checkRank, checkSameShape, float32Arg, positiveIntPair} from '../util/validate';
import {BlockSparseArrays, BlockSparseDtype, BlockSparseMatrix, VALID_BLOCK_SPARSE_DTYPES} from './format';
import {DenseWeight, INT8_MAX_K, quantizeInt8} from './quantize';

const PACK_OPTIONS = ['blockSize', 'mask', 'dtype'];

/** Options of `packBlockSparse`. */
export interface PackOptions {
  /** `[bh, bw]`, default `[1, 16]` (the fastest kernel: `DEFAULT_STRIP_WIDTH` in `src/kernels/dispatch.ts`). */
  blockSize?: [number, number];
  /**
   * Entries to keep (nonzero), same shape as `w`; a block is stored when any of its mask entries is
   * nonzero, and masked-out entries inside a stored block are stored as 0. Default: the nonzero
   * entries of `w` (NaN counts as nonzero).
   */
  mask?: Tensor|TensorLike;
  /** `'float32'` (default) or `'int8'` (symmetric per-output-channel scales). */
  dtype?: BlockSparseDtype;
}

/**
 * Packs a dense `[K, N]` weight (Keras `[in, out]`) into block-sparse form, storing only blocks
 * with a nonzero entry (of `mask` when given, else of `w`).
 *
 * ```js
 * const packed = packBlockSparse(prunedKernel, {blockSize: [1, 16]});
 * const y = blockSparseMatMul(x, packed, {bias, activation: 'relu'});
 * ```
 * @throws Error if `w` is not a float32 rank-2 tensor, `mask` has another shape, the block size is
 *   not a pair of positive integers, the dtype is unknown, or int8 weights hold NaN or ±Infinity.
 */
export function packBlockSparse(w: Tensor|TensorLike, options?: PackOptions): BlockSparseMatrix {
  const op = 'packBlockSparse';
  options = checkOptions(options, PACK_OPTIONS, op);
  const [bh, bw] = positiveIntPair(options.blockSize ?? [1, DEFAULT_STRIP_WIDTH], 'blockSize', op);
  const dtype = checkChoice(options.dtype ?? 'float32', VALID_BLOCK_SPARSE_DTYPES, 'dtype', op);
  let shape: number[] = [], wv: Float32Array = new Float32Array(0), mv: Float32Array|null = null;
  tidy(() => {
    const $w = float32Arg(w, 'w', op);
    checkRank($w, [2], 'w', op);
    if (options.mask !== undefined) {
      const $m = float32Arg(options.mask, 'mask', op);
      checkSameShape($w, $m, 'w', 'mask', op);
      mv = $m.dataSync() as Float32Array;
    }
    shape = $w.shape;
    wv = $w.dataSync() as Float32Array;
  });
  const [K, N] = shape as [number, number];
  if (bh > K || bw > N) {
    throw new Error(`Argument 'blockSize' passed to '${op}' must fit in w of shape [${K}, ${N}], but got [${bh}, ${bw}]`);
  }
  if (dtype === 'int8' && K > INT8_MAX_K) {
    throw new Error(`Argument 'w' passed to '${op}' must have at most ${INT8_MAX_K} rows for int8, but got ${K}`);
  }
  // The weight as stored: entries the mask leaves out are 0 (so they set no int8 scale either).
  const m = mv as Float32Array|null;
  const values = m ? wv.map((v, i) => (m[i] === 0 ? 0 : v)) : wv;
  let weight: DenseWeight = {dtype: 'float32', values};
  if (dtype === 'int8') {
    const {q, scales} = quantizeInt8(values, [K, N], entry => new Error(`Argument 'w' passed to '${op}' must be finite for int8, but ${entry}`));
    weight = {dtype, values: q, scales};
  }
  return BlockSparseMatrix.fromArrays(stripArrays(weight, m ?? values, [K, N], [bh, bw]));
}

/**
 * The strip layout (`format.ts`) of `w`: the `bh x bw` blocks in which `kept` (the mask, or the
 * weight itself) has a nonzero entry, each stored as one strip per row; int8 strips pair-interleaved,
 * an odd count per column block padded with a zero strip.
 */
function stripArrays(w: DenseWeight, kept: ArrayLike<number>, [K, N]: [number, number],
                     [bh, bw]: [number, number]): BlockSparseArrays {
  const nrb = Math.ceil(K / bh), ncb = Math.ceil(N / bw);
  const keptBlocks = new Uint8Array(nrb * ncb);
  for (let k = 0; k < K; k++) {
    const base = Math.floor(k / bh) * ncb;
    for (let n = 0; n < N; n++) if (kept[k * N + n] !== 0) keptBlocks[base + Math.floor(n / bw)] = 1;
  }
  const int8 = w.dtype === 'int8';
  const colPtr = new Int32Array(ncb + 1);
  for (let cb = 0; cb < ncb; cb++) {
    let count = 0;
    for (let r = 0; r < nrb; r++) if (keptBlocks[r * ncb + cb]) count += Math.min(bh, K - r * bh);
    colPtr[cb + 1] = colPtr[cb] + count + (int8 ? count % 2 : 0);
  }
  const strips = colPtr[ncb];
  const rows = new Int32Array(strips);
  const values = int8 ? new Int8Array(strips * bw) : new Float32Array(strips * bw);
  // Where entry j of strip s goes: int8 pairs interleave q(ka, 0), q(kb, 0), q(ka, 1), ...
  const at = int8 ? (s: number, j: number) => (s >> 1) * 2 * bw + (s & 1) + 2 * j : (s: number, j: number) => s * bw + j;
  for (let cb = 0; cb < ncb; cb++) {
    let s = colPtr[cb];
    const n0 = cb * bw, nv = Math.min(bw, N - n0);
    for (let r = 0; r < nrb; r++) {
      if (!keptBlocks[r * ncb + cb]) continue;
      for (let k = r * bh; k < Math.min(K, r * bh + bh); k++, s++) {
        rows[s] = k;
        for (let j = 0; j < nv; j++) values[at(s, j)] = w.values[k * N + n0 + j];
      }
    }
    if (s < colPtr[cb + 1]) rows[s] = rows[s - 1];  // int8 padding strip, all zero
  }
  const arrays: BlockSparseArrays = {shape: [K, N], blockSize: [bh, bw], dtype: w.dtype, colPtr, rows, values};
  if (w.dtype === 'int8') arrays.scales = w.scales;
  return arrays;
}

/**
 * Packs a decoded `[K, N]` weight into `[1, bw]` strips, its tensors kept: a weight packed on first
 * use inside a caller's tidy scope outlives it. int8 values are packed as they are, with their
 * scales, not quantized again; the strips hold the entries that are nonzero at their int8 values.
 * (Quantizing the dequantized values again, as the sparse layers once did, gives back the same
 * values and scales for every column whose scale is a normal float32: checked over every float32
 * column maximum, 2026-12-06; only subnormal scales, max |w| below 1.5e-36, could differ.)
 */
export function packKept(w: DenseWeight, shape: [number, number], blockSize: [number, number]): BlockSparseMatrix {
  const kept = w.dtype === 'float32' ? w.values : w.values.map((q, i) => (w.scales[i % shape[1]] === 0 ? 0 : q));
  const packed = BlockSparseMatrix.fromArrays(stripArrays(w, kept, shape, blockSize));
  const {colPtr, rowOffsets, values, scales} = packed.tensors;
  keep(colPtr);
  keep(rowOffsets);
  keep(values);
  if (scales) keep(scales);
  return packed;
}
