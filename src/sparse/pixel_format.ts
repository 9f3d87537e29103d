/**
 * The weight format of the pixel-vectorized sparse kernels (`assembly/spmm_nchw_f32.ts`): a `[K, N]`
 * weight (Keras `[in, out]`) in compressed rows by OUTPUT channel, unstructured:
 * - `rowPtr[n] .. rowPtr[n + 1]`: the nonzeros of output channel n,
 * - `ics[j]`: their input channel k, ascending within a row,
 * - `values[j]`: float32 weights, or int8 `q` with `w ≈ q · scales[n]` (the per-output-channel rule
 *   of `storage.ts`), as the bytes of an int32 tensor.
 * The kernels broadcast each nonzero against a vector of pixels, so no block structure is needed
 * (Elsen et al., "Fast Sparse ConvNets"; XNNPACK's f32-spmm).
 */
import {dispose, keep, Tensor1D, tensor1d, Tensor2D, tensor2d} from '@tensorflow/tfjs-core';
import {checkChoice, positiveIntPair} from '../util/validate';
import {StoredDtype, VALID_STORED_DTYPES} from './quantize';
import {quantizeStored} from './storage';

/** A `[K, N]` weight packed for the pixel-vectorized kernels; `dispose()` frees its tensors. */
export class PixelSparseMatrix {
  /** `[K, N]`. */
  readonly shape: [number, number];
  readonly dtype: StoredDtype;
  /** Stored nonzeros. */
  readonly nnz: number;
  /** Fraction of W's entries not stored. */
  readonly sparsity: number;
  /** Kernel inputs (never zero-length: a kernel input always has an address). */
  readonly tensors: {rowPtr: Tensor1D; ics: Tensor1D; values: Tensor1D; scales: Tensor1D|null};
  private dense: Tensor2D|null = null;
  /** The packed arrays (nnz-sized), for the dense weight on demand. */
  private readonly arrays: {rowPtr: Int32Array; ics: Int32Array; values: Float32Array|Int8Array; scales: Float32Array|null};
  private disposed = false;

  private constructor(shape: [number, number], dtype: StoredDtype, rowPtr: Int32Array, ics: Int32Array,
                      values: Float32Array|Int8Array, scales: Float32Array|null) {
    this.shape = shape;
    this.dtype = dtype;
    this.nnz = ics.length;
    this.sparsity = 1 - this.nnz / (shape[0] * shape[1]);
    this.arrays = {rowPtr, ics, values, scales};
    let v: Float32Array|Int32Array;
    if (values instanceof Int8Array) {
      v = new Int32Array(Math.max(1, Math.ceil(values.length / 4)));
      new Int8Array(v.buffer).set(values);
    } else {
      v = values.length > 0 ? values : new Float32Array(1);
    }
    // Kept: a weight packed inside a layer call's tidy scope outlives it.
    this.tensors = {
      rowPtr: keep(tensor1d(rowPtr, 'int32')),
      ics: keep(tensor1d(ics.length > 0 ? ics : new Int32Array(1), 'int32')),
      values: keep(tensor1d(v, v instanceof Int32Array ? 'int32' : 'float32')),
      scales: scales ? keep(tensor1d(scales, 'float32')) : null,
    };
  }

  /**
   * Packs a dense `[K, N]` float32 weight (row-major), storing its nonzero entries (NaN counts as
   * nonzero).
   * @throws Error if `w` is not a Float32Array of K·N values, `shape` not a pair of positive
   *   integers, or `dtype` unknown; StorageError for int8 weights holding NaN or ±Infinity.
   */
  static fromDense(w: Float32Array, shape: [number, number], dtype: StoredDtype = 'float32'): PixelSparseMatrix {
    const op = 'PixelSparseMatrix.fromDense';
    const [K, N] = positiveIntPair(shape, 'shape', op, '[K, N]');
    if (!(w instanceof Float32Array) || w.length !== K * N) {
      throw new Error(`Argument 'w' passed to '${op}' must be a Float32Array of K·N = ${K * N} values, but got ` +
          `${w?.constructor?.name ?? typeof w} of length ${(w as {length?: number})?.length}`);
    }
    checkChoice(dtype, VALID_STORED_DTYPES, 'dtype', op);
    const int8 = dtype === 'int8';
    const quantized = int8 ? quantizeStored(w, shape) : null;
    const rowPtr = new Int32Array(N + 1);
    for (let n = 0; n < N; n++) {
      let count = 0;
      for (let k = 0; k < K; k++) if (w[k * N + n] !== 0) count++;
      rowPtr[n + 1] = rowPtr[n] + count;
    }
    const nnz = rowPtr[N];
    const ics = new Int32Array(nnz);
    const values = int8 ? new Int8Array(nnz) : new Float32Array(nnz);
    for (let n = 0, j = 0; n < N; n++) {
      for (let k = 0; k < K; k++) {
        const i = k * N + n;
        if (w[i] === 0) continue;
        ics[j] = k;
        values[j++] = quantized ? quantized.q[i] : w[i];
      }
    }
    return new PixelSparseMatrix([K, N], dtype, rowPtr, ics, values, quantized?.scales ?? null);
  }

  /** The dense `[K, N]` weight the kernels multiply by (int8 dequantized), kept until `dispose()`. */
  denseWeight(): Tensor2D {
    this.checkLive('denseWeight');
    if (!this.dense || this.dense.isDisposed) {
      const [K, N] = this.shape;
      const {rowPtr, ics, values, scales} = this.arrays;
      const w = new Float32Array(K * N);
      for (let n = 0; n < N; n++) {
        for (let j = rowPtr[n]; j < rowPtr[n + 1]; j++) w[ics[j] * N + n] = scales ? values[j] * scales[n] : values[j];
      }
      this.dense = keep(tensor2d(w, this.shape));
    }
    return this.dense;
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** Frees every tensor of this weight. */
  dispose(): void {
    if (this.disposed) return;
    const {rowPtr, ics, values, scales} = this.tensors;
    dispose([rowPtr, ics, values]);
    if (scales) scales.dispose();
    if (this.dense) dispose(this.dense);
    this.disposed = true;
  }

  /** Throws when this weight was disposed; `op` names the caller. */
  checkLive(op: string): void {
    if (this.disposed) throw new Error(`'${op}' was given a disposed PixelSparseMatrix`);
  }
}

