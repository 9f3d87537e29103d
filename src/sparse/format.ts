/**
 * The block-sparse weight format: a `[K, N]` weight (Keras `[in, out]`) cut into `bh x bw` blocks,
 * of which only the nonzero ones are stored, grouped by column block (perf-anchors §4.4, §6).
 *
 * Layout. A block is stored as `min(bh, K - r·bh)` STRIPS, one per input row k: a strip is the `bw`
 * weights of one row in one column block (columns past N are zero padding). Strips are grouped by
 * column block and sorted by k, so the kernels do one splat of `x[k]` and `bw / 4` vector loads
 * per strip, whatever `bh` is.
 * - `colPtr[cb] .. colPtr[cb + 1]`: the strips of column block `cb` (outputs `cb·bw ..`).
 * - `rows[s]`: the input row k of strip s.
 * - `values[s·bw .. (s + 1)·bw]`: its weights. For int8, strips come in pairs (an all-zero strip
 *   repeating the previous row pads an odd count) and a pair's weights are interleaved byte by byte,
 *   `q(ka, 0), q(kb, 0), q(ka, 1), q(kb, 1), ...`, for `i32x4.dot_i16x8_s`; W ≈ q · scales[n]
 *   (symmetric, per output channel, |q| ≤ 127).
 *
 * On the backend, rows are kept as byte offsets k·4 (into an f32 activation row, or into the i32
 * activation tables of the int8 kernel) and int8 values as the bytes of an int32 tensor (tfjs has
 * no int8 dtype); all parts are tensors, so the wasm backend reads them in place.
 */
import {dispose, engine, keep, Tensor1D, Tensor2D, tensor1d} from '@tensorflow/tfjs-core';
import {checkOutputBytes} from '../kernels/heap_limit';
import {UNPACK_F32} from '../kernels/unpack_f32';
import {UNPACK_I8} from '../kernels/unpack_i8';
import {checkChoice} from '../util/validate';
import {PixelSparseMatrix} from './pixel_format';
import {INT8_MAX_K, StoredDtype, VALID_STORED_DTYPES, WeightBlocks} from './quantize';

/** The value types of a packed weight: the stored weights' `StoredDtype` under its older name. */
export type BlockSparseDtype = StoredDtype;
/** The valid `BlockSparseDtype` values (the very array of `VALID_STORED_DTYPES`). */
export const VALID_BLOCK_SPARSE_DTYPES: BlockSparseDtype[] = VALID_STORED_DTYPES;

/**
 * The plain serializable form of a `BlockSparseMatrix` (see the module comment for the layout),
 * for saving and loading; `BlockSparseMatrix.fromArrays` validates it.
 */
export interface BlockSparseArrays extends WeightBlocks {
  /** Strip ranges per column block: `ceil(N / bw) + 1` entries, from 0 up to the strip count. */
  colPtr: Int32Array;
  /** Input row of each strip. */
  rows: Int32Array;
  /** `strips · bw` weights: float32, or int8 pair-interleaved. */
  values: Float32Array|Int8Array;
  /** int8 only: `N` per-output-channel scales (finite, >= 0). */
  scales?: Float32Array;
}

function invalid(what: string): never {
  throw new Error(`Invalid block-sparse weight: ${what}`);
}

function checkInt(value: unknown, what: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    invalid(`${what} must be an integer in [${min}, ${max}], but got ${String(value)}`);
  }
  return value;
}

/** Counts the stored blocks and the stored in-range weights, checking block structure as it goes. */
function checkStrips(a: BlockSparseArrays): {nnzBlocks: number; storedEntries: number} {
  const [K, N] = a.shape;
  const [bh, bw] = a.blockSize;
  const ncb = Math.ceil(N / bw);
  const int8 = a.dtype === 'int8';
  let nnzBlocks = 0, storedEntries = 0;
  for (let cb = 0; cb < ncb; cb++) {
    const s0 = a.colPtr[cb], s1 = a.colPtr[cb + 1];
    const nv = Math.min(bw, N - cb * bw);
    if (int8 && (s1 - s0) % 2 !== 0) {
      invalid(`int8 strips come in pairs, but column block ${cb} has ${s1 - s0} strips`);
    }
    let s = s0, prev = -1;
    while (s < s1) {
      const k = a.rows[s];
      if (!Number.isInteger(k) || k < 0 || k >= K) invalid(`rows[${s}] = ${k} is outside [0, ${K})`);
      if (int8 && s === s1 - 1 && k === prev && (s - s0) % 2 === 1) {
        // The padding strip of an odd count: it must add nothing.
        for (let j = 0; j < bw; j++) {
          if (a.values[(s - 1) * bw + 2 * j + 1] !== 0) invalid(`the padding strip ${s} of column block ${cb} is not zero`);
        }
        s++;
        continue;
      }
      if (k <= prev) invalid(`rows must increase within a column block, but rows[${s}] = ${k} follows ${prev} in column block ${cb}`);
      if (k % bh !== 0) invalid(`rows[${s}] = ${k} does not start a ${bh}-row block (column block ${cb})`);
      const height = Math.min(bh, K - k);
      for (let i = 1; i < height; i++) {
        if (s + i >= s1 || a.rows[s + i] !== k + i) {
          invalid(`the block at row ${k} of column block ${cb} needs strips for rows ${k}..${k + height - 1}`);
        }
      }
      nnzBlocks++;
      storedEntries += height * nv;
      prev = k + height - 1;
      s += height;
    }
  }
  return {nnzBlocks, storedEntries};
}

/**
 * Checks serialized block-sparse arrays and throws an Error naming the first problem (shape,
 * lengths, monotonic `colPtr`, rows in range and in whole blocks, int8 value range and scales).
 */
export function validateBlockSparseArrays(a: BlockSparseArrays): {nnzBlocks: number; storedEntries: number} {
  if (a == null || typeof a !== 'object') invalid(`expected an object, but got ${String(a)}`);
  if (!Array.isArray(a.shape) || a.shape.length !== 2) invalid(`shape must be [K, N], but got ${JSON.stringify(a.shape)}`);
  const K = checkInt(a.shape[0], 'shape[0] (K)', 1), N = checkInt(a.shape[1], 'shape[1] (N)', 1);
  if (!Array.isArray(a.blockSize) || a.blockSize.length !== 2) {
    invalid(`blockSize must be [bh, bw], but got ${JSON.stringify(a.blockSize)}`);
  }
  checkInt(a.blockSize[0], 'blockSize[0]', 1, K);
  const bw = checkInt(a.blockSize[1], 'blockSize[1]', 1, N);
  checkChoice(a.dtype, VALID_BLOCK_SPARSE_DTYPES, 'Invalid block-sparse weight: dtype');
  const int8 = a.dtype === 'int8';
  if (int8 && K > INT8_MAX_K) invalid(`int8 weights need K <= ${INT8_MAX_K} (i32 accumulation), but K = ${K}`);
  const ncb = Math.ceil(N / bw);
  if (!(a.colPtr instanceof Int32Array) || a.colPtr.length !== ncb + 1) {
    invalid(`colPtr must be an Int32Array of ceil(N / bw) + 1 = ${ncb + 1} entries, but got ` +
        `${a.colPtr?.constructor?.name} of length ${a.colPtr?.length}`);
  }
  if (a.colPtr[0] !== 0) invalid(`colPtr[0] must be 0, but got ${a.colPtr[0]}`);
  for (let cb = 0; cb < ncb; cb++) {
    if (a.colPtr[cb + 1] < a.colPtr[cb]) {
      invalid(`colPtr must be non-decreasing, but colPtr[${cb}] = ${a.colPtr[cb]} > colPtr[${cb + 1}] = ${a.colPtr[cb + 1]}`);
    }
  }
  const strips = a.colPtr[ncb];
  if (!(a.rows instanceof Int32Array) || a.rows.length !== strips) {
    invalid(`rows must be an Int32Array of colPtr[${ncb}] = ${strips} entries, but got ` +
        `${a.rows?.constructor?.name} of length ${a.rows?.length}`);
  }
  const valuesType = int8 ? Int8Array : Float32Array;
  if (!(a.values instanceof valuesType) || a.values.length !== strips * bw) {
    invalid(`values must be a ${valuesType.name} of strips · bw = ${strips * bw} entries, but got ` +
        `${a.values?.constructor?.name} of length ${a.values?.length}`);
  }
  if (int8) {
    for (let i = 0; i < a.values.length; i++) {
      if (a.values[i] === -128) invalid(`int8 values must be in [-127, 127], but values[${i}] = -128`);
    }
    if (!(a.scales instanceof Float32Array) || a.scales.length !== N) {
      invalid(`int8 weights need scales, a Float32Array of N = ${N} entries, but got ` +
          `${a.scales?.constructor?.name} of length ${a.scales?.length}`);
    }
    for (let n = 0; n < N; n++) {
      if (!(a.scales[n] >= 0 && Number.isFinite(a.scales[n]))) invalid(`scales[${n}] = ${a.scales[n]} is not finite and >= 0`);
    }
  } else if (a.scales !== undefined) {
    invalid('float32 weights take no scales');
  }
  return checkStrips(a);
}

/**
 * A `[K, N]` weight in block-sparse form, on the current tfjs backend, for `blockSparseMatMul`.
 * Made by `packBlockSparse` (`pack.ts`) or `BlockSparseMatrix.fromArrays`; call `dispose()` when done. It is
 * frozen (its shape, block size and tensors too): the kernels trust them, and a changed shape would
 * make them read past the tensors.
 */
export class BlockSparseMatrix {
  /** `[K, N]`. */
  readonly shape: [number, number];
  /** `[bh, bw]`. */
  readonly blockSize: [number, number];
  readonly dtype: BlockSparseDtype;
  /** Number of stored (nonzero) blocks. */
  readonly nnzBlocks: number;
  /** The fraction of W's entries outside stored blocks. */
  readonly sparsity: number;
  /** Stored strips, padding included (the kernels' work is proportional to it). */
  readonly strips: number;
  /** Nonzero weights (the pixel-vectorized kernel's work is proportional to it). */
  readonly nonzeros: number;
  /** Kernel inputs: strip ranges, byte offsets of rows, values, int8 scales (see the module comment). */
  readonly tensors: {colPtr: Tensor1D; rowOffsets: Tensor1D; values: Tensor1D; scales: Tensor1D|null};
  /**
   * What changes after construction: the dense weight kept by the dense paths, the pixel-kernel
   * packing made on first use, and disposal.
   */
  private readonly state: {dense: Tensor2D|null; pixel: PixelSparseMatrix|null; disposed: boolean} =
      {dense: null, pixel: null, disposed: false};

  private constructor(a: BlockSparseArrays, nnzBlocks: number, storedEntries: number) {
    this.shape = Object.freeze([a.shape[0], a.shape[1]]) as [number, number];
    this.blockSize = Object.freeze([a.blockSize[0], a.blockSize[1]]) as [number, number];
    this.dtype = a.dtype;
    this.nnzBlocks = nnzBlocks;
    this.sparsity = 1 - storedEntries / (a.shape[0] * a.shape[1]);
    this.strips = a.rows.length;
    let nonzeros = 0;
    for (let i = 0; i < a.values.length; i++) if (a.values[i] !== 0) nonzeros++;
    this.nonzeros = nonzeros;
    const int8 = a.dtype === 'int8';
    // Never zero-length tensors: a kernel input always has an address.
    const rowOffsets = new Int32Array(Math.max(1, this.strips));
    for (let s = 0; s < this.strips; s++) rowOffsets[s] = a.rows[s] * 4;
    let values: Float32Array|Int32Array;
    if (int8) {
      values = new Int32Array(Math.max(1, Math.ceil(a.values.length / 4)));
      new Int8Array(values.buffer).set(a.values);
    } else {
      values = a.values.length > 0 ? (a.values as Float32Array) : new Float32Array(1);
    }
    this.tensors = Object.freeze({
      colPtr: tensor1d(a.colPtr, 'int32'),
      rowOffsets: tensor1d(rowOffsets, 'int32'),
      values: tensor1d(values, int8 ? 'int32' : 'float32'),
      scales: int8 ? tensor1d(a.scales!, 'float32') : null,
    });
    Object.freeze(this);
  }

  /** Validates serialized arrays (see `validateBlockSparseArrays`) and uploads them. */
  static fromArrays(arrays: BlockSparseArrays): BlockSparseMatrix {
    const {nnzBlocks, storedEntries} = validateBlockSparseArrays(arrays);
    return new BlockSparseMatrix(arrays, nnzBlocks, storedEntries);
  }

  /** The serializable form (fresh typed arrays, read synchronously from the backend). */
  toArrays(): BlockSparseArrays {
    this.checkLive('toArrays');
    const int8 = this.dtype === 'int8';
    const offsets = this.tensors.rowOffsets.dataSync() as Int32Array;
    const rows = Int32Array.from(offsets.subarray(0, this.strips), o => o / 4);
    const n = this.strips * this.blockSize[1];
    const raw = this.tensors.values.dataSync();
    const values = int8 ? new Int8Array(raw.buffer, raw.byteOffset, n).slice() : (raw as Float32Array).slice(0, n);
    const out: BlockSparseArrays = {
      shape: [this.shape[0], this.shape[1]], blockSize: [this.blockSize[0], this.blockSize[1]], dtype: this.dtype,
      colPtr: (this.tensors.colPtr.dataSync() as Int32Array).slice(), rows, values,
    };
    if (int8) out.scales = (this.tensors.scales!.dataSync() as Float32Array).slice();
    return out;
  }

  /**
   * The dense `[K, N]` float32 weight (int8 dequantized), computed once and kept until `dispose()`:
   * the dispatcher's dense paths reuse one tensor so tfjs-wasm packs it for XNNPACK only once.
   */
  denseWeight(): Tensor2D {
    this.checkLive('denseWeight');
    if (!this.state.dense || this.state.dense.isDisposed) {
      // Kept across the caller's tidy scopes.
      this.state.dense = keep(unpackBlockSparse(this));
    }
    return this.state.dense;
  }

  /**
   * The same weight packed for the pixel-vectorized kernels (compressed rows by output channel,
   * unstructured), made on first use and kept until `dispose()`.
   */
  pixelMatrix(): PixelSparseMatrix {
    this.checkLive('pixelMatrix');
    if (!this.state.pixel) {
      const w = unpackBlockSparse(this);
      try {
        this.state.pixel = PixelSparseMatrix.fromDense(w.dataSync() as Float32Array, this.shape, this.dtype);
      } finally {
        w.dispose();
      }
    }
    return this.state.pixel;
  }

  /** Whether the dense weight is materialized (it doubles the memory of this weight). */
  get hasDenseWeight(): boolean {
    return this.state.dense != null && !this.state.dense.isDisposed;
  }

  /** Frees the dense weight kept by the dense paths, leaving the packed form. */
  releaseDenseWeight(): void {
    if (this.state.dense) dispose(this.state.dense);
    this.state.dense = null;
  }

  get isDisposed(): boolean {
    return this.state.disposed;
  }

  /** Frees every tensor of this weight. */
  dispose(): void {
    if (this.state.disposed) return;
    this.releaseDenseWeight();
    this.state.pixel?.dispose();
    const {colPtr, rowOffsets, values, scales} = this.tensors;
    dispose([colPtr, rowOffsets, values]);
    if (scales) scales.dispose();
    this.state.disposed = true;
  }

  /** Throws when this weight, or one of its tensors behind its back, was disposed; `op` names the caller. */
  checkLive(op: string): void {
    if (this.state.disposed) throw new Error(`'${op}' was given a disposed BlockSparseMatrix`);
    // No allocation on this path: it runs on every blockSparseMatMul call.
    const {colPtr, rowOffsets, values, scales} = this.tensors;
    if (colPtr.isDisposed || rowOffsets.isDisposed || values.isDisposed || scales?.isDisposed) {
      const name = Object.entries(this.tensors).find(([, t]) => t?.isDisposed)![0];
      throw new Error(`'${op}' was given a BlockSparseMatrix whose tensor '${name}' was disposed on its own; ` +
          'dispose the whole matrix with dispose()');
    }
  }
}

/**
 * The dense `[K, N]` float32 weight of a packed one (int8 weights dequantized), as a new tensor.
 * @throws Error if `packed` is not a live `BlockSparseMatrix`.
 */
export function unpackBlockSparse(packed: BlockSparseMatrix): Tensor2D {
  if (!(packed instanceof BlockSparseMatrix)) {
    throw new Error(`Argument 'packed' passed to 'unpackBlockSparse' must be a BlockSparseMatrix, but got ${typeof packed}`);
  }
  packed.checkLive('unpackBlockSparse');
  checkOutputBytes(packed.shape, 'unpackBlockSparse', `the shape of 'packed'`);
  const {colPtr, rowOffsets, values, scales} = packed.tensors;
  const [k, n] = packed.shape;
  const attrs = {k, n, bw: packed.blockSize[1]};
  return (scales ?
      engine().runKernel(UNPACK_I8, {colptr: colPtr, rowoff: rowOffsets, vals: values, scales}, attrs) :
      engine().runKernel(UNPACK_F32, {colptr: colPtr, rowoff: rowOffsets, vals: values}, attrs)) as Tensor2D;
}
