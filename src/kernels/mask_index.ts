/**
 * The index of a 0/1 pruning mask that lets the masked Dense kernels visit only the kept weights: the
 * kept positions per row (CSR) and per column (CSC), built once per mask tensor.
 */
import {TensorInfo} from '@tensorflow/tfjs-core';
import {KernelContext} from './bridge';
import {SPARSE_DX, SPARSE_FORWARD, SparseIndexRule} from './kernel_tuning';

/** The kept positions of a 0/1 mask [k, n], listed per row (CSR) and per column (CSC), and their share. */
interface MaskIndex {rowPtr: Int32Array; rowIdx: Int32Array; colPtr: Int32Array; colIdx: Int32Array; density: number}

/**
 * Mask indexes by the data id of the mask tensor: built once per mask (masks change only at mask
 * updates, which make new tensors), dropped with the tensor's data id.
 */
const maskIndexes = new WeakMap<object, MaskIndex|null>();

/**
 * The index of `mask` (cached under `key`, the caller's mask data id, else the mask's own) when the
 * sparse kernels should run by `rule`, else null. Null too for a mask with values other than 0 and
 * 1, which the index could not represent.
 */
export function sparseIndex(ctx: KernelContext, mask: TensorInfo, key: object|undefined, m: number,
                            rule: SparseIndexRule): MaskIndex|null {
  if (m < rule.minRows) return null;
  const id = key ?? mask.dataId;
  let index = maskIndexes.get(id);
  if (index === undefined) {
    const [k, n] = mask.shape;
    index = buildMaskIndex(ctx.f32(ctx.input(mask), k * n), k, n);
    maskIndexes.set(id, index);
  }
  return index != null && index.density <= rule.maxDensity ? index : null;
}

function buildMaskIndex(values: Float32Array, k: number, n: number): MaskIndex|null {
  const rowPtr = new Int32Array(k + 1), colPtr = new Int32Array(n + 1);
  for (let r = 0; r < k; r++) {
    let count = 0;
    for (let c = 0; c < n; c++) {
      const v = values[r * n + c];
      if (v === 1) {
        count++;
        colPtr[c + 1]++;
      } else if (v !== 0) {
        return null;
      }
    }
    rowPtr[r + 1] = rowPtr[r] + count;
  }
  const nnz = rowPtr[k];
  const density = nnz / Math.max(k * n, 1);
  if (density > Math.max(SPARSE_FORWARD.maxDensity, SPARSE_DX.maxDensity)) return null;
  for (let c = 0; c < n; c++) colPtr[c + 1] += colPtr[c];
  const rowIdx = new Int32Array(nnz), colIdx = new Int32Array(nnz);
  const colFill = colPtr.slice(0, n);
  let p = 0;
  for (let r = 0; r < k; r++) {
    for (let c = 0; c < n; c++) {
      if (values[r * n + c] === 1) {
        rowIdx[p++] = c;
        colIdx[colFill[c]++] = r;
      }
    }
  }
  return {rowPtr, rowIdx, colPtr, colIdx, density};
}

/**
 * Copies one side of an index (row or column pointers and the listed positions) into scratch for
 * `f32_spmm_t_1x32__simd128`; returns their addresses. The positions get 4 bytes more, so that an
 * empty list still has an address of its own.
 */
export function indexScratch(ctx: KernelContext, ptr: Int32Array, idx: Int32Array): [number, number] {
  const p = ctx.scratch(ptr.byteLength), i = ctx.scratch(idx.byteLength + 4);
  ctx.i32(p, ptr.length).set(ptr);
  ctx.i32(i, idx.length).set(idx);
  return [p, i];
}
