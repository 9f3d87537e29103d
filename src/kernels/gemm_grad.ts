/**
 * The kernels of fast Dense training. `SparsityFastMatMul`, `C = op(A) · op(B)` with `op` the
 * identity or a transpose, covers the two products of a Dense layer's backward pass
 * (`dX = dY · Wᵀ`, `dW = Xᵀ · dY`), which tfjs-wasm 4.22 runs as scalar loops at 0.9–3.6 GFLOP/s
 * (tfjs-facts §8), at the speed of the untransposed GEMM. `SparsityMaskedDense` (with its registered
 * gradient) and `SparsityMaskedDenseBackpropInput` are a masked Dense layer's forward pass and input
 * gradient, which skip masked weights when the mask is sparse enough. See `assembly/gemm_grad_f32.ts`.
 */
import {backend_util, engine, mul, NamedAttrMap, registerGradient, step, sum, Tensor, TensorInfo, TensorLike,
  tidy, zerosLike} from '@tensorflow/tfjs-core';
import {KernelContext, KernelDef, KernelInputs} from './bridge';
import {checkOutputBytes} from './heap_limit';
import {float32Arg} from '../util/validate';

export const FAST_MATMUL = 'SparsityFastMatMul';
export const MASKED_DENSE = 'SparsityMaskedDense';
export const MASKED_DENSE_DX = 'SparsityMaskedDenseBackpropInput';

/** Below this many rows of A, `A · Bᵀ` runs as dot products instead of transpose + GEMM. */
const NT_DOT_MAX_ROWS = 4;

/** Attributes of `SparsityFastMatMul`: tfjs `BatchMatMul`'s own. */
interface FastMatMulAttrs {transposeA: boolean; transposeB: boolean}

/** The product's dimensions: C[m, n] = op(A)[m, k] · op(B)[k, n], and the output shape. */
export interface MatMulDims {m: number; k: number; n: number; outShape: number[]}

/**
 * Dimensions of `op(a) · op(b)` for shapes of rank >= 2 whose batch dimensions are all 1 (after
 * broadcasting), or null when the product is batched (it then needs `BatchMatMul` proper).
 * @throws Error when the inner dimensions differ.
 */
export function fastMatMulDims(aShape: number[], bShape: number[], transposeA: boolean,
                               transposeB: boolean): MatMulDims|null {
  const ra = aShape.length, rb = bShape.length;
  const m = transposeA ? aShape[ra - 1] : aShape[ra - 2];
  const ka = transposeA ? aShape[ra - 2] : aShape[ra - 1];
  const kb = transposeB ? bShape[rb - 1] : bShape[rb - 2];
  const n = transposeB ? bShape[rb - 2] : bShape[rb - 1];
  if (ka !== kb) {
    throw new Error(`Inner dimensions of 'fastMatMul' must match: op(a) is [${m}, ${ka}] and op(b) is ` +
        `[${kb}, ${n}] (shapes [${aShape}] and [${bShape}], transposeA=${transposeA}, transposeB=${transposeB})`);
  }
  const batch = backend_util.assertAndGetBroadcastShape(aShape.slice(0, -2), bShape.slice(0, -2));
  if (batch.some(d => d !== 1)) return null;
  return {m, k: ka, n, outShape: [...batch, m, n]};
}

/** The scratch `f32_gemm_4x8__simd128` needs: a 64-byte tail buffer, then one packed 8-column panel of W. */
function gemmScratch(ctx: KernelContext, k: number): number {
  return ctx.scratch(64 + k * 32);
}

/** `a · bᵀ` for a [m, k] and b [n, k] into c [m, n]. */
function productNT(ctx: KernelContext, a: number, b: number, c: number, m: number, k: number, n: number): void {
  if (m < NT_DOT_MAX_ROWS) {
    ctx.kernels.f32_gemm_nt_dot_1x4__simd128(a, m, k, b, n, c);
    return;
  }
  const bt = ctx.scratch(k * n * 4);
  const tmp = gemmScratch(ctx, k);
  ctx.kernels.x32_transpose__simd128(b, n, k, bt);
  ctx.kernels.f32_gemm_4x8__simd128(a, m, k, bt, n, 0, 0, c, tmp);
}

export const fastMatMulKernel: KernelDef = {
  kernelName: FAST_MATMUL,
  run(ctx, {a, b}: KernelInputs, attrs) {
    const {transposeA, transposeB} = attrs as unknown as FastMatMulAttrs;
    const dims = fastMatMulDims(a.shape, b.shape, transposeA, transposeB);
    if (dims == null) throw new Error(`'${FAST_MATMUL}' takes unbatched products only, but got shapes [${a.shape}] and [${b.shape}]`);
    const {m, k, n, outShape} = dims;
    const c = ctx.output(outShape, 'float32');
    if (m * n === 0) return c;
    if (k === 0) {
      ctx.f32(c.ptr, m * n).fill(0);
      return c;
    }
    const pa = ctx.input(a), pb = ctx.input(b);
    if (transposeA && !transposeB) {
      // A is [k, m] as stored: k is the summed dimension of the kernel, m its output rows.
      const scratch = ctx.scratch(k * (m & ~3) * 4 + k * 32);
      ctx.kernels.f32_gemm_tn_4x8__simd128(pa, k, m, pb, n, c.ptr, scratch);
    } else if (transposeA) {
      const at = ctx.scratch(m * k * 4);
      ctx.kernels.x32_transpose__simd128(pa, k, m, at);
      productNT(ctx, at, pb, c.ptr, m, k, n);
    } else if (transposeB) {
      productNT(ctx, pa, pb, c.ptr, m, k, n);
    } else if (m === 1) {
      ctx.kernels.f32_gemv_rows__simd128(pa, k, pb, n, 0, 0, c.ptr);
    } else {
      ctx.kernels.f32_gemm_4x8__simd128(pa, m, k, pb, n, 0, 0, c.ptr, gemmScratch(ctx, k));
    }
    return c;
  },
};

/**
 * `op(a) · op(b)` in float32 through SIMD kernels that are as fast transposed as not (tfjs-wasm's
 * transposed matmul is a scalar loop). No gradient of its own: it is the building block of
 * `maskedDense`'s backward pass and of `enableFastTraining`.
 *
 * ```js
 * fastMatMul(x, dy, true, false);  // Xᵀ·dY, the weight gradient of a Dense layer
 * ```
 * @param a float32, rank >= 2, batch dimensions all 1.
 * @param b float32, rank >= 2, batch dimensions all 1.
 * @param transposeA use `aᵀ` (the last two dimensions swapped).
 * @param transposeB use `bᵀ`.
 * @throws Error when an argument is not float32, has rank < 2, is batched, or the inner dimensions differ.
 */
export function fastMatMul(a: Tensor|TensorLike, b: Tensor|TensorLike, transposeA = false, transposeB = false): Tensor {
  const op = 'fastMatMul';
  return tidy(() => {
    const $a = float32Arg(a, 'a', op), $b = float32Arg(b, 'b', op);
    for (const [t, arg] of [[$a, 'a'], [$b, 'b']] as const) {
      if (t.rank < 2) throw new Error(`Argument '${arg}' passed to '${op}' must have rank >= 2, but got rank ${t.rank} (shape [${t.shape}])`);
    }
    const dims = fastMatMulDims($a.shape, $b.shape, transposeA, transposeB);
    if (dims == null) {
      throw new Error(`Arguments 'a' and 'b' passed to '${op}' must have batch dimensions of size 1 ` +
          `(use tf.matMul for batched products), but got shapes [${$a.shape}] and [${$b.shape}]`);
    }
    checkOutputBytes(dims.outShape, op, `the shapes of 'a' and 'b'`);
    return engine().runKernel(FAST_MATMUL, {a: $a, b: $b}, {transposeA, transposeB} as unknown as Record<string, boolean>) as Tensor;
  });
}

/**
 * Attributes of `SparsityMaskedDense`: whether a mask and a bias are among the inputs, fused relu,
 * and the data id of the caller's mask tensor. The mask index is cached by that id; the gradient
 * receives a copy of the mask (tfjs clones saved inputs), so it finds the index through this attribute.
 */
export interface MaskedDenseAttrs {masked: boolean; biased: boolean; relu: boolean; maskDataId?: object}

/**
 * `y = act(x · (kernel ⊙ mask) + bias)` for x [m, k], kernel and mask [k, n], bias [n]; mask and
 * bias optional, act linear or relu. The masked kernel lives in scratch only: the gradient
 * recomputes it (one pass) rather than keeping a second copy of the weights alive on the tape.
 */
export const maskedDenseKernel: KernelDef = {
  kernelName: MASKED_DENSE,
  run(ctx, inputs, attrs) {
    const {masked, biased, relu, maskDataId} = attrs as unknown as MaskedDenseAttrs;
    const [x, kernel, mask, bias] = maskedDenseInputs(inputs as unknown as TensorInfo[], masked, biased);
    const [m, k] = x.shape;
    const n = kernel.shape[1];
    const y = ctx.output([m, n], 'float32');
    const pb = bias ? ctx.input(bias) : 0, r = relu ? 1 : 0;
    const index = mask ? sparseIndex(ctx, mask, maskDataId, m, SPARSE_FORWARD) : null;
    if (index) {
      // Yᵀ = (W⊙M)ᵀ · Xᵀ over the kept k of each column n, then transposed back with bias and relu.
      // W is transposed first so that each column's kept weights are read in order, not 4·N bytes apart.
      const {colPtr, colIdx} = index;
      const xT = ctx.scratch(m * k * 4), wT = ctx.scratch(k * n * 4), outT = ctx.scratch(n * m * 4);
      const ptr = ctx.scratch(colPtr.byteLength), idx = ctx.scratch(colIdx.byteLength + 4);
      ctx.i32(ptr, colPtr.length).set(colPtr);
      ctx.i32(idx, colIdx.length).set(colIdx);
      ctx.kernels.x32_transpose__simd128(ctx.input(x), m, k, xT);
      ctx.kernels.x32_transpose__simd128(ctx.input(kernel), k, n, wT);
      ctx.kernels.f32_spmm_t_1x32__simd128(wT, 1, k, ptr, idx, n, xT, m, outT);
      ctx.kernels.f32_transpose_bias_relu__simd128(outT, n, m, pb, r, y.ptr);
      return y;
    }
    const w = mask ? ctx.scratch(k * n * 4) : ctx.input(kernel);
    const tmp = gemmScratch(ctx, k);
    if (mask) ctx.kernels.f32_apply_mask__simd128(ctx.input(kernel), ctx.input(mask), k * n, w);
    if (m === 1) ctx.kernels.f32_gemv_rows__simd128(ctx.input(x), k, w, n, pb, r, y.ptr);
    else if (m > 1) ctx.kernels.f32_gemm_4x8__simd128(ctx.input(x), m, k, w, n, pb, r, y.ptr, tmp);
    return y;
  },
};

/** `dx = dy · (kernel ⊙ mask)ᵀ` for dy [m, n], kernel and mask [k, n]: the input gradient of `SparsityMaskedDense`. */
export const maskedDenseDxKernel: KernelDef = {
  kernelName: MASKED_DENSE_DX,
  run(ctx, {dy, kernel, mask}: KernelInputs, attrs) {
    const [m, n] = dy.shape;
    const k = kernel.shape[0];
    const dx = ctx.output([m, k], 'float32');
    const index = sparseIndex(ctx, mask, (attrs as unknown as MaskedDenseAttrs).maskDataId, m, SPARSE_DX);
    if (index) {
      // dXᵀ = (W⊙M) · dYᵀ over the kept n of each row k, then transposed back.
      const {rowPtr, rowIdx} = index;
      const dyT = ctx.scratch(m * n * 4), dxT = ctx.scratch(k * m * 4);
      const ptr = ctx.scratch(rowPtr.byteLength), idx = ctx.scratch(rowIdx.byteLength + 4);
      ctx.i32(ptr, rowPtr.length).set(rowPtr);
      ctx.i32(idx, rowIdx.length).set(rowIdx);
      ctx.kernels.x32_transpose__simd128(ctx.input(dy), m, n, dyT);
      ctx.kernels.f32_spmm_t_1x32__simd128(ctx.input(kernel), 1, n, ptr, idx, k, dyT, m, dxT);
      ctx.kernels.x32_transpose__simd128(dxT, k, m, dx.ptr);
      return dx;
    }
    const w = ctx.scratch(k * n * 4);
    ctx.kernels.f32_apply_mask__simd128(ctx.input(kernel), ctx.input(mask), k * n, w);
    productNT(ctx, ctx.input(dy), w, dx.ptr, m, n, k);
    return dx;
  },
};

/**
 * When the sparse kernels run: mask density at most `maxDensity` and at least `minRows` rows of
 * activations. Set from `bench/train.ts` "sparse vs dense masked products" and minimum-of-40 timings
 * of [m, 1024] x [1024, 1024] (2026-11-28): the input gradient reads W in row order and wins
 * 1.4–8x up to density 0.4 from 16 rows; the forward product must first transpose W (0.5 ms here)
 * and wins 1.2–2.5x up to density 0.2 from 32 rows, losing from 0.3.
 */
const SPARSE_FORWARD = {maxDensity: 0.25, minRows: 32};
const SPARSE_DX = {maxDensity: 0.45, minRows: 16};

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
function sparseIndex(ctx: KernelContext, mask: TensorInfo, key: object|undefined, m: number,
                     rule: {maxDensity: number; minRows: number}): MaskIndex|null {
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
 * `[x, kernel, mask, bias]` from the kernel's input list `[x, kernel, mask?, bias?]`. The inputs are
 * a list, not named, because tfjs saves all inputs for the gradient only when they are a list.
 */
function maskedDenseInputs<T>(list: T[], masked: boolean, biased: boolean): [T, T, T|undefined, T|undefined] {
  return [list[0], list[1], masked ? list[2] : undefined, biased ? list[masked ? 3 : 2] : undefined];
}

/**
 * The gradient of `SparsityMaskedDense`, registered from `register.ts`. The kernel's gradient is
 * `xᵀ · dz` at every position, masked or not: tfmot's semantics, where the wrapper assigns
 * `kernel := kernel ⊙ mask` outside the tape, so masked weights keep receiving updates and can
 * regrow at the next mask update (`maskedDense` documents this choice). Each input's gradient is a
 * separate thunk, so a first layer never computes the unused `dx`.
 */
export function registerMaskedDenseGradient(): void {
  registerGradient({
    kernelName: MASKED_DENSE,
    saveAllInputs: true,
    outputsToSave: [true],
    gradFunc: (dy: Tensor|Tensor[], saved: Tensor[], attrs: NamedAttrMap) => {
      const {masked, biased, relu, maskDataId} = attrs as unknown as MaskedDenseAttrs;
      const [x, kernel, mask] = maskedDenseInputs(saved, masked, biased);
      const y = saved[saved.length - 1];
      const dz = relu ? mul(dy as Tensor, step(y)) : dy as Tensor;
      // Keys are the input list's indices: [x, kernel, mask?, bias?].
      const grads: {[input: number]: () => Tensor} = {
        0: () => mask ? engine().runKernel(MASKED_DENSE_DX, {dy: dz, kernel, mask},
            {maskDataId} as unknown as NamedAttrMap) as Tensor :
            fastMatMul(dz, kernel, false, true),
        1: () => fastMatMul(x, dz, true, false),
      };
      if (mask) grads[2] = () => zerosLike(mask);
      if (biased) grads[masked ? 3 : 2] = () => sum(dz, 0);
      return grads;
    },
  });
}
