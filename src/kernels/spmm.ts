/**
 * Block-sparse and dense matmul kernels: `Y = X · W (+ bias)`, optional relu, with W either in the
 * strip layout of `src/sparse/format.ts` (f32 or int8) or dense. The public op is
 * `blockSparseMatMul` (`src/sparse/matmul.ts`), which picks among these kernels and `tf.matMul`.
 */
import {NamedAttrMap, registerGradient, Tensor} from '@tensorflow/tfjs-core';
import {KernelContext, KernelDef, KernelInputs} from './bridge';

export const SPMM_F32 = 'SparsityBlockSparseMatMulF32';
export const SPMM_I8 = 'SparsityBlockSparseMatMulI8';
export const DENSE_MATMUL = 'SparsityDenseMatMul';
export const UNPACK_F32 = 'SparsityUnpackBlockSparseF32';
export const UNPACK_I8 = 'SparsityUnpackBlockSparseI8';

/** Attributes of the matmul kernels: output width and strip width (a `[K, N]` W), fused relu. */
interface MatMulAttrs {n: number; bw: number; relu: boolean}

const TMP_BYTES = 64;

function biasPtr(ctx: KernelContext, inputs: KernelInputs): number {
  return inputs.bias ? ctx.input(inputs.bias) : 0;
}

export const spmmF32Kernel: KernelDef = {
  kernelName: SPMM_F32,
  run(ctx, inputs, attrs) {
    const {x, colptr, rowoff, vals} = inputs;
    const {n, bw, relu} = attrs as unknown as MatMulAttrs;
    const [m, k] = x.shape;
    const y = ctx.output([m, n], 'float32');
    const tmp = ctx.scratch(TMP_BYTES);
    const args = [ctx.input(x), m, k, ctx.input(colptr), ctx.input(rowoff), ctx.input(vals)] as const;
    const kern = ctx.kernels;
    const b = biasPtr(ctx, inputs), r = relu ? 1 : 0;
    if (bw === 16) kern.f32_spmm_2x16__simd128(...args, n, b, r, y.ptr, tmp);
    else if (bw === 8) kern.f32_spmm_2x8__simd128(...args, n, b, r, y.ptr, tmp);
    else if (bw === 4) kern.f32_spmm_2x4__simd128(...args, n, b, r, y.ptr, tmp);
    else kern.f32_spmm_2xw__scalar(...args, bw, n, b, r, y.ptr);
    return y;
  },
};

export const spmmI8Kernel: KernelDef = {
  kernelName: SPMM_I8,
  run(ctx, inputs, attrs) {
    const {x, colptr, rowoff, vals, scales} = inputs;
    const {n, bw, relu} = attrs as unknown as MatMulAttrs;
    const [m, k] = x.shape;
    const y = ctx.output([m, n], 'float32');
    const tmp = ctx.scratch(TMP_BYTES);
    const xq = ctx.scratch(m * k * 2 + 16);
    const sx = ctx.scratch(m * 4);
    const kern = ctx.kernels;
    kern.i8_quantize_rows__simd128(ctx.input(x), m, k, xq, sx);
    const args = [xq, sx, m, k, ctx.input(colptr), ctx.input(rowoff), ctx.input(vals), ctx.input(scales)] as const;
    const b = biasPtr(ctx, inputs), r = relu ? 1 : 0;
    if (bw === 16) kern.i8_spmm_2x16__simd128(...args, n, b, r, y.ptr, tmp);
    else if (bw === 8) kern.i8_spmm_2x8__simd128(...args, n, b, r, y.ptr, tmp);
    else if (bw === 4) kern.i8_spmm_2x4__simd128(...args, n, b, r, y.ptr, tmp);
    else kern.i8_spmm_1xw__scalar(...args, bw, n, b, r, y.ptr);
    return y;
  },
};

export const denseMatMulKernel: KernelDef = {
  kernelName: DENSE_MATMUL,
  run(ctx, inputs, attrs) {
    const {x, w} = inputs;
    const relu = (attrs as unknown as MatMulAttrs).relu ? 1 : 0;
    const [m, k] = x.shape;
    const n = w.shape[1];
    const y = ctx.output([m, n], 'float32');
    const b = biasPtr(ctx, inputs);
    if (m === 1) {
      ctx.kernels.f32_gemv_rows__simd128(ctx.input(x), k, ctx.input(w), n, b, relu, y.ptr);
    } else {
      const tmp = ctx.scratch(TMP_BYTES + k * 32);
      ctx.kernels.f32_gemm_4x8__simd128(ctx.input(x), m, k, ctx.input(w), n, b, relu, y.ptr, tmp);
    }
    return y;
  },
};

/** Attributes of the unpack kernels: the dense shape and the strip width. */
interface UnpackAttrs {k: number; n: number; bw: number}

export const unpackF32Kernel: KernelDef = {
  kernelName: UNPACK_F32,
  run(ctx, {colptr, rowoff, vals}, attrs) {
    const {k, n, bw} = attrs as unknown as UnpackAttrs;
    const out = ctx.output([k, n], 'float32');
    ctx.kernels.f32_unpack_strips(ctx.input(colptr), ctx.input(rowoff), ctx.input(vals), bw, k, n, out.ptr);
    return out;
  },
};

export const unpackI8Kernel: KernelDef = {
  kernelName: UNPACK_I8,
  run(ctx, {colptr, rowoff, vals, scales}, attrs) {
    const {k, n, bw} = attrs as unknown as UnpackAttrs;
    const out = ctx.output([k, n], 'float32');
    ctx.kernels.i8_unpack_strips(ctx.input(colptr), ctx.input(rowoff), ctx.input(vals), ctx.input(scales),
        bw, k, n, out.ptr);
    return out;
  },
};

/** The message of the gradient guard, shared with the op's own check. */
export const NO_GRADIENT_MESSAGE = 'blockSparseMatMul is inference-only: it has no gradient. ' +
    'Train with the dense, masked weight (pruneLowMagnitude) and pack the weights for inference ' +
    'after stripping the pruning wrappers.';

/**
 * Registers a gradient for each matmul kernel that throws: a tape that reaches one of them must fail
 * loudly, never produce a zero or partial gradient.
 */
export function registerNoGradients(): void {
  for (const kernelName of [SPMM_F32, SPMM_I8, DENSE_MATMUL]) {
    registerGradient({
      kernelName,
      gradFunc: (_dy: Tensor|Tensor[], _saved: Tensor[], _attrs: NamedAttrMap): {[input: string]: () => Tensor} => {
        throw new Error(NO_GRADIENT_MESSAGE);
      },
    });
  }
}
